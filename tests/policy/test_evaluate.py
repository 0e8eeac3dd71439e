"""Evaluation: open-loop errors on held-out episodes, and the closed-loop runner in real robosuite, checked
against a policy that replays a successful expert demo of the same scene (success) and one that holds still
(failure)."""

import av
import numpy as np
import pytest

from generators.robosuite_env import ROBOSUITE_TASKS, make_env
from generators.scripted_teleop import ExpertConfig, record_expert_demo, record_successes
from pipelines.runtime.parallel import RayConfig
from policy.config import PolicyConfig
from policy.data import load_release
from policy.evaluate import EVAL_SEED, closed_loop, evaluation_seeds, open_loop, parallel_closed_loop, save_videos
from policy.inference import ReferencePolicy
from schemas.embodiment import get_embodiment
from tests.conftest import POLICY_CONFIG

ON_RAY = RayConfig(workers=2, in_process_seconds=0)  # every share on Ray, however quick

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


class ReplayPolicy:
    """Replays recorded actions chunk by chunk, through the same calls the closed-loop runner makes."""

    def __init__(self, actions: np.ndarray, task: str = "Lift"):
        self.embodiment = get_embodiment(ROBOSUITE_TASKS[task].embodiment)
        self.actions, self.served = actions, 0
        self.cameras = {self.embodiment.name: self.embodiment.cameras[:1]}

    def reset(self, seed: int) -> None:
        self.served = 0

    def get_action(self, embodiment: str, observation: dict) -> dict[str, np.ndarray]:
        assert embodiment == self.embodiment.name
        assert observation["video"][self.embodiment.cameras[0]].shape == (1, 1, 84, 84, 3)
        for group in self.embodiment.state_groups:
            assert observation["state"][group.name].shape == (1, 1, group.size)
        chunk = self.actions[self.served : self.served + 16]
        chunk = np.concatenate([chunk, np.tile(chunk[-1:], (16 - len(chunk), 1))]) if len(chunk) < 16 else chunk
        self.served += 8
        return {group.name: chunk[None, :, group.start : group.end] for group in self.embodiment.action_groups}


def test_closed_loop_counts_a_replayed_success_and_a_still_failure():
    demo, success = record_expert_demo("Lift", EVAL_SEED, ExpertConfig(cameras=()))
    assert success
    replayed = closed_loop(ReplayPolicy(demo.actions), "Lift", [EVAL_SEED], max_steps=len(demo.actions) + 40)
    assert replayed.successes == [True] and replayed.steps[0] <= len(demo.actions) + 8
    still = np.tile(np.r_[np.zeros(6), -1.0], (400, 1))
    held = closed_loop(ReplayPolicy(still), "Lift", [EVAL_SEED], max_steps=40, record=1)
    assert held.successes == [False] and held.steps == [40] and held.success_rate == 0.0
    assert held.steps_to_success is None and held.interval == pytest.approx((0.0, 0.7935), abs=1e-4)
    assert held.videos[EVAL_SEED].shape == (40, 84, 84, 3)  # every control step of a recorded episode


@pytest.mark.parametrize("task", ["Stack", "PickPlaceCan", "TwoArmLift"])
def test_every_evaluated_task_counts_a_replayed_expert_success(task):
    """The closed loop of every task the issue names (TwoArmLift: the bimanual embodiment) sees the embodiment's
    cameras and state and succeeds when the expert's actions are replayed."""
    (demo,), _ = record_successes({task: 1}, ExpertConfig(cameras=()), first_seed=EVAL_SEED)[task]
    seed = int(demo.attrs["seed"])
    replayed = closed_loop(ReplayPolicy(demo.actions, task), task, [seed], max_steps=len(demo.actions) + 40)
    assert replayed.successes == [True] and replayed.steps[0] <= len(demo.actions) + 8


@pytest.mark.parametrize("task", ["Lift", "Stack"])
def test_a_seed_gives_the_same_scene_to_every_policy_and_another_seed_another(task):
    def cube_position(seed: int) -> np.ndarray:
        env = make_env(task, seed=seed)
        try:
            env.reset()
            return np.array(env.sim.data.body_xpos[env.cube_body_id if task == "Lift" else env.cubeA_body_id])
        finally:
            env.close()

    first, again, other = cube_position(EVAL_SEED), cube_position(EVAL_SEED), cube_position(EVAL_SEED + 1)
    assert np.array_equal(first, again) and np.linalg.norm(first[:2] - other[:2]) > 1e-3


def test_the_trained_policy_runs_closed_loop_in_robosuite(tiny_policy):
    result = closed_loop(ReferencePolicy(tiny_policy), "Lift", [EVAL_SEED], max_steps=24)
    assert result.steps == [24] or result.successes == [True]


def test_episodes_spread_over_ray_give_what_one_process_gives(tiny_policy, tmp_path):
    seeds = evaluation_seeds(3)
    alone = parallel_closed_loop(tiny_policy, "Lift", seeds, None, max_steps=16, record=2)
    shares = []
    spread = parallel_closed_loop(tiny_policy, "Lift", seeds, ON_RAY, max_steps=16, record=2, on_episodes=shares.append)
    assert spread.seeds == alone.seeds == seeds and spread.steps == alone.steps and len(shares) >= 2
    assert sorted(spread.videos) == sorted(alone.videos) == seeds[:2]
    for seed in seeds[:2]:  # the same scene; later frames may differ in the last bits with torch's thread count
        assert np.array_equal(spread.videos[seed][0], alone.videos[seed][0])
        assert spread.videos[seed].shape == alone.videos[seed].shape
    paths = save_videos(spread, tmp_path)
    assert [p.name.rsplit("_", 1)[0] for p in paths] == [f"Lift_{seed}" for seed in seeds[:2]]
    assert all(av.open(str(p)).streams.video[0].frames == 16 for p in paths)


def test_open_loop_compares_every_held_out_step(tiny_policy, policy_release):
    data = load_release(policy_release, PolicyConfig(**POLICY_CONFIG), log=lambda message: None)
    result = open_loop(ReferencePolicy(tiny_policy), data)
    (dataset,) = data.datasets
    assert set(result.mse) == {"teleop__robosuite_panda"} and len(dataset.held_out) == 1
    true, predicted = result.traces["teleop__robosuite_panda"]
    (episode,) = data.held_out_episodes(dataset, POLICY_CONFIG["image_size"])
    assert true.shape == predicted.shape == (len(episode), 7)
    errors = predicted - true
    assert np.isclose(result.mse["teleop__robosuite_panda"], np.mean(errors**2))
    assert len(result.mse_per_dim["teleop__robosuite_panda"]) == 7 and 0 < result.mae["teleop__robosuite_panda"] < 2
    (episode_mse,) = result.episode_mse["teleop__robosuite_panda"]
    assert episode_mse == pytest.approx(result.mse["teleop__robosuite_panda"])  # one held-out episode
