"""Pose algebra of MimicGen: moving a source segment into a new object's frame, bridging to it, and turning
target poses into the delta end-effector commands the OSC_POSE controller takes.

Poses are 4x4 homogeneous matrices (world frame). A segment recorded relative to an object keeps its
shape relative to that object wherever the object now is: T_new(t) = T_obj_now · T_obj_src⁻¹ · T_eef_src(t).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

__all__ = ["bridge_steps", "delta_command", "interpolate_poses", "nearest_symmetric_pose", "transform_segment"]


def transform_segment(eef_poses: np.ndarray, object_then: np.ndarray, object_now: np.ndarray) -> np.ndarray:
    """Source end-effector poses (T, 4, 4) recorded with the object at ``object_then``, replayed relative to the
    object at ``object_now``. With ``object_now == object_then`` the poses come back unchanged."""
    relative = object_now @ np.linalg.inv(object_then)
    return relative[None] @ eef_poses


def nearest_symmetric_pose(pose: np.ndarray, reference: np.ndarray, folds: int) -> np.ndarray:
    """``pose`` of an object that looks the same turned by 360/``folds`` degrees about its own z axis (0: by
    any angle), expressed as the equivalent turn closest in yaw to ``reference``. A segment moved into it
    turns the gripper by the object's visible yaw only: a cube turned 80 degrees from its source scene is
    grasped after a 10-degree turn, not an 80-degree one that no camera frame can tell apart from it."""
    relative = pose[:3, :3].T @ reference[:3, :3]  # reference in the object's frame
    yaw = np.arctan2(relative[1, 0], relative[0, 0])
    if folds:
        step = 2 * np.pi / folds
        yaw = step * np.round(yaw / step)
    turned = pose.copy()
    turned[:3, :3] = pose[:3, :3] @ Rotation.from_euler("z", yaw).as_matrix()
    return turned


def interpolate_poses(start: np.ndarray, end: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` poses after ``start`` ending exactly at ``end``: position linear, rotation along the
    axis-angle of the relative rotation (constant angular speed)."""
    if steps < 1:
        return np.empty((0, 4, 4))
    fractions = np.arange(1, steps + 1) / steps
    relative = Rotation.from_matrix(end[:3, :3] @ start[:3, :3].T).as_rotvec()
    poses = np.repeat(np.eye(4)[None], steps, axis=0)
    poses[:, :3, 3] = start[:3, 3] + fractions[:, None] * (end[:3, 3] - start[:3, 3])
    poses[:, :3, :3] = Rotation.from_rotvec(fractions[:, None] * relative).as_matrix() @ start[:3, :3]
    return poses


def bridge_steps(start: np.ndarray, end: np.ndarray, minimum: int, speed: float, angular_speed: float) -> int:
    """Steps to bridge ``start`` to ``end`` at no more than ``speed`` (m/step) and ``angular_speed``
    (rad/step), and at least ``minimum``."""
    distance = np.linalg.norm(end[:3, 3] - start[:3, 3])
    angle = np.linalg.norm(Rotation.from_matrix(end[:3, :3] @ start[:3, :3].T).as_rotvec())
    return max(minimum, int(np.ceil(max(distance / speed, angle / angular_speed))))


def delta_command(current: np.ndarray, target: np.ndarray, position_scale: float, rotation_scale: float) -> np.ndarray:
    """The OSC_POSE input (dx, dy, dz, axis-angle) that moves ``current`` towards ``target`` in one step,
    scaled by the controller's per-step limits and clipped to [-1, 1]."""
    position = (target[:3, 3] - current[:3, 3]) / position_scale
    rotation = Rotation.from_matrix(target[:3, :3] @ current[:3, :3].T).as_rotvec() / rotation_scale
    return np.clip(np.r_[position, rotation], -1.0, 1.0)
