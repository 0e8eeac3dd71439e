"""GR1 (arms only, Fourier hands) with robosuite's BASIC controller: its action layout, the scripted hook-grasp
expert on TwoArmLift, and MimicGen generation from its demos, replayed and ingested as a LeRobot dataset."""

import h5py
import numpy as np
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from generators.robosuite_env import GR1, PANDA, TWO_PANDAS, make_env
from generators.scripted_teleop import ExpertConfig, record_teleop_set
from generators.sim.generate import generate_demos
from generators.sim.mimicgen import load_source_demos, replay_actions
from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from schemas.embodiment import get_embodiment

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


@pytest.mark.parametrize(
    ("robot", "expected"),
    [
        (PANDA, [1, 2, 3, 4, 5, 6, -1]),
        (TWO_PANDAS, [1, 2, 3, 4, 5, 6, -1, 7, 8, 9, 10, 11, 12, 1]),
        # robosuite's composite order: right arm, left arm, right hand (6), left hand (6)
        (GR1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, *[-1] * 6, *[1] * 6]),
    ],
)
def test_an_action_is_laid_out_as_robosuite_takes_it_and_splits_back_per_arm(robot, expected):
    poses = [np.arange(1, 7) + 6 * arm for arm in range(robot.arms)]
    grippers = [-1.0, 1.0][: robot.arms]
    action = robot.action(poses, grippers)
    np.testing.assert_array_equal(action, expected)
    for arm in range(robot.arms):
        np.testing.assert_array_equal(robot.arm_action(action, arm), np.r_[poses[arm], grippers[arm]])
    np.testing.assert_array_equal(robot.gripper_actions(action[None]), [grippers])


def test_the_gr1_env_matches_its_embodiment():
    env = make_env("GR1TwoArmLift", seed=0)
    try:
        obs = env.reset()
        embodiment = get_embodiment("robosuite_gr1")
        assert env.action_dim == embodiment.action_dim == 24
        assert sum(obs[key].size for key in embodiment.state_keys()) == embodiment.state_dim == 50
        arms = [env.robots[0].composite_controller.part_controllers[side] for side in ("right", "left")]
        assert all((arm.kp == GR1.kp).all() for arm in arms) and GR1.kp == 300
    finally:
        env.close()


@pytest.fixture(scope="module")
def gr1_sources(tmp_path_factory):
    path = tmp_path_factory.mktemp("sources") / "gr1_twoarmlift.hdf5"
    report = record_teleop_set("GR1TwoArmLift", 2, path, ExpertConfig(cameras=()))  # sources need no frames
    return path, report


def test_the_expert_hooks_both_handles_and_lifts_the_pot(gr1_sources):
    path, report = gr1_sources
    assert report.demos == 2 and report.failed_seeds == []  # seeds 0 and 1
    for demo in load_source_demos(path):
        assert demo.signals["grasp0"].any() and demo.signals["grasp1"].any()
        assert demo.target_pose.shape == (demo.length, 2, 4, 4)
        assert set(np.unique(demo.gripper)) == {-1.0, 1.0}  # open, then closed on the handles


def test_a_generated_gr1_demo_replays_to_success_and_loads_in_lerobot(gr1_sources, tmp_path):
    path, _ = gr1_sources
    report = generate_demos("GR1TwoArmLift", path, 1, tmp_path / "sim.hdf5", image_size=16, max_attempts=4)
    assert report.successes == 1, report.failures
    source = SourceConfig(
        name="sim_gr1", path=tmp_path / "sim.hdf5", format="robomimic", embodiment="robosuite_gr1", trim_idle=False
    )
    assert ingest_source(source, tmp_path / "dataset").episodes == 1
    item = LeRobotDataset("pyramid/sim_gr1", root=tmp_path / "dataset")[0]
    assert item["observation.state"].shape == (50,) and item["action"].shape == (24,)
    assert item["observation.images.agentview"].shape == (3, 16, 16)
    with h5py.File(tmp_path / "sim.hdf5") as file:
        demo = file["data/demo_0"]
        actions, seed = demo["actions"][()], int(demo.attrs["seed"])
    hands = actions[:, 12:].reshape(len(actions), 2, 6)
    assert (hands == hands[:, :, :1]).all()  # each hand's 6 actuators get its one command
    assert replay_actions("GR1TwoArmLift", seed, actions)
