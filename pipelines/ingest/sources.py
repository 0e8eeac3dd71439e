"""Ingest one declared source, whatever its format, into a LeRobot v3.0 dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pipelines.config import SourceConfig
from pipelines.ingest.curation import trim_idle
from pipelines.ingest.human_video import HumanVideoConfig, human_video_clips
from pipelines.ingest.oxe import ingest_oxe
from pipelines.ingest.robomimic import read_robomimic
from pipelines.lerobot.convert import read_or_reject
from pipelines.lerobot.reader import LeRobotSource
from pipelines.lerobot.writer import RejectedEpisode, WriteReport, write_dataset
from schemas.embodiment import get_embodiment
from schemas.episode import Episode

__all__ = ["ingest_source"]


def _trimmed(items: Iterable[Episode | RejectedEpisode]) -> Iterator[Episode | RejectedEpisode]:
    for item in items:
        yield trim_idle(item) if isinstance(item, Episode) else item


def ingest_source(
    source: SourceConfig, destination: Path, on_progress: Callable[[int], None] | None = None
) -> WriteReport:
    """Read ``source`` by its format and write it to ``destination`` (replaced atomically, bad items quarantined)."""
    if source.format == "rlds":
        return ingest_oxe(source.path, destination, split=source.split, on_item=on_progress)
    if source.format == "video_folder":
        config = HumanVideoConfig()
        clips = human_video_clips(source.path, config)
        return write_dataset(destination, get_embodiment("human_video"), config.fps, clips, on_item=on_progress)
    if source.format == "robomimic":
        if source.embodiment is None:
            raise ValueError(f"source {source.name!r}: robomimic files need an embodiment in the sources file")
        embodiment = get_embodiment(source.embodiment)
        cameras = source.cameras or {camera: f"{camera}_image" for camera in embodiment.cameras}
        items: Iterable[Episode | RejectedEpisode] = read_robomimic(source.path, embodiment, cameras)
        fps = embodiment.fps
    else:
        dataset = LeRobotSource(source.path, get_embodiment(source.embodiment) if source.embodiment else None)
        embodiment, fps, items = dataset.embodiment, dataset.fps, read_or_reject(dataset)
    if source.trim_idle:
        items = _trimmed(items)
    return write_dataset(destination, embodiment, fps, items, on_item=on_progress)
