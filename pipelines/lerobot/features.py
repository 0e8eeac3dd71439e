"""The LeRobot ``features`` dict of a pyramid dataset, derived from its embodiment and first episode."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from pipelines.lerobot.layout import ACTION_KEY, STATE_KEY, camera_key
from schemas.embodiment import Embodiment, Group

__all__ = ["arrow_schema", "dataset_features", "extra_dtype", "vector_names"]

_INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


def vector_names(groups: tuple[Group, ...]) -> list[str]:
    """Per-dimension names: ``eef_pos_0, eef_pos_1, ...``; a one-dim group keeps its own name."""
    return [g.name if g.size == 1 else f"{g.name}_{i}" for g in groups for i in range(g.size)]


def extra_dtype(column: np.ndarray) -> str:
    """Extras are stored as bool, int64 or float32 columns."""
    if column.dtype == np.bool_:
        return "bool"
    if np.issubdtype(column.dtype, np.integer):
        return "int64"
    return "float32"


def dataset_features(
    embodiment: Embodiment, frame_shapes: dict[str, tuple[int, ...]], extras: dict[str, np.ndarray]
) -> dict[str, dict]:
    """Features in lerobot's order: vectors, cameras (shapes (H, W, C)), extras (flattened per frame), then
    index columns."""
    features: dict[str, dict] = {}
    if embodiment.has_state:
        features[STATE_KEY] = {
            "dtype": "float32",
            "shape": [embodiment.state_dim],
            "names": vector_names(embodiment.state_groups),
        }
    if embodiment.has_actions:
        features[ACTION_KEY] = {
            "dtype": "float32",
            "shape": [embodiment.action_dim],
            "names": vector_names(embodiment.action_groups),
        }
    for camera in embodiment.cameras:
        height, width, channels = frame_shapes[camera]
        features[camera_key(camera)] = {
            "dtype": "video",
            "shape": [height, width, channels],
            "names": ["height", "width", "channels"],
        }
    for name, column in extras.items():
        size = int(np.prod(column.shape[1:], dtype=int))
        features[name] = {"dtype": extra_dtype(column), "shape": [size], "names": None}
    features.update({k: dict(v) for k, v in _INDEX_FEATURES.items()})
    return features


def arrow_schema(features: dict[str, dict]) -> pa.Schema:
    """The data parquet schema of ``features``, as lerobot writes it (its ``datasets`` feature types, with their
    ``huggingface`` metadata): a one-value feature is a scalar column, a vector a fixed-size list; video lives in
    mp4 files. Built here so writing imports neither lerobot nor ``datasets`` (~17 s)."""
    fields, described = [], {}
    for name, feature in features.items():
        if feature["dtype"] == "video":
            continue
        value = {"dtype": feature["dtype"], "_type": "Value"}
        scalar = pa.from_numpy_dtype(np.dtype(feature["dtype"]))
        shape = list(feature["shape"])
        if shape == [1]:
            fields.append(pa.field(name, scalar))
            described[name] = value
        elif len(shape) == 1:
            fields.append(pa.field(name, pa.list_(scalar, shape[0])))
            described[name] = {"feature": value, "length": shape[0], "_type": "List"}
        else:
            raise ValueError(f"feature {name!r}: shape {shape} is neither a value nor a vector")
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": described}})})
