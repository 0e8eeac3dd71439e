"""Human and web video: folders of mp4/webm/mov into curated, action-less clips.

Each video is decoded with PyAV, resampled to a target fps and frame size, and split into clips. A clip's
static lead-in/lead-out is trimmed; clips that end up too short, too dark, frozen, or a near-duplicate of
a kept clip (perceptual hash) are dropped with their reason. The instruction comes from a sidecar
``<name>.txt`` or ``<name>.json`` (``{"instruction": ...}``), else from the file name (recorded as such).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import imagehash
import numpy as np
from PIL import Image

from pipelines.ingest.config import HumanVideoConfig
from pipelines.lerobot.encoded import EncodedEpisode
from pipelines.lerobot.video import VideoDecodeError, video_stream
from schemas.episode import Episode, RejectedEpisode, exact_timestamps

__all__ = [
    "VIDEO_SUFFIXES",
    "drop_near_duplicates",
    "human_video_clips",
    "read_video",
    "video_file_clips",
    "video_files",
]

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov")
PIXEL_CHANGE = 20  # luma levels: more than codec noise, less than an object moving across a pixel


def read_video(path: Path, fps: int, size: tuple[int, int]) -> np.ndarray:
    """Decode ``path`` resampled to ``fps`` and ``size``: output frame k is the latest source frame at or
    before k/fps (times from the first frame). Returns (T, H, W, 3) uint8."""
    height, width = size
    frames: list[np.ndarray] = []
    held: av.VideoFrame | None = None  # latest source frame not yet superseded
    held_array: np.ndarray | None = None
    first_time: float | None = None

    def emit_until(time: float, inclusive: bool) -> None:
        """Emit the held frame for every output time before ``time`` (or at it, when inclusive)."""
        nonlocal held_array
        limit = time + 1e-6 if inclusive else time - 1e-6
        while len(frames) / fps <= limit:
            if held_array is None:
                held_array = held.reformat(width=width, height=height, format="rgb24").to_ndarray()
            frames.append(held_array)

    with av.open(str(path)) as container:
        stream = video_stream(container, path)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            time = float(frame.pts * stream.time_base)
            first_time = time if first_time is None else first_time
            if held is not None:
                emit_until(time - first_time, inclusive=False)
            held, held_array = frame, None
        if held is not None:
            emit_until(float(held.pts * stream.time_base) - first_time, inclusive=True)
    if not frames:
        raise ValueError("no decodable frames")
    return np.stack(frames)


def _instruction(path: Path) -> tuple[str, str]:
    """(instruction, where it came from): sidecar .txt, sidecar .json, or the file name."""
    text_file, json_file = path.with_suffix(".txt"), path.with_suffix(".json")
    if text_file.is_file():
        return text_file.read_text().strip(), "sidecar_txt"
    if json_file.is_file():
        return str(json.loads(json_file.read_text()).get("instruction", "")).strip(), "sidecar_json"
    return path.stem.replace("_", " ").replace("-", " ").strip(), "file_name"


def _luma(frames: np.ndarray) -> np.ndarray:
    return frames @ np.array([0.299, 0.587, 0.114])


def _motion(frames: np.ndarray) -> np.ndarray:
    """Per consecutive frame pair, the fraction of pixels whose luma changes by more than PIXEL_CHANGE."""
    return (np.abs(np.diff(_luma(frames), axis=0)) > PIXEL_CHANGE).mean(axis=(1, 2))


def _trim_static(frames: np.ndarray, threshold: float) -> tuple[np.ndarray, int, int]:
    moving = np.flatnonzero(_motion(frames) > threshold)
    if len(moving) == 0:
        return frames, 0, 0
    start, end = moving[0], moving[-1] + 2
    return frames[start:end], int(start), int(len(frames) - end)


def _fingerprint(frames: np.ndarray) -> list[imagehash.ImageHash]:
    """Perceptual hashes of the frames at 25%, 50% and 75% of the clip."""
    return [imagehash.phash(Image.fromarray(frames[int(len(frames) * q)])) for q in (0.25, 0.5, 0.75)]


def _drop_reason(frames: np.ndarray, config: HumanVideoConfig) -> str | None:
    if len(frames) < config.min_clip_frames:
        return f"too short ({len(frames)} frames < {config.min_clip_frames})"
    luma = float(_luma(frames).mean())
    if luma < config.dark_luma:
        return f"too dark (mean luma {luma:.1f} < {config.dark_luma})"
    motion = float(_motion(frames).mean())
    if motion <= config.motion_threshold:
        return f"frozen ({motion:.2%} of pixels change per frame <= {config.motion_threshold:.2%})"
    return None


def video_files(folder: Path | str) -> list[Path]:
    """The videos of a folder, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)


def video_file_clips(path: Path | str, config: HumanVideoConfig) -> list[Episode | RejectedEpisode]:
    """One video's curated clips (the per-file work, e.g. on a Ray worker); drops and an unreadable file come
    as ``RejectedEpisode``. Each clip's perceptual hashes go to ``notes["phash"]`` for ``drop_near_duplicates``."""
    path = Path(path)
    try:
        video = read_video(path, config.fps, config.size)
    except (av.error.FFmpegError, ValueError, OSError, VideoDecodeError) as error:
        return [RejectedEpisode(f"{path.stem}/*", f"file {path}", f"unreadable video ({error})")]
    instruction, instruction_source = _instruction(path)
    clip_frames = max(1, round(config.clip_seconds * config.fps))
    clips: list[Episode | RejectedEpisode] = []
    for clip_index, start in enumerate(range(0, len(video), clip_frames)):
        clip_id = f"{path.stem}/clip_{clip_index:03d}"
        window = video[start : start + clip_frames]
        frames, lead, tail = _trim_static(window, config.motion_threshold)
        if reason := _drop_reason(frames, config):
            clips.append(RejectedEpisode(clip_id, "clip", reason))
            continue
        clips.append(
            Episode(
                episode_id=clip_id,
                embodiment="human_video",
                fps=config.fps,
                instruction=instruction,
                frames={"primary": frames},
                state=None,
                action=None,
                timestamps=exact_timestamps(len(frames), config.fps),
                notes={
                    "source": str(path),
                    "source_start_s": start / config.fps,
                    "trimmed_static": {"lead": lead, "tail": tail},
                    "instruction_source": instruction_source,
                    "phash": [str(h) for h in _fingerprint(window)],  # the untrimmed window: a re-upload shares it
                },
            )
        )
    return clips


def drop_near_duplicates(
    items: Iterable[Episode | EncodedEpisode | RejectedEpisode], config: HumanVideoConfig
) -> Iterator[Episode | EncodedEpisode | RejectedEpisode]:
    """Pass items on in order, replacing a clip that nearly duplicates an earlier kept clip by a
    ``RejectedEpisode``. Runs where all clips meet (the writing process), after the per-file work."""
    kept: list[tuple[list[imagehash.ImageHash], str]] = []
    for item in items:
        episode = item.episode if isinstance(item, EncodedEpisode) else item
        if isinstance(episode, RejectedEpisode):
            yield item
            continue
        fingerprint = [imagehash.hex_to_hash(h) for h in episode.notes["phash"]]
        duplicate_of = next(
            (
                other
                for hashes, other in kept
                if sum(a - b <= config.duplicate_distance for a, b in zip(fingerprint, hashes, strict=True)) >= 2
            ),
            None,
        )
        if duplicate_of is not None:
            yield RejectedEpisode(episode.episode_id, "clip", f"near-duplicate of {duplicate_of}")
            continue
        kept.append((fingerprint, episode.episode_id))
        yield item


def human_video_clips(
    folder: Path | str, config: HumanVideoConfig | None = None
) -> Iterator[Episode | RejectedEpisode]:
    """Curated action-less clips of every video in ``folder``; each drop or unreadable file as ``RejectedEpisode``."""
    config = config or HumanVideoConfig()
    clips = (clip for path in video_files(folder) for clip in video_file_clips(path, config))
    return drop_near_duplicates(clips, config)
