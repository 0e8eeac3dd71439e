"""robosuite as pyramid uses it: Panda tasks (one arm, or two side by side) and GR1 (arms only, Fourier
hands) with the BASIC composite controller (OSC_POSE per arm). An env action is robosuite's: each Panda's 6
pose deltas and 1 gripper command in turn; for GR1, both arms' pose deltas, then both hands' 6 actuators.

Physics runs without cameras (~70 steps/s here); frames are rendered afterwards from recorded simulator
states with MuJoCo's own renderer, reflections off (software GL renders ~2x faster that way). The GL
backend comes from MUJOCO_GL (default osmesa, see ``schemas.settings``), set by ``generators/__init__.py``
before any generator imports mujoco.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np
import robosuite
from robosuite.controllers import load_composite_controller_config
from robosuite.utils import transform_utils

__all__ = [
    "CONTROL_FREQ",
    "GR1",
    "PANDA",
    "POSITION_SCALE",
    "ROBOSUITE_TASKS",
    "ROTATION_SCALE",
    "TWO_PANDAS",
    "FrameRenderer",
    "RobosuiteTask",
    "Robot",
    "arm_poses",
    "body_pose",
    "grasp_signal",
    "make_env",
    "render_states",
]


@dataclass(frozen=True)
class Robot:
    """A robosuite robot set-up: what robosuite builds, where each arm's observations are, how an env action
    is laid out, and the arms' OSC stiffness."""

    name: str  # names its datasets, e.g. panda_lift
    embodiment: str
    robots: tuple[str, ...]  # robosuite robot per robot; one robot may have two arms (GR1)
    arm_prefixes: tuple[str, ...]  # each arm's obs key prefix, arm 0 the right one
    hand_dims: int = 1  # actuators per gripper; a Fourier hand has 6, all given the one open/close command
    kp: float = 150  # OSC_POSE stiffness (robosuite's default)
    # robosuite's eef_quat is the hand body's frame, turned against the grip site's (eef_quat_site); the Panda
    # expert's grasps are set in the former, GR1's hook grasp in the grip site's own axes
    orientation_key: str = "eef_quat"

    @property
    def arms(self) -> int:
        return len(self.arm_prefixes)

    @property
    def composite(self) -> bool:
        """One robot with several arms: robosuite orders its action as all arms, then all grippers."""
        return len(self.robots) < self.arms

    def action(self, poses: list[np.ndarray], grippers: list[float]) -> np.ndarray:
        """The env action from each arm's 6 OSC_POSE inputs and its gripper command (-1 open, +1 closed)."""
        hands = [np.full(self.hand_dims, gripper) for gripper in grippers]
        parts = [*poses, *hands] if self.composite else [p for pair in zip(poses, hands) for p in pair]
        return np.concatenate(parts).astype(np.float32)

    def arm_action(self, action: np.ndarray, arm: int) -> np.ndarray:
        """Arm ``arm``'s 6 OSC_POSE inputs and its gripper command (the first of its hand's actuators)."""
        if self.composite:
            return np.r_[action[6 * arm : 6 * arm + 6], action[6 * self.arms + self.hand_dims * arm]]
        start = (6 + self.hand_dims) * arm
        return action[start : start + 7]

    def gripper_actions(self, actions: np.ndarray) -> np.ndarray:
        """(T, arms) gripper commands of (T, action_dim) env actions, as datagen_info stores them."""
        return np.stack([[self.arm_action(a, arm)[6] for arm in range(self.arms)] for a in actions])

    def eef_pose(self, obs: dict[str, np.ndarray], arm: int = 0) -> np.ndarray:
        """Arm ``arm``'s end-effector as a 4x4 world pose: the grip site's position (the point OSC controls)."""
        prefix = self.arm_prefixes[arm]
        return pose_matrix(obs[f"{prefix}eef_pos"], transform_utils.quat2mat(obs[f"{prefix}{self.orientation_key}"]))


PANDA = Robot("panda", "robosuite_panda", ("Panda",), ("robot0_",))
TWO_PANDAS = Robot("panda", "robosuite_bimanual_panda", ("Panda", "Panda"), ("robot0_", "robot1_"))
# at robosuite's default stiffness (150) GR1's arms sag under the 1.2 kg pot: a fixed-schedule hook grasp
# lifted it clear in 4 of 10 scenes, in 8 of 10 at 300
GR1 = Robot(
    "gr1",
    "robosuite_gr1",
    ("GR1ArmsOnly",),
    ("robot0_right_", "robot0_left_"),
    hand_dims=6,
    kp=300,
    orientation_key="eef_quat_site",
)


@dataclass(frozen=True)
class RobosuiteTask:
    """A task: the robosuite env, its instruction, the object bodies whose poses MimicGen needs, the robot,
    and env arguments that robot needs (GR1 reaches the pot only across a shorter table)."""

    name: str
    env_name: str
    instruction: str
    objects: dict[str, str]  # object name -> MuJoCo body name
    robot: Robot = PANDA
    env_args: dict[str, Any] = field(default_factory=dict)
    # object name -> n when it looks the same turned by 360/n degrees about its vertical axis (0: any turn);
    # MimicGen then turns the gripper by the visible yaw only
    symmetry: dict[str, int] = field(default_factory=dict)

    @property
    def embodiment(self) -> str:
        return self.robot.embodiment

    @property
    def dataset_name(self) -> str:
        """The task's teleop and sim dataset name, e.g. ``panda_lift``, ``gr1_twoarmlift``."""
        return f"{self.robot.name}_{self.env_name.lower()}"


ROBOSUITE_TASKS = {
    task.name: task
    for task in (
        RobosuiteTask("Lift", "Lift", "lift the red cube", {"cube": "cube_main"}, symmetry={"cube": 4}),
        RobosuiteTask(
            "Stack",
            "Stack",
            "stack the red cube on the green cube",
            {"cubeA": "cubeA_main", "cubeB": "cubeB_main"},
            symmetry={"cubeA": 4, "cubeB": 4},
        ),
        RobosuiteTask(
            "PickPlaceCan",
            "PickPlaceCan",
            "pick up the can and place it in its bin",
            {"can": "Can_main"},
            symmetry={"can": 0},
        ),
        RobosuiteTask("TwoArmLift", "TwoArmLift", "lift the pot by its two handles", {"pot": "pot_root"}, TWO_PANDAS),
        RobosuiteTask(
            "GR1TwoArmLift",
            "TwoArmLift",
            "lift the pot by its two handles",
            {"pot": "pot_root"},
            GR1,
            {"table_full_size": (0.3, 0.8, 0.05)},
        ),
    )
}


CONTROL_FREQ = 20  # Hz, as the robosuite embodiments and GR00T's teleop
POSITION_SCALE, ROTATION_SCALE = 0.05, 0.5  # OSC_POSE: an input of 1 moves 5 cm / 0.5 rad in one step


def make_env(task: str, seed: int | None = None, control_freq: int = CONTROL_FREQ):
    """A camera-less robosuite env of a task with the BASIC composite controller (OSC_POSE per arm); two Pandas
    stand side by side (robot0 on the right), GR1 is one robot with both arms."""
    spec = ROBOSUITE_TASKS[task]
    robot = spec.robot
    config = load_composite_controller_config(controller="BASIC", robot=robot.robots[0])
    for part in config["body_parts"].values():
        if part["type"] == "OSC_POSE":
            part["kp"] = robot.kp
    if len(robot.robots) > 1:
        placement = {"robots": list(robot.robots), "env_configuration": "parallel"}
    else:
        placement = {"robots": robot.robots[0]}
    return robosuite.make(
        spec.env_name,
        **placement,
        **spec.env_args,
        controller_configs=config,
        has_renderer=False,
        has_offscreen_renderer=False,
        use_camera_obs=False,
        control_freq=control_freq,
        horizon=10_000,
        ignore_done=True,
        seed=seed,
    )


def pose_matrix(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, position
    return pose


def arm_poses(poses: np.ndarray) -> np.ndarray:
    """Per-step, per-arm poses (T, A, 4, 4) as datagen_info stores them: MimicGen's (T, 4, 4) for one arm."""
    return poses[:, 0] if poses.shape[1] == 1 else poses


def body_pose(env, body: str) -> np.ndarray:
    body_id = env.sim.model.body_name2id(body)
    return pose_matrix(env.sim.data.body_xpos[body_id].copy(), env.sim.data.body_xmat[body_id].reshape(3, 3).copy())


def grasp_signal(env, task: str) -> dict[str, bool]:
    """Subtask termination signals: the first object is held (MimicGen's 'grasp' subtask boundary); two arms:
    each arm holds its own pot handle ('grasp0', 'grasp1')."""
    grippers = [robot.gripper[arm] for robot in env.robots for arm in robot.arms]  # arm 0 first (the right)
    env_name = ROBOSUITE_TASKS[task].env_name
    if env_name == "TwoArmLift":
        return {
            f"grasp{arm}": bool(env._check_grasp(gripper=gripper, object_geoms=getattr(env.pot, f"handle{arm}_geoms")))
            for arm, gripper in enumerate(grippers)
        }
    if env_name == "PickPlaceCan":
        held = env.objects[env.object_to_id["can"]]
    else:
        held = env.cube if env_name == "Lift" else env.cubeA
    return {"grasp": bool(env._check_grasp(gripper=grippers[0], object_geoms=held))}


class FrameRenderer:
    """Renders named cameras of an env at a given simulator state."""

    def __init__(self, env, cameras: tuple[str, ...], size: int):
        self.env, self.cameras = env, cameras
        self._renderer = mujoco.Renderer(env.sim.model._model, size, size)

    def render(self, flat_state: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Frames at ``flat_state`` (None: the simulator's current state, left untouched)."""
        if flat_state is not None:
            self.env.sim.set_state_from_flattened(flat_state)
            self.env.sim.forward()
        frames = {}
        for camera in self.cameras:
            self._renderer.update_scene(self.env.sim.data._data, camera=camera)
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            frames[camera] = self._renderer.render().copy()
        return frames

    def close(self) -> None:
        self._renderer.close()


def render_states(
    env, sim_states: list[np.ndarray] | np.ndarray, cameras: tuple[str, ...], size: int
) -> list[dict[str, np.ndarray]]:
    """Frames of ``cameras`` at every recorded simulator state (physics ran without cameras)."""
    renderer = FrameRenderer(env, cameras, size)
    try:
        return [renderer.render(state) for state in sim_states]
    finally:
        renderer.close()
