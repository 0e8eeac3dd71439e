"""A scripted expert standing in for a human teleoperator in robosuite (the embedded default teleop data).

The expert drives each arm (a Panda's, or GR1's with its Fourier hands) through task waypoints (above the
object, down, grasp, lift, carry, release) with a proportional delta-end-effector command, after a random
idle lead-in like a real operator's reaction time (ingest trims it). Each step records what MimicGen needs
as ``datagen_info``: end-effector and target poses, object poses, the gripper command and subtask
termination signals.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from generators.robosuite_env import (
    CONTROL_FREQ,
    POSITION_SCALE,
    ROBOSUITE_TASKS,
    ROTATION_SCALE,
    Robot,
    arm_poses,
    body_pose,
    grasp_signal,
    make_env,
    render_states,
)
from pipelines.lerobot.video import write_mp4
from pipelines.robomimic import RobomimicDemo, write_robomimic
from pipelines.runtime.parallel import RayConfig, ray_map
from schemas.embodiment import get_embodiment

__all__ = [
    "ExpertConfig",
    "TeleopSetReport",
    "record_expert_demo",
    "record_stand_in_videos",
    "record_successes",
    "record_teleop_set",
]

OPEN, CLOSE = -1.0, 1.0


@dataclass(frozen=True)
class ExpertConfig:
    """How demos are recorded.

    Attributes:
        cameras: robosuite camera names to render (default: the task's embodiment cameras).
        image_size: square frame size (even, for yuv420p video).
        idle_lead_in: range of idle steps before the operator starts moving.
        max_steps: give up after this many steps (the demo is kept apart as a failure).
        position_noise: std of noise added to the position command (m/step in input units).
    """

    cameras: tuple[str, ...] | None = None
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
    orientation: np.ndarray | None = None  # 3x3 world rotation; None keeps the arm's starting orientation
    together: bool = False  # two arms: start towards it only once every arm has it next (a joint lift)
    angle_tolerance: float | None = None  # rad; None: reached on position alone
    patience: int | None = None  # steps after which the arm goes on even if not within tolerance (a joint limit)


def _yaw(angle: float) -> np.ndarray:
    return Rotation.from_euler("z", angle).as_matrix()


def _handle_grasp(env, arm: int, start: np.ndarray) -> np.ndarray:
    """The gripper orientation that closes across pot handle ``arm``: the fingers (the gripper's y axis) turned
    about the vertical to the pot-to-handle direction, by the smaller of the two symmetric turns."""
    handle = env.sim.data.site_xpos[getattr(env, f"handle{arm}_site_id")]
    radial = handle[:2] - body_pose(env, "pot_root")[:2, 3]
    fingers = start[:2, 1]
    turn = np.arctan2(radial[1], radial[0]) - np.arctan2(fingers[1], fingers[0])
    turn = (turn + np.pi / 2) % np.pi - np.pi / 2
    return _yaw(turn) @ start


def _waypoints(env, task: str, orientations: list[np.ndarray]) -> list[list[Waypoint]]:
    """Each arm's waypoints for one scene."""
    lift = np.array([0, 0, 0.15])
    if task == "Lift":
        cube = body_pose(env, "cube_main")[:3, 3]
        return [
            [
                Waypoint(cube + [0, 0, 0.08], OPEN),
                Waypoint(cube, OPEN, 0.008),
                Waypoint(cube, CLOSE, hold=8),
                Waypoint(cube + lift, CLOSE, 0.02),
            ]
        ]
    if task == "Stack":
        cube_a, cube_b = body_pose(env, "cubeA_main")[:3, 3], body_pose(env, "cubeB_main")[:3, 3]
        return [
            [
                Waypoint(cube_a + [0, 0, 0.08], OPEN),
                Waypoint(cube_a, OPEN, 0.008),
                Waypoint(cube_a, CLOSE, hold=8),
                Waypoint(cube_a + [0, 0, 0.12], CLOSE, 0.02),
                Waypoint(cube_b + [0, 0, 0.12], CLOSE, 0.015),
                Waypoint(cube_b + [0, 0, 0.055], CLOSE, 0.008),
                Waypoint(cube_b + [0, 0, 0.055], OPEN, hold=6),
                Waypoint(cube_b + [0, 0, 0.15], OPEN, 0.03),
            ]
        ]
    if task == "PickPlaceCan":
        can = body_pose(env, "Can_main")[:3, 3]
        bin_center = env.target_bin_placements[env.object_to_id["can"]]
        carry = max(can[2], bin_center[2]) + 0.12
        # a held can sags a few cm under the impedance controller: looser tolerances once grasped
        return [
            [
                Waypoint(can + [0, 0, 0.08], OPEN),
                Waypoint(can, OPEN, 0.012),
                Waypoint(can, CLOSE, hold=8),
                Waypoint(np.r_[can[:2], carry], CLOSE, 0.03),
                Waypoint(np.r_[bin_center[:2], carry], CLOSE, 0.03),
                Waypoint(np.r_[bin_center[:2], bin_center[2] + 0.1], CLOSE, 0.04),
                Waypoint(np.r_[bin_center[:2], bin_center[2] + 0.1], OPEN, 0.04, hold=10),
                Waypoint(np.r_[bin_center[:2], carry], OPEN, 0.04),
            ]
        ]  # retreat: robosuite counts it placed once let go
    if task == "TwoArmLift":
        plans = []
        for arm in range(2):
            handle = env.sim.data.site_xpos[getattr(env, f"handle{arm}_site_id")].copy()
            grasp = _handle_grasp(env, arm, orientations[arm])
            plans.append(
                [
                    Waypoint(handle + [0, 0, 0.08], OPEN, 0.015, orientation=grasp),
                    Waypoint(handle, OPEN, 0.015, orientation=grasp),
                    Waypoint(handle, CLOSE, hold=8, orientation=grasp),
                    Waypoint(handle + [0, 0, 0.2], CLOSE, 0.03, orientation=grasp, together=True),
                ]
            )
        return plans
    if task == "GR1TwoArmLift":
        return [_gr1_handle_plan(env, arm) for arm in range(2)]
    raise ValueError(f"no scripted expert for task {task!r}; have {sorted(ROBOSUITE_TASKS)}")


_HOOK_GRIP = np.array([0.0, -0.08, 0.045])  # a handle in a Fourier hand's hook, in its grip-site frame


def _gr1_handle_plan(env, arm: int) -> list[Waypoint]:
    """GR1 lifts a pot handle in a hook grasp: fingers down and palm towards the pot, lowered just outside the
    handle, moved in until the handle lies 8 cm down the fingers and 4.5 cm off the palm, closed, lifted. (A
    grip from above, palm down, needs wrist turns GR1's arms do not reach.) Its arms stall a few cm short of
    some of these poses at their shoulder limits, so each waypoint has a patience, as a teleoperator's."""
    handle = env.sim.data.site_xpos[getattr(env, f"handle{arm}_site_id")].copy()
    radial = np.r_[handle[:2] - body_pose(env, "pot_root")[:2, 3], 0]
    palm, fingers = -radial / np.linalg.norm(radial), np.array([0.0, 0.0, -1.0])
    hook = np.stack([np.cross(-fingers, palm), -fingers, palm], axis=1)  # grip-site axes: x, y (up the fingers), z
    grip = handle - hook @ _HOOK_GRIP
    outside = grip - 0.04 * palm
    return [
        Waypoint(outside + [0, 0, 0.12], OPEN, 0.02, orientation=hook, angle_tolerance=0.15, patience=120),
        Waypoint(outside, OPEN, 0.015, orientation=hook, angle_tolerance=0.15, patience=40),
        Waypoint(grip, OPEN, 0.01, orientation=hook, angle_tolerance=0.15, patience=25),
        Waypoint(grip, CLOSE, hold=10, orientation=hook, patience=1),
        Waypoint(grip + [0, 0, 0.3], CLOSE, 0.05, orientation=hook, together=True, patience=100),
    ]


def _command(pose: np.ndarray, position: np.ndarray, orientation: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """One arm's OSC_POSE input (6) from its current ``pose`` towards a position and orientation."""
    delta = np.clip((position - pose[:3, 3]) / POSITION_SCALE + noise, -1, 1)
    rotation = np.clip(Rotation.from_matrix(orientation @ pose[:3, :3].T).as_rotvec() / ROTATION_SCALE, -1, 1)
    return np.r_[delta, rotation]


def _target_pose(pose: np.ndarray, action: np.ndarray) -> np.ndarray:
    """The pose the controller is asked to reach this step (current ``pose`` moved by the scaled delta)."""
    target = np.eye(4)
    target[:3, 3] = pose[:3, 3] + action[:3] * POSITION_SCALE
    target[:3, :3] = Rotation.from_rotvec(action[3:6] * ROTATION_SCALE).as_matrix() @ pose[:3, :3]
    return target


def _within(pose: np.ndarray, target: Waypoint, orientation: np.ndarray) -> bool:
    if np.linalg.norm(target.position - pose[:3, 3]) >= target.tolerance:
        return False
    return target.angle_tolerance is None or (
        Rotation.from_matrix(orientation @ pose[:3, :3].T).magnitude() < target.angle_tolerance
    )


class _ArmExpert:
    """One arm working through its waypoints; it holds its last reached pose while it waits or is done."""

    def __init__(self, plan: list[Waypoint], pose: np.ndarray):
        self.plan, self.reached, self.tried, self.joined = plan, 0, 0, False
        self.hold = Waypoint(pose[:3, 3].copy(), OPEN, orientation=pose[:3, :3].copy())

    def waiting(self, arms: list[_ArmExpert]) -> bool:
        """At a ``together`` waypoint until every arm has it next; then all of them go."""
        if not self.plan or not self.plan[0].together or self.joined:
            return False
        if all(a.plan and a.plan[0].together for a in arms):
            for a in arms:
                a.joined = True
            return False
        return True

    def command(self, pose: np.ndarray, arms: list[_ArmExpert], noise: np.ndarray) -> tuple[np.ndarray, float]:
        """This arm's OSC_POSE input and gripper command from its current ``pose``."""
        if not self.plan or self.waiting(arms):
            return _command(pose, self.hold.position, self.hold.orientation, np.zeros(3)), self.hold.gripper
        target = self.plan[0]
        orientation = target.orientation if target.orientation is not None else self.hold.orientation
        command = _command(pose, target.position, orientation, noise)
        self.tried += 1
        if _within(pose, target, orientation) or (target.patience is not None and self.tried >= target.patience):
            self.reached += 1
            if self.reached > target.hold:
                self.hold = Waypoint(target.position, target.gripper, orientation=orientation)
                self.plan.pop(0)
                self.reached, self.tried, self.joined = 0, 0, False
        return command, target.gripper


def record_expert_demo(task: str, seed: int, config: ExpertConfig | None = None) -> tuple[RobomimicDemo, bool]:
    """Run the scripted expert once on a seeded scene; returns the demo and its success (frames only on success)."""
    config = config or ExpertConfig()
    spec = ROBOSUITE_TASKS[task]
    robot: Robot = spec.robot
    cameras = get_embodiment(spec.embodiment).cameras if config.cameras is None else config.cameras
    rng = np.random.default_rng(seed)
    env = make_env(task, seed=seed)
    obs = env.reset()
    poses = [robot.eef_pose(obs, arm) for arm in range(robot.arms)]
    plans = _waypoints(env, task, [pose[:3, :3] for pose in poses])
    arms = [_ArmExpert(plan, pose) for plan, pose in zip(plans, poses, strict=True)]
    idle = int(rng.integers(*config.idle_lead_in))
    state_keys = get_embodiment(spec.embodiment).state_keys()
    steps: dict[str, list] = {key: [] for key in (*state_keys, "action", "sim_state", "eef_pose", "target_pose")}
    objects: dict[str, list] = {name: [] for name in spec.objects}
    signals: dict[str, list] = {}
    success = False
    for step in range(config.max_steps):
        poses = [robot.eef_pose(obs, arm) for arm in range(robot.arms)]
        if step < idle:
            action = robot.action([np.zeros(6)] * robot.arms, [OPEN] * robot.arms)
        else:
            noise = [rng.normal(0, config.position_noise, 3) for _ in arms]
            commands = [arm.command(pose, arms, n) for arm, pose, n in zip(arms, poses, noise, strict=True)]
            action = robot.action(*zip(*commands))
        for key in state_keys:
            steps[key].append(obs[key].astype(np.float32))
        steps["action"].append(action)
        steps["sim_state"].append(env.sim.get_state().flatten())
        steps["eef_pose"].append(poses)
        steps["target_pose"].append([_target_pose(p, robot.arm_action(action, arm)) for arm, p in enumerate(poses)])
        for name, body in spec.objects.items():
            objects[name].append(body_pose(env, body))
        for name, value in grasp_signal(env, task).items():
            signals.setdefault(name, []).append(value)
        obs, _, _, _ = env.step(action)
        if not any(arm.plan for arm in arms) and env._check_success():
            # kept only as a source MimicGen can cut: every subtask signal came on (a GR1 hand can lift a
            # handle hooked in its fingers without the thumb's contact that robosuite counts as a grasp)
            success = all(any(values) for values in signals.values())
            break
    # frames cost ~10x the physics on a software renderer: only successful demos are rendered
    rendered = render_states(env, steps["sim_state"], cameras, config.image_size) if success else []
    env.close()
    actions = np.stack(steps["action"])
    demo = RobomimicDemo(
        instruction=spec.instruction,
        states=np.stack(steps["sim_state"]),
        actions=actions,
        obs={
            **{f"{camera}_image": np.stack([frame[camera] for frame in rendered]) for camera in cameras if rendered},
            **{key: np.stack(steps[key]) for key in state_keys},
        },
        datagen_info={
            "eef_pose": arm_poses(np.stack(steps["eef_pose"])),
            "target_pose": arm_poses(np.stack(steps["target_pose"])),
            "gripper_action": robot.gripper_actions(actions),
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


def _attempt(task: str, seed: int, config: ExpertConfig | None) -> tuple[str, int, RobomimicDemo, bool]:
    return (task, seed, *record_expert_demo(task, seed, config))


def record_successes(
    wanted: dict[str, int],
    config: ExpertConfig | None = None,
    first_seed: int = 0,
    max_attempts: int | None = None,
    ray: RayConfig | None = None,
) -> dict[str, tuple[list[RobomimicDemo], list[int]]]:
    """Per task of ``wanted`` (task -> demos): its first successful expert demos from seed ``first_seed`` on, and
    the seeds that failed before them; an error after ``max_attempts`` (default 3x its demos) attempts of a task.
    The tasks' attempts interleave (each task's first seed, then each one's second, ...) and a task stops getting
    attempts once it has its demos, so several tasks share the workers. With ``ray`` the attempts run as Ray
    tasks a few ahead, and the demos kept are the same as in-process."""
    limits = {task: max_attempts or 3 * demos for task, demos in wanted.items()}
    kept: dict[str, list[RobomimicDemo]] = {task: [] for task in wanted}
    failed: dict[str, list[int]] = {task: [] for task in wanted}

    def arguments() -> Iterator[tuple[str, int, ExpertConfig | None]]:
        for offset in range(max(limits.values(), default=0)):
            for task, demos in wanted.items():
                if offset < limits[task] and len(kept[task]) < demos:
                    yield task, first_seed + offset, config

    attempts = ray_map(_attempt, arguments(), ray) if ray else (_attempt(*a) for a in arguments())
    with closing(attempts):  # stops the attempts still in flight once every task has its demos
        for task, seed, demo, success in attempts:
            if len(kept[task]) == wanted[task]:
                continue  # submitted before the task had its demos
            (kept[task] if success else failed[task]).append(demo if success else seed)
            if all(len(kept[t]) == demos for t, demos in wanted.items()):
                break
    short = [
        f"{t}: only {len(kept[t])} of {n} expert demos succeeded in {len(kept[t]) + len(failed[t])} attempts"
        for t, n in wanted.items()
        if len(kept[t]) < n
    ]
    if short:
        raise RuntimeError("; ".join(short))
    return {task: (kept[task], failed[task]) for task in wanted}


def record_teleop_set(
    task: str,
    demos: int,
    path: Path,
    config: ExpertConfig | None = None,
    first_seed: int = 0,
    max_attempts: int | None = None,
    ray: RayConfig | None = None,
) -> TeleopSetReport:
    """Record ``demos`` successful expert demos of ``task`` (``record_successes``) into one HDF5 file."""
    kept, failed = record_successes({task: demos}, config, first_seed, max_attempts, ray)[task]
    write_robomimic(path, task, kept, fps=CONTROL_FREQ)
    return TeleopSetReport(task, Path(path), len(kept), len(kept) + len(failed), failed)


def record_stand_in_videos(
    tasks: Sequence[str],
    clips: int,
    folder: Path,
    camera: str = "frontview",
    size: int = 96,
    first_seed: int = 1000,
    ray: RayConfig | None = None,
) -> list[Path]:
    """Action-less clips of the expert from a camera the teleop data does not use, standing in for human
    video: ``clips`` per task, ``robosuite_standin_<task>_<seed>.mp4`` with the instruction in a sidecar ``.txt``.
    The tasks are recorded together, so their attempts share the workers."""
    config = ExpertConfig(cameras=(camera,), image_size=size)
    recorded = record_successes(dict.fromkeys(tasks, clips), config, first_seed, ray=ray)
    paths = []
    for task, (demos, _) in recorded.items():
        for demo in demos:
            path = Path(folder) / f"robosuite_standin_{task.lower()}_{demo.attrs['seed']}.mp4"
            write_mp4(path, demo.obs[f"{camera}_image"], CONTROL_FREQ)
            path.with_suffix(".txt").write_text(demo.instruction + "\n")
            paths.append(path)
    return paths
