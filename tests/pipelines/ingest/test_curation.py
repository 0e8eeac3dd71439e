import numpy as np

from pipelines.ingest.curation import trim_idle
from schemas.embodiment import get_embodiment


def test_delta_control_trims_by_the_operators_command_keeping_one_idle_frame(make_episode):
    episode = make_episode(length=30)
    episode.action[:7, :6] = 0  # reaction time
    episode.action[25:, :6] = 0  # done, waiting for the stop button
    episode.extras = {"signal": np.arange(30)}
    trimmed = trim_idle(episode, get_embodiment(episode.embodiment))
    assert trimmed.notes["trimmed_idle"] == {"lead": 6, "tail": 4}
    assert trimmed.length == 20 and trimmed.extras["signal"][0] == 6
    np.testing.assert_array_equal(trimmed.frames["agentview"][0], episode.frames["agentview"][6])
    assert trimmed.timestamps[-1] == np.float32(19 / 20)


def test_gripper_only_commands_do_not_count_as_motion(make_episode):
    episode = make_episode(length=20)
    episode.action[:5, :6] = 0
    episode.action[:5, 6] = 1.0  # closing the gripper while the arm stands still is still idle lead-in
    assert trim_idle(episode, get_embodiment(episode.embodiment)).notes["trimmed_idle"]["lead"] == 4


def test_joint_position_embodiment_trims_by_state_change(make_episode):
    episode = make_episode(length=20, embodiment="gr1_arms_only", size=32)
    episode.state[:] = np.cumsum(np.full((20, 44), 0.05, np.float32), axis=0)
    episode.state[:8] = episode.state[8]  # frames 0-8 hold still (settling noise below threshold)
    episode.state[:8, 0] += np.float32(0.001) * np.arange(8)
    assert trim_idle(episode, get_embodiment(episode.embodiment)).notes["trimmed_idle"] == {
        "lead": 7,
        "tail": 0,
    }  # motion from frame 8, one kept


def test_an_episode_that_never_moves_or_moves_throughout_is_unchanged(make_episode):
    moving = make_episode(length=10)
    assert trim_idle(moving, get_embodiment(moving.embodiment)) is moving
    still = make_episode(length=10)
    still.action[:, :6] = 0
    assert trim_idle(still, get_embodiment(still.embodiment)) is still
