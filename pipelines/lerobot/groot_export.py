"""Export a pyramid LeRobot v3.0 dataset to GR00T's LeRobot v2.1 layout.

Isaac-GR00T's loaders read the per-episode v2.x layout with ``meta/modality.json``, ``episodes.jsonl``,
``tasks.jsonl`` and a ``stats.json`` of exact per-column statistics. Videos are cut out of the v3 files
packet by packet (every episode starts on a keyframe), so frames are bit-identical to the source.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lerobot import layout
from pipelines.lerobot.reader import LeRobotSource, _column_to_numpy
from pipelines.lerobot.stats import exact_column_stats
from pipelines.lerobot.video import remux_segment
from pipelines.runtime.atomic import atomic_directory

__all__ = ["export_groot"]


def export_groot(source: Path | str, destination: Path | str, *, overwrite: bool = False) -> Path:
    """Write ``source`` (v3.0) as a GR00T v2.1 dataset at ``destination``; returns the destination.

    The export is built in a staging folder and renamed into place, so a crash never leaves a half-written
    export at ``destination``. An earlier export there is replaced; a destination overlapping ``source``, or a
    folder pyramid did not write (unless ``overwrite``), is refused.
    """
    dataset = LeRobotSource(source)
    if not dataset.version.startswith("v3"):
        raise ValueError(f"{source}: GR00T export reads v3.0 datasets, this one is {dataset.version}")
    with atomic_directory(Path(destination), replace=True, protect=[Path(source)], overwrite=overwrite) as staging:
        _write_v21(dataset, staging)
    return Path(destination)


def _write_v21(dataset: LeRobotSource, staging: Path) -> None:
    columns: dict[str, list[np.ndarray]] = defaultdict(list)
    episodes_jsonl = []
    for episode_index in dataset.episode_indices:
        table = dataset.layout.episode_table(episode_index).replace_schema_metadata(None)
        table = table.append_column(layout.TASK_ANNOTATION_KEY, table.column("task_index"))
        chunk = episode_index // layout.CHUNKS_SIZE
        data_path = staging / layout.V2_DATA_PATH.format(episode_chunk=chunk, episode_index=episode_index)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, data_path)
        for name in table.column_names:
            if _is_numeric(table.column(name).type):
                columns[name].append(_column_to_numpy(table.column(name)))
        for video_key in dataset.video_keys:
            path, start, end = dataset.layout.video_segment(episode_index, video_key)
            target = staging / layout.V2_VIDEO_PATH.format(
                episode_chunk=chunk, video_key=video_key, episode_index=episode_index
            )
            remux_segment(path, target, start, end)
        row = dataset.layout.episodes[episode_index]
        episodes_jsonl.append({"episode_index": episode_index, "tasks": list(row["tasks"]), "length": row["length"]})

    meta = staging / "meta"
    _write_jsonl(meta / "episodes.jsonl", episodes_jsonl)
    _write_jsonl(meta / "tasks.jsonl", [{"task_index": i, "task": t} for i, t in sorted(dataset.layout.tasks.items())])
    stats = {name: exact_column_stats(np.concatenate(parts)) for name, parts in columns.items()}
    (meta / "stats.json").write_text(json.dumps(stats, indent=4))
    (meta / "info.json").write_text(json.dumps(_v21_info(dataset, len(episodes_jsonl)), indent=4))
    for name in (layout.MODALITY_PATH, layout.PYRAMID_META_PATH):
        if (dataset.root / name).is_file():
            shutil.copy2(dataset.root / name, staging / name)


def _v21_info(dataset: LeRobotSource, total_episodes: int) -> dict:
    features = {}
    for name, feature in dataset.info["features"].items():
        feature = dict(feature)
        if feature["dtype"] == "video":
            feature["names"] = ["height", "width", "channel"]
            feature["video_info"] = feature.pop("info", {})
        features[name] = feature
    features[layout.TASK_ANNOTATION_KEY] = {"dtype": "int64", "shape": [1], "names": None}
    return {
        "codebase_version": layout.CODEBASE_VERSION_V21,
        "robot_type": dataset.info.get("robot_type"),
        "total_episodes": total_episodes,
        "total_frames": dataset.info["total_frames"],
        "total_tasks": len(dataset.layout.tasks),
        "total_videos": total_episodes * len(dataset.video_keys),
        "total_chunks": (total_episodes - 1) // layout.CHUNKS_SIZE + 1,
        "chunks_size": layout.CHUNKS_SIZE,
        "fps": dataset.fps,
        "splits": {"train": f"0:{total_episodes}"},
        "data_path": layout.V2_DATA_PATH,
        "video_path": layout.V2_VIDEO_PATH,
        "features": features,
    }


def _is_numeric(arrow_type: pa.DataType) -> bool:
    if pa.types.is_fixed_size_list(arrow_type) or pa.types.is_list(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
