"""Curation steps applied to episodes on their way in."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from schemas.embodiment import ControlMode, Embodiment
from schemas.episode import Episode, exact_timestamps

__all__ = ["trim_idle"]


def trim_idle(episode: Episode, embodiment: Embodiment, threshold: float = 0.01, keep: int = 1) -> Episode:
    """Drop idle lead-in and lead-out frames (robot not moving), which teach a policy to freeze.

    With delta end-effector control the operator's command says whether the robot is driven: a frame
    moves when a non-gripper action dim exceeds ``threshold`` (input units). Otherwise a frame moves when
    the state changes by more than ``threshold`` to the next frame; right after a reset an arm settles by
    a few 1e-3, below it. ``keep`` idle frames stay on each side. Trimmed counts go to ``notes["trimmed_idle"]``.
    """
    if embodiment.control_mode == ControlMode.EEF_DELTA and episode.action is not None:
        driven = [i for i in range(embodiment.action_dim) if i not in embodiment.binary_action_dims()]
        moving = np.abs(episode.action[:, driven]).max(axis=1) > threshold
    elif episode.state is not None:
        moving = np.r_[np.abs(np.diff(episode.state, axis=0)).max(axis=1) > threshold, False]
    else:
        return episode
    active = np.flatnonzero(moving)
    if len(active) == 0:
        return episode  # never moves: leave it whole, quality checks and reviewers decide
    start = max(0, active[0] - keep)
    end = min(episode.length, active[-1] + 1 + keep)
    if (start, end) == (0, episode.length):
        return episode
    cut = slice(start, end)
    return replace(
        episode,
        frames={camera: video[cut] for camera, video in episode.frames.items()},
        state=episode.state[cut] if episode.state is not None else None,
        action=episode.action[cut] if episode.action is not None else None,
        timestamps=exact_timestamps(end - start, episode.fps),
        extras={name: column[cut] for name, column in episode.extras.items()},
        notes={**episode.notes, "trimmed_idle": {"lead": int(start), "tail": int(episode.length - end)}},
    )
