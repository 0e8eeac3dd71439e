"""Episodes checked, measured and video-encoded where they are read, so that writing only appends.

Kept apart from the writer on purpose: Ray workers import this module, and the writer's lerobot imports
take ~20 s, which a worker that only reads and encodes never needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pipelines.lerobot.stats import image_stats
from pipelines.lerobot.video import VideoCodec, encode_mp4
from schemas.embodiment import Embodiment
from schemas.episode import Episode, EpisodeError, validate_episode

__all__ = ["EncodedEpisode", "check_episode", "encode_episode", "even_frames"]


@dataclass
class EncodedEpisode:
    """An episode checked, measured and video-encoded where it was read (e.g. on a Ray worker).

    The writer then only appends its rows and video packets, so the per-frame work (decode, stats,
    encode) scales out with workers instead of queueing behind one writer.

    Attributes:
        episode: the episode without frames (``frames`` is empty).
        frame_shapes: camera -> (H, W, 3).
        image_stats: camera -> lerobot-shaped stats over every pixel.
        videos: camera -> standalone mp4 bytes, first frame a keyframe; or the raw frames, which the
            writer's own encoder threads encode.
    """

    episode: Episode
    frame_shapes: dict[str, tuple[int, ...]]
    image_stats: dict[str, dict]
    videos: dict[str, bytes | np.ndarray]


def check_episode(episode: Episode, embodiment: Embodiment, fps: int) -> None:
    """The rules every episode of a dataset must meet on its own; raises ``EpisodeError``."""
    validate_episode(episode, embodiment)
    if episode.fps != fps:
        raise EpisodeError(episode.episode_id, "fps", f"is {episode.fps}, dataset is {fps}")


def even_frames(episode: Episode, codec: VideoCodec) -> Episode:
    """``episode`` with every camera of odd height or width cut by its last row or column, which yuv420p video
    needs (a camera of 97x129 pixels becomes 96x128); the cut is recorded in its notes."""
    if codec.pix_fmt != "yuv420p":
        return episode
    odd = {
        camera: video.shape[1:3] for camera, video in episode.frames.items() if video.shape[1] % 2 or video.shape[2] % 2
    }
    if not odd:
        return episode
    frames = {
        camera: np.ascontiguousarray(video[:, : video.shape[1] // 2 * 2, : video.shape[2] // 2 * 2])
        for camera, video in episode.frames.items()
    }
    cropped = {camera: f"{h}x{w} -> {h // 2 * 2}x{w // 2 * 2}" for camera, (h, w) in odd.items()}
    return replace(episode, frames=frames, notes={**episode.notes, "cropped_to_even": cropped})


def encode_episode(
    episode: Episode, embodiment: Embodiment, fps: int, codec: VideoCodec, *, encode_videos: bool = True
) -> EncodedEpisode:
    """Check ``episode`` and do its per-frame work, ready for ``LeRobotWriter.write``; raises ``EpisodeError``.

    ``encode_videos=False`` keeps the raw frames for the writer's encoder threads (in-process writing).
    """
    check_episode(episode, embodiment, fps)
    episode = even_frames(episode, codec)
    return EncodedEpisode(
        episode=replace(episode, frames={}),
        frame_shapes={camera: tuple(video.shape[1:]) for camera, video in episode.frames.items()},
        image_stats={camera: image_stats(video) for camera, video in episode.frames.items()},
        videos={
            camera: encode_mp4(video, fps, codec) if encode_videos else video
            for camera, video in episode.frames.items()
        },
    )
