"""Ingest one declared source, whatever its format, into a LeRobot v3.0 dataset.

The Dagster source assets and ``pyramid ingest`` both call ``ingest_source``: one code path, whatever starts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import h5py

from pipelines.ingest.config import AUTO, SourceConfig
from pipelines.ingest.human_video import VIDEO_SUFFIXES, drop_near_duplicates, video_file_clips, video_files
from pipelines.ingest.infer import InferredEmbodiment, infer_embodiment
from pipelines.ingest.oxe import oxe_plan
from pipelines.ingest.runner import ReadPlan, write_plan
from pipelines.lerobot import layout
from pipelines.lerobot.reader import LeRobotSource, read_episode_task
from pipelines.robomimic import (
    image_obs_keys,
    read_robomimic_demo,
    robomimic_cameras,
    robomimic_demo_names,
    robomimic_fps,
)
from pipelines.runtime.fingerprint import code_version, inputs_fingerprint
from pipelines.runtime.parallel import RayConfig
from schemas.embodiment import Embodiment, get_embodiment, load_embodiment_file, register, write_embodiment_file
from schemas.errors import InputError
from schemas.pyramid import SourceKind

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

__all__ = [
    "FORMAT_KINDS",
    "detect_format",
    "ingest_source",
    "resolve_embodiment",
    "source_fingerprint",
    "source_plan",
]

FORMAT_KINDS = {  # the source kind (and so the pyramid layer) a format is ingested as by default
    "lerobot": SourceKind.TELEOP,
    "robomimic": SourceKind.TELEOP,
    "rlds": SourceKind.OXE,
    "video_folder": SourceKind.HUMAN_VIDEO,
}


def detect_format(path: Path) -> tuple[str, Path]:
    """The format of the dataset at ``path`` and the path to read (an RLDS builder's single version folder is
    entered); an unrecognisable path is an ``InputError`` saying how each format looks."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file() and h5py.is_hdf5(path):
        return "robomimic", path
    if path.is_dir():
        if (path / layout.INFO_PATH).is_file():
            return "lerobot", path
        if (path / "dataset_info.json").is_file() and (path / "features.json").is_file():
            return "rlds", path
        versions = sorted(p for p in path.iterdir() if (p / "dataset_info.json").is_file())
        if len(versions) == 1:
            return "rlds", versions[0]
        if versions:
            raise InputError(f"{path}: an RLDS builder with versions {[v.name for v in versions]}; pass one of them")
        if any(p.suffix.lower() in VIDEO_SUFFIXES for p in path.rglob("*")):
            return "video_folder", path
    raise InputError(
        f"{path}: not a dataset pyramid recognises (a LeRobot folder has meta/info.json, an RLDS builder "
        "folder dataset_info.json and features.json, a robomimic file is HDF5, a video folder holds "
        f"{'/'.join(VIDEO_SUFFIXES)} files); pass --format if it is one of these"
    )


def resolve_embodiment(source: SourceConfig, embodiments_dir: Path) -> tuple[SourceConfig, InferredEmbodiment | None]:
    """``source`` with ``embodiment: auto`` replaced by a name: a known embodiment the dataset's metadata names,
    or one inferred and written to ``embodiments_dir/<source name>.yaml`` (kept if that file already holds the
    same layout). Returns what inference proposed (None when nothing was inferred)."""
    if source.embodiment != AUTO:
        return source, None
    inferred = infer_embodiment(source.path, source.format, name=source.name)
    embodiment = inferred.embodiment
    if not inferred.known:
        path = embodiments_dir / f"{embodiment.name}.yaml"
        if path.is_file():
            existing = load_embodiment_file(path)
            if not existing.same_layout(embodiment):
                raise InputError(
                    f"{path}: embodiment {embodiment.name!r} exists with another layout than {source.path} has; "
                    f"pass --embodiment {embodiment.name} to use it, or another --name"
                )
            embodiment = existing
        else:
            write_embodiment_file(embodiment, embodiments_dir, inferred.header(source.path))
        register(embodiment, str(path))
    return source.model_copy(update={"embodiment": embodiment.name}), inferred


def source_plan(source: SourceConfig) -> ReadPlan:
    """How ``source`` is read, by its format: one unit per episode, RLDS record or video file."""
    embodiment = get_embodiment(source.embodiment) if source.embodiment else None
    if source.format == "rlds":
        return oxe_plan(source.path, split=source.split, embodiment=embodiment, instruction=source.instruction)
    if source.format == "video_folder":
        config = source.curation
        units = [(str(path), config) for path in video_files(source.path)]
        select = partial(drop_near_duplicates, config=config)
        return ReadPlan(get_embodiment("human_video"), config.fps, video_file_clips, units, select=select)
    if source.format == "robomimic":
        if embodiment is None:
            raise InputError(
                f"source {source.name!r} ({source.path}): a robomimic file does not tell its robot; "
                "pass --embodiment NAME, or --embodiment auto to infer one"
            )
        names = robomimic_demo_names(source.path)
        cameras = source.cameras or _robomimic_cameras(source.path, names, embodiment)
        units = [(str(source.path), embodiment, cameras, name, source.instruction) for name in names]
        fps = robomimic_fps(source.path, embodiment.fps)
        return ReadPlan(embodiment, fps, read_robomimic_demo, units, trim_idle=source.trim_idle)
    dataset = LeRobotSource(source.path, embodiment)
    units = [(str(dataset.root), dataset.embodiment, index) for index in dataset.episode_indices]
    return ReadPlan(
        dataset.embodiment, dataset.fps, read_episode_task, units, trim_idle=source.trim_idle, notes=dataset.notes
    )


def _robomimic_cameras(path: Path, names: list[str], embodiment: Embodiment) -> dict[str, str]:
    """Camera -> obs key from the first readable demo, so a mismatch is one error for the file, not one per demo
    (a damaged demo is left to its own read, which quarantines it)."""
    for name in names:
        try:
            with h5py.File(path, "r") as file:
                keys = image_obs_keys(file["data"][name]["obs"])
        except (OSError, RuntimeError, KeyError, ValueError, TypeError):
            continue
        try:
            return robomimic_cameras(embodiment, keys)
        except InputError as error:
            raise InputError(f"{path}: {error}") from None
    raise InputError(f"{path}: no demo's obs can be read; not a readable robomimic file")


def source_fingerprint(source: SourceConfig) -> str:
    """Changes when the source's files, its declaration (its embodiment's layout included) or the code change."""
    settings = source.model_dump(mode="json")
    if source.embodiment and source.embodiment != AUTO:
        settings["embodiment_document"] = get_embodiment(source.embodiment).to_document()
    return inputs_fingerprint([source.path], settings=settings, code=code_version(__name__))


def ingest_source(
    source: SourceConfig,
    destination: Path,
    on_progress: Callable[[int], None] | None = None,
    ray: RayConfig | None = None,
    *,
    reuse_unchanged: bool = False,
    embodiments_dir: Path | None = None,
    inferred: InferredEmbodiment | None = None,
) -> WriteReport:
    """Read ``source`` by its format and write it to ``destination`` (replaced atomically, bad items quarantined).

    With ``ray``, every unit is read, checked and encoded as a Ray task while this process appends. With
    ``reuse_unchanged``, a dataset already written from the same inputs and code is kept as it is
    (the report says ``reused``): a nightly run with no new data does no work here. ``embodiment: auto`` is
    resolved first (``resolve_embodiment``), its file written to ``embodiments_dir``; what inference proposed
    (here, or ``inferred`` by the caller) is recorded in the dataset's provenance.
    """
    if source.embodiment == AUTO:
        if embodiments_dir is None:
            raise InputError(f"source {source.name!r}: embodiment 'auto' needs a folder to write the inferred file")
        source, inferred = resolve_embodiment(source, embodiments_dir)
    fingerprint = source_fingerprint(source)
    meta = Path(destination) / layout.PYRAMID_META_PATH
    written = json.loads(meta.read_text()).get("provenance", {}) if reuse_unchanged and meta.is_file() else {}
    if written.get("inputs_fingerprint") == fingerprint:
        from pipelines.lerobot.writer import read_report  # lerobot: imported only by the writing process

        return replace(read_report(Path(destination)), reused=True)
    provenance = {"inputs_fingerprint": fingerprint, "source": source.model_dump(mode="json")}
    if inferred is not None:
        provenance["embodiment_inferred"] = {
            "name": inferred.embodiment.name,
            "known": inferred.known,
            "review": inferred.review,
        }
    plan = replace(source_plan(source), protect=(source.path,))
    return write_plan(plan, destination, ray=ray, on_item=on_progress, provenance=provenance)
