"""robosuite as pyramid uses it: the Panda tasks with the BASIC composite controller (OSC_POSE arm).

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
    """A single-arm Panda task: its instruction and the object bodies whose poses MimicGen needs."""

    env_name: str
    instruction: str
    objects: dict[str, str]  # object name -> MuJoCo body name


PANDA_TASKS = {
    task.env_name: task
    for task in (
        PandaTask("Lift", "lift the red cube", {"cube": "cube_main"}),
        PandaTask("Stack", "stack the red cube on the green cube", {"cubeA": "cubeA_main", "cubeB": "cubeB_main"}),
        PandaTask("PickPlaceCan", "pick up the can and place it in its bin", {"can": "Can_main"}),
    )
}


CONTROL_FREQ = 20  # Hz, as the robosuite_panda embodiment and GR00T's teleop
POSITION_SCALE, ROTATION_SCALE = 0.05, 0.5  # OSC_POSE: an input of 1 moves 5 cm / 0.5 rad in one step


def make_env(env_name: str, seed: int | None = None, control_freq: int = CONTROL_FREQ):
    """A camera-less robosuite env of a Panda task with the BASIC (OSC_POSE) controller."""
    config = load_composite_controller_config(controller="BASIC", robot="Panda")
    return robosuite.make(
        env_name, robots="Panda", controller_configs=config, has_renderer=False, has_offscreen_renderer=False,
        use_camera_obs=False, control_freq=control_freq, horizon=10_000, ignore_done=True, seed=seed,
    )  # fmt: skip


def pose_matrix(position: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = rotation, position
    return pose


def eef_pose(obs: dict[str, np.ndarray]) -> np.ndarray:
    return pose_matrix(obs["robot0_eef_pos"], transform_utils.quat2mat(obs["robot0_eef_quat"]))


def body_pose(env, body: str) -> np.ndarray:
    body_id = env.sim.model.body_name2id(body)
    return pose_matrix(env.sim.data.body_xpos[body_id].copy(), env.sim.data.body_xmat[body_id].reshape(3, 3).copy())


def grasp_signal(env, task: str) -> dict[str, bool]:
    """Subtask termination signals: the first object is held (MimicGen's 'grasp' subtask boundary)."""
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

    def render(self, flat_state: np.ndarray) -> dict[str, np.ndarray]:
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
