"""Fixtures shared by the ingest tests."""

import json
import shutil

import numpy as np
import pytest

from pipelines.lerobot.video import VideoCodec, write_mp4
from tests.conftest import BRIDGE_SHARD, scene_frames


@pytest.fixture
def video_folder(tmp_path):
    folder = tmp_path / "videos"
    moving = scene_frames(60, 64, 64, seed=1)  # 2 s at 30 fps
    pour = np.concatenate([np.repeat(moving[:1], 30, axis=0), moving])  # with a 1 s static lead-in
    write_mp4(folder / "pour_water.mp4", pour, 30)
    (folder / "pour_water.txt").write_text("pour water into the glass\n")
    write_mp4(folder / "wipe-table.mov", scene_frames(45, 64, 64, seed=7), 30)
    (folder / "wipe-table.json").write_text(json.dumps({"instruction": "wipe the table"}))
    write_mp4(folder / "stack_cups.webm", scene_frames(45, 64, 64, seed=4), 30, VideoCodec(codec="av1"))  # no sidecar
    write_mp4(folder / "pour_water_again.mp4", pour, 30, VideoCodec(codec="av1"))  # a re-upload, re-encoded
    write_mp4(folder / "night.mp4", (scene_frames(45, 64, 64, seed=2) * 0.05).astype(np.uint8), 30)
    write_mp4(folder / "still.mp4", np.repeat(scene_frames(1, 64, 64, seed=3), 45, axis=0), 30)
    write_mp4(folder / "blink.mp4", scene_frames(5, 64, 64, seed=5), 30)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    return folder


@pytest.fixture
def bridge_copy(tmp_path):
    """A writable copy of the real Bridge builder folder: (folder, its one shard)."""
    folder = tmp_path / "bridge_dataset" / "1.0.0"
    shutil.copytree(BRIDGE_SHARD, folder)
    return folder, next(folder.glob("*.tfrecord-*"))


@pytest.fixture
def bridge_with_bad_crc(bridge_copy):
    """The Bridge copy with one byte flipped inside record 0's data: that record's CRC no longer matches."""
    folder, shard = bridge_copy
    raw = bytearray(shard.read_bytes())
    raw[5000] ^= 0xFF
    shard.write_bytes(bytes(raw))
    return folder, shard
