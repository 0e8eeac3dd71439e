"""Train the in-house image-to-video model on teleop clips by flow matching, and score it on held-out episodes.

Training windows start at any step of a teleop episode (each window's first frame is its condition); noise
levels are uniform in [0, 1] (SD3's logit-normal rarely reaches pure noise, and a model undertrained there
starts every sample badly); 10% of instructions are dropped so the model also learns the unconditioned flow
that guidance needs. Evaluation
generates from the first frame of every held-out episode (and later window starts) with its true instruction,
through the same pipeline call generation uses, and compares the clip with the real continuation against the
copy-the-first-frame baseline (the error of predicting that nothing moves).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from generators.video.config import GenerationConfig, VideoModelConfig
from generators.video.generate import generate_windows, window_shape
from generators.video.model import PyramidVideoPipeline, build_pipeline
from pipelines.learning.frame_pairs import Clip, read_training_clips, split_by_episode
from pipelines.learning.metrics import psnr
from pipelines.learning.training import TrainConfig, train

__all__ = ["TrainedVideoModel", "VideoEvaluation", "evaluate_video_model", "fit_video_model", "train_video_model"]

PROMPT_DROPOUT = 0.1
EVALUATION_WINDOWS = 3  # window starts scored per held-out episode: its first frame, then every window length


@dataclass(frozen=True)
class VideoEvaluation:
    """Held-out figures, pixels in [0, 1], over the frames after the conditioning one: the model's prediction
    (one-step mean estimate), its samples, and copying the first frame."""

    mse: float
    sample_mse: float
    copy_first_frame_mse: float
    psnr_db: float
    sample_psnr_db: float
    copy_first_frame_psnr_db: float
    first_frame_psnr_db: float
    windows: int
    episodes: int

    @property
    def beats_copy_baseline(self) -> bool:
        """Both the prediction and the samples closer to the real continuation than copying the first frame."""
        return max(self.mse, self.sample_mse) < self.copy_first_frame_mse

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainedVideoModel:
    pipeline: PyramidVideoPipeline
    history: list[dict[str, float]]
    evaluation: VideoEvaluation
    clips: int
    skipped: dict[str, str]
    samples: dict[str, np.ndarray]  # a held-out window, real and generated, for people to look at


def window_starts(clips: list[Clip], frames: int) -> np.ndarray:
    """(clip, t) for every window of ``frames`` frames inside a clip: (N, 2) int."""
    return np.array(
        [(i, t) for i, clip in enumerate(clips) for t in range(len(clip.frames) - frames + 1)], dtype=np.int64
    )


def _pixels(windows: np.ndarray) -> torch.Tensor:
    """(B, F, S, S, 3) uint8 -> (B, 3, F, S, S) float in [-1, 1]."""
    return torch.from_numpy(windows).permute(0, 4, 1, 2, 3).float().div_(127.5).sub_(1)


def fit_video_model(
    clips: list[Clip],
    config: VideoModelConfig,
    training: TrainConfig,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> tuple[PyramidVideoPipeline, list[dict[str, float]]]:
    """A pipeline trained on ``clips`` (frames at ``config.image_size``, each at least one window long)."""
    starts = window_starts(clips, config.frames)
    if len(starts) == 0:
        raise ValueError(f"no clip has {config.frames} frames, the video model's window")
    torch.manual_seed(training.seed)
    pipeline = build_pipeline(config).to(training.device)

    def batch_loss(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        batch = starts[rng.integers(len(starts), size=training.batch_size)]
        clip = _pixels(np.stack([clips[c].frames[t : t + config.frames] for c, t in batch])).to(training.device)
        residual = clip - clip[:, :, :1]
        noise = torch.from_numpy(rng.standard_normal(clip.shape, dtype=np.float32)).to(training.device)
        sigma = torch.from_numpy(rng.random(len(batch))).float().to(training.device)
        noisy = (1 - sigma[:, None, None, None, None]) * residual + sigma[:, None, None, None, None] * noise
        dropped = torch.from_numpy(rng.random(len(batch)) < PROMPT_DROPOUT).to(training.device)
        text, mask = pipeline.encode_prompt([clips[c].instruction for c, _ in batch])
        text = torch.where(dropped[:, None, None], torch.zeros_like(text), text)
        predicted = pipeline.denoise(noisy, clip[:, :, 0], sigma, text, mask)
        return F.mse_loss(predicted, residual), {}

    history = train(pipeline.transformer, batch_loss, training, on_log)
    return pipeline, history


def evaluate_video_model(
    pipeline, clips: list[Clip], generation: GenerationConfig, seed: int = 0
) -> tuple[VideoEvaluation, dict[str, np.ndarray]]:
    """Predicted and sampled vs real continuation of held-out clips, next to copying the first frame; and the
    first window, real, predicted and sampled, to look at.

    The prediction is the pipeline sampled in one step: from pure noise, the model's clean estimate is the mean
    continuation it expects (what a squared error should score). Samples (``generation.sampling_steps``) are what
    generation writes: sharper, so a wrong guess about where the arm goes costs twice.
    """
    frames = window_shape(pipeline, generation)[1]
    windows = [
        (clip, t) for clip in clips for t in range(0, len(clip.frames) - frames + 1, frames - 1)[:EVALUATION_WINDOWS]
    ]
    if not windows:
        raise ValueError(f"no held-out clip has {frames} frames to score the video model on")
    errors: dict[str, list[np.ndarray]] = {"predicted": [], "sampled": [], "copy": [], "first": []}
    samples: dict[str, np.ndarray] = {}
    for begin in range(0, len(windows), generation.generation_batch):
        batch = windows[begin : begin + generation.generation_batch]
        real = np.stack([clip.frames[t : t + frames] for clip, t in batch])
        arguments = (
            pipeline,
            real[:, 0],
            [c.instruction for c, _ in batch],
            [seed + begin + k for k in range(len(batch))],
            1,
        )
        predicted = generate_windows(*arguments, replace(generation, sampling_steps=1)) / np.float32(255)
        sampled = generate_windows(*arguments, generation) / np.float32(255)
        if not samples:
            samples = {
                f"real: {batch[0][0].instruction}": real[0],
                "predicted (1 step)": predicted[0],
                f"sampled ({generation.sampling_steps} steps)": sampled[0],
            }
        real = real / np.float32(255)
        errors["predicted"].append(((predicted[:, 1:] - real[:, 1:]) ** 2).mean(axis=(1, 2, 3, 4)))
        errors["sampled"].append(((sampled[:, 1:] - real[:, 1:]) ** 2).mean(axis=(1, 2, 3, 4)))
        errors["copy"].append(((real[:, :1] - real[:, 1:]) ** 2).mean(axis=(1, 2, 3, 4)))
        errors["first"].append(((sampled[:, 0] - real[:, 0]) ** 2).mean(axis=(1, 2, 3)))
    mse = {name: float(np.concatenate(values).mean()) for name, values in errors.items()}
    evaluation = VideoEvaluation(
        mse=mse["predicted"],
        sample_mse=mse["sampled"],
        copy_first_frame_mse=mse["copy"],
        psnr_db=psnr(mse["predicted"]),
        sample_psnr_db=psnr(mse["sampled"]),
        copy_first_frame_psnr_db=psnr(mse["copy"]),
        first_frame_psnr_db=psnr(mse["first"]),
        windows=len(windows),
        episodes=len({c.where for c, _ in windows}),
    )
    return evaluation, {title: (clip * 255).round().astype(np.uint8) for title, clip in samples.items()}


def train_video_model(
    roots: list[Path | str],
    config: VideoModelConfig,
    training: TrainConfig,
    generation: GenerationConfig,
    holdout: float = 0.2,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> TrainedVideoModel:
    """Train on the teleop datasets at ``roots`` with whole episodes held out, then score on those."""
    clips, skipped = read_training_clips(roots, config.image_size, config.frames - 1)
    train_clips, held_out = split_by_episode(clips, holdout, training.seed)
    pipeline, history = fit_video_model(train_clips, config, training, on_log)
    evaluation, samples = evaluate_video_model(pipeline, held_out, generation, training.seed)
    return TrainedVideoModel(pipeline, history, evaluation, len(train_clips), skipped, samples)
