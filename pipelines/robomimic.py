"""robomimic-style HDF5 teleop files, with MimicGen's ``datagen_info`` when present.

Layout::

    data/                      attrs: env_args (JSON: env_name, env_kwargs.control_freq, ...), total
      demo_<i>/                attrs: num_samples, instruction (ours), seed, success
        actions (N, A)         states (N, S) flattened simulator states
        obs/<camera>_image (N, H, W, 3) uint8, obs/<key> (N, D) low-dimensional observations (robot0_eef_pos, ...)
        datagen_info/eef_pose (N, 4, 4), target_pose (N, 4, 4), gripper_action (N, 1) (two arms: (N, 2, 4, 4),
                     (N, 2); a hand's command is one value), object_poses/<object> (N, 4, 4),
                     subtask_term_signals/<name> (N,)

The embodiment says which obs keys make the state (each state group's ``source_key``) and which image obs
are its cameras (``<camera>_image``, or an alias). Reading keeps ``datagen_info`` and the simulator states as
episode extras (``datagen.*``, ``sim.state``): the simulation generator needs them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from schemas.embodiment import Embodiment
from schemas.episode import Episode, RejectedEpisode, exact_timestamps
from schemas.errors import InputError, error_reason

__all__ = [
    "ACTIONS_KEY",
    "IMAGE_SUFFIX",
    "RobomimicDemo",
    "RobomimicError",
    "image_obs_keys",
    "read_robomimic",
    "read_robomimic_demo",
    "robomimic_cameras",
    "robomimic_demo_names",
    "robomimic_fps",
    "write_robomimic",
]

ACTIONS_KEY = "actions"
IMAGE_SUFFIX = "_image"  # robomimic's name for a camera's frames: obs/<camera>_image
ROBOSUITE_CONTROL_FREQ = 20  # robosuite's default control_freq, when a file does not record its own
ATTRIBUTE_READ_LIMIT_S = 60  # reading every attribute is metadata only: 0.23 s for a small file, child start included

_READ_EVERY_ATTRIBUTE = """
import resource, sys, h5py
limit = int(sys.argv[2])  # the kernel ends a loop this child cannot leave, even where its parent died first
resource.setrlimit(resource.RLIMIT_CPU, (limit, limit))
with h5py.File(sys.argv[1], "r") as file:
    def read(name, item):
        for key in item.attrs:
            item.attrs[key]
    read("/", file)
    file.visititems(read)
"""


class RobomimicError(InputError):
    """A robomimic file that cannot be read as a whole; names the file."""


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
    """``demo_<i>`` groups in numeric order (robomimic's own order), any other groups after them by name."""
    return sorted(data, key=lambda name: (0, int(name[5:]), "") if re.fullmatch(r"demo_\d+", name) else (1, 0, name))


def _datagen_extras(group: h5py.Group, prefix: str = "datagen") -> dict[str, np.ndarray]:
    extras = {}
    for key, item in group.items():
        name = f"{prefix}.{key}"
        extras.update(_datagen_extras(item, name) if isinstance(item, h5py.Group) else {name: item[()]})
    return extras


def _check_attributes_can_be_read(path: Path) -> None:
    """Read every attribute of ``path`` in a child process first. A damaged global heap (where HDF5 keeps
    variable-length strings such as ``env_args`` and ``instruction``) makes libhdf5 loop forever inside one read,
    which nothing in this process can interrupt. An ordinary read error in the child is left to the readers here,
    which name it."""
    command = [sys.executable, "-c", _READ_EVERY_ATTRIBUTE, str(path), str(ATTRIBUTE_READ_LIMIT_S + 1)]
    try:
        finished = subprocess.run(command, capture_output=True, timeout=ATTRIBUTE_READ_LIMIT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RobomimicError(
            f"{path}: reading its HDF5 attributes did not finish in {ATTRIBUTE_READ_LIMIT_S} s, so the file is "
            "damaged (libhdf5 loops on a corrupt global heap); copy or export it again"
        ) from None
    if finished.returncode < 0:
        raise RobomimicError(
            f"{path}: reading its HDF5 attributes crashed libhdf5 (signal {-finished.returncode}), so the file is "
            "damaged; copy or export it again"
        )


def robomimic_demo_names(path: Path | str) -> list[str]:
    """The demos of a robomimic file in order; a missing, foreign or damaged file is a clear error. Every read of
    a robomimic source starts here, so the file's attributes are checked here."""
    path = Path(path)
    if not path.is_file():
        raise RobomimicError(f"{path}: robomimic file is missing")
    _check_attributes_can_be_read(path)
    try:
        with h5py.File(path, "r") as file:
            if "data" not in file or not isinstance(file["data"], h5py.Group):
                raise RobomimicError(f"{path}: no 'data' group; not a robomimic file")
            return _demo_names(file["data"])
    except (OSError, RuntimeError, KeyError, ValueError) as error:  # what h5py raises for a damaged file
        if isinstance(error, RobomimicError):
            raise
        raise RobomimicError(f"{path}: not a readable HDF5 file ({error})") from None


def robomimic_fps(path: Path | str, default: int = ROBOSUITE_CONTROL_FREQ) -> int:
    """The control frequency a robomimic file records in ``env_args`` (robosuite's ``control_freq``); ``default``
    where it records none, or none that can be read."""
    try:
        with h5py.File(path, "r") as file:
            env_args = json.loads(file["data"].attrs.get("env_args", "{}"))
        fps = int(env_args.get("env_kwargs", {}).get("control_freq", default))
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError):
        return default
    return fps if fps > 0 else default


def image_obs_keys(obs: h5py.Group) -> list[str]:
    """The obs keys holding camera frames: (N, H, W, 3) uint8."""
    return [
        key
        for key, item in obs.items()
        if isinstance(item, h5py.Dataset) and item.dtype == np.uint8 and item.ndim == 4 and item.shape[-1] == 3
    ]


def robomimic_cameras(embodiment: Embodiment, image_keys: list[str]) -> dict[str, str]:
    """Embodiment camera -> obs key, matching ``<camera>_image`` or an alias."""
    matched = embodiment.match_cameras({key: (key.removesuffix(IMAGE_SUFFIX),) for key in image_keys})
    return {camera: key for key, camera in matched.items()}


def read_robomimic_demo(
    path: Path | str,
    embodiment: Embodiment,
    cameras: dict[str, str] | None,
    name: str,
    instruction: str | None = None,
) -> Episode | RejectedEpisode:
    """One demo as an episode, or a ``RejectedEpisode`` naming the file and reason (runs on Ray workers too).

    ``cameras`` maps each embodiment camera to its obs key; None matches them by name (``robomimic_cameras``).
    """
    path = Path(path)
    episode_id = f"{path.stem}/{name}"
    try:
        fps = robomimic_fps(path, embodiment.fps)
        with h5py.File(path, "r") as file:
            return _read_demo(file["data"][name], episode_id, embodiment, cameras, instruction, fps)
    except (KeyError, ValueError, OSError, TypeError, AttributeError, IndexError, RuntimeError) as error:  # h5py's too
        return RejectedEpisode(episode_id, f"file {path}", error_reason(error))


def read_robomimic(
    path: Path | str, embodiment: Embodiment, cameras: dict[str, str] | None = None, instruction: str | None = None
) -> Iterator[Episode | RejectedEpisode]:
    """Every demo of a robomimic HDF5 file as an episode; a broken demo comes as ``RejectedEpisode``.

    Args:
        cameras: embodiment camera -> obs key (e.g. ``{"agentview": "agentview_image"}``); None: by name.
        instruction: used when a demo carries no ``instruction`` attribute; without either the demo is rejected
            (never silently given a default).
    """
    for name in robomimic_demo_names(path):
        yield read_robomimic_demo(path, embodiment, cameras, name, instruction)


def _read_demo(
    demo: h5py.Group,
    episode_id: str,
    embodiment: Embodiment,
    cameras: dict[str, str] | None,
    instruction: str | None,
    fps: int,
) -> Episode:
    actions = demo[ACTIONS_KEY][()].astype(np.float32)
    length = len(actions)
    obs = demo["obs"]
    cameras = cameras if cameras is not None else robomimic_cameras(embodiment, image_obs_keys(obs))
    if any(group.source_key is None for group in embodiment.state_groups):
        raise KeyError(
            f"embodiment {embodiment.name!r}: each state group needs the obs key it is read from "
            "(source_key) to read robomimic files"
        )
    state_keys = embodiment.state_keys()
    missing = [key for key in (*state_keys, *cameras.values()) if key not in obs]
    if missing:
        raise KeyError(f"{demo.name}: obs keys missing: {missing}")
    text = demo.attrs.get("instruction", instruction)
    extras = {"sim.state": demo["states"][()].astype(np.float32)} if "states" in demo else {}
    if "datagen_info" in demo:
        extras.update(_datagen_extras(demo["datagen_info"]))
    columns = {ACTIONS_KEY: actions, **{key: obs[key][()] for key in state_keys}}
    for key, value in {**extras, **columns}.items():
        if len(value) != length:
            raise ValueError(f"{demo.name}: {key} has {len(value)} steps, actions have {length}")
    return Episode(
        episode_id=episode_id,
        embodiment=embodiment.name,
        fps=fps,
        instruction=str(text) if text is not None else "",
        frames={camera: obs[key][()] for camera, key in cameras.items()},
        state=embodiment.gather("state", columns, ACTIONS_KEY).astype(np.float32) if embodiment.has_state else None,
        action=embodiment.gather("action", columns, ACTIONS_KEY),
        timestamps=exact_timestamps(length, fps),
        extras=extras,
        notes={
            "source": f"{demo.file.filename}#{demo.name}",
            **{k: _plain(v) for k, v in demo.attrs.items() if k != "instruction"},
        },
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
