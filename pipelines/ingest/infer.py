"""Propose an embodiment from a dataset's own metadata, for a robot pyramid has never seen.

- LeRobot: ``meta/info.json`` features (names, shapes, fps, cameras of ``video`` and ``image`` dtype), and the
  groups of ``meta/modality.json`` where present.
- RLDS: ``features.json`` (per-step images, ``observation/*`` and ``action`` tensors); a known Open
  X-Embodiment dataset is its registered embodiment.
- robomimic: the obs keys and shapes of the first demo (``<camera>_image`` frames, robot proprioception) and
  ``actions``.

Dimensions that share a name stem (``motor_0``, ``motor_1``) form one group. Grippers are found by name
(``gripper``, ``claw``, ...), then by value: a column with exactly two values in the data read is a binary
gripper. What cannot be read from the data (fps for RLDS, the control mode) is a stated guess, listed in
``InferredEmbodiment.review`` and written as a comment at the top of the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pyarrow.parquet as pq

from pipelines.ingest.oxe import RLDS_ACTION_KEY, RLDS_STATE_KEY, STANDARDISATIONS, _builder
from pipelines.lerobot import layout
from pipelines.lerobot.reader import (
    NUMERIC_DTYPES,
    DatasetReadError,
    LeRobotSource,
    _column_to_numpy,
    open_layout,
    video_keys_with_files,
)
from pipelines.rlds.builders import RLDSEpisode
from pipelines.robomimic import (
    ACTIONS_KEY,
    IMAGE_SUFFIX,
    image_obs_keys,
    robomimic_demo_names,
    robomimic_fps,
)
from schemas.embodiment import SAFE_NAME, ControlMode, Embodiment, Group, get_embodiment
from schemas.errors import InputError

__all__ = ["InferredEmbodiment", "infer_embodiment", "safe_name"]

GRIPPER_WORDS = ("gripper", "grip", "claw", "pinch")
SAMPLE_ROWS = 5000  # rows of state/action read to find two-valued (binary gripper) columns
SAMPLE_EPISODES = 5  # RLDS/robomimic episodes decoded for the same purpose
RLDS_DEFAULT_FPS = 10  # RLDS stores no frame rate; most Open X-Embodiment robots record at 3-15 Hz
_ROBOMIMIC_SKIPPED = ("_vel", "_vel_lin", "_vel_ang", "_qvel", "_cos", "_sin", "_acc")  # derivatives, encodings


@dataclass(frozen=True)
class InferredEmbodiment:
    """A proposed embodiment, what in it is a guess to review, and whether it is an already known one."""

    embodiment: Embodiment
    review: list[str] = field(default_factory=list)
    known: bool = False  # a registered embodiment (a known Open X-Embodiment dataset), nothing to write

    def header(self, source: Path | str) -> str:
        """The comment written at the top of the proposed file."""
        lines = [f"Proposed by `pyramid embodiments infer` from {source}.", "Review before use:"]
        return "\n".join([*lines, *(f"- {item}" for item in self.review)])


def safe_name(text: str, fallback: str = "unnamed") -> str:
    """``text`` as a safe name: lower case, runs of other characters as ``_`` (``images.Top-1`` -> ``images_top_1``)."""
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return name if re.match(SAFE_NAME, name) else fallback


def infer_embodiment(path: Path | str, data_format: str, name: str | None = None) -> InferredEmbodiment:
    """Propose an embodiment for the dataset at ``path`` (``lerobot``, ``rlds`` or ``robomimic``), named ``name``
    (default: from the dataset)."""
    path = Path(path)
    if data_format == "lerobot":
        return _infer_lerobot(path, name)
    if data_format == "rlds":
        return _infer_rlds(path, name)
    if data_format == "robomimic":
        return _infer_robomimic(path, name)
    raise InputError(f"{path}: embodiments are inferred for lerobot, rlds and robomimic datasets, not {data_format!r}")


# -- groups from columns -------------------------------------------------------------------------------------


_AXIS_FAMILIES = {
    **dict.fromkeys(("x", "y", "z", "dx", "dy", "dz"), "pos"),
    **dict.fromkeys(("rx", "ry", "rz", "roll", "pitch", "yaw", "droll", "dpitch", "dyaw"), "rot"),
    **dict.fromkeys(("qx", "qy", "qz", "qw"), "quat"),
}


def _stem(name: str) -> str:
    """``motor_12`` -> ``motor``, ``joint.3.pos`` -> ``joint``, ``roll`` -> ``rot``: a dimension's name without its
    index, axis names by their family."""
    name = re.sub(r"[._\-\s]*(pos|position|val|value)$", "", name.strip().lower()) or name.strip().lower()
    name = re.sub(r"[._\-\s]*\[?\d+\]?$", "", name) or name
    return _AXIS_FAMILIES.get(name, name)


def _is_gripper(name: str) -> bool:
    return any(word in name.lower() for word in GRIPPER_WORDS)


def _two_valued(values: np.ndarray | None, dim: int) -> bool:
    return values is not None and len(values) > 0 and len(np.unique(values[:, dim])) == 2


def groups_from_columns(kind: str, names: Sequence[str] | None, width: int, values: np.ndarray | None) -> list[Group]:
    """Named groups for ``width`` dims of one source column: consecutive dims with one name stem form a group, a
    gripper (by name, or two values in ``values``) is a group of its own; two-valued groups are ``binary``."""
    names = list(names) if names and len(names) == width else [kind] * width
    stems = [_stem(name) for name in names]
    grippers = [_is_gripper(name) or _two_valued(values, dim) for dim, name in enumerate(names)]
    runs: list[list[int]] = []
    for dim in range(width):
        if runs and (stems[runs[-1][-1]], grippers[runs[-1][-1]]) == (stems[dim], grippers[dim]):
            runs[-1].append(dim)
        else:
            runs.append([dim])
    groups = []
    for run in runs:
        first = run[0]
        name = "gripper" if grippers[first] and not _is_gripper(names[first]) else safe_name(stems[first], kind)
        groups.append(Group(name, first, run[-1] + 1, binary=all(_two_valued(values, dim) for dim in run)))
    return groups


def _feature_names(feature: dict[str, Any]) -> list[str] | None:
    """LeRobot's per-dimension names: a list, or a dict of lists (``{"motors": [...]}``)."""
    names = feature.get("names")
    if isinstance(names, dict):
        names = [str(n) for part in names.values() if isinstance(part, list) for n in part]
    return [str(n) for n in names] if isinstance(names, list) else None


def _with_source_keys(parts: Iterable[tuple[str, list[Group]]], default_key: str) -> tuple[Group, ...]:
    """Groups of several source columns laid end to end, each naming its column (but the default one); a name
    that repeats across columns is numbered."""
    result, position, taken = [], 0, set()
    for key, groups in parts:
        for g in groups:
            group_name = (
                g.name
                if g.name not in taken
                else next(f"{g.name}_{i}" for i in range(1, 1000) if f"{g.name}_{i}" not in taken)
            )
            taken.add(group_name)
            result.append(
                Group(
                    group_name,
                    position,
                    position + g.size,
                    g.absolute,
                    g.rotation_type,
                    g.binary,
                    g.value_range,
                    source_key=None if key == default_key else key,
                )
            )
            position += g.size
    return tuple(result)


def _camera_fields(source_names: dict[str, str]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Cameras (safe names) from {source key: its short name}, with the short name as an alias where it differs."""
    cameras, aliases = [], []
    for short in source_names.values():
        camera = safe_name(short, "camera")
        while camera in cameras:
            camera += "_1"
        cameras.append(camera)
        if short != camera:
            aliases.append((short, camera))
    return tuple(cameras), tuple(aliases)


def _control_mode(action_groups: Sequence[Group], names: Iterable[str], fallback: ControlMode) -> ControlMode:
    if not action_groups:
        return ControlMode.NONE
    text = " ".join(names).lower()
    if any(word in text for word in ("delta", "velocity", "vel", "world_vector")):
        return ControlMode.EEF_DELTA
    if any(word in text for word in ("joint", "motor", "shoulder", "elbow", "wrist")):
        return ControlMode.JOINT_POSITION
    return fallback


# -- LeRobot ---------------------------------------------------------------------------------------------------


def _infer_lerobot(root: Path, name: str | None) -> InferredEmbodiment:
    try:  # its own metadata names a known embodiment (a pyramid dataset, a GR00T dataset of a known robot)
        return InferredEmbodiment(LeRobotSource(root).embodiment, ["told by the dataset's own metadata"], known=True)
    except DatasetReadError:
        pass
    episodes = open_layout(root)
    info, features = episodes.info, episodes.info.get("features", {})
    fps = float(info.get("fps", 0))
    if fps <= 0 or fps != int(fps):
        raise DatasetReadError(f"{root / layout.INFO_PATH}: fps must be a positive integer, got {fps}")
    videos, _ = video_keys_with_files(episodes)
    images = [k for k, f in features.items() if f.get("dtype") == "image"]
    camera_keys = [*videos, *images]
    if not camera_keys:
        raise DatasetReadError(
            f"{root / layout.INFO_PATH}: no camera (a video or image feature); pyramid datasets "
            "are built around camera frames"
        )
    cameras, aliases = _camera_fields(
        {k: k.removeprefix(layout.CAMERA_PREFIX).removeprefix("observation.") for k in camera_keys}
    )
    numeric = {k: f for k, f in features.items() if f.get("dtype") in NUMERIC_DTYPES and k not in layout.INDEX_COLUMNS}
    state_keys = (
        [layout.STATE_KEY] if layout.STATE_KEY in numeric else [k for k in numeric if k.startswith("observation.")]
    )
    action_keys = (
        [layout.ACTION_KEY] if layout.ACTION_KEY in numeric else [k for k in numeric if k.startswith("action")]
    )
    sample = _lerobot_sample(episodes, [*state_keys, *action_keys])
    review = ["control_mode: a guess from the action names", "range: physical limits of the action groups, if known"]
    modality_path = root / layout.MODALITY_PATH
    if modality_path.is_file():
        modality = Embodiment.from_modality(
            json.loads(modality_path.read_text()), name="proposed", tag="proposed", robot_type="x", fps=int(fps)
        )
        state_groups = _binary_by_value(modality.state_groups, sample.get(layout.STATE_KEY))
        action_groups = _binary_by_value(modality.action_groups, sample.get(layout.ACTION_KEY))
    else:

        def groups(keys: list[str], kind: str) -> tuple[Group, ...]:
            parts = [
                (k, groups_from_columns(kind, _feature_names(numeric[k]), _width(numeric[k]), sample.get(k)))
                for k in keys
            ]
            return _with_source_keys(parts, layout.STATE_KEY if kind == "state" else layout.ACTION_KEY)

        state_groups, action_groups = groups(state_keys, "state"), groups(action_keys, "action")
    action_names = [n for k in action_keys for n in (_feature_names(numeric[k]) or [k])]
    name = name or safe_name(root.name, "robot")
    embodiment = Embodiment(
        name=name,
        tag=name,
        robot_type=str(info.get("robot_type") or "unknown"),
        cameras=cameras,
        fps=int(fps),
        control_mode=_control_mode(action_groups, action_names, ControlMode.JOINT_POSITION),
        state_groups=state_groups,
        action_groups=action_groups,
        description=f"inferred from the LeRobot dataset {root.name}",
        camera_aliases=aliases,
    )
    return InferredEmbodiment(embodiment, review)


def _width(feature: dict[str, Any]) -> int:
    return int(np.prod(feature.get("shape", [1]), dtype=int))


def _lerobot_sample(episodes: Any, keys: list[str]) -> dict[str, np.ndarray]:
    """Up to ``SAMPLE_ROWS`` rows of each of ``keys``, from the dataset's first data files."""
    rows: dict[str, list[np.ndarray]] = {key: [] for key in keys}
    count = 0
    for path in dict.fromkeys(episodes.data_path(i) for i in sorted(episodes.episodes)):
        if count >= SAMPLE_ROWS:
            break
        if not path.is_file():
            continue
        table = pq.read_table(path, columns=[k for k in keys if k in pq.read_schema(path).names])
        for key in table.column_names:
            rows[key].append(_column_to_numpy(table.column(key)).reshape(table.num_rows, -1))
        count += table.num_rows
    return {key: np.concatenate(parts)[:SAMPLE_ROWS] for key, parts in rows.items() if parts}


def _binary_by_value(groups: tuple[Group, ...], values: np.ndarray | None) -> tuple[Group, ...]:
    """``groups`` with ``binary`` set where every dim of a group takes exactly two values in ``values``."""
    return tuple(
        Group(
            g.name,
            g.start,
            g.end,
            g.absolute,
            g.rotation_type,
            g.binary or all(_two_valued(values, d) for d in range(g.start, g.end)),
            g.value_range,
            g.source_key,
            g.source_index,
        )
        for g in groups
    )


# -- RLDS ------------------------------------------------------------------------------------------------------


def _infer_rlds(folder: Path, name: str | None) -> InferredEmbodiment:
    builder = _builder(str(folder.resolve()))
    if builder.name in STANDARDISATIONS:
        known = get_embodiment(STANDARDISATIONS[builder.name].embodiment)
        return InferredEmbodiment(known, [f"{builder.name} is a known Open X-Embodiment dataset"], known=True)
    steps = {key.removeprefix("steps/"): spec for key, spec in builder.specs.items() if spec.per_step}
    images = [key for key, spec in steps.items() if spec.kind == "image"]
    if not images:
        raise InputError(
            f"{folder / 'features.json'}: no per-step image feature; pyramid datasets are built around camera frames"
        )
    cameras, aliases = _camera_fields({key: key.removeprefix("observation/") for key in images})

    def is_float(key: str) -> bool:
        spec = steps[key]
        return spec.kind == "tensor" and spec.dtype.startswith("float") and len(spec.shape) <= 1

    skipped = ("embedding", "instruction", "language")
    state_keys = (
        [RLDS_STATE_KEY]
        if RLDS_STATE_KEY in steps and is_float(RLDS_STATE_KEY)
        else [k for k in steps if k.startswith("observation/") and is_float(k) and not any(w in k for w in skipped)]
    )
    action_keys = (
        [RLDS_ACTION_KEY]
        if RLDS_ACTION_KEY in steps and is_float(RLDS_ACTION_KEY)
        else [k for k in steps if k.startswith("action/") and is_float(k)]
    )
    sample = _rlds_sample(builder, [*state_keys, *action_keys])

    def groups(keys: list[str], kind: str, default: str) -> tuple[Group, ...]:
        parts = []
        for key in keys:
            label = key.rsplit("/", 1)[-1] if key != default else kind
            width = int(np.prod(steps[key].shape, dtype=int)) if steps[key].shape else 1
            parts.append((key, groups_from_columns(label, [label] * width, width, sample.get(key))))
        return _with_source_keys(parts, default)

    state_groups = groups(state_keys, "state", RLDS_STATE_KEY)
    action_groups = groups(action_keys, "action", RLDS_ACTION_KEY)
    name = name or safe_name(builder.name, "robot")
    embodiment = Embodiment(
        name=name,
        tag=name,
        robot_type="unknown",
        cameras=cameras,
        fps=RLDS_DEFAULT_FPS,
        control_mode=_control_mode(action_groups, action_keys, ControlMode.EEF_DELTA),
        state_groups=state_groups,
        action_groups=action_groups,
        description=f"inferred from the RLDS dataset {builder.name}",
        camera_aliases=aliases,
    )
    review = [
        f"fps: RLDS does not record it; {RLDS_DEFAULT_FPS} is a guess",
        "robot_type",
        "control_mode: a guess from the action keys",
        "range: physical limits of the action groups, if known",
    ]
    return InferredEmbodiment(embodiment, review)


def _rlds_sample(builder: Any, keys: list[str]) -> dict[str, np.ndarray]:
    episodes = [e for e in islice(builder.episodes(), SAMPLE_EPISODES) if isinstance(e, RLDSEpisode)]
    return {
        key: np.concatenate([np.asarray(e.steps[key], dtype=np.float64).reshape(e.length, -1) for e in episodes])
        for key in keys
        if episodes and all(key in e.steps for e in episodes)
    }


# -- robomimic -------------------------------------------------------------------------------------------------


def _infer_robomimic(path: Path, name: str | None) -> InferredEmbodiment:
    demos = robomimic_demo_names(path)
    if not demos:
        raise InputError(f"{path}: no demos under 'data'")
    with h5py.File(path, "r") as file:
        first = file["data"][demos[0]]
        if "obs" not in first or ACTIONS_KEY not in first:
            raise InputError(f"{path}: {first.name} has no obs group or no actions; not a robomimic demo")
        obs = first["obs"]
        images = image_obs_keys(obs)
        if not images:
            raise InputError(
                f"{path}: {first.name}/obs has no camera frames (<camera>_image, (N, H, W, 3) uint8); "
                "pyramid datasets are built around camera frames"
            )
        low_dim = [
            k
            for k, item in obs.items()
            if isinstance(item, h5py.Dataset)
            and k not in images
            and np.issubdtype(item.dtype, np.floating)
            and item.ndim <= 2
        ]
        robot = [k for k in low_dim if k.startswith("robot") and not k.endswith(_ROBOMIMIC_SKIPPED)]
        state_keys = _robosuite_order(robot) if robot else [k for k in low_dim if k != "object"]
        widths = {k: int(np.prod(obs[k].shape[1:], dtype=int)) for k in state_keys}
        actions = np.concatenate([file["data"][d][ACTIONS_KEY][()] for d in demos[:SAMPLE_EPISODES]])
        env_args = _json_attr(file["data"].attrs.get("env_args", "{}"))
    single_robot = all(k.startswith("robot0_") for k in state_keys)
    state_groups, position = [], 0
    for key in state_keys:
        group_name = safe_name(key.removeprefix("robot0_") if single_robot else key, "state")
        rotation = "quaternion" if "quat" in key and widths[key] == 4 else None
        state_groups.append(Group(group_name, position, position + widths[key], rotation_type=rotation, source_key=key))
        position += widths[key]
    action_groups = _with_source_keys(
        [(ACTIONS_KEY, groups_from_columns("action", None, actions.shape[1], actions))], ACTIONS_KEY
    )
    robots = env_args.get("env_kwargs", {}).get("robots")
    cameras, aliases = _camera_fields({key: key.removesuffix(IMAGE_SUFFIX) for key in images})
    name = name or safe_name(path.stem, "robot")
    embodiment = Embodiment(
        name=name,
        tag=name,
        robot_type=str(robots[0] if isinstance(robots, list) and robots else robots or "unknown"),
        cameras=cameras,
        fps=robomimic_fps(path),
        control_mode=ControlMode.EEF_DELTA,
        state_groups=tuple(state_groups),
        action_groups=action_groups,
        description=f"inferred from the robomimic file {path.name}",
        camera_aliases=aliases,
    )
    review = ["control_mode: robosuite's OSC_POSE (eef_delta) is assumed", "action group names and range (limits)"]
    return InferredEmbodiment(embodiment, review)


def _robosuite_order(keys: list[str]) -> list[str]:
    """robosuite's proprioception in the order its state vector is usually built: joints, eef pos, eef quat,
    gripper, then the rest, per robot."""
    order = ("joint_pos", "eef_pos", "eef_quat", "gripper_qpos")
    return sorted(keys, key=lambda k: (k.split("_")[0], next((i for i, s in enumerate(order) if k.endswith(s)), 9), k))


def _json_attr(value: Any) -> dict[str, Any]:
    try:
        return json.loads(value) if isinstance(value, str | bytes) else {}
    except json.JSONDecodeError:
        return {}
