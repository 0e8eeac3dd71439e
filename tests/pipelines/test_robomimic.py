"""robomimic HDF5 teleop: read into the contract with datagen_info kept; broken demos quarantined."""

import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from pipelines import robomimic
from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from pipelines.robomimic import RobomimicDemo, RobomimicError, read_robomimic, write_robomimic
from schemas.embodiment import get_embodiment
from schemas.episode import RejectedEpisode
from tests.conftest import REPO_ROOT, scene_frames

PANDA = get_embodiment("robosuite_panda")
CAMERAS = {"agentview": "agentview_image", "robot0_eye_in_hand": "robot0_eye_in_hand_image"}


def demo(length: int = 30, idle: int = 6, seed: int = 0, instruction: str = "lift the red cube") -> RobomimicDemo:
    rng = np.random.default_rng(seed)
    actions = np.zeros((length, 7), np.float32)
    actions[idle:, :3] = rng.uniform(-1, 1, (length - idle, 3))
    actions[:, 6] = -1
    return RobomimicDemo(
        instruction=instruction,
        states=rng.normal(size=(length, 40)),
        actions=actions,
        obs={
            "agentview_image": scene_frames(length, 32, 32, seed),
            "robot0_eye_in_hand_image": scene_frames(length, 32, 32, seed + 1),
            "robot0_joint_pos": rng.normal(size=(length, 7)),
            "robot0_eef_pos": rng.normal(size=(length, 3)),
            "robot0_eef_quat": rng.normal(size=(length, 4)),
            "robot0_gripper_qpos": rng.normal(size=(length, 2)),
        },
        datagen_info={
            "eef_pose": np.tile(np.eye(4), (length, 1, 1)),
            "object_poses/cube": np.tile(np.eye(4), (length, 1, 1)),
            "subtask_term_signals/grasp": np.arange(length) > length // 2,
        },
        attrs={"seed": seed},
    )


def test_demos_read_with_state_layout_and_datagen_extras(tmp_path):
    write_robomimic(tmp_path / "t.hdf5", "Lift", [demo(), demo(seed=1)], fps=20)
    episodes = list(read_robomimic(tmp_path / "t.hdf5", PANDA, CAMERAS))
    assert [e.episode_id for e in episodes] == ["t/demo_0", "t/demo_1"]
    first = episodes[0]
    assert first.state.shape == (30, 16) and first.action.shape == (30, 7) and first.instruction == "lift the red cube"
    assert first.extras["datagen.object_poses.cube"].shape == (30, 4, 4) and first.extras["sim.state"].shape == (30, 40)
    assert first.extras["datagen.subtask_term_signals.grasp"].dtype == np.bool_


def test_ingest_trims_the_idle_lead_in_and_lerobot_loads_the_result(tmp_path):
    write_robomimic(tmp_path / "t.hdf5", "Lift", [demo(idle=6), demo(idle=9, seed=1)], fps=20)
    source = SourceConfig(name="t", path=tmp_path / "t.hdf5", format="robomimic", embodiment="robosuite_panda")
    report = ingest_source(source, tmp_path / "out")
    assert (report.episodes, report.frames) == (2, (30 - 5) + (30 - 8))  # one idle frame kept before motion
    dataset = LeRobotDataset("local/t", root=tmp_path / "out")
    assert np.abs(dataset[0]["action"][:3].numpy()).max() == 0 and np.abs(dataset[1]["action"][:3].numpy()).max() > 0
    assert dataset[0]["datagen.object_poses.cube"].shape == (16,)


def test_broken_demos_are_quarantined_with_file_and_reason(tmp_path):
    short_datagen, no_camera = demo(seed=1), demo(seed=2)
    short_datagen.datagen_info["eef_pose"] = short_datagen.datagen_info["eef_pose"][:-3]
    del no_camera.obs["agentview_image"]
    write_robomimic(tmp_path / "t.hdf5", "Lift", [demo(), short_datagen, no_camera], fps=20)
    rejected = [e for e in read_robomimic(tmp_path / "t.hdf5", PANDA, CAMERAS) if isinstance(e, RejectedEpisode)]
    assert [(r.episode_id, str(tmp_path / "t.hdf5") in r.field) for r in rejected] == [
        ("t/demo_1", True),
        ("t/demo_2", True),
    ]
    assert "datagen.eef_pose has 27 steps, actions have 30" in rejected[0].reason
    assert "agentview_image" in rejected[1].reason


def test_a_demo_without_instruction_is_quarantined_not_given_a_default(tmp_path):
    unnamed = demo(seed=3)
    unnamed.instruction = ""
    write_robomimic(tmp_path / "t.hdf5", "Lift", [demo(), unnamed], fps=20)
    source = SourceConfig(name="t", path=tmp_path / "t.hdf5", format="robomimic", embodiment="robosuite_panda")
    report = ingest_source(source, tmp_path / "out")
    assert report.episodes == 1 and report.rejected[0].field == "instruction"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RobomimicError, match="missing.hdf5: robomimic file is missing"):
        list(read_robomimic(tmp_path / "missing.hdf5", PANDA, CAMERAS))


def write_a_heap_that_loops_libhdf5(path: Path) -> None:
    """A robomimic file whose global heap, where ``env_args`` and every ``instruction`` live, has a zero-size
    free-space object: libhdf5 loops forever in the first attribute read (found by fuzzing: an 8-byte length
    written over it)."""
    write_robomimic(path, "Lift", [demo()], fps=20)
    raw = bytearray(path.read_bytes())
    heap = raw.index(b"GCOL")
    at, end = heap + 16, heap + struct.unpack_from("<Q", raw, heap + 8)[0]
    while struct.unpack_from("<H", raw, at)[0] != 0:  # objects: index, refcount, reserved, size, padded data
        at += 16 + -(-struct.unpack_from("<Q", raw, at + 8)[0] // 8) * 8
        assert at < end, "no free space in the heap to damage"
    struct.pack_into("<Q", raw, at + 8, 0)
    path.write_bytes(raw)


def test_a_global_heap_that_loops_libhdf5_refuses_the_file_instead_of_hanging(tmp_path, monkeypatch):
    write_a_heap_that_loops_libhdf5(tmp_path / "t.hdf5")
    monkeypatch.setattr(robomimic, "ATTRIBUTE_READ_LIMIT_S", 3)
    source = SourceConfig(name="t", path=tmp_path / "t.hdf5", format="robomimic", embodiment="robosuite_panda")
    with pytest.raises(RobomimicError, match=r"t.hdf5: reading its HDF5 attributes did not finish in 3 s"):
        ingest_source(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_attribute_reader_ends_by_itself_where_its_parent_died(tmp_path):
    """A parent killed while its child loops (a cancelled run, an OOM kill) must not leave the child spinning on
    a core: one left by a killed fuzzing run took a core for an hour and doubled a CI run's time."""
    write_a_heap_that_loops_libhdf5(tmp_path / "t.hdf5")
    command = [sys.executable, "-c", robomimic._READ_EVERY_ATTRIBUTE, str(tmp_path / "t.hdf5"), "2"]
    child = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # no parent-side timeout: only its own limit
    try:
        assert child.wait(timeout=60) in (-signal.SIGXCPU, -signal.SIGKILL)  # the kernel ended it, at 2 s of CPU
    finally:
        child.kill()


def test_the_docs_quote_the_codes_attribute_read_limit():
    text = (REPO_ROOT / "docs" / "ingest.md").read_text().replace("\n", " ")
    assert f"over {robomimic.ATTRIBUTE_READ_LIMIT_S} s (`ATTRIBUTE_READ_LIMIT_S`)" in text
