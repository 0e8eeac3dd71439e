"""MimicGen's pose algebra: exact transforms, interpolation that lands on its target, delta commands."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from generators.sim.poses import (
    bridge_steps,
    delta_command,
    interpolate_poses,
    nearest_symmetric_pose,
    transform_segment,
)


def pose(position, rotvec) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = Rotation.from_rotvec(rotvec).as_matrix(), position
    return matrix


def segment(length: int = 12) -> np.ndarray:
    return np.stack([pose([0.1 + 0.01 * t, -0.05, 0.9 - 0.005 * t], [np.pi, 0, 0.02 * t]) for t in range(length)])


def test_a_segment_replayed_for_an_unmoved_object_reproduces_the_source_poses():
    cube = pose([0.05, -0.02, 0.82], [0, 0, 0.7])
    np.testing.assert_allclose(transform_segment(segment(), cube, cube), segment(), atol=1e-12)


def test_a_moved_object_carries_the_segment_rigidly():
    then, now = pose([0.05, -0.02, 0.82], [0, 0, 0.7]), pose([-0.1, 0.12, 0.82], [0, 0, -0.4])
    moved = transform_segment(segment(), then, now)
    # every pose keeps its pose relative to the object ...
    np.testing.assert_allclose(np.linalg.inv(now) @ moved, np.linalg.inv(then) @ segment(), atol=1e-12)
    # ... so distances to the object are preserved
    np.testing.assert_allclose(
        np.linalg.norm(moved[:, :3, 3] - now[:3, 3], axis=1),
        np.linalg.norm(segment()[:, :3, 3] - then[:3, 3], axis=1),
        atol=1e-12,
    )


def yaw_between(a: np.ndarray, b: np.ndarray) -> float:
    return float(Rotation.from_matrix(a[:3, :3].T @ b[:3, :3]).magnitude())


@pytest.mark.parametrize(
    ("turn", "folds", "left"), [(1.4, 4, 1.4 - np.pi / 2), (-2.9, 4, -2.9 + np.pi), (2.5, 2, 2.5 - np.pi)]
)
def test_a_symmetric_object_is_taken_at_its_turn_closest_to_the_source(turn, folds, left):
    then = pose([0.05, -0.02, 0.82], [0, 0, 0.3])
    now = pose([-0.1, 0.12, 0.82], [0, 0, 0.3 + turn])
    nearest = nearest_symmetric_pose(now, then, folds)
    assert yaw_between(then, nearest) == pytest.approx(abs(left), abs=1e-9)
    # the same place, turned by a multiple of the symmetry about the object's own vertical axis
    np.testing.assert_allclose(nearest[:3, 3], now[:3, 3])
    about = Rotation.from_matrix(now[:3, :3].T @ nearest[:3, :3]).as_rotvec()
    assert about[:2] == pytest.approx([0, 0], abs=1e-9)
    assert (about[2] / (2 * np.pi / folds)) == pytest.approx(round(about[2] / (2 * np.pi / folds)), abs=1e-9)


def test_an_object_symmetric_under_any_turn_keeps_the_source_yaw_and_an_asymmetric_tilt():
    then = pose([0.05, -0.02, 0.82], [0, 0, 0.3])
    now = pose([-0.1, 0.12, 0.82], [0, 0, 2.2])
    assert yaw_between(then, nearest_symmetric_pose(now, then, 0)) == pytest.approx(0, abs=1e-9)
    tilted = pose([0, 0, 0.8], [0.2, 0, 2.2])  # a fallen can: its own axis, not the world's, is kept
    kept = nearest_symmetric_pose(tilted, then, 0)
    np.testing.assert_allclose(kept[:3, 2], tilted[:3, 2], atol=1e-9)


def test_interpolation_moves_evenly_and_ends_on_the_target():
    start, end = pose([0, 0, 1], [np.pi, 0, 0]), pose([0.2, -0.1, 0.9], [np.pi, 0, 0.6])
    path = interpolate_poses(start, end, 5)
    np.testing.assert_allclose(path[-1], end, atol=1e-12)
    steps = np.linalg.norm(np.diff(np.concatenate([start[None, :3, 3], path[:, :3, 3]]), axis=0), axis=1)
    np.testing.assert_allclose(steps, steps[0])
    angles = [Rotation.from_matrix(b[:3, :3] @ a[:3, :3].T).magnitude() for a, b in zip([start, *path], path)]
    total = Rotation.from_matrix(end[:3, :3] @ start[:3, :3].T).magnitude()
    np.testing.assert_allclose(angles, total / 5, atol=1e-9)  # constant angular speed
    assert interpolate_poses(start, end, 0).shape == (0, 4, 4)


def test_a_bridge_is_slow_enough_for_the_arm_to_follow():
    start = pose([0, 0, 1], [np.pi, 0, 0])
    assert bridge_steps(start, pose([0.1, 0, 1], [np.pi, 0, 0]), 5, 0.01, 0.1) == 10  # 10 cm at 1 cm a step
    assert bridge_steps(start, pose([0.1, 0, 1], [np.pi, 0, 0]), 5, 0.04, 0.1) == 5  # never under the minimum
    turned = start @ pose([0, 0, 0], [0, 0, np.pi / 2])
    assert bridge_steps(start, turned, 5, 0.01, 0.1) == 16  # a quarter turn at 0.1 rad a step


def test_delta_command_scales_by_the_controller_limits_and_clips():
    current = pose([0, 0, 1], [np.pi, 0, 0])
    command = delta_command(current, pose([0.01, 0, 1], [np.pi, 0, 0]) @ pose([0, 0, 0], [0, 0, 0.1]), 0.05, 0.5)
    np.testing.assert_allclose(command[:3], [0.2, 0, 0], atol=1e-12)
    assert abs(np.linalg.norm(command[3:]) - 0.2) < 1e-9  # 0.1 rad of a 0.5 rad step
    far = delta_command(current, pose([1.0, 0, 1], [np.pi, 0, 0]), 0.05, 0.5)
    assert far[0] == 1.0
