"""The episode contract: what every ingested episode holds, checked in one place.

Every reader produces ``Episode`` objects and every writer consumes them, so a bad value is caught once,
at the edge, with an error that names the episode, the field and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from schemas.embodiment import Embodiment, get_embodiment

__all__ = ["Episode", "EpisodeError", "RejectedEpisode", "exact_timestamps", "validate_episode"]


class EpisodeError(ValueError):
    """An episode breaks the contract. ``episode`` and ``field`` say where, ``reason`` says why."""

    def __init__(self, episode: str, field: str, reason: str):
        self.episode, self.field, self.reason = episode, field, reason
        super().__init__(f"episode {episode!r}, field {field!r}: {reason}")


@dataclass(frozen=True)
class RejectedEpisode:
    """A quarantined item: what it was, where the problem is (field or file) and why. Recorded, never dropped silently."""

    episode_id: str
    field: str
    reason: str


def exact_timestamps(length: int, fps: int) -> np.ndarray:
    """Timestamps k/fps from 0 as float32, the exact values LeRobot stores and seeks by."""
    return (np.arange(length, dtype=np.float64) / fps).astype(np.float32)


@dataclass
class Episode:
    """One episode in the contract.

    Attributes:
        episode_id: stable, human-readable id, e.g. ``"bridge_dataset/train/000012"``.
        embodiment: registered embodiment name.
        fps: frames per second (integer, as LeRobot requires).
        instruction: natural-language task.
        frames: camera name -> uint8 array (T, H, W, 3).
        state: float32 (T, state_dim), or None for action-less clips.
        action: float32 (T, action_dim), or None for action-less clips.
        timestamps: float32 (T,), exactly k/fps.
        extras: additional per-frame columns (first axis T), e.g. rewards or datagen signals.
        notes: what was done to the source on the way in (re-timing, casts), kept as lineage.
    """

    episode_id: str
    embodiment: str
    fps: int
    instruction: str
    frames: dict[str, np.ndarray]
    state: np.ndarray | None
    action: np.ndarray | None
    timestamps: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return len(self.timestamps)

    @property
    def duration_s(self) -> float:
        return self.length / self.fps


def _check_vector(ep: Episode, name: str, value: np.ndarray | None, dim: int) -> None:
    if dim == 0:
        if value is not None:
            raise EpisodeError(ep.episode_id, name, f"embodiment {ep.embodiment!r} has no {name}, got an array")
        return
    if value is None:
        raise EpisodeError(ep.episode_id, name, f"missing; embodiment {ep.embodiment!r} needs {dim} dims")
    if not isinstance(value, np.ndarray) or value.dtype != np.float32:
        raise EpisodeError(ep.episode_id, name, f"dtype must be float32, got {getattr(value, 'dtype', type(value))}")
    if value.shape != (ep.length, dim):
        raise EpisodeError(ep.episode_id, name, f"shape must be ({ep.length}, {dim}), got {value.shape}")
    bad = ~np.isfinite(value)
    if bad.any():
        frame, dim_index = np.argwhere(bad)[0]
        raise EpisodeError(
            ep.episode_id, name, f"{int(bad.sum())} non-finite values (first at frame {frame}, dim {dim_index})"
        )


def validate_episode(ep: Episode, embodiment: Embodiment | None = None, *, frames: bool = True) -> Embodiment:
    """Raise ``EpisodeError`` on the first broken rule; return the episode's embodiment.

    ``frames=False`` skips the camera checks, for an episode whose video travels encoded (its frames
    were checked when it was first written).
    """
    embodiment = embodiment or get_embodiment(ep.embodiment)
    if embodiment.name != ep.embodiment:
        raise EpisodeError(ep.episode_id, "embodiment", f"is {ep.embodiment!r}, writer expects {embodiment.name!r}")
    if not isinstance(ep.fps, int) or ep.fps <= 0:
        raise EpisodeError(ep.episode_id, "fps", f"must be a positive integer, got {ep.fps!r}")
    if ep.length == 0:
        raise EpisodeError(ep.episode_id, "timestamps", "episode is empty (0 frames)")
    if not np.array_equal(np.asarray(ep.timestamps, dtype=np.float32), exact_timestamps(ep.length, ep.fps)):
        first = float(np.asarray(ep.timestamps).ravel()[0])
        raise EpisodeError(
            ep.episode_id, "timestamps", f"must be exactly k/{ep.fps} from 0 (first is {first:.6f}); re-time the source"
        )
    if not isinstance(ep.instruction, str) or not ep.instruction.strip():
        raise EpisodeError(ep.episode_id, "instruction", "must be a non-empty string")
    if frames:
        _check_frames(ep, embodiment)
    _check_vector(ep, "state", ep.state, embodiment.state_dim)
    _check_vector(ep, "action", ep.action, embodiment.action_dim)
    for name, column in ep.extras.items():
        if len(column) != ep.length:
            raise EpisodeError(ep.episode_id, f"extras[{name}]", f"has {len(column)} rows for {ep.length} frames")
        if np.issubdtype(column.dtype, np.floating) and not np.isfinite(column).all():
            raise EpisodeError(ep.episode_id, f"extras[{name}]", "contains non-finite values")
    return embodiment


def _check_frames(ep: Episode, embodiment: Embodiment) -> None:
    if set(ep.frames) != set(embodiment.cameras):
        raise EpisodeError(
            ep.episode_id, "frames", f"cameras {sorted(ep.frames)} != embodiment cameras {sorted(embodiment.cameras)}"
        )
    for camera, video in ep.frames.items():
        where = f"frames[{camera}]"
        if not isinstance(video, np.ndarray) or video.dtype != np.uint8:
            raise EpisodeError(ep.episode_id, where, f"dtype must be uint8, got {getattr(video, 'dtype', type(video))}")
        if video.ndim != 4 or video.shape[0] != ep.length or video.shape[3] != 3:
            raise EpisodeError(ep.episode_id, where, f"shape must be ({ep.length}, H, W, 3), got {video.shape}")
