"""Ingest one declared source, whatever its format, into a LeRobot v3.0 dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pipelines.config import SourceConfig
from pipelines.ingest.curation import trim_idle
from pipelines.ingest.human_video import HumanVideoConfig, human_video_clips
from pipelines.ingest.oxe import ingest_oxe
from pipelines.ingest.robomimic import read_robomimic_demo, robomimic_demo_names
from pipelines.lerobot.reader import LeRobotSource, read_episode_task
from pipelines.lerobot.writer import WriteReport, write_dataset
from pipelines.parallel import RayConfig, ray_map
from schemas.embodiment import get_embodiment
from schemas.episode import Episode, RejectedEpisode

__all__ = ["ingest_source"]


def _trimmed(items: Iterable[Episode | RejectedEpisode]) -> Iterator[Episode | RejectedEpisode]:
    for item in items:
        yield trim_idle(item) if isinstance(item, Episode) else item


def _run(task: Callable, arguments: list[tuple], ray: RayConfig | None) -> Iterable[Episode | RejectedEpisode]:
    """Per-episode tasks on Ray when configured, else in this process; results in order either way."""
    return ray_map(task, arguments, ray) if ray is not None else (task(*args) for args in arguments)


def ingest_source(
    source: SourceConfig,
    destination: Path,
    on_progress: Callable[[int], None] | None = None,
    ray: RayConfig | None = None,
) -> WriteReport:
    """Read ``source`` by its format and write it to ``destination`` (replaced atomically, bad items quarantined).

    With ``ray``, teleop episodes are read and decoded as Ray tasks while this process writes.
    """
    if source.format == "rlds":
        return ingest_oxe(source.path, destination, split=source.split, on_item=on_progress)
    if source.format == "video_folder":
        config = HumanVideoConfig()
        clips = human_video_clips(source.path, config)
        return write_dataset(destination, get_embodiment("human_video"), config.fps, clips, on_item=on_progress)
    if source.format == "robomimic":
        if source.embodiment is None:
            raise ValueError(f"source {source.name!r}: robomimic files need an embodiment in the sources file")
        embodiment, fps = get_embodiment(source.embodiment), get_embodiment(source.embodiment).fps
        cameras = source.cameras or {camera: f"{camera}_image" for camera in embodiment.cameras}
        demos = [(str(source.path), embodiment.name, cameras, name) for name in robomimic_demo_names(source.path)]
        items = _run(read_robomimic_demo, demos, ray)
    else:
        dataset = LeRobotSource(source.path, get_embodiment(source.embodiment) if source.embodiment else None)
        embodiment, fps = dataset.embodiment, dataset.fps
        episodes = [(str(dataset.root), embodiment.name, index) for index in dataset.episode_indices]
        items = _run(read_episode_task, episodes, ray)
    if source.trim_idle:
        items = _trimmed(items)
    return write_dataset(destination, embodiment, fps, items, on_item=on_progress)
