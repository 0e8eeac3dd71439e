"""MimicGen's generation method in robosuite 1.5, single-arm: new demos from a few source demos.

Each source demo is cut into object-centric subtasks at its termination signals (boundaries shifted by a
random offset). For a new scene each subtask takes a source segment (chosen at random, or the one whose
object pose was nearest), moves the segment's target poses into the object's current frame, bridges from
the robot's current pose to the segment's start, and executes it with delta end-effector (OSC_POSE)
commands, the source's gripper actions replayed and optional action noise. Only rollouts that succeed
are kept; a failure keeps its reason for analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from generators.robosuite_env import (
    PANDA_TASKS,
    POSITION_SCALE,
    ROTATION_SCALE,
    body_pose,
    eef_pose,
    grasp_signal,
    make_env,
)
from generators.sim.poses import delta_command, interpolate_poses, transform_segment
from pipelines.ingest.robomimic import PROPRIO_KEYS

__all__ = [
    "SUBTASKS",
    "GenerationConfig",
    "Rollout",
    "SourceDemo",
    "Subtask",
    "generate_rollout",
    "load_source_demos",
    "replay_actions",
    "segment_bounds",
]


@dataclass(frozen=True)
class Subtask:
    """One object-centric subtask: the object its motion is relative to (None: the world, e.g. a fixed bin)
    and the signal that ends it (None: the demo's end)."""

    object: str | None
    end_signal: str | None


SUBTASKS = {
    "Lift": (Subtask("cube", "grasp"), Subtask("cube", None)),
    "Stack": (Subtask("cubeA", "grasp"), Subtask("cubeB", None)),
    "PickPlaceCan": (Subtask("can", "grasp"), Subtask(None, None)),
}


@dataclass(frozen=True)
class SourceDemo:
    """What generation needs of a source demo (its ``datagen_info``)."""

    name: str
    target_pose: np.ndarray  # (T, 4, 4)
    gripper: np.ndarray  # (T,)
    object_poses: dict[str, np.ndarray]  # object -> (T, 4, 4)
    signals: dict[str, np.ndarray]  # signal -> (T,) bool


def load_source_demos(path: Path | str) -> list[SourceDemo]:
    """Source demos of a robomimic HDF5 file with ``datagen_info``; one without it is a clear error."""
    demos = []
    with h5py.File(path, "r") as file:
        for name in sorted(file["data"], key=lambda n: int(n.split("_")[-1])):
            group = file["data"][name]
            if "datagen_info" not in group:
                raise ValueError(f"{path}: {name} has no datagen_info; MimicGen needs eef/object poses and signals")
            info = group["datagen_info"]
            demos.append(
                SourceDemo(
                    name=f"{Path(path).stem}/{name}",
                    target_pose=info["target_pose"][()],
                    gripper=info["gripper_action"][()].reshape(-1),
                    object_poses={key: info["object_poses"][key][()] for key in info["object_poses"]},
                    signals={key: info["subtask_term_signals"][key][()].astype(bool) for key in info["subtask_term_signals"]},
                )
            )  # fmt: skip
    return demos


def segment_bounds(
    demo: SourceDemo, subtasks: tuple[Subtask, ...], offset: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """(start, end) of each subtask: it ends where its signal first turns on, shifted by a random offset
    in [-offset, offset]; the last ends with the demo."""
    length, bounds, start = len(demo.target_pose), [], 0
    for subtask in subtasks:
        if subtask.end_signal is None:
            end = length
        else:
            on = np.flatnonzero(demo.signals[subtask.end_signal])
            if len(on) == 0:
                raise ValueError(f"{demo.name}: signal {subtask.end_signal!r} never turns on")
            end = int(np.clip(on[0] + rng.integers(-offset, offset + 1), start + 1, length - 1))
        bounds.append((start, end))
        start = end
    return bounds


@dataclass(frozen=True)
class GenerationConfig:
    """Attributes:
    selection: "random" source segment per subtask, or "nearest" (object pose closest to the new scene's).
    interpolation_steps: steps bridging the robot's pose to each segment's first pose.
    action_noise: std of Gaussian noise on the position/rotation command (input units).
    boundary_offset: subtask boundaries shift by up to this many steps.
    settle_steps: steps holding still after the last segment before success is judged.
    """

    selection: str = "random"
    interpolation_steps: int = 5
    action_noise: float = 0.05
    boundary_offset: int = 3
    settle_steps: int = 10


@dataclass
class Rollout:
    """One generated attempt: what was done, whether it succeeded, and why not."""

    task: str
    seed: int
    success: bool
    reason: str
    actions: np.ndarray  # (T, 7)
    sim_states: np.ndarray  # (T, S)
    proprio: dict[str, np.ndarray]  # PROPRIO_KEYS -> (T, ...)
    datagen_info: dict[str, np.ndarray]  # as a source demo's: eef/target poses, gripper, object poses, signals
    segments: list[dict] = field(default_factory=list)  # per subtask: source demo, bounds, object


def _choose(sources: list[SourceDemo], subtask: Subtask, index: int, env, config: GenerationConfig,
            rng: np.random.Generator, bounds: list[list[tuple[int, int]]]) -> int:  # fmt: skip
    if config.selection == "random" or subtask.object is None:
        return int(rng.integers(len(sources)))
    now = body_pose(env, PANDA_TASKS[env.__class__.__name__].objects[subtask.object])[:3, 3]
    distances = [
        np.linalg.norm(s.object_poses[subtask.object][b[index][0]][:3, 3] - now) for s, b in zip(sources, bounds)
    ]
    return int(np.argmin(distances))


def generate_rollout(
    task: str, sources: list[SourceDemo], seed: int, config: GenerationConfig | None = None
) -> Rollout:
    """One MimicGen attempt on a scene seeded by ``seed`` (deterministic for the same inputs)."""
    config = config or GenerationConfig()
    rng = np.random.default_rng(seed)
    spec, subtasks = PANDA_TASKS[task], SUBTASKS[task]
    env = make_env(task, seed=seed)
    obs = env.reset()
    bounds = [segment_bounds(s, subtasks, config.boundary_offset, rng) for s in sources]
    record: dict[str, list] = {
        key: [] for key in ("actions", "sim_states", "eef_pose", "target_pose", *PROPRIO_KEYS,
                            *(f"object_poses/{name}" for name in spec.objects))
    }  # fmt: skip
    segments, gripper = [], float(sources[0].gripper[0])

    def step(target: np.ndarray, grip: float) -> None:
        nonlocal obs
        command = delta_command(eef_pose(obs), target, POSITION_SCALE, ROTATION_SCALE)
        command = np.clip(command + rng.normal(0, config.action_noise, 6), -1, 1) if config.action_noise else command
        action = np.r_[command, grip].astype(np.float32)
        record["actions"].append(action)
        record["sim_states"].append(env.sim.get_state().flatten())
        record["eef_pose"].append(eef_pose(obs))
        record["target_pose"].append(target)
        for key in PROPRIO_KEYS:
            record[key].append(obs[key].astype(np.float32))
        for name, body in spec.objects.items():
            record[f"object_poses/{name}"].append(body_pose(env, body))
        for name, value in grasp_signal(env, task).items():
            record.setdefault(f"subtask_term_signals/{name}", []).append(value)
        obs, _, _, _ = env.step(action)

    try:
        for index, subtask in enumerate(subtasks):
            chosen = _choose(sources, subtask, index, env, config, rng, bounds)
            source, (start, end) = sources[chosen], bounds[chosen][index]
            if subtask.object is None:
                then = now = np.eye(4)
            else:
                then = source.object_poses[subtask.object][start]
                now = body_pose(env, spec.objects[subtask.object])
            targets = transform_segment(source.target_pose[start:end], then, now)
            for pose in interpolate_poses(eef_pose(obs), targets[0], config.interpolation_steps):
                step(pose, gripper)
            for pose, grip in zip(targets, source.gripper[start:end], strict=True):
                step(pose, float(grip))
                gripper = float(grip)
            segments.append(
                {"subtask": index, "object": subtask.object, "source": source.name, "start": start, "end": end}
            )
        hold = eef_pose(obs)
        for _ in range(config.settle_steps):
            step(hold, gripper)
        success = bool(env._check_success())
        reason = "" if success else "task not completed at the end of the last segment"
    finally:
        env.close()
    return Rollout(
        task=task, seed=seed, success=success, reason=reason,
        actions=np.stack(record["actions"]), sim_states=np.stack(record["sim_states"]),
        proprio={k: np.stack(record[k]) for k in PROPRIO_KEYS},
        datagen_info={
            "gripper_action": np.stack(record["actions"])[:, 6:7],
            **{k: np.asarray(v) for k, v in record.items() if k.startswith(("eef_pose", "target_pose", "object_poses/", "subtask_term_signals/"))},
        },
        segments=segments,
    )  # fmt: skip


def replay_actions(task: str, seed: int, actions: np.ndarray) -> bool:
    """Replay recorded actions on the same seeded scene; True when the task succeeds at the end."""
    env = make_env(task, seed=seed)
    try:
        env.reset()
        for action in actions:
            env.step(action)
        return bool(env._check_success())
    finally:
        env.close()
