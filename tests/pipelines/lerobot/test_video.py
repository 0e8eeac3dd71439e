"""Seeking in the mp4 files pyramid writes, refusing one no decoder reads, and encoding that leaves the caller's
CPU scheduling as it was."""

import io
import os
from pathlib import Path

import av
import numpy as np
import pytest

from pipelines.lerobot.video import VideoCodec, VideoDecodeError, decode_segment, encode_mp4, seek_before, write_mp4

FPS = 20


def test_a_keyframes_own_time_seeks_to_that_keyframe_not_the_one_before(tmp_path: Path):
    """``k / fps`` in floats can fall a tick short of frame k's time (0.15 s is 1535.99 ticks of 1/10240 s); a floored
    seek then lands a whole keyframe interval early and decodes frames it throws away."""
    path = tmp_path / "clip.mp4"
    write_mp4(path, np.random.default_rng(0).integers(0, 255, (60, 32, 32, 3), np.uint8), FPS, VideoCodec(gop=2))
    short_by_float = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index in range(0, 60, 2):  # the keyframes
            seconds = index / FPS
            short_by_float.append(int(seconds / stream.time_base) < round(seconds / stream.time_base))
            seek_before(container, stream, seconds)
            first = next(container.decode(stream))
            assert round(float(first.pts * stream.time_base) * FPS) == index, f"frame {index}"
    assert any(short_by_float)  # the case that a floored seek gets wrong is among those checked


def test_encoding_av1_leaves_the_threads_scheduling_as_it_was():
    """SVT-AV1 makes the thread that opens it SCHED_FIFO 99 where it may (as root): that thread, and every process
    it started later, took whole cores (CI hung 48 minutes behind a real-time Chromium started by a test worker)."""
    before = os.sched_getscheduler(0), os.sched_getparam(0)
    mp4 = encode_mp4(np.zeros((4, 64, 64, 3), np.uint8), 10, VideoCodec(codec="av1"))  # SVT-AV1: 64 px at least
    with av.open(io.BytesIO(mp4)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 4
    assert (os.sched_getscheduler(0), os.sched_getparam(0)) == before


def test_a_codec_tag_no_decoder_knows_is_refused_not_a_crash(tmp_path: Path):
    """A flipped bit in the sample description ('avc1' to 'atc1') opens as a video stream without a decoder; asking
    PyAV to decode it was a segmentation fault that took the whole test worker (and an ingest) down."""
    path = tmp_path / "clip.mp4"
    write_mp4(path, np.zeros((4, 16, 16, 3), np.uint8), FPS, VideoCodec())
    raw = bytearray(path.read_bytes())
    sample_entry = raw.rindex(b"avc1")  # the first is a compatible brand in 'ftyp'
    raw[sample_entry + 1] = ord("t")
    path.write_bytes(raw)
    with pytest.raises(VideoDecodeError, match=f"{path}: no installed decoder reads its video codec"):
        decode_segment(path, 0.0, None)
