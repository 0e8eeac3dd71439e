"""Seeking in the mp4 files pyramid writes."""

from pathlib import Path

import av
import numpy as np

from pipelines.lerobot.video import VideoCodec, seek_before, write_mp4

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
