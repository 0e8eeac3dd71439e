"""Convert any LeRobot dataset (v2.0/v2.1/v3.0, GR00T flavour included) into a pyramid v3.0 dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from pipelines.lerobot.reader import LeRobotSource, read_episode_task
from pipelines.lerobot.writer import WriterConfig, WriteReport, write_dataset
from pipelines.runtime.atomic import check_destination
from schemas.embodiment import Embodiment
from schemas.episode import Episode, RejectedEpisode

__all__ = ["convert_lerobot", "read_or_reject"]


def read_or_reject(dataset: LeRobotSource) -> Iterator[Episode | RejectedEpisode]:
    """Every episode of ``dataset``; one that cannot be read comes as a ``RejectedEpisode`` naming its file."""
    for episode_index in dataset.episode_indices:
        yield read_episode_task(str(dataset.root), dataset.embodiment, episode_index)


def convert_lerobot(
    source: Path | str,
    destination: Path | str,
    *,
    embodiment: Embodiment | None = None,
    config: WriterConfig | None = None,
    on_episode: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> WriteReport:
    """Read every episode of ``source`` and write the good ones to ``destination`` (replaced atomically).

    An episode that cannot be read or breaks the contract is quarantined with its file and reason;
    every other episode still lands. ``on_episode(done, total)`` reports progress. A destination overlapping
    ``source``, or a folder pyramid did not write (unless ``overwrite``), is refused before anything is read.
    """
    check_destination(Path(destination), [Path(source)], overwrite=overwrite)
    dataset = LeRobotSource(source, embodiment)
    total = len(dataset)
    progress = (lambda done: on_episode(done, total)) if on_episode is not None else None
    return write_dataset(
        destination,
        dataset.embodiment,
        dataset.fps,
        read_or_reject(dataset),
        config,
        progress,
        protect=[Path(source)],
        overwrite=overwrite,
    )
