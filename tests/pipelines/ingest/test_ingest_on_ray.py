"""Every source format fans out on a real local Ray: RLDS records and video files are read, curated and
encoded on workers; quarantine and near-duplicate dropping give the same result as in-process."""

import json

import numpy as np
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from pipelines.lerobot.reader import LeRobotSource
from pipelines.runtime.parallel import RayConfig
from tests.conftest import RAY_WORKERS

RAY = RayConfig(workers=RAY_WORKERS)
pytestmark = [pytest.mark.usefixtures("local_ray"), pytest.mark.slow]  # `make test-fast` leaves it out


def test_rlds_records_decode_on_workers_and_a_bad_crc_is_quarantined(tmp_path, bridge_with_bad_crc):
    folder, shard = bridge_with_bad_crc
    source = SourceConfig(name="bridge", path=folder, format="rlds")
    on_ray = ingest_source(source, tmp_path / "ray", ray=RAY)
    here = ingest_source(source, tmp_path / "here")
    assert on_ray.episodes == here.episodes == 24 and on_ray.frames == 24 * 9
    (rejected,) = on_ray.rejected
    assert rejected == here.rejected[0] and rejected.episode_id == "bridge_dataset/train/00000/00000"
    assert str(shard) in rejected.field and "bad CRC" in rejected.reason
    for a, b in zip(LeRobotSource(tmp_path / "ray"), LeRobotSource(tmp_path / "here"), strict=True):
        assert a.instruction == b.instruction
        np.testing.assert_array_equal(a.action, b.action)
    pyramid = json.loads((tmp_path / "ray/meta/pyramid.json").read_text())
    assert pyramid["rejected"][0]["episode_id"] == rejected.episode_id
    assert len(LeRobotDataset("local/bridge", root=tmp_path / "ray")) == 24 * 9


def test_video_files_curate_on_workers_and_duplicates_drop_where_clips_meet(video_folder, tmp_path):
    source = SourceConfig(name="people", path=video_folder, format="video_folder")
    on_ray = ingest_source(source, tmp_path / "ray", ray=RAY)
    here = ingest_source(source, tmp_path / "here")
    assert (on_ray.episodes, on_ray.frames) == (here.episodes, here.frames) and on_ray.episodes == 3
    assert {(r.episode_id, r.field) for r in on_ray.rejected} == {(r.episode_id, r.field) for r in here.rejected}
    reasons = {r.episode_id: r.reason for r in on_ray.rejected}
    assert reasons["pour_water_again/clip_000"] == "near-duplicate of pour_water/clip_000"
    assert reasons["broken/*"].startswith("unreadable video")
    kept = [episode.episode_id for episode in LeRobotSource(tmp_path / "ray")]
    assert kept == ["pour_water/clip_000", "stack_cups/clip_000", "wipe-table/clip_000"]
