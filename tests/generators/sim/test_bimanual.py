"""DexMimicGen's bimanual subtasks on real robosuite physics (TwoArmLift, two Pandas): coordination subtasks end
on the same step with one shared source demo, sequential subtasks wait for the other arm, generated successes
replay to success and ingest as a two-arm LeRobot dataset; bad sources and specs are refused."""

import h5py
import numpy as np
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from robosuite.utils.errors import SimulationError

from generators.scripted_teleop import ExpertConfig, record_teleop_set
from generators.sim import generate
from generators.sim.generate import generate_demos
from generators.sim.mimicgen import (
    SUBTASKS,
    Subtask,
    SubtaskKind,
    check_sources,
    generate_rollout,
    load_source_demos,
    replay_actions,
    segment_bounds,
)
from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

COORDINATION, SEQUENTIAL = SubtaskKind.COORDINATION, SubtaskKind.SEQUENTIAL
# arm 1 may only reach for its handle once arm 0 holds its own
SEQUENTIAL_LIFT = (
    (Subtask("pot", "grasp0", end_offset=(-3, 3)), Subtask("pot", None, COORDINATION)),
    (Subtask("pot", "grasp1", SEQUENTIAL, after=(0, 0), end_offset=(-3, 3)), Subtask("pot", None, COORDINATION)),
)
SEEDS = range(100, 104)


@pytest.fixture(scope="module")
def two_arm_sources(tmp_path_factory):
    path = tmp_path_factory.mktemp("sources") / "panda_twoarmlift.hdf5"
    record_teleop_set("TwoArmLift", 3, path, ExpertConfig(cameras=("agentview",), image_size=16))
    return path


def _steps(rollout, arm: int, subtask: int) -> dict:
    return next(s for s in rollout.segments if (s["arm"], s["subtask"]) == (arm, subtask))


def test_source_demos_carry_both_arms_poses_and_signals(two_arm_sources):
    demo = load_source_demos(two_arm_sources)[0]
    assert demo.target_pose.shape == (demo.length, 2, 4, 4) and demo.gripper.shape == (demo.length, 2)
    assert demo.signals["grasp0"].any() and demo.signals["grasp1"].any()
    ((_, lift0_end), (_, lift1_end)) = (
        arm[1] for arm in segment_bounds(demo, SUBTASKS["TwoArmLift"], np.random.default_rng(0))
    )
    assert lift0_end == lift1_end == demo.length


def test_coordination_subtasks_share_a_source_and_end_on_the_same_step(two_arm_sources):
    sources = load_source_demos(two_arm_sources)
    rollouts = [generate_rollout("TwoArmLift", sources, seed) for seed in SEEDS]
    for rollout in rollouts:
        lift0, lift1 = _steps(rollout, 0, 1), _steps(rollout, 1, 1)
        assert lift0["kind"] == lift1["kind"] == "coordination" and lift0["source"] == lift1["source"]
        assert lift0["started_step"] == lift1["started_step"] and lift0["finished_step"] == lift1["finished_step"] > 0
        assert lift0["started_step"] > max(
            _steps(rollout, 0, 0)["finished_step"], _steps(rollout, 1, 0)["finished_step"]
        )
    successes = [r for r in rollouts if r.success]
    assert successes, [r.reason for r in rollouts]  # seeded: the same attempts succeed on every run
    assert all(replay_actions("TwoArmLift", r.seed, r.actions) for r in successes)
    assert successes[0].actions.shape[1] == 14 and successes[0].datagen_info["eef_pose"].shape[1:] == (2, 4, 4)


def test_a_sequential_subtask_starts_only_after_the_other_arms_finishes(two_arm_sources):
    sources = load_source_demos(two_arm_sources)
    for seed in SEEDS:
        rollout = generate_rollout("TwoArmLift", sources, seed, spec=SEQUENTIAL_LIFT)
        first, waiting = _steps(rollout, 0, 0), _steps(rollout, 1, 0)
        assert waiting["kind"] == "sequential" and waiting["started_step"] > first["finished_step"]
        # while it waited, arm 1 held still: its targets did not move
        held = rollout.datagen_info["target_pose"][: first["finished_step"], 1]
        np.testing.assert_allclose(held, np.broadcast_to(held[0], held.shape))
        assert _steps(rollout, 0, 1)["finished_step"] == _steps(rollout, 1, 1)["finished_step"]


def test_generated_two_arm_demos_ingest_as_a_bimanual_lerobot_dataset(two_arm_sources, tmp_path):
    report = generate_demos("TwoArmLift", two_arm_sources, 1, tmp_path / "sim.hdf5", image_size=16, first_seed=100)
    assert report.successes == 1
    source = SourceConfig(
        name="sim_twoarmlift",
        path=tmp_path / "sim.hdf5",
        format="robomimic",
        embodiment="robosuite_bimanual_panda",
        trim_idle=False,
    )
    assert ingest_source(source, tmp_path / "dataset").episodes == 1
    item = LeRobotDataset("pyramid/sim_twoarmlift", root=tmp_path / "dataset")[0]
    assert item["observation.state"].shape == (32,) and item["action"].shape == (14,)
    assert item["observation.images.robot1_eye_in_hand"].shape == (3, 16, 16)


def test_a_simulator_error_fails_one_attempt_and_the_run_goes_on(two_arm_sources, tmp_path, monkeypatch):
    real = generate.generate_rollout

    def unstable_first_seed(task, sources, seed, config=None):
        if seed == 100:
            raise SimulationError("MuJoCo went unstable")
        return real(task, sources, seed, config)

    monkeypatch.setattr(generate, "generate_rollout", unstable_first_seed)
    report = generate_demos("TwoArmLift", two_arm_sources, 1, tmp_path / "sim.hdf5", image_size=16, first_seed=100)
    assert report.failures[0] == {"seed": 100, "reason": "simulator error: SimulationError: MuJoCo went unstable"}
    assert report.successes == 1


def test_sources_that_cannot_seed_the_task_are_refused_by_name(two_arm_sources, tmp_path):
    sources = load_source_demos(two_arm_sources)
    one_arm = [type(s)(s.name, s.target_pose[:, :1], s.gripper[:, :1], s.object_poses, s.signals) for s in sources]
    with pytest.raises(ValueError, match="demo_0: has 1 arm.s., TwoArmLift needs 2"):
        check_sources("TwoArmLift", one_arm)
    no_signal = [
        type(s)(s.name, s.target_pose, s.gripper, s.object_poses, {"grasp0": s.signals["grasp0"]}) for s in sources
    ]
    with pytest.raises(ValueError, match=r"demo_0: no subtask signal or object pose for \['grasp1'\]"):
        check_sources("TwoArmLift", no_signal)
    short = tmp_path / "short.hdf5"
    with h5py.File(two_arm_sources) as source, h5py.File(short, "w") as target:
        source.copy("data", target)
        poses = target["data/demo_2/datagen_info/target_pose"][()]
        del target["data/demo_2/datagen_info/target_pose"]
        target["data/demo_2/datagen_info/target_pose"] = poses[:-5]
    with pytest.raises(
        ValueError, match=r"short.hdf5: demo_2 has \d+ actions but datagen_info lengths \{'target_pose'"
    ):
        load_source_demos(short)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (((Subtask("pot", None, COORDINATION),), (Subtask("pot", None),)), "same number of coordination subtasks"),
        (((Subtask("pot", "grasp0", SEQUENTIAL),), (Subtask("pot", None),)), "needs another arm's subtask"),
        (
            ((Subtask("pot", "grasp0", COORDINATION),), (Subtask("pot", None, COORDINATION),)),
            "share their object and end signal",
        ),
    ],
)
def test_inconsistent_bimanual_specs_are_refused(two_arm_sources, spec, message):
    with pytest.raises(ValueError, match=message):
        check_sources("TwoArmLift", load_source_demos(two_arm_sources), spec)
