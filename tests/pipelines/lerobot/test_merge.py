"""Lossless merging of pyramid datasets: rows, video packets, stats, lineage and quarantine records carry over."""

import json

import numpy as np
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from pipelines.lerobot.merge import merge_datasets
from pipelines.lerobot.reader import LeRobotSource
from pipelines.lerobot.writer import write_dataset
from schemas.embodiment import get_embodiment
from schemas.episode import RejectedEpisode

PANDA = get_embodiment("robosuite_panda")


@pytest.fixture
def two_datasets(tmp_path, make_episode):
    first = write_dataset(tmp_path / "lift", PANDA, 20, [make_episode(0, 20), make_episode(1, 31)])
    rejected = RejectedEpisode("stack/0009", "action", "NaN at frame 3")
    second = write_dataset(tmp_path / "stack", PANDA, 20, [make_episode(2, 17), rejected, make_episode(3, 25)])
    return first.root, second.root


def test_merged_dataset_holds_every_episode_bit_for_bit(tmp_path, two_datasets):
    report = merge_datasets(two_datasets, tmp_path / "merged")
    assert (report.episodes, report.frames) == (4, 20 + 31 + 17 + 25)
    assert [(r.episode_id, r.reason) for r in report.rejected] == [("stack/0009", "NaN at frame 3")]
    inputs = [episode for root in two_datasets for episode in LeRobotSource(root)]
    merged = list(LeRobotSource(tmp_path / "merged"))
    for before, after in zip(inputs, merged, strict=True):
        assert after.episode_id == before.episode_id and after.instruction == before.instruction
        np.testing.assert_array_equal(after.action, before.action)
        for camera in PANDA.cameras:  # packets copied, not re-encoded: decoded frames are identical
            np.testing.assert_array_equal(after.frames[camera], before.frames[camera])
    assert [e.notes["dataset"] for e in merged] == ["lift", "lift", "stack", "stack"]
    dataset = LeRobotDataset("local/merged", root=tmp_path / "merged")
    assert dataset.num_episodes == 4 and len(dataset) == report.frames
    stats = json.loads((tmp_path / "merged/meta/stats.json").read_text())
    camera_key = f"observation.images.{PANDA.cameras[0]}"
    assert stats[camera_key]["count"] == [report.frames]


def test_an_added_input_leaves_every_file_of_the_inputs_before_it_byte_identical(tmp_path, two_datasets, make_episode):
    """Each input starts new files, so a release that adds a source re-uploads only that source's files."""
    merge_datasets(two_datasets, tmp_path / "before")
    added = write_dataset(tmp_path / "zz_new", PANDA, 20, [make_episode(4, 22)]).root
    merge_datasets([*two_datasets, added], tmp_path / "after")

    def media(root):
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.suffix in (".parquet", ".mp4")
        }

    before, after = media(tmp_path / "before"), media(tmp_path / "after")
    data_and_video = {name for name in before if name.startswith(("data/", "videos/"))}
    assert len(data_and_video) == 2 * (1 + len(PANDA.cameras))  # one data file and one video per camera per input
    assert all(after[name] == before[name] for name in data_and_video)
    assert len({name for name in after if name.startswith(("data/", "videos/"))} - data_and_video) == 1 + len(
        PANDA.cameras
    )
    dataset = LeRobotDataset("local/after", root=tmp_path / "after")
    last = dataset[len(dataset) - 1]  # read from the added input's own files
    assert int(last["episode_index"]) == 4 and last[f"observation.images.{PANDA.cameras[0]}"].shape[0] == 3


def test_datasets_of_different_embodiments_do_not_merge(tmp_path, make_episode, two_datasets):
    other = write_dataset(tmp_path / "bridge", get_embodiment("widowx"), 5, [make_episode(0, 10, "widowx")])
    with pytest.raises(ValueError, match="widowx at 5 fps cannot merge"):
        merge_datasets([two_datasets[0], other.root], tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_extras_that_not_every_input_shares_are_dropped_and_listed(tmp_path, make_episode):
    def with_extras(index: int, **columns) -> object:
        episode = make_episode(index, 12)
        episode.extras = {name: np.full((12, size), index, dtype=np.float32) for name, size in columns.items()}
        return episode

    lift = write_dataset(tmp_path / "lift", PANDA, 20, [with_extras(0, eef_pose=16, cube_pose=16, sim_state=32)])
    stack = write_dataset(tmp_path / "stack", PANDA, 20, [with_extras(1, eef_pose=16, cube_a_pose=16, sim_state=45)])
    report = merge_datasets([lift.root, stack.root], tmp_path / "merged")
    assert (report.episodes, report.rejected) == (2, [])
    assert [set(e.extras) for e in LeRobotSource(tmp_path / "merged")] == [{"eef_pose"}, {"eef_pose"}]
    provenance = json.loads((tmp_path / "merged/meta/pyramid.json").read_text())["provenance"]
    assert provenance["dropped_extras"] == {"lift": ["cube_pose", "sim_state"], "stack": ["cube_a_pose", "sim_state"]}
