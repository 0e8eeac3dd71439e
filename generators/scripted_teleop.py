"""A scripted expert standing in for a human teleoperator in robosuite (the embedded default teleop data).

The expert drives the Panda through task waypoints (above the object, down, grasp, lift, carry, release)
with a proportional delta-end-effector command, after a random idle lead-in like a real operator's
reaction time (ingest trims it). Each step records what MimicGen needs as ``datagen_info``: end-effector
and target poses, object poses, the gripper command and subtask termination signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from robosuite.utils import transform_utils

from generators.robosuite_env import (
    CONTROL_FREQ,
    PANDA_TASKS,
    POSITION_SCALE,
    ROTATION_SCALE,
    body_pose,
    eef_pose,
    grasp_signal,
    make_env,
    render_states,
)
from pipelines.ingest.robomimic import PROPRIO_KEYS, RobomimicDemo, write_robomimic
from pipelines.lerobot.video import write_mp4

__all__ = ["ExpertConfig", "TeleopSetReport", "record_expert_demo", "record_stand_in_videos", "record_teleop_set"]

OPEN, CLOSE = -1.0, 1.0


@dataclass(frozen=True)
class ExpertConfig:
    """How demos are recorded.

    Attributes:
        cameras: robosuite camera names to render.
        image_size: square frame size (even, for yuv420p video).
        idle_lead_in: range of idle steps before the operator starts moving.
        max_steps: give up after this many steps (the demo is kept apart as a failure).
        position_noise: std of noise added to the position command (m/step in input units).
    """

    cameras: tuple[str, ...] = ("agentview", "robot0_eye_in_hand")
    image_size: int = 84
    idle_lead_in: tuple[int, int] = (5, 15)
    max_steps: int = 400
    position_noise: float = 0.02


@dataclass
class Waypoint:
    position: np.ndarray
    gripper: float
    tolerance: float = 0.01
    hold: int = 0  # extra steps to stay once reached (gripper closing or opening)


def _waypoints(env, task: str) -> list[Waypoint]:
    lift = np.array([0, 0, 0.15])
    if task == "Lift":
        cube = body_pose(env, "cube_main")[:3, 3]
        return [Waypoint(cube + [0, 0, 0.08], OPEN), Waypoint(cube, OPEN, 0.008), Waypoint(cube, CLOSE, hold=8),
                Waypoint(cube + lift, CLOSE, 0.02)]  # fmt: skip
    if task == "Stack":
        cube_a, cube_b = body_pose(env, "cubeA_main")[:3, 3], body_pose(env, "cubeB_main")[:3, 3]
        return [Waypoint(cube_a + [0, 0, 0.08], OPEN), Waypoint(cube_a, OPEN, 0.008), Waypoint(cube_a, CLOSE, hold=8),
                Waypoint(cube_a + [0, 0, 0.12], CLOSE, 0.02), Waypoint(cube_b + [0, 0, 0.12], CLOSE, 0.015),
                Waypoint(cube_b + [0, 0, 0.055], CLOSE, 0.008), Waypoint(cube_b + [0, 0, 0.055], OPEN, hold=6),
                Waypoint(cube_b + [0, 0, 0.15], OPEN, 0.03)]  # fmt: skip
    if task == "PickPlaceCan":
        can = body_pose(env, "Can_main")[:3, 3]
        bin_center = env.target_bin_placements[env.object_to_id["can"]]
        carry = max(can[2], bin_center[2]) + 0.12
        # a held can sags a few cm under the impedance controller: looser tolerances once grasped
        return [Waypoint(can + [0, 0, 0.08], OPEN), Waypoint(can, OPEN, 0.012), Waypoint(can, CLOSE, hold=8),
                Waypoint(np.r_[can[:2], carry], CLOSE, 0.03), Waypoint(np.r_[bin_center[:2], carry], CLOSE, 0.03),
                Waypoint(np.r_[bin_center[:2], bin_center[2] + 0.1], CLOSE, 0.04),
                Waypoint(np.r_[bin_center[:2], bin_center[2] + 0.1], OPEN, 0.04, hold=10),
                Waypoint(np.r_[bin_center[:2], carry], OPEN, 0.04)]  # retreat: robosuite counts it placed once let go  # fmt: skip
    raise ValueError(f"no scripted expert for task {task!r}; have {sorted(PANDA_TASKS)}")


def _command(obs: dict[str, np.ndarray], target: Waypoint, orientation: np.ndarray, noise: np.ndarray) -> np.ndarray:
    position = np.clip((target.position - obs["robot0_eef_pos"]) / POSITION_SCALE + noise, -1, 1)
    current = transform_utils.quat2mat(obs["robot0_eef_quat"])
    rotation = np.clip(
        transform_utils.quat2axisangle(transform_utils.mat2quat(orientation @ current.T)) / ROTATION_SCALE, -1, 1
    )
    return np.r_[position, rotation, target.gripper].astype(np.float32)


def _target_pose(obs: dict[str, np.ndarray], action: np.ndarray) -> np.ndarray:
    """The pose the controller is asked to reach this step (current pose moved by the scaled delta)."""
    pose = eef_pose(obs)
    target = np.eye(4)
    target[:3, 3] = pose[:3, 3] + action[:3] * POSITION_SCALE
    target[:3, :3] = (
        transform_utils.quat2mat(transform_utils.axisangle2quat(action[3:6] * ROTATION_SCALE)) @ pose[:3, :3]
    )
    return target


def record_expert_demo(task: str, seed: int, config: ExpertConfig | None = None) -> tuple[RobomimicDemo, bool]:
    """Run the scripted expert once on a seeded scene; returns the demo and its success (frames only on success)."""
    config = config or ExpertConfig()
    spec = PANDA_TASKS[task]
    rng = np.random.default_rng(seed)
    env = make_env(task, seed=seed)
    obs = env.reset()
    orientation = transform_utils.quat2mat(obs["robot0_eef_quat"])
    plan, idle = _waypoints(env, task), int(rng.integers(*config.idle_lead_in))
    steps: dict[str, list] = {key: [] for key in (*PROPRIO_KEYS, "action", "sim_state", "eef_pose", "target_pose")}
    objects: dict[str, list] = {name: [] for name in spec.objects}
    signals: dict[str, list] = {}
    held, success = 0, False
    for step in range(config.max_steps):
        if step < idle:
            action = np.r_[np.zeros(6), OPEN].astype(np.float32)
        elif plan:
            action = _command(obs, plan[0], orientation, rng.normal(0, config.position_noise, 3))
            if np.linalg.norm(plan[0].position - obs["robot0_eef_pos"]) < plan[0].tolerance:
                held += 1
                if held > plan[0].hold:
                    plan.pop(0)
                    held = 0
        else:
            action = np.r_[np.zeros(6), action[6]].astype(np.float32)
        for key in PROPRIO_KEYS:
            steps[key].append(obs[key].astype(np.float32))
        steps["action"].append(action)
        steps["sim_state"].append(env.sim.get_state().flatten())
        steps["eef_pose"].append(eef_pose(obs))
        steps["target_pose"].append(_target_pose(obs, action))
        for name, body in spec.objects.items():
            objects[name].append(body_pose(env, body))
        for name, value in grasp_signal(env, task).items():
            signals.setdefault(name, []).append(value)
        obs, _, _, _ = env.step(action)
        if not plan and env._check_success():
            success = True
            break
    # frames cost ~10x the physics on a software renderer: only successful demos are rendered
    rendered = render_states(env, steps["sim_state"], config.cameras, config.image_size) if success else []
    env.close()
    demo = RobomimicDemo(
        instruction=spec.instruction,
        states=np.stack(steps["sim_state"]),
        actions=np.stack(steps["action"]),
        obs={
            **{
                f"{camera}_image": np.stack([frame[camera] for frame in rendered])
                for camera in config.cameras
                if rendered
            },
            **{key: np.stack(steps[key]) for key in PROPRIO_KEYS},
        },
        datagen_info={
            "eef_pose": np.stack(steps["eef_pose"]),
            "target_pose": np.stack(steps["target_pose"]),
            "gripper_action": np.stack(steps["action"])[:, 6:7],
            **{f"object_poses/{name}": np.stack(poses) for name, poses in objects.items()},
            **{f"subtask_term_signals/{name}": np.asarray(values) for name, values in signals.items()},
        },
        attrs={"seed": seed, "success": success, "idle_lead_in": idle},
    )
    return demo, success


@dataclass(frozen=True)
class TeleopSetReport:
    task: str
    path: Path
    demos: int
    attempts: int
    failed_seeds: list[int]


def record_teleop_set(
    task: str,
    demos: int,
    path: Path,
    config: ExpertConfig | None = None,
    first_seed: int = 0,
    max_attempts: int | None = None,
) -> TeleopSetReport:
    """Record ``demos`` successful expert demos of ``task`` (seeds from ``first_seed``) into one HDF5 file.

    Failed attempts are counted and their seeds reported; it gives up after ``max_attempts`` (default 3x).
    """
    max_attempts = max_attempts or 3 * demos
    kept, failed, seed = [], [], first_seed
    while len(kept) < demos:
        if seed - first_seed >= max_attempts:
            raise RuntimeError(f"{task}: only {len(kept)} of {demos} expert demos succeeded in {max_attempts} attempts")
        demo, success = record_expert_demo(task, seed, config)
        (kept if success else failed).append(demo if success else seed)
        seed += 1
    write_robomimic(path, task, kept, fps=CONTROL_FREQ)
    return TeleopSetReport(task, Path(path), len(kept), seed - first_seed, failed)


def record_stand_in_videos(
    task: str, clips: int, folder: Path, camera: str = "frontview", size: int = 96, first_seed: int = 1000
) -> list[Path]:
    """Action-less clips of the expert from a camera the teleop data does not use, standing in for human
    video: ``robosuite_standin_<task>_<seed>.mp4`` with the instruction in a sidecar ``.txt``."""
    config = ExpertConfig(cameras=(camera,), image_size=size)
    paths, seed = [], first_seed
    while len(paths) < clips:
        demo, success = record_expert_demo(task, seed, config)
        if success:
            path = Path(folder) / f"robosuite_standin_{task.lower()}_{seed}.mp4"
            write_mp4(path, demo.obs[f"{camera}_image"], CONTROL_FREQ)
            path.with_suffix(".txt").write_text(demo.instruction + "\n")
            paths.append(path)
        seed += 1
    return paths
