"""Normalisation from a release's stats: [-1, 1] and back, binary grippers, constant dims, quantile bounds."""

import json

import numpy as np
import pytest

from policy.normalize import Normaliser, embodiment_normalisers


def panda_stats(folder, low: float, high: float) -> None:
    (folder / "meta").mkdir(parents=True)
    state = {"min": [low] * 16, "max": [high] * 16, "q01": [low + 0.1] * 16, "q99": [high - 0.1] * 16}
    action = {
        "min": [low] * 6 + [-1.0],
        "max": [high] * 6 + [1.0],
        "q01": [low + 0.1] * 6 + [-1.0],
        "q99": [high - 0.1] * 6 + [1.0],
    }
    (folder / "meta" / "stats.json").write_text(json.dumps({"observation.state": state, "action": action}))


def test_bounds_span_every_dataset_of_the_embodiment_and_round_trip(tmp_path):
    panda_stats(tmp_path / "teleop", -1.0, 1.0)
    panda_stats(tmp_path / "sim", -2.0, 0.5)
    (normaliser,) = embodiment_normalisers(
        {tmp_path / "teleop": "robosuite_panda", tmp_path / "sim": "robosuite_panda"}, "min_max"
    ).values()
    assert normaliser.action_low[0] == -2.0 and normaliser.action_high[0] == 1.0
    assert normaliser.binary == (6,)
    actions = np.array([[-2.0, 1.0, -0.5, 0.0, 0.25, 0.9, 0.3], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.7]])
    scaled = normaliser.normalise_action(actions)
    np.testing.assert_allclose(scaled[0, :2], [-1.0, 1.0])
    np.testing.assert_array_equal(scaled[:, 6], [1.0, -1.0])  # grippers become exactly +-1
    back = normaliser.unnormalise_action(scaled)
    np.testing.assert_allclose(back[:, :6], actions[:, :6], atol=1e-6)
    np.testing.assert_array_equal(back[:, 6], [1.0, -1.0])  # and decode to their range's ends


def test_quantile_bounds_clip_outliers_but_grippers_keep_their_true_ends(tmp_path):
    panda_stats(tmp_path / "teleop", -1.0, 1.0)
    (normaliser,) = embodiment_normalisers({tmp_path / "teleop": "robosuite_panda"}, "q01_q99").values()
    assert normaliser.action_high[0] == pytest.approx(0.9) and normaliser.action_high[6] == 1.0
    assert normaliser.normalise_action(np.array([[5.0] * 7]))[0, 0] == 1.0


def test_a_constant_dim_maps_to_zero_and_decodes_to_its_value():
    normaliser = Normaliser(np.zeros(1), np.ones(1), np.array([0.5, -1.0]), np.array([0.5, 1.0]))
    scaled = normaliser.normalise_action(np.array([[0.5, 0.0]]))
    np.testing.assert_allclose(scaled, [[0.0, 0.0]])
    np.testing.assert_allclose(normaliser.unnormalise_action(scaled), [[0.5, 0.0]])
    restored = Normaliser.from_dict(json.loads(json.dumps(normaliser.to_dict())))
    np.testing.assert_array_equal(restored.action_low, normaliser.action_low)


def test_missing_stats_are_a_clear_error(tmp_path):
    (tmp_path / "broken" / "meta").mkdir(parents=True)
    (tmp_path / "broken" / "meta" / "stats.json").write_text(json.dumps({"action": {"min": [0.0] * 7}}))
    with pytest.raises(ValueError, match="broken.*observation.state.min"):
        embodiment_normalisers({tmp_path / "broken": "robosuite_panda"}, "min_max")
