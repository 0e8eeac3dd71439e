"""GR00T v2.1 export: re-reads identically with our v2 reader; stats.json holds exact statistics."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines.lerobot import layout
from pipelines.lerobot.groot_export import export_groot
from pipelines.lerobot.reader import LeRobotSource
from pipelines.lerobot.writer import LeRobotWriter
from pipelines.runtime.atomic import DestinationError
from schemas.embodiment import get_embodiment


@pytest.fixture
def written(tmp_path, make_episode):
    episodes = [make_episode(index=i, length=15 + i) for i in range(3)]
    for episode in episodes:
        episode.extras = {"next.reward": np.arange(episode.length, dtype=np.float32)}
    LeRobotWriter(tmp_path / "v3", get_embodiment("robosuite_panda"), 20).write_all(episodes)
    return tmp_path / "v3", episodes


def test_export_re_reads_identically_with_the_v2_reader(tmp_path, written):
    source, _ = written
    export_groot(source, tmp_path / "groot")
    exported = LeRobotSource(tmp_path / "groot")
    assert exported.version == "v2.1"
    for original, copy in zip(LeRobotSource(source), exported, strict=True):
        assert (copy.episode_id, copy.instruction, copy.embodiment) == (
            original.episode_id,
            original.instruction,
            original.embodiment,
        )
        np.testing.assert_array_equal(copy.state, original.state)
        np.testing.assert_array_equal(copy.action, original.action)
        np.testing.assert_array_equal(copy.extras["next.reward"], original.extras["next.reward"])
        for camera in original.frames:  # packets were copied, not re-encoded: bit-identical pixels
            np.testing.assert_array_equal(copy.frames[camera], original.frames[camera])


def test_export_has_the_gr00t_layout_and_exact_stats(tmp_path, written):
    source, episodes = written
    root = export_groot(source, tmp_path / "groot")
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v2.1" and info["data_path"] == layout.V2_DATA_PATH
    assert info["features"]["observation.images.agentview"]["names"] == ["height", "width", "channel"]
    assert (root / "videos/chunk-000/observation.images.agentview/episode_000002.mp4").is_file()
    modality = json.loads((root / "meta/modality.json").read_text())
    assert modality == get_embodiment("robosuite_panda").to_modality()
    rows = [json.loads(line) for line in (root / "meta/episodes.jsonl").read_text().splitlines()]
    assert [r["length"] for r in rows] == [15, 16, 17] and rows[0]["tasks"] == [episodes[0].instruction]
    table = pq.read_table(root / "data/chunk-000/episode_000001.parquet")
    assert table.column(layout.TASK_ANNOTATION_KEY).to_pylist() == table.column("task_index").to_pylist()
    stats = json.loads((root / "meta/stats.json").read_text())
    actions = np.concatenate([e.action for e in episodes]).astype(np.float64)
    assert set(stats["action"]) == {"mean", "std", "min", "max", "q01", "q99"}
    np.testing.assert_allclose(stats["action"]["q01"], np.quantile(actions, 0.01, axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["action"]["q99"], np.quantile(actions, 0.99, axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["action"]["std"], actions.std(axis=0), rtol=1e-12)


def test_export_replaces_its_own_output_and_refuses_anyone_elses_and_v2_input(tmp_path, written):
    source, _ = written
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("someone's")
    with pytest.raises(DestinationError, match="pyramid did not write it"):
        export_groot(source, tmp_path / "taken")
    assert (tmp_path / "taken" / "notes.txt").read_text() == "someone's"
    with pytest.raises(DestinationError, match="overlaps"):
        export_groot(source, source / "groot")
    first = export_groot(source, tmp_path / "groot")
    assert export_groot(source, tmp_path / "groot") == first  # an earlier export is replaced
    with pytest.raises(ValueError, match="reads v3.0 datasets"):
        export_groot(tmp_path / "groot", tmp_path / "again")
