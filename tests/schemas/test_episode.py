import numpy as np
import pytest

from schemas.episode import EpisodeError, exact_timestamps, validate_episode


def test_valid_episode_passes(make_episode):
    assert validate_episode(make_episode()).name == "robosuite_panda"


def test_exact_timestamps_are_k_over_fps_from_zero():
    ts = exact_timestamps(5, 20)
    assert ts.dtype == np.float32 and ts.tolist() == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])


def _nan_action(ep):
    ep.action[3, 2] = np.nan


def _inf_state(ep):
    ep.state[0, 0] = np.inf


BAD_EPISODES = {
    "nan action": (_nan_action, "action", "non-finite values \\(first at frame 3, dim 2\\)"),
    "inf state": (_inf_state, "state", "non-finite"),
    "action wrong dims": (
        lambda ep: setattr(ep, "action", ep.action[:, :5].copy()),
        "action",
        r"shape must be \(24, 7\)",
    ),
    "action float64": (lambda ep: setattr(ep, "action", ep.action.astype(np.float64)), "action", "float32"),
    "state too short": (lambda ep: setattr(ep, "state", ep.state[:-1].copy()), "state", r"shape must be \(24, 16\)"),
    "missing action": (lambda ep: setattr(ep, "action", None), "action", "missing"),
    "frames wrong length": (
        lambda ep: ep.frames.update(agentview=ep.frames["agentview"][:-2]),
        "frames[agentview]",
        "shape must be",
    ),
    "frames float": (
        lambda ep: ep.frames.update(agentview=ep.frames["agentview"].astype(np.float32)),
        "frames[agentview]",
        "uint8",
    ),
    "missing camera": (lambda ep: ep.frames.pop("robot0_eye_in_hand"), "frames", "cameras"),
    "timestamps offset": (lambda ep: setattr(ep, "timestamps", ep.timestamps + 0.05), "timestamps", "exactly k/20"),
    "empty instruction": (lambda ep: setattr(ep, "instruction", "  "), "instruction", "non-empty"),
    "fractional fps": (lambda ep: setattr(ep, "fps", 19.5), "fps", "positive integer"),
}


@pytest.mark.parametrize("case", BAD_EPISODES)
def test_bad_episode_names_episode_and_field(make_episode, case):
    breaker, field, reason = BAD_EPISODES[case]
    episode = make_episode(index=7)
    breaker(episode)
    with pytest.raises(EpisodeError, match=reason) as caught:
        validate_episode(episode)
    assert caught.value.episode == "synthetic/0007" and caught.value.field == field
    assert "synthetic/0007" in str(caught.value)


def test_empty_episode_is_refused(make_episode):
    episode = make_episode(length=1)
    episode.timestamps = episode.timestamps[:0]
    with pytest.raises(EpisodeError, match="empty"):
        validate_episode(episode)


def test_action_less_clip_needs_no_state_or_action(make_episode):
    clip = make_episode(embodiment="human_video")
    assert clip.state is None and clip.action is None
    validate_episode(clip)
    clip.action = np.zeros((clip.length, 7), np.float32)
    with pytest.raises(EpisodeError, match="has no action"):
        validate_episode(clip)
