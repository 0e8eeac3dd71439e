"""Ingest one declared source, whatever its format, into a LeRobot v3.0 dataset."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.config import SourceConfig
from pipelines.fingerprint import inputs_fingerprint
from pipelines.ingest.human_video import HumanVideoConfig, drop_near_duplicates, video_file_clips, video_files
from pipelines.ingest.oxe import oxe_plan
from pipelines.ingest.robomimic import read_robomimic_demo, robomimic_demo_names
from pipelines.ingest.runner import ReadPlan, write_plan
from pipelines.lerobot import layout
from pipelines.lerobot.reader import LeRobotSource, read_episode_task
from pipelines.parallel import RayConfig
from schemas.embodiment import get_embodiment

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

__all__ = ["ingest_source", "source_fingerprint", "source_plan"]


def source_plan(source: SourceConfig) -> ReadPlan:
    """How ``source`` is read, by its format: one unit per episode, RLDS record or video file."""
    if source.format == "rlds":
        return oxe_plan(source.path, split=source.split)
    if source.format == "video_folder":
        config = HumanVideoConfig()
        units = [(str(path), config) for path in video_files(source.path)]
        select = partial(drop_near_duplicates, config=config)
        return ReadPlan(get_embodiment("human_video"), config.fps, video_file_clips, units, select=select)
    if source.format == "robomimic":
        if source.embodiment is None:
            raise ValueError(f"source {source.name!r}: robomimic files need an embodiment in the sources file")
        embodiment = get_embodiment(source.embodiment)
        cameras = source.cameras or {camera: f"{camera}_image" for camera in embodiment.cameras}
        units = [(str(source.path), embodiment.name, cameras, name) for name in robomimic_demo_names(source.path)]
        return ReadPlan(embodiment, embodiment.fps, read_robomimic_demo, units, trim_idle=source.trim_idle)
    dataset = LeRobotSource(source.path, get_embodiment(source.embodiment) if source.embodiment else None)
    units = [(str(dataset.root), dataset.embodiment.name, index) for index in dataset.episode_indices]
    return ReadPlan(dataset.embodiment, dataset.fps, read_episode_task, units, trim_idle=source.trim_idle)


def source_fingerprint(source: SourceConfig) -> str:
    """Changes when the source's files, its declaration or the code change."""
    return inputs_fingerprint([source.path], settings=source.model_dump(mode="json"))


def ingest_source(
    source: SourceConfig,
    destination: Path,
    on_progress: Callable[[int], None] | None = None,
    ray: RayConfig | None = None,
    *,
    reuse_unchanged: bool = False,
) -> WriteReport:
    """Read ``source`` by its format and write it to ``destination`` (replaced atomically, bad items quarantined).

    With ``ray``, every unit is read, checked and encoded as a Ray task while this process appends. With
    ``reuse_unchanged``, a dataset already written from the same inputs and code is kept as it is
    (the report says ``reused``): a nightly run with no new data does no work here.
    """
    fingerprint = source_fingerprint(source)
    meta = Path(destination) / layout.PYRAMID_META_PATH
    if reuse_unchanged and meta.is_file():
        if json.loads(meta.read_text()).get("provenance", {}).get("inputs_fingerprint") == fingerprint:
            from pipelines.lerobot.writer import read_report  # lerobot: imported only by the writing process

            return replace(read_report(Path(destination)), reused=True)
    provenance = {"inputs_fingerprint": fingerprint, "source": source.model_dump(mode="json")}
    return write_plan(source_plan(source), destination, ray=ray, on_item=on_progress, provenance=provenance)
