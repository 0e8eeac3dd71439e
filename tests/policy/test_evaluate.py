"""Evaluation: open-loop errors on held-out episodes, and the closed-loop runner in real robosuite, checked
against a policy that replays a successful expert demo of the same scene (success) and one that holds still
(failure)."""

import numpy as np
import pytest

from generators.scripted_teleop import ExpertConfig, record_expert_demo
from policy.config import PolicyConfig
from policy.data import load_release
from policy.evaluate import EVAL_SEED, closed_loop, open_loop
from policy.inference import ReferencePolicy
from tests.conftest import POLICY_CONFIG

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


class ReplayPolicy:
    """Replays recorded actions chunk by chunk, through the same calls the closed-loop runner makes."""

    def __init__(self, actions: np.ndarray):
        self.actions, self.cameras, self.served = actions, {"robosuite_panda": ["agentview"]}, 0

    def reset(self, seed: int) -> None:
        self.served = 0

    def get_action(self, embodiment: str, observation: dict) -> dict[str, np.ndarray]:
        assert observation["video"]["agentview"].shape == (1, 1, 84, 84, 3)
        assert observation["state"]["eef_pos"].shape == (1, 1, 3)
        chunk = self.actions[self.served : self.served + 16]
        chunk = np.concatenate([chunk, np.tile(chunk[-1:], (16 - len(chunk), 1))]) if len(chunk) < 16 else chunk
        self.served += 8
        return {
            "eef_delta_pos": chunk[None, :, :3],
            "eef_delta_rot": chunk[None, :, 3:6],
            "gripper": chunk[None, :, 6:],
        }


def test_closed_loop_counts_a_replayed_success_and_a_still_failure():
    demo, success = record_expert_demo("Lift", EVAL_SEED, ExpertConfig(cameras=()))
    assert success
    replayed = closed_loop(ReplayPolicy(demo.actions), "Lift", episodes=1, max_steps=len(demo.actions) + 40)
    assert replayed.successes == [True] and replayed.steps[0] <= len(demo.actions) + 8
    still = np.tile(np.r_[np.zeros(6), -1.0], (400, 1))
    held = closed_loop(ReplayPolicy(still), "Lift", episodes=1, max_steps=40)
    assert held.successes == [False] and held.steps == [40] and held.success_rate == 0.0


def test_the_trained_policy_runs_closed_loop_in_robosuite(tiny_policy):
    result = closed_loop(ReferencePolicy(tiny_policy), "Lift", episodes=1, max_steps=24)
    assert result.steps == [24] or result.successes == [True]


def test_open_loop_compares_every_held_out_step(tiny_policy, policy_release):
    data = load_release(policy_release, PolicyConfig(**POLICY_CONFIG), log=lambda message: None)
    result = open_loop(ReferencePolicy(tiny_policy), data)
    (dataset,) = data.datasets
    assert set(result.mse) == {"teleop__robosuite_panda"} and len(dataset.held_out) == 1
    true, predicted = result.traces["teleop__robosuite_panda"]
    assert true.shape == predicted.shape == (len(dataset.held_out[0]), 7)
    errors = predicted - true
    assert np.isclose(result.mse["teleop__robosuite_panda"], np.mean(errors**2))
    assert len(result.mse_per_dim["teleop__robosuite_panda"]) == 7 and 0 < result.mae["teleop__robosuite_panda"] < 2
