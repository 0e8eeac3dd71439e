"""The LeRobot ``features`` dict of a pyramid dataset, derived from its embodiment and first episode."""

from __future__ import annotations

import numpy as np

from pipelines.lerobot.layout import ACTION_KEY, STATE_KEY, camera_key
from schemas.embodiment import Embodiment, Group

__all__ = ["dataset_features", "extra_dtype", "vector_names"]

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
