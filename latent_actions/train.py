"""Train, evaluate and apply the latent action model.

Training samples frame pairs from every clip it is given (all video in the pyramid). Evaluation is on
held-out episodes: reconstruction PSNR (next to the copy-x_t baseline), codebook perplexity, and a linear
probe from the continuous latent to the true actions of clips that have them: the mean of the H actions
between the two frames, the motion the pair shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from latent_actions.model import LatentActionConfig, LatentActionModel
from pipelines.frame_pairs import (
    Clip,
    check_length,
    label_pairs,
    read_training_clips,
    split_by_episode,
    to_tensor,
    training_pairs,
)
from pipelines.metrics import perplexity, psnr, r2_scores, ridge_fit, ridge_predict
from pipelines.training import TrainConfig, train

__all__ = [
    "LatentActionEvaluation",
    "TrainedLatentActions",
    "evaluate_latent_actions",
    "fit_latent_actions",
    "latent_labels",
    "train_latent_action_model",
]

RESTART_EVERY = 100  # steps between dead-code restarts


def _pair_batch(clips: list[Clip], pairs: np.ndarray, gap: int) -> tuple[torch.Tensor, torch.Tensor]:
    first = np.stack([clips[c].frames[t] for c, t in pairs])
    second = np.stack([clips[c].frames[t + gap] for c, t in pairs])
    return to_tensor(first), to_tensor(second)


def fit_latent_actions(
    clips: list[Clip],
    config: LatentActionConfig,
    training: TrainConfig,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> tuple[LatentActionModel, list[dict[str, float]]]:
    """A model trained on frame pairs of ``clips`` (clips shorter than the gap are a clear error)."""
    for clip in clips:
        check_length(clip, config.frame_gap)
    torch.manual_seed(training.seed)
    model = LatentActionModel(config).to(training.device)
    pairs = training_pairs(clips, config.frame_gap)
    recent: dict[str, torch.Tensor] = {}

    def batch_loss(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        first, second = _pair_batch(clips, pairs[rng.integers(len(pairs), size=training.batch_size)], config.frame_gap)
        loss, output = model.loss(first.to(training.device), second.to(training.device))
        recent["latent"] = output.latent
        return loss, {"codes_in_batch": float(len(output.codes.unique()))}

    def restart(step: int) -> None:
        if (step + 1) % RESTART_EVERY == 0 and step + 1 < training.steps:
            model.restart_dead_codes(recent["latent"])

    return model, train(model, batch_loss, training, on_log, after_step=restart)


@torch.no_grad()
def latent_labels(model: LatentActionModel, frames: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Per frame t of a clip (T, S, S, 3): codes (T, tokens) and the continuous latent (T, tokens * code_dim)
    of the pair (x_t, x_{t+H}), the final frame standing in past the clip's end."""
    model.eval()
    device = next(model.parameters()).device
    starts, seconds = label_pairs(len(frames), model.config.frame_gap)
    codes, latents = [], []
    for begin in range(0, len(starts), batch_size):
        first = to_tensor(frames[starts[begin : begin + batch_size]]).to(device)
        second = to_tensor(frames[seconds[begin : begin + batch_size]]).to(device)
        latent = model.encode(first, second)
        codes.append(model.quantise(latent)[0].cpu().numpy())
        latents.append(latent.flatten(1).cpu().numpy())
    return np.concatenate(codes), np.concatenate(latents).astype(np.float32)


@dataclass(frozen=True)
class LatentActionEvaluation:
    psnr: float  # dB, held-out reconstructions of x_{t+H}
    copy_psnr: float  # dB, x_t taken as x_{t+H}: the baseline a useless model matches
    perplexity: float  # of held-out code usage, 1..codebook_size
    codes_used: int
    probe_r2: float  # held-out, variance-weighted over action dimensions
    probe_r2_per_dim: list[float]
    held_out_pairs: int

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def _predictions(model: LatentActionModel, clips: list[Clip], batch_size: int = 256) -> tuple[np.ndarray, ...]:
    gap, pairs = model.config.frame_gap, training_pairs(clips, model.config.frame_gap)
    squared, copy_squared, codes, latents = [], [], [], []
    for begin in range(0, len(pairs), batch_size):
        first, second = _pair_batch(clips, pairs[begin : begin + batch_size], gap)
        output = model(first, second)
        squared.append(((output.prediction - second) ** 2).mean(dim=(1, 2, 3)).numpy())
        copy_squared.append(((first - second) ** 2).mean(dim=(1, 2, 3)).numpy())
        codes.append(output.codes.numpy())
        latents.append(output.latent.flatten(1).numpy())
    return pairs, np.concatenate(squared), np.concatenate(copy_squared), np.concatenate(codes), np.concatenate(latents)


def _motion(clips: list[Clip], pairs: np.ndarray, gap: int) -> np.ndarray:
    return np.stack([clips[c].actions[t : t + gap].mean(axis=0) for c, t in pairs])


def evaluate_latent_actions(
    model: LatentActionModel, train_clips: list[Clip], held_out: list[Clip], probe_embodiment: str
) -> LatentActionEvaluation:
    """Figures on ``held_out`` clips; the probe is fitted on the train clips of ``probe_embodiment`` and scored
    on its held-out clips."""
    model.eval()
    gap = model.config.frame_gap
    _, squared, copy_squared, codes, _ = _predictions(model, held_out)
    probe_train = [c for c in train_clips if c.embodiment == probe_embodiment]
    probe_test = [c for c in held_out if c.embodiment == probe_embodiment]
    if not probe_train or not probe_test:
        raise ValueError(f"the latent action probe needs {probe_embodiment} clips on both sides of the split")
    train_pairs, *_, train_latents = _predictions(model, probe_train)
    test_pairs, *_, test_latents = _predictions(model, probe_test)
    weights, scaling = ridge_fit(train_latents, _motion(probe_train, train_pairs, gap))
    overall, per_dim = r2_scores(_motion(probe_test, test_pairs, gap), ridge_predict(test_latents, weights, scaling))
    return LatentActionEvaluation(
        psnr=psnr(float(squared.mean())),
        copy_psnr=psnr(float(copy_squared.mean())),
        perplexity=perplexity(codes, model.config.codebook_size),
        codes_used=int(len(np.unique(codes))),
        probe_r2=overall,
        probe_r2_per_dim=per_dim,
        held_out_pairs=int(len(codes)),
    )


@dataclass
class TrainedLatentActions:
    model: LatentActionModel
    evaluation: LatentActionEvaluation
    history: list[dict[str, float]]
    clips: int
    skipped: dict[str, str]  # dataset or clip -> why it was left out


def train_latent_action_model(
    roots: list[str],
    config: LatentActionConfig,
    training: TrainConfig,
    probe_embodiment: str,
    holdout: float = 0.2,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> TrainedLatentActions:
    """Train on the video of the datasets at ``roots`` (episodes held out for evaluation) and evaluate; runs where
    it is called, e.g. as one Ray task holding the CPUs its torch threads use."""
    clips, skipped = read_training_clips(roots, config.image_size, config.frame_gap)
    train_clips, held_out = split_by_episode(clips, holdout, training.seed)
    model, history = fit_latent_actions(train_clips, config, training, on_log)
    evaluation = evaluate_latent_actions(model, train_clips, held_out, probe_embodiment)
    return TrainedLatentActions(model, evaluation, history, len(clips), skipped)
