"""The v2.x/v3.0 reader on the real GR00T demo data, on lerobot-written data and on broken datasets."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from pipelines.lerobot import layout
from pipelines.lerobot.convert import convert_lerobot
from pipelines.lerobot.reader import DatasetReadError, EpisodeReadError, LeRobotSource
from pipelines.lerobot.video import decode_segment
from schemas.embodiment import get_embodiment
from tests.conftest import GR00T_DEMO, psnr

GR00T_LENGTHS = [416, 470, 470, 412, 328]


@pytest.fixture(scope="module")
def gr00t() -> LeRobotSource:
    return LeRobotSource(GR00T_DEMO)


def test_gr00t_demo_reads_as_gr1_with_its_quirks_recorded(gr00t):
    assert (gr00t.version, gr00t.fps, gr00t.embodiment.name) == ("v2.0", 20, "gr1_arms_only")
    assert gr00t.notes == {"dropped_video_features": ["observation.images.egoview"]}  # declared, no files
    episode = gr00t.read_episode(0)
    assert episode.length == 416 and episode.frames["ego_view"].shape == (416, 256, 256, 3)
    assert episode.instruction == "pick the pear from the counter and place it in the plate"
    assert episode.notes["retimed"]["offset_s"] == pytest.approx(0.05, abs=1e-6)
    assert episode.notes["cast"]["action"] == "float64->float32"
    assert episode.notes["annotations"] == {"human.validity": ["valid"]}
    assert episode.timestamps[1] == np.float32(0.05) and episode.state.dtype == np.float32
    source = pq.read_table(GR00T_DEMO / "data/chunk-000/episode_000000.parquet").to_pandas()
    np.testing.assert_array_equal(episode.action, np.stack(source["action"]).astype(np.float32))


def test_every_gr00t_episode_reads(gr00t):
    assert [e.length for e in gr00t] == GR00T_LENGTHS


def test_gr00t_demo_round_trips_reader_writer_lerobot(tmp_path, gr00t):
    report = convert_lerobot(GR00T_DEMO, tmp_path / "gr00t_v3")
    assert (report.episodes, report.frames, report.rejected) == (5, sum(GR00T_LENGTHS), [])
    dataset = LeRobotDataset("local/gr00t_v3", root=tmp_path / "gr00t_v3")
    source_video = GR00T_DEMO / "videos/chunk-000/observation.images.ego_view/episode_000002.mp4"
    source_frames = decode_segment(source_video, 0.0, None)
    source_rows = pq.read_table(GR00T_DEMO / "data/chunk-000/episode_000002.parquet").to_pandas()
    start = sum(GR00T_LENGTHS[:2])
    for t in (0, 1, 233, 469):
        item = dataset[start + t]
        assert item["task"] == "pick the meat from the counter and place it in the plate"
        np.testing.assert_array_equal(
            item["observation.state"].numpy(), np.float32(source_rows["observation.state"][t])
        )
        decoded = (item["observation.images.ego_view"].numpy().transpose(1, 2, 0) * 255).round()
        assert psnr(decoded, source_frames[t]) >= 30  # real camera frames, re-encoded once
    notes = json.loads((tmp_path / "gr00t_v3" / layout.PYRAMID_META_PATH).read_text())["episodes"][0]["notes"]
    assert "retimed" in notes and "cast" in notes  # what the reader did travels with the data


def test_dataset_written_by_lerobot_itself_reads_with_an_explicit_embodiment(tmp_path, make_episode):
    panda = get_embodiment("robosuite_panda")
    features = {
        "observation.state": {"dtype": "float32", "shape": (16,), "names": None},
        "action": {"dtype": "float32", "shape": (7,), "names": None},
        **{
            layout.camera_key(c): {"dtype": "video", "shape": (64, 64, 3), "names": ["height", "width", "channels"]}
            for c in panda.cameras
        },
    }
    dataset = LeRobotDataset.create("local/ref", fps=20, root=tmp_path / "ref", features=features, robot_type="Panda")
    episode = make_episode(length=10)
    for t in range(10):
        frame = {"observation.state": episode.state[t], "action": episode.action[t], "task": episode.instruction}
        frame.update({layout.camera_key(c): episode.frames[c][t] for c in panda.cameras})
        dataset.add_frame(frame)
    dataset.save_episode()
    dataset.finalize()
    with pytest.raises(DatasetReadError, match="pass --embodiment NAME, or --embodiment auto"):
        LeRobotSource(tmp_path / "ref")
    read = LeRobotSource(tmp_path / "ref", panda).read_episode(0)
    np.testing.assert_array_equal(read.action, episode.action)
    assert psnr(read.frames["agentview"], episode.frames["agentview"]) >= 30


@pytest.fixture
def broken_copy(tmp_path):
    """A writable copy of the GR00T demo to break."""
    copy = tmp_path / "gr00t"
    shutil.copytree(GR00T_DEMO, copy)
    return copy


@pytest.mark.parametrize("missing", ["meta/info.json", "meta/episodes.jsonl", "meta/tasks.jsonl"])
def test_missing_metadata_file_is_refused_naming_the_file(broken_copy, missing):
    (broken_copy / missing).unlink()
    with pytest.raises(DatasetReadError, match=f"{broken_copy / missing}: missing"):
        LeRobotSource(broken_copy)


def test_missing_parquet_quarantines_only_that_episode(broken_copy, tmp_path):
    (broken_copy / "data/chunk-000/episode_000001.parquet").unlink()
    with pytest.raises(EpisodeReadError, match=r"episode_000001.parquet: episode 'gr00t/000001': data file is missing"):
        LeRobotSource(broken_copy).read_episode(1)
    report = convert_lerobot(broken_copy, tmp_path / "out")
    assert report.episodes == 4 and [r.episode_id for r in report.rejected] == ["gr00t/000001"]


def test_corrupt_mp4_quarantines_only_that_episode(broken_copy, tmp_path):
    video = broken_copy / "videos/chunk-000/observation.images.ego_view/episode_000003.mp4"
    video.write_bytes(video.read_bytes()[:2000])  # truncated mid-stream
    report = convert_lerobot(broken_copy, tmp_path / "out")
    assert report.episodes == 4
    (rejected,) = report.rejected
    assert rejected.episode_id == "gr00t/000003" and "episode_000003.mp4" in rejected.reason


def test_nan_actions_and_wrong_dims_are_quarantined_with_the_field_named(broken_copy, tmp_path):
    path = broken_copy / "data/chunk-000/episode_000004.parquet"
    table = pq.read_table(path).to_pandas()
    table.at[10, "action"] = np.full(44, np.nan)
    table.to_parquet(path)
    path = broken_copy / "data/chunk-000/episode_000000.parquet"
    table = pq.read_table(path).to_pandas()
    table["observation.state"] = [v[:40] for v in table["observation.state"]]
    table.to_parquet(path)
    report = convert_lerobot(broken_copy, tmp_path / "out")
    reasons = {r.episode_id: r.reason for r in report.rejected}
    assert report.episodes == 3
    assert "field 'action'" in reasons["gr00t/000004"] and "non-finite" in reasons["gr00t/000004"]
    assert "'observation.state' has 40 values per frame" in reasons["gr00t/000000"]


def test_non_uniform_timestamps_are_refused_not_silently_retimed(broken_copy):
    path = broken_copy / "data/chunk-000/episode_000002.parquet"
    table = pq.read_table(path).to_pandas()
    table.loc[100:, "timestamp"] += 0.5  # a half-second gap
    table.to_parquet(path)
    with pytest.raises(EpisodeReadError, match="not uniform at 20 fps .frame 100"):
        LeRobotSource(broken_copy).read_episode(2)


def test_row_count_disagreeing_with_metadata_is_refused(broken_copy):
    path = broken_copy / "data/chunk-000/episode_000002.parquet"
    pq.write_table(pq.read_table(path).slice(0, 100), path)
    with pytest.raises(EpisodeReadError, match="100 rows, episode metadata says 470"):
        LeRobotSource(broken_copy).read_episode(2)


def test_image_cameras_stored_as_files_beside_a_v2_dataset_read_as_frames(make_episode, tmp_path):
    """lerobot v2.x keeps an ``image`` camera's frames as PNG files; the parquet row names the file."""
    import io

    import pyarrow as pa
    from PIL import Image

    from pipelines.lerobot.groot_export import export_groot
    from pipelines.lerobot.writer import write_dataset

    episodes = [make_episode(i, length=6, size=32) for i in range(2)]
    write_dataset(tmp_path / "v3", get_embodiment("robosuite_panda"), 20, episodes)
    root = export_groot(tmp_path / "v3", tmp_path / "v2")
    key = layout.camera_key("robot0_eye_in_hand")
    info = json.loads((root / layout.INFO_PATH).read_text())
    info["features"][key] = {"dtype": "image", "shape": [32, 32, 3], "names": ["height", "width", "channels"]}
    (root / layout.INFO_PATH).write_text(json.dumps(info))
    shutil.rmtree(root / "videos" / "chunk-000" / key)
    for index, episode in enumerate(episodes):
        data = root / layout.V2_DATA_PATH.format(episode_chunk=0, episode_index=index)
        paths = []
        for t, frame in enumerate(episode.frames["robot0_eye_in_hand"]):
            relative = f"images/{key}/episode_{index:06d}/frame_{t:06d}.png"
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            Image.fromarray(frame).save(buffer, format="PNG")
            (root / relative).write_bytes(buffer.getvalue())
            paths.append({"bytes": None, "path": relative})
        table = pq.read_table(data)
        pq.write_table(
            table.append_column(key, pa.array(paths, pa.struct([("bytes", pa.binary()), ("path", pa.string())]))), data
        )
    source = LeRobotSource(root)
    assert source.image_keys == [key] and source.cameras[key] == "robot0_eye_in_hand"
    np.testing.assert_array_equal(
        source.read_episode(1).frames["robot0_eye_in_hand"], episodes[1].frames["robot0_eye_in_hand"]
    )

    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not an image")
    table = pq.read_table(root / layout.V2_DATA_PATH.format(episode_chunk=0, episode_index=0))
    column = pa.array([{"bytes": None, "path": "../../outside.png"}] * 6, table.schema.field(key).type)
    pq.write_table(
        table.set_column(table.schema.get_field_index(key), key, column),
        root / layout.V2_DATA_PATH.format(episode_chunk=0, episode_index=0),
    )
    with pytest.raises(EpisodeReadError, match="escapes"):  # a path in a dataset never leaves it
        LeRobotSource(root).read_episode(0)


def audio_only_mp4(path) -> None:
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def test_a_ragged_row_an_empty_episode_and_a_video_without_frames_each_cost_one_episode(broken_copy, tmp_path):
    import pyarrow as pa

    ragged = broken_copy / "data/chunk-000/episode_000001.parquet"
    table = pq.read_table(ragged)
    rows = table.column("action").to_pylist()
    rows[7] = rows[7][:-1]  # one action row of 43 values
    pq.write_table(table.set_column(table.schema.get_field_index("action"), "action", pa.array(rows)), ragged)
    empty = broken_copy / "data/chunk-000/episode_000003.parquet"
    pq.write_table(pq.read_table(empty).slice(0, 0), empty)
    episodes = [json.loads(line) for line in (broken_copy / "meta/episodes.jsonl").read_text().splitlines()]
    episodes[3]["length"] = 0
    (broken_copy / "meta/episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    audio_only_mp4(broken_copy / "videos/chunk-000/observation.images.ego_view/episode_000002.mp4")

    report = convert_lerobot(broken_copy, tmp_path / "out")
    reasons = {r.episode_id: (r.field, r.reason) for r in report.rejected}
    assert report.episodes == 2 and set(reasons) == {"gr00t/000001", "gr00t/000002", "gr00t/000003"}
    assert "episode_000001.parquet" in reasons["gr00t/000001"][0] and "different lengths" in reasons["gr00t/000001"][1]
    assert "episode_000002.mp4" in reasons["gr00t/000002"][0] and "no video stream" in reasons["gr00t/000002"][1]
    assert "episode_000003.parquet" in reasons["gr00t/000003"][0] and "empty" in reasons["gr00t/000003"][1]


@pytest.mark.parametrize("template", ["data_path", "video_path"])
def test_a_path_template_leading_out_of_the_dataset_is_refused(broken_copy, template):
    info = json.loads((broken_copy / "meta/info.json").read_text())
    info[template] = "../../../outside/" + info[template]
    (broken_copy / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises((DatasetReadError, EpisodeReadError), match="escapes"):
        dataset = LeRobotSource(broken_copy)
        dataset.read_episode(0)
