"""The v3.0 writer: lerobot's own loader and tools must accept everything it writes."""

import json

import av
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from lerobot.datasets.aggregate import aggregate_datasets
from lerobot.datasets.dataset_tools import delete_episodes, split_dataset
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from pipelines.lerobot import layout
from pipelines.lerobot.reader import LeRobotSource
from pipelines.lerobot.video import VideoCodec
from pipelines.lerobot.writer import LeRobotWriter, WriterConfig
from schemas.embodiment import get_embodiment
from schemas.episode import EpisodeError
from tests.conftest import psnr

PANDA = get_embodiment("robosuite_panda")


def write(root, episodes, **config):
    return LeRobotWriter(root, PANDA, PANDA.fps, WriterConfig(**config)).write_all(episodes)


def load(root) -> LeRobotDataset:
    return LeRobotDataset(f"local/{root.name}", root=root)


@pytest.fixture
def episodes(make_episode):
    return [make_episode(index=i, length=20 + 3 * i) for i in range(3)]


def test_every_frame_loads_in_lerobot_with_equal_vectors_and_psnr_at_least_30(tmp_path, episodes):
    report = write(tmp_path / "ds", episodes)
    assert (report.episodes, report.frames) == (3, sum(e.length for e in episodes))
    dataset = load(tmp_path / "ds")
    assert (dataset.num_episodes, len(dataset)) == (3, report.frames)
    position = 0
    for episode in episodes:
        for t in range(episode.length):
            item = dataset[position]
            assert item["episode_index"].item() == episodes.index(episode) and item["frame_index"].item() == t
            np.testing.assert_array_equal(item["observation.state"].numpy(), episode.state[t])
            np.testing.assert_array_equal(item["action"].numpy(), episode.action[t])
            assert item["timestamp"].item() == pytest.approx(t / 20)
            assert item["task"] == episode.instruction
            for camera in PANDA.cameras:
                decoded = (item[layout.camera_key(camera)].numpy().transpose(1, 2, 0) * 255).round()
                assert psnr(decoded, episode.frames[camera][t]) >= 30
            position += 1


def test_each_episode_starts_on_a_keyframe_at_its_from_timestamp(tmp_path, episodes):
    write(tmp_path / "ds", episodes)
    rows = pq.read_table(tmp_path / "ds" / layout.EPISODES_PATH.format(chunk_index=0, file_index=0)).to_pylist()
    key = layout.camera_key("agentview")
    video = tmp_path / "ds" / layout.VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        keyframe_times = {round(float(p.pts * stream.time_base), 4) for p in container.demux(stream) if p.is_keyframe}
    expected_start = 0.0
    for row, episode in zip(rows, episodes, strict=True):
        assert row[f"videos/{key}/from_timestamp"] == pytest.approx(expected_start)
        assert row[f"videos/{key}/to_timestamp"] == pytest.approx(expected_start + episode.length / 20)
        assert round(row[f"videos/{key}/from_timestamp"], 4) in keyframe_times
        expected_start += episode.length / 20


def test_the_metadata_is_what_lerobots_own_helpers_would_write(tmp_path, episodes):
    """The writer builds lerobot's parquet schema, info.json fields and video info itself (lerobot takes ~17 s to
    import); here they are held against lerobot's helpers."""
    from lerobot.datasets.feature_utils import get_hf_features_from_features
    from lerobot.datasets.utils import DatasetInfo
    from lerobot.datasets.video_utils import get_video_info

    write(tmp_path / "ds", episodes)
    info = json.loads((tmp_path / "ds" / layout.INFO_PATH).read_text())
    schema = pq.read_schema(tmp_path / "ds" / layout.DATA_PATH.format(chunk_index=0, file_index=0))
    features = {k: {**v, "shape": tuple(v["shape"])} for k, v in info["features"].items()}
    assert schema == get_hf_features_from_features(features).arrow_schema
    assert schema.metadata == get_hf_features_from_features(features).arrow_schema.metadata
    theirs = DatasetInfo(**{**info, "features": features}).to_dict()
    assert list(info) == list(theirs) and info == {**theirs, "features": info["features"]}
    video = (
        tmp_path
        / "ds"
        / layout.VIDEO_PATH.format(video_key=layout.camera_key("agentview"), chunk_index=0, file_index=0)
    )
    lerobot_info = get_video_info(video)
    assert {k: info["features"][layout.camera_key("agentview")]["info"][k] for k in lerobot_info} == lerobot_info


def test_one_parquet_row_group_per_episode_and_metadata_counts(tmp_path, episodes):
    write(tmp_path / "ds", episodes)
    data = pq.ParquetFile(tmp_path / "ds" / layout.DATA_PATH.format(chunk_index=0, file_index=0))
    assert [data.metadata.row_group(i).num_rows for i in range(data.num_row_groups)] == [e.length for e in episodes]
    info = json.loads((tmp_path / "ds" / layout.INFO_PATH).read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 3 and info["total_tasks"] == 3
    assert info["features"]["observation.images.agentview"]["info"]["video.codec"] == "h264"
    tasks = pd.read_parquet(tmp_path / "ds" / layout.TASKS_PATH)
    assert sorted(tasks.index) == sorted({e.instruction for e in episodes})


def test_dataset_stats_match_numpy_over_all_frames(tmp_path, episodes):
    write(tmp_path / "ds", episodes)
    stats = json.loads((tmp_path / "ds" / layout.STATS_PATH).read_text())
    actions = np.concatenate([e.action for e in episodes])
    np.testing.assert_allclose(stats["action"]["mean"], actions.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["action"]["min"], actions.min(0))
    np.testing.assert_allclose(stats["action"]["max"], actions.max(0))
    assert np.array(stats["observation.images.agentview"]["mean"]).shape == (3, 1, 1)


def test_extras_of_any_shape_survive_a_lerobot_load(tmp_path, episodes):
    for episode in episodes:
        episode.extras = {
            "next.reward": np.linspace(0, 1, episode.length, dtype=np.float32),
            "datagen.eef_pose": np.tile(np.eye(4, dtype=np.float32), (episode.length, 1, 1)),
            "next.done": np.arange(episode.length) == episode.length - 1,
        }
    write(tmp_path / "ds", episodes)
    item = load(tmp_path / "ds")[episodes[0].length - 1]
    assert item["next.reward"].item() == pytest.approx(1.0)
    assert item["next.done"].item() is True
    np.testing.assert_array_equal(item["datagen.eef_pose"].numpy().reshape(4, 4), np.eye(4))


def test_lerobot_aggregate_merges_two_of_our_datasets(tmp_path, make_episode):
    write(tmp_path / "a", [make_episode(index=i) for i in range(2)])
    write(tmp_path / "b", [make_episode(index=i) for i in range(2, 5)])
    aggregate_datasets(
        ["local/a", "local/b"], "local/merged", roots=[tmp_path / "a", tmp_path / "b"], aggr_root=tmp_path / "merged"
    )
    merged = load(tmp_path / "merged")
    assert merged.num_episodes == 5 and len(merged) == 5 * 24
    assert merged[24 * 4]["episode_index"].item() == 4


def test_lerobot_dataset_tools_accept_our_output(tmp_path, episodes):
    write(tmp_path / "ds", episodes)
    dataset = load(tmp_path / "ds")
    kept = delete_episodes(dataset, [1], output_dir=tmp_path / "deleted", repo_id="local/deleted")
    assert kept.num_episodes == 2 and len(kept) == episodes[0].length + episodes[2].length
    splits = split_dataset(dataset, {"train": [0, 1], "val": [2]}, output_dir=tmp_path / "splits")
    assert splits["val"].num_episodes == 1 and len(splits["val"]) == episodes[2].length


def test_av1_output_loads_in_lerobot(tmp_path, episodes):
    write(tmp_path / "ds", episodes[:2], video=VideoCodec(codec="av1"))
    dataset = load(tmp_path / "ds")
    assert dataset.meta.features["observation.images.agentview"]["info"]["video.codec"] == "av1"
    last = episodes[0].length + 5
    decoded = (dataset[last]["observation.images.agentview"].numpy().transpose(1, 2, 0) * 255).round()
    assert psnr(decoded, episodes[1].frames["agentview"][5]) >= 30


def test_files_rotate_at_the_size_limits(tmp_path, make_episode):
    rng = np.random.default_rng(0)
    episodes = []
    for i in range(6):
        episode = make_episode(index=i, length=20, size=256)
        episode.frames = {c: rng.integers(0, 256, (20, 256, 256, 3), dtype=np.uint8) for c in PANDA.cameras}  # ~0.7 MB
        episode.extras = {"wide": rng.normal(size=(20, 4000)).astype(np.float32)}  # ~320 KB of parquet per episode
        episodes.append(episode)
    write(tmp_path / "ds", episodes, data_file_size_mb=1, video_file_size_mb=1)
    data_files = sorted((tmp_path / "ds" / "data").glob("*/*.parquet"))
    video_files = sorted((tmp_path / "ds" / "videos" / layout.camera_key("agentview")).glob("*/*.mp4"))
    assert len(data_files) >= 2 and len(video_files) >= 2
    # the limit is checked before each episode against an estimate, so a file overshoots by at most ~one episode
    assert all(f.stat().st_size < 1.5 * 1024 * 1024 for f in data_files)
    assert all(f.stat().st_size < 2 * 1024 * 1024 for f in video_files)
    dataset = load(tmp_path / "ds")
    assert len(dataset) == 120
    np.testing.assert_array_equal(dataset[119]["wide"].numpy(), episodes[-1].extras["wide"][-1])


def test_episode_metadata_rotates_at_the_data_file_size_and_every_episode_still_loads(tmp_path, make_episode):
    """meta/episodes grows with the episode count; like lerobot's it rotates at the data file size."""
    episodes = [make_episode(index=i, length=6, size=16) for i in range(12)]
    write(tmp_path / "ds", episodes, data_file_size_mb=0.01)  # ~10 KB: a few episodes' metadata per file
    meta_files = sorted((tmp_path / "ds" / "meta" / "episodes").glob("*/*.parquet"))
    assert len(meta_files) >= 3
    rows = [row for path in meta_files for row in pq.read_table(path).to_pylist()]
    assert [r["episode_index"] for r in rows] == list(range(12))
    assert len({(r["meta/episodes/chunk_index"], r["meta/episodes/file_index"]) for r in rows}) == len(meta_files)
    dataset = load(tmp_path / "ds")
    assert dataset.meta.total_episodes == 12 and len(dataset) == 72
    assert int(dataset[71]["episode_index"]) == 11
    assert [e.episode_id for e in LeRobotSource(tmp_path / "ds")] == [e.episode_id for e in episodes]


def test_bad_episode_is_rejected_with_its_reason_and_the_good_ones_still_land(tmp_path, make_episode):
    bad = make_episode(index=1)
    bad.action[4, 0] = np.nan
    report = write(tmp_path / "ds", [make_episode(index=0), bad, make_episode(index=2)], continue_on_invalid=True)
    assert report.episodes == 2
    assert [(r.episode_id, r.field) for r in report.rejected] == [("synthetic/0001", "action")]
    assert "non-finite" in report.rejected[0].reason
    recorded = json.loads((tmp_path / "ds" / layout.PYRAMID_META_PATH).read_text())["rejected"]
    assert recorded[0]["episode_id"] == "synthetic/0001"
    assert load(tmp_path / "ds").num_episodes == 2


def test_strict_writer_raises_on_the_first_bad_episode(tmp_path, make_episode):
    bad = make_episode(index=3)
    bad.state = bad.state[:, :3].copy()
    with pytest.raises(EpisodeError, match="synthetic/0003.*'state'"):
        write(tmp_path / "ds", [make_episode(index=0), bad])


def test_episode_whose_frame_size_differs_from_the_dataset_is_rejected(tmp_path, make_episode):
    report = write(tmp_path / "ds", [make_episode(index=0), make_episode(index=1, size=32)], continue_on_invalid=True)
    assert report.episodes == 1 and report.rejected[0].field == "frames[agentview]"


def test_an_odd_sized_camera_loses_its_last_row_and_column_for_yuv420p(tmp_path, make_episode):
    episodes = [make_episode(index=i, size=63) for i in range(2)]
    report = write(tmp_path / "ds", episodes, continue_on_invalid=True)
    assert (report.episodes, report.rejected) == (2, [])
    source = LeRobotSource(tmp_path / "ds")
    read = source.read_episode(1)
    assert read.frames["agentview"].shape[1:] == (62, 62, 3)
    assert read.notes["cropped_to_even"] == {"agentview": "63x63 -> 62x62", "robot0_eye_in_hand": "63x63 -> 62x62"}
    assert psnr(read.frames["agentview"], episodes[1].frames["agentview"][:, :62, :62]) >= 30


def test_writer_refuses_a_non_empty_folder_and_a_dataset_with_no_valid_episode(tmp_path, make_episode):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        LeRobotWriter(tmp_path / "busy", PANDA, 20)
    empty = make_episode(index=0)
    empty.instruction = ""
    with pytest.raises(ValueError, match="no valid episode.*instruction"):
        write(tmp_path / "none", [empty], continue_on_invalid=True)
