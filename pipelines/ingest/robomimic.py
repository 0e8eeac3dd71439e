"""robomimic-style HDF5 teleop files, with MimicGen's ``datagen_info`` when present.

Layout::

    data/                      attrs: env_args (JSON: env_name, ...), total
      demo_<i>/                attrs: num_samples, instruction (ours), seed, success
        actions (N, A)         states (N, S) flattened simulator states
        obs/<camera>_image (N, H, W, 3) uint8, obs/<key> for the embodiment's PROPRIO_KEYS (robot0_eef_pos, ...)
        datagen_info/eef_pose (N, 4, 4), target_pose (N, 4, 4), gripper_action (N, 1) (two arms: (N, 2, 4, 4),
                     (N, 2); a hand's command is one value), object_poses/<object> (N, 4, 4),
                     subtask_term_signals/<name> (N,)

Reading keeps ``datagen_info`` and the simulator states as episode extras (``datagen.*``, ``sim.state``):
the simulation generator needs them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from schemas.embodiment import Embodiment, get_embodiment
from schemas.episode import Episode, RejectedEpisode, exact_timestamps

__all__ = [
    "PROPRIO_KEYS",
    "RobomimicDemo",
    "read_robomimic",
    "read_robomimic_demo",
    "robomimic_demo_names",
    "write_robomimic",
]



def _panda_keys(robots: int) -> tuple[str, ...]:
    keys = ("joint_pos", "eef_pos", "eef_quat", "gripper_qpos")
    return tuple(f"robot{robot}_{key}" for robot in range(robots) for key in keys)


# robosuite's proprioceptive obs keys per embodiment, in the order of its state vector
PROPRIO_KEYS = {
    "robosuite_panda": _panda_keys(1),
    "robosuite_bimanual_panda": _panda_keys(2),
    "robosuite_gr1": ("robot0_joint_pos", *(f"robot0_{side}_{key}" for side in ("right", "left")
                                              for key in ("eef_pos", "eef_quat", "gripper_qpos"))),
}  # fmt: skip


@dataclass
class RobomimicDemo:
    instruction: str
    states: np.ndarray
    actions: np.ndarray
    obs: dict[str, np.ndarray]
    datagen_info: dict[str, np.ndarray] = field(default_factory=dict)  # keys may contain "/" for groups
    attrs: dict[str, Any] = field(default_factory=dict)


def write_robomimic(path: Path | str, env_name: str, demos: list[RobomimicDemo], fps: int) -> None:
    """Write demos as one robomimic-style HDF5 file."""
    with h5py.File(path, "w") as file:
        data = file.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": env_name, "type": 1, "env_kwargs": {"control_freq": fps}})
        data.attrs["total"] = int(sum(len(d.actions) for d in demos))
        for index, demo in enumerate(demos):
            group = data.create_group(f"demo_{index}")
            group.attrs.update({"num_samples": len(demo.actions), "instruction": demo.instruction, **demo.attrs})
            group.create_dataset("actions", data=demo.actions)
            group.create_dataset("states", data=demo.states)
            for key, value in demo.obs.items():
                options = {"compression": "gzip", "compression_opts": 1} if value.dtype == np.uint8 else {}
                group.create_dataset(f"obs/{key}", data=value, **options)
            for key, value in demo.datagen_info.items():
                group.create_dataset(f"datagen_info/{key}", data=value)


def _demo_names(data: h5py.Group) -> list[str]:
    return sorted(data, key=lambda name: int(name.split("_")[-1]))


def _datagen_extras(group: h5py.Group, prefix: str = "datagen") -> dict[str, np.ndarray]:
    extras = {}
    for key, item in group.items():
        name = f"{prefix}.{key}"
        extras.update(_datagen_extras(item, name) if isinstance(item, h5py.Group) else {name: item[()]})
    return extras


def robomimic_demo_names(path: Path | str) -> list[str]:
    """The demos of a robomimic file in order; a missing or foreign file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: robomimic file is missing")
    with h5py.File(path, "r") as file:
        if "data" not in file:
            raise ValueError(f"{path}: no 'data' group; not a robomimic file")
        return _demo_names(file["data"])


def read_robomimic_demo(
    path: Path | str, embodiment: str, cameras: dict[str, str], name: str, instruction: str | None = None
) -> Episode | RejectedEpisode:
    """One demo as an episode, or a ``RejectedEpisode`` naming the file and reason (runs on Ray workers too)."""
    path = Path(path)
    spec = get_embodiment(embodiment)
    with h5py.File(path, "r") as file:
        env_args = json.loads(file["data"].attrs.get("env_args", "{}"))
        fps = int(env_args.get("env_kwargs", {}).get("control_freq", spec.fps))
        episode_id = f"{path.stem}/{name}"
        try:
            return _read_demo(file["data"][name], episode_id, spec, cameras, instruction, fps)
        except (KeyError, ValueError) as error:
            return RejectedEpisode(episode_id, f"file {path}", str(error).strip("'\""))


def read_robomimic(
    path: Path | str, embodiment: Embodiment, cameras: dict[str, str], instruction: str | None = None
) -> Iterator[Episode | RejectedEpisode]:
    """Every demo of a robomimic HDF5 file as an episode; a broken demo comes as ``RejectedEpisode``.

    Args:
        cameras: embodiment camera -> obs key (e.g. ``{"agentview": "agentview_image"}``).
        instruction: used when a demo carries no ``instruction`` attribute; without either the demo is rejected
            (never silently given a default).
    """
    for name in robomimic_demo_names(path):
        yield read_robomimic_demo(path, embodiment.name, cameras, name, instruction)


def _read_demo(
    demo: h5py.Group,
    episode_id: str,
    embodiment: Embodiment,
    cameras: dict[str, str],
    instruction: str | None,
    fps: int,
) -> Episode:
    actions = demo["actions"][()].astype(np.float32)
    length = len(actions)
    if embodiment.name not in PROPRIO_KEYS:
        raise ValueError(f"no robomimic state keys for embodiment {embodiment.name!r}; have {sorted(PROPRIO_KEYS)}")
    state_keys = PROPRIO_KEYS[embodiment.name]
    missing = [key for key in (*state_keys, *cameras.values()) if key not in demo["obs"]]
    if missing:
        raise KeyError(f"{demo.name}: obs keys missing: {missing}")
    text = demo.attrs.get("instruction", instruction)
    extras = {"sim.state": demo["states"][()].astype(np.float32)} if "states" in demo else {}
    if "datagen_info" in demo:
        extras.update(_datagen_extras(demo["datagen_info"]))
    for key, value in extras.items():
        if len(value) != length:
            raise ValueError(f"{demo.name}: {key} has {len(value)} steps, actions have {length}")
    return Episode(
        episode_id=episode_id,
        embodiment=embodiment.name,
        fps=fps,
        instruction=str(text) if text is not None else "",
        frames={camera: demo["obs"][key][()] for camera, key in cameras.items()},
        state=np.concatenate([demo["obs"][key][()] for key in state_keys], axis=1).astype(np.float32),
        action=actions,
        timestamps=exact_timestamps(length, fps),
        extras=extras,
        notes={
            "source": f"{demo.file.filename}#{demo.name}",
            **{k: _plain(v) for k, v in demo.attrs.items() if k != "instruction"},
        },
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
