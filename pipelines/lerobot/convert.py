"""Convert any LeRobot dataset (v2.0/v2.1/v3.0, GR00T flavour included) into a pyramid v3.0 dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines.atomic import atomic_directory
from pipelines.lerobot.reader import EpisodeReadError, LeRobotSource
from pipelines.lerobot.writer import LeRobotWriter, RejectedEpisode, WriteReport, WriterConfig
from schemas.embodiment import Embodiment

__all__ = ["convert_lerobot"]


def convert_lerobot(
    source: Path | str,
    destination: Path | str,
    *,
    embodiment: Embodiment | None = None,
    config: WriterConfig | None = None,
    on_episode: Callable[[int, int], None] | None = None,
) -> WriteReport:
    """Read every episode of ``source`` and write the good ones to ``destination`` (replaced atomically).

    An episode that cannot be read or breaks the contract is quarantined: listed in the report and in
    the output's ``meta/pyramid.json`` with the file and reason; every other episode still lands.
    ``on_episode(done, total)`` reports progress.
    """
    config = config or WriterConfig(continue_on_invalid=True)
    dataset = LeRobotSource(source, embodiment)
    total = len(dataset)
    with atomic_directory(Path(destination), replace=True) as staging:
        writer = LeRobotWriter(staging, dataset.embodiment, dataset.fps, config)
        with writer:
            for done, episode_index in enumerate(dataset.episode_indices, start=1):
                try:
                    episode = dataset.read_episode(episode_index)
                except EpisodeReadError as error:
                    if not config.continue_on_invalid:
                        raise
                    writer.record_rejection(RejectedEpisode(error.episode, f"file {error.path}", error.reason))
                else:
                    writer.write(episode)
                if on_episode is not None:
                    on_episode(done, total)
    report = writer.report
    report.root = Path(destination)
    return report
