"""MimicGen's pose algebra: exact transforms, interpolation that lands on its target, delta commands."""

import numpy as np
from scipy.spatial.transform import Rotation

from generators.sim.poses import bridge_steps, delta_command, interpolate_poses, transform_segment


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
