"""MP4 video for LeRobot datasets with PyAV: streaming encode, segment decode, lossless segment remux.

LeRobot v3 stores many episodes back to back in one mp4 per camera; a frame is found at
``from_timestamp + timestamp``. The encoder here streams frames straight from memory into that file
(no PNG staging) on a background thread per camera, forcing a keyframe at each episode start so every
episode can be decoded, or cut out losslessly, on its own.
"""

from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from pipelines.lerobot.layout import TIMESTAMP_TOLERANCE_S, VIDEO_PATH, next_chunk_file

av.logging.set_level(av.logging.ERROR)  # libav's per-stream info lines drown useful logs

__all__ = [
    "CameraEncoder",
    "VideoCodec",
    "VideoDecodeError",
    "VideoSegment",
    "decode_segment",
    "encode_mp4",
    "packet_times",
    "remux_segment",
    "scheduling_kept",
    "segment_mp4",
    "video_info",
    "video_stream",
    "write_mp4",
]


class VideoDecodeError(RuntimeError):
    """A video file could not be decoded as expected; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoCodec:
    """Encoder settings. h264 decodes fastest for random access; AV1 (SVT-AV1) is smaller and slower.

    Attributes:
        codec: ``"h264"`` (libx264) or ``"av1"`` (libsvtav1, lerobot's default).
        crf: constant rate factor (quality; lower is better). None picks 20 for h264, 30 for AV1.
        gop: keyframe interval in frames; small values make random access cheap (lerobot uses 2).
        preset: encoder speed preset. None picks "veryfast" for h264, 12 for AV1 (as lerobot).
    """

    codec: Literal["h264", "av1"] = "h264"
    crf: int | None = None
    gop: int = 2
    preset: str | None = None
    pix_fmt: str = "yuv420p"

    @property
    def encoder(self) -> str:
        return {"h264": "libx264", "av1": "libsvtav1"}[self.codec]

    def options(self) -> dict[str, str]:
        if self.codec == "h264":
            # No B-frames: pts == dts, so segments cut cleanly; forced I-frames become IDR keyframes.
            return {
                "crf": str(self.crf if self.crf is not None else 20),
                "g": str(self.gop),
                "preset": self.preset or "veryfast",
                "bf": "0",
                "forced-idr": "1",
                "threads": "1",
            }
        return {
            "crf": str(self.crf if self.crf is not None else 30),
            "g": str(self.gop),
            "preset": self.preset or "12",
        }

    def info(self) -> dict[str, object]:
        """The encoder fields lerobot records in info.json (``video.g``, ``video.crf``, ...)."""
        options = self.options()
        return {"video.g": self.gop, "video.crf": int(options["crf"]), "video.preset": options["preset"]}


@dataclass(frozen=True)
class VideoSegment:
    """Where one episode of one camera lives: its file and its time span inside that file."""

    chunk_index: int
    file_index: int
    from_timestamp: float
    to_timestamp: float


_NEW_FILE = object()  # queued by CameraEncoder.start_new_file


class CameraEncoder(threading.Thread):
    """Encodes one camera's episodes into rotating mp4 files on a background thread.

    ``submit()`` queues an episode's frames, or an episode already encoded elsewhere (a Ray worker) as
    standalone mp4 bytes, whose packets are appended without re-encoding; a file holds one kind only.
    The queue is bounded: the producer waits rather than piling up memory. ``close()`` flushes and
    returns one ``VideoSegment`` per submitted episode, in order. A file rotates, as lerobot's writer
    does, when its size plus the episode's estimated size would reach ``file_size_mb``.
    """

    def __init__(self, root: Path, video_key: str, fps: int, codec: VideoCodec, file_size_mb: float):
        super().__init__(name=f"encode-{video_key}", daemon=True)
        self.root, self.video_key, self.fps, self.codec = root, video_key, fps, codec
        self.file_size_bytes = int(file_size_mb * 1024 * 1024)
        self.segments: list[VideoSegment] = []
        self.paths: list[Path] = []
        self._queue: queue.Queue[np.ndarray | bytes | object | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._extradata: bytes | None = None  # codec parameters of a file that takes encoded episodes
        self._chunk, self._file, self._frames_in_file = 0, -1, 0
        self.start()

    def submit(self, frames: np.ndarray | bytes) -> None:
        self._raise_if_failed()
        self._queue.put(frames)

    def start_new_file(self) -> None:
        """The next episode starts a new file (the current one is finished as it is)."""
        self._raise_if_failed()
        self._queue.put(_NEW_FILE)

    def close(self) -> list[VideoSegment]:
        self._queue.put(None)
        self.join()
        self._raise_if_failed()
        return self.segments

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError(f"video encoding of {self.video_key} failed: {self._error}") from self._error

    def run(self) -> None:
        while (frames := self._queue.get()) is not None:
            if self._error is None:  # after a failure keep draining so producers never block
                try:
                    if frames is _NEW_FILE:
                        self._close_file()
                    elif isinstance(frames, bytes):
                        self._append_encoded(frames)
                    else:
                        with scheduling_kept():
                            self._encode_episode(frames)
                except Exception as error:  # noqa: BLE001  (any failure is reported to the producer on its next call)
                    self._error = error
        try:
            self._close_file()
        except Exception as error:  # noqa: BLE001  (likewise)
            self._error = self._error or error

    def _path(self) -> Path:
        return self.root / VIDEO_PATH.format(video_key=self.video_key, chunk_index=self._chunk, file_index=self._file)

    def _would_overflow(self, num_frames: int) -> bool:
        if self._container is None or self._frames_in_file == 0:
            return False
        path = self._path()
        size = os.path.getsize(path) if path.exists() else 0  # encoders with lookahead may not have flushed yet
        return size + size / self._frames_in_file * num_frames >= self.file_size_bytes

    def _open_file(self, height: int, width: int, template: av.video.stream.VideoStream | None = None) -> None:
        """A new file whose stream encodes frames, or, given a ``template``, takes that stream's packets."""
        self._chunk, self._file = (0, 0) if self._file < 0 else next_chunk_file(self._chunk, self._file)
        path = self._path()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(path), mode="w")
        if template is None:
            stream = self._container.add_stream(self.codec.encoder, rate=self.fps, options=self.codec.options())
            stream.width, stream.height, stream.pix_fmt = width, height, self.codec.pix_fmt
        else:
            stream = self._container.add_stream_from_template(template)
        self._stream, self._frames_in_file = stream, 0
        self._extradata = template.codec_context.extradata if template is not None else None
        self.paths.append(path)

    def _close_file(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = self._stream = None

    def _encode_episode(self, frames: np.ndarray) -> None:
        if self._would_overflow(len(frames)):
            self._close_file()
        if self._container is None:
            self._open_file(frames.shape[1], frames.shape[2])
        start = self._frames_in_file
        time_base = Fraction(1, self.fps)
        for offset, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = start + offset, time_base
            if offset == 0:
                frame.pict_type = av.video.frame.PictureType.I  # every episode starts on a keyframe
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self._finish_episode(start, len(frames))

    def _append_encoded(self, mp4: bytes) -> None:
        """Append a standalone mp4's packets, shifted to follow the file's last frame (no re-encoding).

        Valid because every episode's mp4 starts on a keyframe, has no B-frames, and shares the file's
        codec parameters (checked: same extradata, i.e. the same SPS/PPS).
        """
        with av.open(io.BytesIO(mp4)) as source:
            stream = video_stream(source, "an episode's encoded video")
            packets = [packet for packet in source.demux(stream) if packet.pts is not None]
            if self._would_overflow(len(packets)):
                self._close_file()
            if self._container is None:
                self._open_file(stream.height, stream.width, template=stream)
            elif self._extradata is None or stream.codec_context.extradata != self._extradata:
                raise ValueError(
                    f"{self.video_key}: an episode's encoded video has other codec parameters than the file's "
                    "(episodes of one file must all be encoded here, or all elsewhere with the same settings)"
                )
            start = self._frames_in_file
            shift = round(start / self.fps / stream.time_base)
            for packet in packets:
                packet.pts += shift
                packet.dts = packet.dts + shift if packet.dts is not None else packet.pts
                packet.stream = self._stream
                self._container.mux(packet)
        self._finish_episode(start, len(packets))

    def _finish_episode(self, start: int, num_frames: int) -> None:
        self._frames_in_file += num_frames
        self.segments.append(VideoSegment(self._chunk, self._file, start / self.fps, self._frames_in_file / self.fps))


def video_stream(container: av.container.Container, where: object) -> av.video.stream.VideoStream:
    """The first video stream of ``container``; a file with none (audio only, a broken mp4), or whose codec no
    installed decoder reads (a damaged codec tag), is a ``VideoDecodeError`` naming ``where``. PyAV crashes the
    process when asked to decode a stream it opened without a decoder, so this check must come first."""
    if not container.streams.video:
        raise VideoDecodeError(f"{where}: has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise VideoDecodeError(
            f"{where}: no installed decoder reads its video codec (a damaged file, or a codec ffmpeg was built without)"
        )
    return stream


def video_info(path: Path) -> dict[str, object]:
    """The ``video.*`` description of an mp4 that lerobot keeps in ``info.json`` (as its ``get_video_info``)."""
    with av.open(str(path)) as container:
        stream = video_stream(container, path)
        return {
            "video.height": stream.height,
            "video.width": stream.width,
            "video.codec": stream.codec.canonical_name,
            "video.pix_fmt": stream.pix_fmt,
            "video.fps": int(stream.base_rate),
            "video.channels": len(av.VideoFormat(stream.pix_fmt).components),
            "has_audio": bool(container.streams.audio),
            "is_depth_map": False,
        }


def seek_before(container: av.container.InputContainer, stream: av.VideoStream, seconds: float) -> None:
    """Seek to the last keyframe at or before ``seconds``. The time is rounded to the stream's tick, not floored: a
    frame's time computed in floats (``start + step / fps``) can fall a tick short, and flooring it seeks a whole
    keyframe interval back (1.83 frames decoded per random frame instead of 1.5 at a keyframe every 2 frames)."""
    container.seek(round(seconds / stream.time_base), stream=stream, backward=True)


def decode_segment(path: Path, from_timestamp: float, length: int | None) -> np.ndarray:
    """Decode ``length`` frames (all remaining when None) starting at ``from_timestamp`` as (T, H, W, 3) uint8."""
    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            stream = video_stream(container, path)
            if from_timestamp > 0:
                seek_before(container, stream, from_timestamp)
            for frame in container.decode(stream):
                if frame.pts is None or frame.pts * stream.time_base < from_timestamp - TIMESTAMP_TOLERANCE_S:
                    continue
                frames.append(frame.to_ndarray(format="rgb24"))
                if length is not None and len(frames) == length:
                    break
    except (av.error.FFmpegError, OSError) as error:
        raise VideoDecodeError(f"{path}: cannot decode video ({error})") from error
    if not frames or (length is not None and len(frames) != length):
        raise VideoDecodeError(
            f"{path}: expected {length if length is not None else 'some'} frames from t={from_timestamp:.4f}s, "
            f"decoded {len(frames)}"
        )
    return np.stack(frames)


def packet_times(path: Path) -> np.ndarray:
    """Presentation time in seconds of every video packet (one per frame), sorted; no decoding."""
    try:
        with av.open(str(path)) as container:
            stream = video_stream(container, path)
            times = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None]
    except (av.error.FFmpegError, OSError) as error:
        raise VideoDecodeError(f"{path}: cannot read video packets ({error})") from error
    return np.sort(np.asarray(times))


def remux_segment(source: Path, destination: Path, from_timestamp: float, to_timestamp: float) -> None:
    """Copy the packets of [from_timestamp, to_timestamp) into a new mp4 file starting at t=0 (no re-encoding)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(segment_mp4(source, from_timestamp, to_timestamp))


def segment_mp4(source: Path, from_timestamp: float, to_timestamp: float) -> bytes:
    """The packets of [from_timestamp, to_timestamp) as a standalone mp4 starting at t=0, without re-encoding.

    Exact because every episode starts on a keyframe and our h264 has no B-frames.
    """
    tolerance = TIMESTAMP_TOLERANCE_S
    buffer = io.BytesIO()
    try:
        with av.open(str(source)) as src, av.open(buffer, mode="w", format="mp4") as dst:
            in_stream = video_stream(src, source)
            out_stream = dst.add_stream_from_template(in_stream)
            offset = round(from_timestamp / in_stream.time_base)
            if from_timestamp > 0:
                src.seek(offset, stream=in_stream, backward=True)
            for packet in src.demux(in_stream):
                if packet.pts is None:
                    continue
                seconds = packet.pts * in_stream.time_base
                if seconds < from_timestamp - tolerance:
                    continue
                if seconds >= to_timestamp - tolerance:
                    break
                packet.pts -= offset
                packet.dts = packet.dts - offset if packet.dts is not None else packet.pts
                packet.stream = out_stream
                dst.mux(packet)
    except (av.error.FFmpegError, OSError) as error:
        raise VideoDecodeError(f"{source}: cannot copy packets from t={from_timestamp:.4f}s ({error})") from error
    return buffer.getvalue()


@contextmanager
def scheduling_kept() -> Iterator[None]:
    """The calling thread's CPU scheduling policy, put back after encoding: SVT-AV1 (libsvtav1) makes the thread
    that opens it SCHED_FIFO, priority 99, where it may (as root, e.g. in a container). That thread, and every
    process it starts later, would then take whole cores from everything else whenever it spins."""
    policy, parameters = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        if os.sched_getscheduler(0) != policy:
            os.sched_setscheduler(0, policy, parameters)


def write_mp4(path: Path, frames: np.ndarray, fps: int, codec: VideoCodec | None = None) -> None:
    """Encode (T, H, W, 3) uint8 frames as one standalone mp4 file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_mp4(frames, fps, codec))


def encode_mp4(frames: np.ndarray, fps: int, codec: VideoCodec | None = None) -> bytes:
    """Encode (T, H, W, 3) uint8 frames as a standalone mp4 in memory, starting on a keyframe."""
    codec = codec or VideoCodec()
    buffer = io.BytesIO()
    with scheduling_kept(), av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec.encoder, rate=fps, options=codec.options())
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], codec.pix_fmt
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
