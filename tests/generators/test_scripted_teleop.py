"""The scripted robosuite expert: successful demos with datagen_info, which replay to success."""

import h5py
import numpy as np
import pytest

from generators.robosuite_env import make_env
from generators.scripted_teleop import ExpertConfig, record_expert_demo, record_successes, record_teleop_set
from pipelines.runtime.parallel import RayConfig
from tests.conftest import RAY_WORKERS

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

SMALL = ExpertConfig(image_size=32)


@pytest.fixture(scope="module")
def lift_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("teleop") / "panda_lift.hdf5"
    report = record_teleop_set("Lift", 2, path, SMALL)
    assert (report.demos, report.failed_seeds) == (2, [])
    return path


def test_recorded_file_has_the_robomimic_layout_with_datagen_info(lift_file):
    with h5py.File(lift_file) as file:
        demo = file["data/demo_0"]
        steps = demo.attrs["num_samples"]
        assert demo["actions"].shape == (steps, 7) and demo["states"].shape[0] == steps
        assert (
            demo["obs/agentview_image"].shape == (steps, 32, 32, 3)
            and demo["obs/robot0_eye_in_hand_image"].dtype == np.uint8
        )
        assert demo["datagen_info/eef_pose"].shape == (steps, 4, 4)
        assert demo["datagen_info/object_poses/cube"].shape == (steps, 4, 4)
        grasp = demo["datagen_info/subtask_term_signals/grasp"][()]
        assert grasp.any() and not grasp[0]  # the cube is grasped mid-demo, not at the start
        assert demo.attrs["success"] and demo.attrs["instruction"] == "lift the red cube"
        idle = demo.attrs["idle_lead_in"]
        np.testing.assert_array_equal(demo["actions"][:idle, :6], 0)  # the operator's reaction time


def test_recorded_actions_replay_to_success_from_the_same_seed(lift_file):
    with h5py.File(lift_file) as file:
        actions, seed = file["data/demo_1/actions"][()], int(file["data/demo_1"].attrs["seed"])
    env = make_env("Lift", seed=seed)
    env.reset()
    for action in actions:
        env.step(action)
    assert env._check_success()
    env.close()


def test_a_failed_attempt_has_no_frames_and_reports_failure():
    demo, success = record_expert_demo("Lift", seed=0, config=ExpertConfig(image_size=32, max_steps=20))
    assert not success and "agentview_image" not in demo.obs and len(demo.actions) == 20


@pytest.mark.usefixtures("local_ray")
def test_on_ray_the_same_seeds_are_kept_as_in_process(lift_file, tmp_path):
    report = record_teleop_set("Lift", 2, tmp_path / "ray.hdf5", SMALL, ray=RayConfig(workers=RAY_WORKERS))
    assert (report.demos, report.attempts, report.failed_seeds) == (2, 2, [])
    with h5py.File(lift_file) as here, h5py.File(report.path) as on_ray:
        for name in ("demo_0", "demo_1"):
            assert here[f"data/{name}"].attrs["seed"] == on_ray[f"data/{name}"].attrs["seed"]
            np.testing.assert_array_equal(here[f"data/{name}/actions"][()], on_ray[f"data/{name}/actions"][()])


@pytest.mark.usefixtures("local_ray")
def test_on_ray_too_few_successes_is_a_clear_error_and_writes_nothing(tmp_path):
    never = ExpertConfig(image_size=32, max_steps=5)  # no demo finishes in 5 steps
    with pytest.raises(RuntimeError, match="Lift: only 0 of 2 expert demos succeeded in 3 attempts"):
        record_teleop_set("Lift", 2, tmp_path / "ray.hdf5", never, max_attempts=3, ray=RayConfig(workers=RAY_WORKERS))
    assert not (tmp_path / "ray.hdf5").exists()


@pytest.mark.usefixtures("local_ray")
def test_several_tasks_share_the_workers_and_keep_what_each_would_alone(lift_file):
    """Attempts interleave across tasks; each task keeps the demos it keeps when recorded alone, in-process."""
    together = record_successes({"Lift": 2, "Stack": 1}, SMALL, ray=RayConfig(workers=RAY_WORKERS))
    alone = record_successes({"Stack": 1}, SMALL)
    with h5py.File(lift_file) as here:
        lift_seeds = [here[f"data/demo_{i}"].attrs["seed"] for i in range(2)]
    assert [demo.attrs["seed"] for demo in together["Lift"][0]] == lift_seeds
    assert [demo.attrs["seed"] for demo in together["Stack"][0]] == [demo.attrs["seed"] for demo in alone["Stack"][0]]
    np.testing.assert_array_equal(together["Stack"][0][0].actions, alone["Stack"][0][0].actions)
