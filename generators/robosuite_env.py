"""robosuite as pyramid uses it: the Panda tasks (one arm, or two side by side) with the BASIC composite
controller (OSC_POSE per arm; an env action is each arm's 6 pose deltas and 1 gripper command in turn).

Physics runs without cameras (~70 steps/s here); frames are rendered afterwards from recorded simulator
states with MuJoCo's own renderer, reflections off (software GL renders ~2x faster that way). The GL
backend comes from MUJOCO_GL, which the Makefile sets before anything imports mujoco.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import robosuite
from robosuite.controllers import load_composite_controller_config
from robosuite.utils import transform_utils

__all__ = [
    "CONTROL_FREQ",
    "PANDA_TASKS",
    "POSITION_SCALE",
    "ROTATION_SCALE",
    "arm_poses",
    "FrameRenderer",
    "PandaTask",
    "body_pose",
    "eef_pose",
    "grasp_signal",
    "make_env",
    "render_states",
]


@dataclass(frozen=True)
class PandaTask:
    """A Panda task: its instruction, the object bodies whose poses MimicGen needs, and how many arms."""

    env_name: str
    instruction: str
    objects: dict[str, str]  # object name -> MuJoCo body name
    arms: int = 1

    @property
    def embodiment(self) -> str:
        return "robosuite_panda" if self.arms == 1 else "robosuite_bimanual_panda"


PANDA_TASKS = {
    task.env_name: task
    for task in (
        PandaTask("Lift", "lift the red cube", {"cube": "cube_main"}),
        PandaTask("Stack", "stack the red cube on the green cube", {"cubeA": "cubeA_main", "cubeB": "cubeB_main"}),
        PandaTask("PickPlaceCan", "pick up the can and place it in its bin", {"can": "Can_main"}),
        PandaTask("TwoArmLift", "lift the pot by its two handles", {"pot": "pot_root"}, arms=2),
    )
}


CONTROL_FREQ = 20  # Hz, as the robosuite_panda embodiment and GR00T's teleop
POSITION_SCALE, ROTATION_SCALE = 0.05, 0.5  # OSC_POSE: an input of 1 moves 5 cm / 0.5 rad in one step


def make_env(env_name: str, seed: int | None = None, control_freq: int = CONTROL_FREQ):
    """A camera-less robosuite env of a Panda task with the BASIC (OSC_POSE) controller; two-arm tasks place
    the arms side by side (robot0 on the right)."""
    config = load_composite_controller_config(controller="BASIC", robot="Panda")
    arms = PANDA_TASKS[env_name].arms
    placement = {"robots": "Panda"} if arms == 1 else {"robots": ["Panda"] * arms, "env_configuration": "parallel"}
    return robosuite.make(
        env_name, **placement, controller_configs=config, has_renderer=False, has_offscreen_renderer=False,
        use_camera_obs=False, control_freq=control_freq, horizon=10_000, ignore_done=True, seed=seed,
    )  # fmt: skip


def pose_matrix(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, position
    return pose


def eef_pose(obs: dict[str, np.ndarray], arm: int = 0) -> np.ndarray:
    return pose_matrix(obs[f"robot{arm}_eef_pos"], transform_utils.quat2mat(obs[f"robot{arm}_eef_quat"]))


def arm_poses(poses: np.ndarray) -> np.ndarray:
    """Per-step, per-arm poses (T, A, 4, 4) as datagen_info stores them: MimicGen's (T, 4, 4) for one arm."""
    return poses[:, 0] if poses.shape[1] == 1 else poses


def body_pose(env, body: str) -> np.ndarray:
    body_id = env.sim.model.body_name2id(body)
    return pose_matrix(env.sim.data.body_xpos[body_id].copy(), env.sim.data.body_xmat[body_id].reshape(3, 3).copy())


def grasp_signal(env, task: str) -> dict[str, bool]:
    """Subtask termination signals: the first object is held (MimicGen's 'grasp' subtask boundary); two arms:
    each arm holds its own pot handle ('grasp0', 'grasp1')."""
    if task == "TwoArmLift":
        return {
            f"grasp{arm}": bool(env._check_grasp(gripper=robot.gripper, object_geoms=getattr(env.pot, f"handle{arm}_geoms")))
            for arm, robot in enumerate(env.robots)
        }
    if task == "PickPlaceCan":
        held = env.objects[env.object_to_id["can"]]
    else:
        held = env.cube if task == "Lift" else env.cubeA
    return {"grasp": bool(env._check_grasp(gripper=env.robots[0].gripper, object_geoms=held))}


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
