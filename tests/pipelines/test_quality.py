"""The GX quality suite passes clean data and names what is wrong in bad data."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.lerobot import layout
from pipelines.lerobot.writer import LeRobotWriter
from pipelines.quality import QualityBounds, validate_dataset
from schemas.embodiment import get_embodiment


@pytest.fixture
def dataset(tmp_path, make_episode):
    episodes = [make_episode(index=i, length=12) for i in range(3)]
    for episode in episodes:
        episode.action[:, 6] = (episode.action[:, 6] > 0).astype("float32")  # a real gripper is open or closed
        episode.action[:, :6] = episode.action[:, :6].clip(-1, 1)
    LeRobotWriter(tmp_path / "ds", get_embodiment("robosuite_panda"), 20).write_all(episodes)
    return tmp_path / "ds"


def failed_columns(root, **bounds) -> set[str]:
    return {o.column for o in validate_dataset(root, QualityBounds(**bounds)).failures()}


def test_clean_dataset_passes_every_expectation(dataset):
    report = validate_dataset(dataset)
    embodiment = get_embodiment("robosuite_panda")
    values = [f"state_{i}" for i in range(embodiment.state_dim)] + [f"action_{i}" for i in range(embodiment.action_dim)]
    cameras = [f"length == video_frames_{camera}" for camera in embodiment.cameras]
    assert report.success and not report.failures()
    assert {o.column for o in report.outcomes} == {*values, *cameras, "timestamp_error", "length", "instruction"}
    for column in values:  # every state and action value is checked for nulls and for its range
        assert {o.expectation for o in report.outcomes if o.column == column} == {
            "expect_column_values_to_not_be_null",
            "expect_column_values_to_be_between",
        }


def test_timestamps_off_the_fps_grid_fail(dataset):
    path = dataset / layout.DATA_PATH.format(chunk_index=0, file_index=0)
    table = pq.read_table(path)
    shifted = pa.array(table["timestamp"].to_numpy() + 0.01, type=pa.float32())
    pq.write_table(table.set_column(table.schema.get_field_index("timestamp"), "timestamp", shifted), path)
    assert failed_columns(dataset) == {"timestamp_error"}


def test_video_shorter_than_the_data_fails(dataset):
    path = dataset / layout.EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes = pd.read_parquet(path)
    episodes.loc[1, "videos/observation.images.agentview/to_timestamp"] -= 3 / 20  # 3 frames missing
    episodes.to_parquet(path)
    assert failed_columns(dataset) == {"length == video_frames_agentview"}


def test_episode_length_bounds_and_empty_instruction_fail(dataset):
    assert failed_columns(dataset, min_episode_frames=13) == {"length"}
    path = dataset / layout.EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes = pd.read_parquet(path)
    episodes.at[2, "tasks"] = [""]
    episodes.to_parquet(path)
    assert failed_columns(dataset) == {"instruction"}
