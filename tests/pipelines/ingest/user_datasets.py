"""Datasets as users bring them: LeRobot datasets recorded with lerobot's own API, robomimic files with camera
observations, RLDS builders of a robot no standardisation knows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipelines.robomimic import RobomimicDemo, write_robomimic
from tests.conftest import scene_frames
from tests.pipelines.ingest.rlds_builders import random_steps, write_builder


@dataclass(frozen=True)
class RecordingSpec:
    """One user's LeRobot recording: vector widths and per-dimension names, fps, cameras by dtype, tasks."""

    name: str
    state_names: list[str] | dict[str, list[str]] | None
    action_names: list[str] | dict[str, list[str]] | None
    fps: int
    cameras: dict[str, str]  # feature key -> "video" or "image"
    tasks: tuple[str, ...] = ("pick up the cube", "open the drawer", "stack the blocks")
    state_dim: int = 0
    action_dim: int = 0
    gripper_dims: tuple[int, ...] = ()  # action dims that only take -1 or +1
    frame_size: tuple[int, int] = (32, 48)
    episodes: int = 3
    length: int = 16
    extra_features: dict[str, dict] = field(default_factory=dict)

    def width(self, names: list[str] | dict[str, list[str]] | None, fallback: int) -> int:
        if names is None:
            return fallback
        return len(names) if isinstance(names, list) else sum(len(v) for v in names.values())


def record_lerobot(root: Path, spec: RecordingSpec, seed: int = 0) -> Path:
    """Record ``spec`` with ``LeRobotDataset.create`` / ``add_frame`` / ``save_episode`` / ``finalize``, as lerobot's
    own recorder does; actions and states change every frame, so no idle frame is trimmed."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    state_dim, action_dim = spec.width(spec.state_names, spec.state_dim), spec.width(spec.action_names, spec.action_dim)
    height, width = spec.frame_size
    features = {
        "observation.state": {"dtype": "float32", "shape": (state_dim,), "names": spec.state_names},
        "action": {"dtype": "float32", "shape": (action_dim,), "names": spec.action_names},
        **{
            key: {"dtype": dtype, "shape": (height, width, 3), "names": ["height", "width", "channels"]}
            for key, dtype in spec.cameras.items()
        },
        **spec.extra_features,
    }
    dataset = LeRobotDataset.create(
        f"user/{spec.name}", fps=spec.fps, features=features, root=root, robot_type=spec.name, use_videos=True
    )
    rng = np.random.default_rng(seed)
    for episode in range(spec.episodes):
        frames = {
            key: scene_frames(spec.length, height, width, seed=seed * 100 + episode * 10 + k)
            for k, key in enumerate(spec.cameras)
        }
        state = np.cumsum(rng.normal(0, 0.1, (spec.length, state_dim)), axis=0).astype(np.float32)
        action = rng.uniform(-1, 1, (spec.length, action_dim)).astype(np.float32)
        for dim in spec.gripper_dims:
            action[:, dim] = np.where(np.arange(spec.length) < spec.length // 2, -1.0, 1.0)
        for t in range(spec.length):
            frame = {
                "observation.state": state[t],
                "action": action[t],
                "task": spec.tasks[episode % len(spec.tasks)],
                **{key: video[t] for key, video in frames.items()},
                **{
                    key: rng.normal(size=tuple(f["shape"])).astype(np.float32) for key, f in spec.extra_features.items()
                },
            }
            dataset.add_frame(frame)
        dataset.save_episode()
    dataset.finalize()
    return Path(root)


PANDA_8 = (
    RecordingSpec(  # the example: a Panda with an 8-D state and 7-D action, one video and one image camera
        name="panda_lab",
        state_names=[f"joint_{i}" for i in range(1, 8)] + ["gripper"],
        action_names=["x", "y", "z", "roll", "pitch", "yaw", "gripper"],
        fps=15,
        cameras={"observation.images.front": "video", "observation.images.wrist": "image"},
        gripper_dims=(6,),
    )
)
SO100_6 = RecordingSpec(
    name="so100",
    state_names=[
        "shoulder_pan.pos",
        "shoulder_lift.pos",
        "elbow_flex.pos",
        "wrist_flex.pos",
        "wrist_roll.pos",
        "gripper.pos",
    ],
    action_names=[
        "shoulder_pan.pos",
        "shoulder_lift.pos",
        "elbow_flex.pos",
        "wrist_flex.pos",
        "wrist_roll.pos",
        "gripper.pos",
    ],
    fps=30,
    cameras={"observation.images.laptop": "image"},
    extra_features={"observation.effort": {"dtype": "float32", "shape": (6,), "names": None}},
)
ALOHA_14 = RecordingSpec(
    name="aloha",
    state_names={
        "motors": [
            f"{side}_{joint}"
            for side in ("left", "right")
            for joint in ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper")
        ]
    },
    action_names={
        "motors": [
            f"{side}_{joint}"
            for side in ("left", "right")
            for joint in ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate", "gripper")
        ]
    },
    fps=10,
    cameras={"observation.images.cam_high": "video", "observation.images.cam_left_wrist": "video"},
    gripper_dims=(6, 13),
)
HUMANOID_44 = RecordingSpec(
    name="humanoid",
    state_names=None,
    action_names=None,
    state_dim=44,
    action_dim=44,
    fps=30,
    cameras={"observation.images.head": "video"},
    episodes=2,
)
ARM_SESSION_A = RecordingSpec(
    name="arm_a",
    state_names=[f"j{i}" for i in range(7)],
    action_names=[f"j{i}" for i in range(7)],
    fps=15,
    cameras={"observation.images.top": "video"},
    tasks=("wipe the table",),
    episodes=2,
)
ARM_SESSION_B = RecordingSpec(  # the same robot on another day: its camera was renamed
    name="arm_b",
    state_names=[f"j{i}" for i in range(7)],
    action_names=[f"j{i}" for i in range(7)],
    fps=15,
    cameras={"observation.images.fixed": "video"},
    tasks=("wipe the table",),
    episodes=2,
)


def write_user_robomimic(path: Path, demos: int = 3, length: int = 20, seed: int = 0) -> Path:
    """A robomimic image dataset of a 6-DoF arm pyramid has no embodiment for: robomimic's obs keys (camera frames
    as ``<camera>_image``, proprioception, object state, velocities), a -1/+1 gripper action."""
    rng = np.random.default_rng(seed)
    recorded = []
    for index in range(demos):
        actions = rng.uniform(-1, 1, (length, 7)).astype(np.float32)
        actions[:, 6] = np.where(np.arange(length) < length // 2, -1.0, 1.0)
        recorded.append(
            RobomimicDemo(
                instruction=f"put the block in bin {index}",
                states=rng.normal(size=(length, 20)),
                actions=actions,
                obs={
                    "agentview_image": scene_frames(length, 64, 64, seed + index),
                    "robot0_eye_in_hand_image": scene_frames(length, 64, 64, seed + index + 50),
                    "robot0_joint_pos": np.cumsum(rng.normal(0, 0.1, (length, 6)), axis=0),
                    "robot0_joint_vel": rng.normal(size=(length, 6)),
                    "robot0_eef_pos": rng.normal(size=(length, 3)),
                    "robot0_eef_quat": rng.normal(size=(length, 4)),
                    "robot0_gripper_qpos": rng.normal(size=(length, 2)),
                    "object": rng.normal(size=(length, 10)),
                },
            )
        )
    write_robomimic(path, "PickPlace", recorded, fps=20)
    return path


USER_RLDS = "my_robot_dataset"
USER_RLDS_STEPS = {  # a robot of the user's own, logged as RLDS with the common OXE keys
    "observation/image": ("image", (32, 32, 3)),
    "observation/wrist_image": ("image", (32, 32, 3)),
    "observation/state": ("tensor", (8,), "float32"),
    "action": ("tensor", (7,), "float32"),
    "language_instruction": ("text",),
    "is_first": ("tensor", (), "bool"),
    "is_last": ("tensor", (), "bool"),
    "reward": ("tensor", (), "float32"),
}


def write_user_rlds(root: Path, episodes: int = 3, length: int = 12) -> Path:
    """An RLDS builder folder ``my_robot_dataset/1.0.0`` no standardisation knows, a -1/+1 gripper in action[6]."""
    recorded = []
    for index in range(episodes):
        steps = random_steps(USER_RLDS, length, seed=index, steps=USER_RLDS_STEPS)
        steps["action"][:, 6] = np.where(np.arange(length) < length // 2, -1.0, 1.0)
        recorded.append(steps)
    return write_builder(root, USER_RLDS, recorded, USER_RLDS_STEPS)
