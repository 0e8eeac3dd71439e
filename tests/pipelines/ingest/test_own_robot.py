"""Bring your own robot: datasets the way users have them go through `pyramid embodiments infer` and `pyramid
ingest` with no code change, load in lerobot's `LeRobotDataset` with their values and frames, and export to GR00T.

The commands run through the CLI's own `main` (argument parsing, error handling and exit codes included); the
test in test_own_robot_processes.py runs them as separate processes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import yaml
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from PIL import Image

from assets.cli import EXIT_INPUT, EXIT_QUARANTINED, main
from pipelines.lerobot.groot_export import export_groot
from pipelines.lerobot.reader import LeRobotSource
from schemas.embodiment import get_embodiment
from tests.conftest import psnr
from tests.pipelines.ingest.rlds_builders import _jpeg, random_steps, write_builder
from tests.pipelines.ingest.user_datasets import (
    ALOHA_14,
    ARM_SESSION_A,
    ARM_SESSION_B,
    HUMANOID_44,
    PANDA_8,
    SO100_6,
    USER_RLDS_STEPS,
    RecordingSpec,
    record_lerobot,
    write_user_rlds,
    write_user_robomimic,
)

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

MIN_PSNR_DB = 30.0


@pytest.fixture
def user_home(tmp_path, monkeypatch):
    """An empty pyramid home (and Dagster instance) with no declared sources, as a new user's."""
    home = tmp_path / "home"
    sources = tmp_path / "no_sources.yaml"
    sources.write_text("{}\n")
    monkeypatch.setenv("PYRAMID_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("PYRAMID_SOURCES", str(sources))
    monkeypatch.delenv("PYRAMID_EMBODIMENT_PATH", raising=False)
    return home


def pyramid(*args: str) -> int:
    """One CLI command in this process (``--verbose`` leaves the test process's logging as it is)."""
    return main(["--verbose", "--no-progress", *args])


def frames_of(dataset: LeRobotDataset, key: str) -> np.ndarray:
    return np.stack([(dataset[i][key].numpy().transpose(1, 2, 0) * 255).round() for i in range(len(dataset))])


def assert_same_data(ours: LeRobotDataset, source: LeRobotDataset, cameras: dict[str, str]) -> None:
    """Equal vectors, frame by frame, and every camera's frames within ``MIN_PSNR_DB``."""
    assert len(ours) == len(source) and ours.meta.total_episodes == source.meta.total_episodes
    for key in ("observation.state", "action"):
        np.testing.assert_array_equal(
            np.stack([ours[i][key].numpy() for i in range(len(ours))]),
            np.stack([source[i][key].numpy() for i in range(len(source))]),
        )
    for source_key, camera in cameras.items():
        assert psnr(frames_of(ours, f"observation.images.{camera}"), frames_of(source, source_key)) >= MIN_PSNR_DB


def assert_exports_to_groot(dataset_root, tmp_path) -> None:
    """The GR00T v2.1 export reads back with the same vectors and the embodiment's modality.json."""
    exported = LeRobotSource(export_groot(dataset_root, tmp_path / "groot"))
    original = LeRobotSource(dataset_root)
    assert exported.version == "v2.1" and exported.embodiment == original.embodiment
    for index in original.episode_indices:
        ours, back = original.read_episode_metadata(index), exported.read_episode_metadata(index)
        np.testing.assert_array_equal(ours.action, back.action)
        np.testing.assert_array_equal(ours.state, back.state)


@pytest.mark.parametrize("spec", [PANDA_8, SO100_6, ALOHA_14, HUMANOID_44], ids=lambda s: s.name)
def test_a_lerobot_recording_goes_in_with_infer_and_ingest(spec: RecordingSpec, user_home, tmp_path):
    source = record_lerobot(tmp_path / spec.name, spec)
    assert pyramid("embodiments", "infer", str(source)) == 0
    embodiment = get_embodiment(spec.name)
    state_dim, action_dim = spec.width(spec.state_names, spec.state_dim), spec.width(spec.action_names, spec.action_dim)
    assert (embodiment.state_dim, embodiment.action_dim, embodiment.fps) == (state_dim, action_dim, spec.fps)
    assert embodiment.binary_action_dims() == list(spec.gripper_dims)  # two-valued columns are binary grippers
    cameras = {key: key.removeprefix("observation.images.") for key in spec.cameras}
    assert set(embodiment.cameras) == set(cameras.values())

    assert pyramid("ingest", str(source), "--embodiment", spec.name) == 0
    written = user_home / "datasets" / "teleop" / spec.name
    ours = LeRobotDataset(f"pyramid/{spec.name}", root=written)
    assert all(ours.meta.features[f"observation.images.{c}"]["dtype"] == "video" for c in cameras.values())
    assert_same_data(ours, LeRobotDataset(f"user/{spec.name}", root=source), cameras)
    assert set(ours.meta.tasks.index) == set(spec.tasks[: spec.episodes])
    assert_exports_to_groot(written, tmp_path)


def test_extra_numeric_features_are_carried_as_columns(user_home, tmp_path):
    source = record_lerobot(tmp_path / "so100", SO100_6)
    assert pyramid("ingest", str(source), "--embodiment", "auto") == 0
    ours = LeRobotDataset("pyramid/so100", root=user_home / "datasets" / "teleop" / "so100")
    theirs = LeRobotDataset("user/so100", root=source)
    np.testing.assert_array_equal(ours[5]["observation.effort"].numpy(), theirs[5]["observation.effort"].numpy())


def test_two_sessions_with_renamed_cameras_reconcile_through_an_alias(user_home, tmp_path, capsys):
    first = recorded_quietly(capsys, tmp_path / "arm_a", ARM_SESSION_A)
    second = recorded_quietly(capsys, tmp_path / "arm_b", ARM_SESSION_B)
    assert pyramid("embodiments", "infer", str(first), "--name", "arm") == 0
    capsys.readouterr()
    assert pyramid("ingest", str(second), "--embodiment", "arm") == EXIT_INPUT  # 'fixed' is not a camera of arm
    error = capsys.readouterr().err
    assert "'observation.images.fixed' is not a camera of embodiment 'arm'" in error and "alias" in error

    path = user_home / "embodiments" / "arm.yaml"
    document = yaml.safe_load(path.read_text())
    document["cameras"] = [{"name": "top", "aliases": ["fixed"]}]  # what the user edits
    path.write_text(yaml.safe_dump(document))
    assert pyramid("ingest", str(first), "--embodiment", "arm") == 0
    assert pyramid("ingest", str(second), "--embodiment", "arm") == 0
    for name, source in (("arm_a", first), ("arm_b", second)):
        ours = LeRobotDataset(name, root=user_home / "datasets" / "teleop" / name)
        assert "observation.images.top" in ours.meta.video_keys
        camera = next(iter(LeRobotDataset(name, root=source).meta.video_keys))
        assert_same_data(ours, LeRobotDataset(name, root=source), {camera: "top"})


def test_a_robomimic_image_dataset_goes_in_with_infer_and_ingest(user_home, tmp_path):
    import h5py

    source = write_user_robomimic(tmp_path / "bins.hdf5")
    assert pyramid("embodiments", "infer", str(source)) == 0
    embodiment = get_embodiment("bins")
    assert embodiment.cameras == ("agentview", "robot0_eye_in_hand")
    # proprioception in robosuite's order; velocities and object state are not the robot's state
    assert embodiment.state_keys() == ("robot0_joint_pos", "robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
    assert embodiment.binary_action_dims() == [6] and embodiment.fps == 20

    assert pyramid("ingest", str(source), "--embodiment", "bins") == 0
    ours = LeRobotDataset("pyramid/bins", root=user_home / "datasets" / "teleop" / "bins")
    with h5py.File(source) as file:
        demo = file["data/demo_0"]
        length = len(demo["actions"])
        state = np.concatenate([demo["obs"][key][()] for key in embodiment.state_keys()], axis=1)
        np.testing.assert_array_equal(
            np.stack([ours[i]["observation.state"].numpy() for i in range(length)]), state.astype(np.float32)
        )
        np.testing.assert_array_equal(np.stack([ours[i]["action"].numpy() for i in range(length)]), demo["actions"][()])
        for camera in embodiment.cameras:
            decoded = np.stack(
                [
                    (ours[i][f"observation.images.{camera}"].numpy().transpose(1, 2, 0) * 255).round()
                    for i in range(length)
                ]
            )
            assert psnr(decoded, demo["obs"][f"{camera}_image"][()]) >= MIN_PSNR_DB
    assert_exports_to_groot(user_home / "datasets" / "teleop" / "bins", tmp_path)


def test_an_rlds_dataset_of_an_unknown_robot_goes_in_with_infer_and_ingest(user_home, tmp_path):
    builder = write_user_rlds(tmp_path / "rlds")
    assert pyramid("embodiments", "infer", str(builder.parent)) == 0  # the builder folder: its version is found
    embodiment = get_embodiment("my_robot_dataset")
    assert embodiment.cameras == ("image", "wrist_image") and (embodiment.state_dim, embodiment.action_dim) == (8, 7)
    assert embodiment.binary_action_dims() == [6]

    assert pyramid("ingest", str(builder), "--embodiment", "my_robot_dataset") == 0
    written = user_home / "datasets" / "oxe" / "my_robot_dataset"
    ours = LeRobotDataset("pyramid/my_robot_dataset", root=written)
    assert ours.meta.total_episodes == 3 and ours.meta.fps == embodiment.fps
    steps = random_steps("my_robot_dataset", 12, seed=0, steps=USER_RLDS_STEPS)
    steps["action"][:, 6] = np.where(np.arange(12) < 6, -1.0, 1.0)
    np.testing.assert_array_equal(np.stack([ours[i]["action"].numpy() for i in range(12)]), steps["action"])
    np.testing.assert_array_equal(
        np.stack([ours[i]["observation.state"].numpy() for i in range(12)]), steps["observation/state"]
    )
    for camera in embodiment.cameras:  # the frames the source holds: its JPEGs, decoded
        source_frames = np.stack(
            [np.asarray(Image.open(io.BytesIO(_jpeg(frame)))) for frame in steps[f"observation/{camera}"]]
        )
        assert psnr(frames_of(ours, f"observation.images.{camera}")[:12], source_frames) >= MIN_PSNR_DB
    assert_exports_to_groot(written, tmp_path)


@pytest.mark.parametrize("dataset", ["fractal20220817_data", "language_table", "berkeley_autolab_ur5", "jaco_play"])
def test_known_open_x_embodiment_builders_go_in_as_their_standardised_robot(dataset, user_home, tmp_path):
    builder = write_builder(tmp_path / "rlds", dataset, [random_steps(dataset, 4, seed=s) for s in range(2)])
    assert pyramid("embodiments", "infer", str(builder)) == 0  # says which embodiment, writes nothing
    assert not (user_home / "embodiments").exists()
    assert pyramid("ingest", str(builder), "--embodiment", "auto") == 0
    ours = LeRobotDataset("pyramid/oxe", root=user_home / "datasets" / "oxe" / dataset)
    assert_exports_to_groot(user_home / "datasets" / "oxe" / dataset, tmp_path)
    assert (
        ours.meta.total_episodes == 2
        and ours.meta.info["robot_type"]
        == get_embodiment(
            {
                "fractal20220817_data": "google_robot",
                "language_table": "language_table",
                "berkeley_autolab_ur5": "ur5",
                "jaco_play": "jaco",
            }[dataset]
        ).robot_type
    )


# -- bad input: one line naming the file and the fix, exit status 3; the good episodes of a mixed dataset land --


def recorded_quietly(capsys, root, spec: RecordingSpec):
    """``record_lerobot``, its progress bars (lerobot's own) kept out of the captured output."""
    source = record_lerobot(root, spec)
    capsys.readouterr()
    return source


def one_line_error(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and len(error.splitlines()) <= 2 and "Traceback" not in error, error
    return error


def test_a_malformed_embodiment_file_names_the_file_and_field(user_home, tmp_path, capsys):
    folder = user_home / "embodiments"
    folder.mkdir(parents=True)
    (folder / "broken.yaml").write_text("name: broken\nfps: [\n")
    assert pyramid("embodiments") == EXIT_INPUT
    assert "broken.yaml: not valid YAML" in one_line_error(capsys)
    (folder / "broken.yaml").write_text(
        yaml.safe_dump({"name": "broken", "fps": 0, "control_mode": "joint_position", "cameras": ["front"]})
    )
    assert pyramid("embodiments") == EXIT_INPUT
    error = one_line_error(capsys)
    assert "broken.yaml: field fps: Input should be greater than 0" in error


def test_an_unknown_dtype_for_the_state_is_refused_with_the_feature_named(user_home, tmp_path, capsys):
    import json

    source = recorded_quietly(capsys, tmp_path / "panda_lab", PANDA_8)
    assert pyramid("embodiments", "infer", str(source)) == 0
    info = json.loads((source / "meta/info.json").read_text())
    info["features"]["observation.state"]["dtype"] = "audio"
    (source / "meta/info.json").write_text(json.dumps(info))
    assert pyramid("ingest", str(source), "--embodiment", "panda_lab") == EXIT_INPUT
    assert "feature 'observation.state' has dtype 'audio'; a state must be numeric" in one_line_error(capsys)


def test_a_camera_the_embodiment_lacks_and_a_dims_mismatch_name_the_fix(user_home, tmp_path, capsys):
    source = recorded_quietly(capsys, tmp_path / "panda_lab", PANDA_8)
    assert pyramid("embodiments", "infer", str(source)) == 0
    path = user_home / "embodiments" / "panda_lab.yaml"
    document = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**document, "cameras": ["front"]}))
    assert pyramid("ingest", str(source), "--embodiment", "panda_lab") == EXIT_INPUT
    error = one_line_error(capsys)
    assert "camera 'observation.images.wrist' is not a camera of embodiment 'panda_lab'" in error
    assert f"add 'wrist', or an alias for it, to {path}" in error

    document["state"][0]["size"] -= 1  # 7 joints declared where the dataset has 8 values
    path.write_text(yaml.safe_dump(document))
    assert pyramid("ingest", str(source), "--embodiment", "panda_lab") == EXIT_INPUT
    error = one_line_error(capsys)
    assert "'observation.state' has 8 values per frame, embodiment 'panda_lab''s state groups take 7" in error
    assert f"fix the state groups in {path}" in error


def test_a_dataset_without_embodiment_metadata_says_which_flag_to_pass(user_home, tmp_path, capsys):
    source = recorded_quietly(capsys, tmp_path / "panda_lab", PANDA_8)
    assert pyramid("ingest", str(source)) == EXIT_INPUT
    assert "pass --embodiment NAME, or --embodiment auto" in one_line_error(capsys)
    assert pyramid("ingest", str(tmp_path / "nowhere")) == EXIT_INPUT
    assert "nowhere: no such file or folder" in one_line_error(capsys)


def test_the_good_demos_of_a_mixed_file_land_and_the_exit_status_says_some_did_not(user_home, tmp_path, capsys):
    import h5py

    source = write_user_robomimic(tmp_path / "bins.hdf5")
    with h5py.File(source, "a") as file:  # one demo's joint positions lose their last 5 steps
        joints = file["data/demo_1/obs/robot0_joint_pos"][()][:-5]
        del file["data/demo_1/obs/robot0_joint_pos"]
        file["data/demo_1/obs/robot0_joint_pos"] = joints
    assert pyramid("ingest", str(source), "--embodiment", "auto") == EXIT_QUARANTINED
    error = capsys.readouterr().err
    assert "quarantined bins/demo_1" in error and "robot0_joint_pos has 15 steps, actions have 20" in error
    assert "--allow-quarantine" in error
    assert LeRobotDataset("bins", root=user_home / "datasets" / "teleop" / "bins").meta.total_episodes == 2
    assert pyramid("ingest", str(source), "--embodiment", "bins", "--allow-quarantine") == 0


def test_ingest_registers_the_source_and_its_partition_for_dagster(user_home, tmp_path, capsys):
    from dagster import AssetKey, DagsterInstance

    source = record_lerobot(tmp_path / "panda_lab", PANDA_8)
    assert pyramid("ingest", str(source), "--embodiment", "auto", "--name", "lab_panda") == 0
    home_sources = yaml.safe_load((user_home / "sources.yaml").read_text())
    assert [(s["name"], s["embodiment"]) for s in home_sources["teleop"]] == [("lab_panda", "lab_panda")]
    instance = DagsterInstance.from_config(str(user_home / "dagster"))
    assert instance.get_dynamic_partitions("teleop_sources") == ["lab_panda"]
    event = instance.get_latest_materialization_event(AssetKey("teleop_datasets"))
    assert event.asset_materialization.partition == "lab_panda"
    assert event.asset_materialization.metadata["episodes"].value == 3

    assert pyramid("sources", "remove", "lab_panda") == 0
    assert instance.get_dynamic_partitions("teleop_sources") == []
    assert (user_home / "datasets" / "teleop" / "lab_panda").is_dir()  # the data it did not create stays
