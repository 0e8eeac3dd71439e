"""Frame pairs (x_t, x_{t+H}) from LeRobot datasets: what the latent action model and the inverse dynamics
model learn from and label.

A clip is one episode's frames of one camera at the models' square size, with its true actions when it has
them. Frames are resized (area-averaged down, bilinear up) but never cropped: a non-square camera is refused
rather than silently distorted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipelines.lerobot.reader import LeRobotSource

__all__ = [
    "Clip",
    "ClipTooShortError",
    "check_length",
    "label_pairs",
    "random_shift",
    "read_clip",
    "read_clips",
    "read_training_clips",
    "resize_frames",
    "split_by_episode",
    "to_tensor",
    "training_pairs",
]


class ClipTooShortError(ValueError):
    pass


@dataclass
class Clip:
    """One episode of one camera: frames (T, S, S, 3) uint8 and actions (T, A) float32 or None."""

    dataset: str
    embodiment: str
    episode_index: int
    episode_id: str
    frames: np.ndarray
    actions: np.ndarray | None
    instruction: str = ""

    @property
    def where(self) -> str:
        return f"dataset {self.dataset}, episode {self.episode_id}"


def resize_frames(frames: np.ndarray, size: int, where: str) -> np.ndarray:
    """(T, H, W, 3) uint8 frames at (T, size, size, 3): a wide or tall camera is centre-cropped to a square first
    (a robot camera's 640x480, say), as GR00T's image transforms do; frames that are not RGB are a clear error."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{where}: frames have shape {frames.shape}, the models take RGB (T, H, W, 3)")
    height, width = frames.shape[1:3]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    frames = frames[:, top : top + side, left : left + side]
    if side == size:
        return frames
    pixels = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    mode = {"mode": "area"} if side > size else {"mode": "bilinear", "align_corners": False}
    resized = F.interpolate(pixels, size=(size, size), **mode)
    return resized.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def read_clip(source: LeRobotSource, episode_index: int, size: int, camera: str | None = None) -> Clip:
    """One episode of ``source`` as a clip of ``camera`` (default: the embodiment's first camera); the clip's
    dataset is named with its kind folder (``teleop/panda_lift``), as teleop and sim share task names."""
    camera = camera or source.embodiment.cameras[0]
    episode = source.read_episode(episode_index)
    dataset = f"{source.root.parent.name}/{source.root.name}"
    where = f"dataset {dataset}, episode {episode.episode_id}"
    if camera not in episode.frames:
        raise ValueError(f"{where}: no camera {camera!r}, has {sorted(episode.frames)}")
    return Clip(
        dataset,
        source.embodiment.name,
        episode_index,
        episode.episode_id,
        resize_frames(episode.frames[camera], size, where),
        episode.action,
        episode.instruction,
    )


def read_clips(root: Path | str, size: int, camera: str | None = None) -> Iterator[Clip]:
    source = LeRobotSource(root)
    for index in source.episode_indices:
        yield read_clip(source, index, size, camera)


def read_training_clips(
    roots: list[Path | str], size: int, gap: int, camera: str | None = None
) -> tuple[list[Clip], dict[str, str]]:
    """Every usable clip of the datasets at ``roots``, and what was left out and why (a dataset whose camera
    is not square, a clip shorter than the gap), so a model trains on what it can and says what it skipped."""
    clips, skipped = [], {}
    for root in roots:
        try:
            dataset = list(read_clips(root, size, camera))
        except ValueError as error:
            skipped[f"{Path(root).parent.name}/{Path(root).name}"] = str(error)
            continue
        for clip in dataset:
            try:
                check_length(clip, gap)
                clips.append(clip)
            except ClipTooShortError as error:
                skipped[f"{clip.dataset}/{clip.episode_id}"] = str(error)
    if not clips:
        raise ValueError(f"no usable clips in {[str(r) for r in roots]}: {skipped}")
    return clips, skipped


def check_length(clip: Clip, gap: int) -> None:
    if len(clip.frames) <= gap:
        raise ClipTooShortError(f"{clip.where}: {len(clip.frames)} frames, fewer than the frame gap {gap} + 1")


def split_by_episode(clips: list[Clip], holdout: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """Train and held-out clips, whole episodes on either side (per dataset, at least one held out when a
    dataset has two or more episodes), so held-out frames were never seen in training."""
    rng = np.random.default_rng(seed)
    train, held_out = [], []
    for dataset in sorted({c.dataset for c in clips}):
        members = [c for c in clips if c.dataset == dataset]
        count = min(len(members) - 1, max(1, round(holdout * len(members)))) if len(members) > 1 else 0
        chosen = set(rng.choice(len(members), size=count, replace=False).tolist())
        for index, clip in enumerate(members):
            (held_out if index in chosen else train).append(clip)
    return train, held_out


def training_pairs(clips: list[Clip], gap: int) -> np.ndarray:
    """(clip, t) for every t with a real frame at t + gap: (N, 2) int."""
    return np.array([(i, t) for i, clip in enumerate(clips) for t in range(len(clip.frames) - gap)], dtype=np.int64)


def label_pairs(length: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Window starts and their second frames for labelling every step of a clip: the last windows pair with
    the final frame (the clip holds still after its end), so every frame is covered by some window."""
    starts = np.arange(length)
    return starts, np.minimum(starts + gap, length - 1)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float in [0, 1]."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255)


def random_shift(images: torch.Tensor, pad: int, rng: np.random.Generator) -> torch.Tensor:
    """Every sample's channels (B, K, S, S) shifted by one random offset of up to ``pad`` pixels (edges repeated):
    an augmentation that keeps what moves between stacked frames (or views) and breaks memorising where
    things are."""
    if pad == 0:
        return images
    size = images.shape[-1]
    padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
    offsets = rng.integers(0, 2 * pad + 1, size=(len(images), 2))
    return torch.stack([padded[i, :, y : y + size, x : x + size] for i, (y, x) in enumerate(offsets)])
