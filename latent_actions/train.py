"""Train, evaluate and apply the latent action model.

Training samples frame pairs from every clip it is given (all video in the pyramid); clips with true actions
also ground the latent in them (``ActionGrounding``). Evaluation is on held-out episodes: reconstruction PSNR
(next to the copy-x_t baseline), codebook perplexity, and a linear probe from the continuous latent to the true
actions of clips that have them: the mean of the H actions between the two frames, the motion the pair shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from latent_actions.config import LatentActionConfig
from latent_actions.model import LatentActionModel
from pipelines.learning.frame_pairs import (
    Clip,
    check_length,
    label_pairs,
    read_training_clips,
    split_by_episode,
    to_tensor,
    training_pairs,
)
from pipelines.learning.metrics import perplexity, psnr, r2_scores, ridge_fit, ridge_predict
from pipelines.learning.training import TrainConfig, train

__all__ = [
    "ActionGrounding",
    "LatentActionEvaluation",
    "TrainedLatentActions",
    "evaluate_latent_actions",
    "fit_latent_actions",
    "latent_labels",
    "train_latent_action_model",
    "window_means",
]

RESTART_EVERY = 100  # steps between dead-code restarts


def _pair_batch(clips: list[Clip], pairs: np.ndarray, gap: int) -> tuple[torch.Tensor, torch.Tensor]:
    first = np.stack([clips[c].frames[t] for c, t in pairs])
    second = np.stack([clips[c].frames[t + gap] for c, t in pairs])
    return to_tensor(first), to_tensor(second)


def window_means(actions: np.ndarray, gap: int) -> np.ndarray:
    """(T - gap, A): the mean of the ``gap`` actions from each t, the motion the pair (x_t, x_{t+gap}) shows."""
    sums = np.cumsum(np.r_[np.zeros((1, actions.shape[1])), actions.astype(np.float64)], axis=0)
    return ((sums[gap:] - sums[:-gap])[: len(actions) - gap] / gap).astype(np.float32)


class ActionGrounding(nn.Module):
    """Per-embodiment linear heads from the continuous latent to the mean true action between the two frames
    (standardised per embodiment), trained beside the reconstruction on the clips that have actions.

    Reconstruction alone spends the latent's few bits on the largest pixel change, so a wrist turn or a held
    gripper barely registers (held-out probe R2 0.30 on the Panda tasks); a little action supervision ties the
    latent to the robot's controls (Nikulin et al. 2025, "Latent action learning requires supervision in the
    presence of distractors"; Zhang et al. 2025, "What do latent action models actually learn?"). The heads
    are not saved: labelling an action-less clip needs only the encoder.
    """

    def __init__(self, clips: list[Clip], label_dim: int, gap: int):
        super().__init__()
        self.motion = {i: window_means(clip.actions, gap) for i, clip in enumerate(clips) if clip.actions is not None}
        self.embodiment = {i: clips[i].embodiment for i in self.motion}
        self.names = sorted(set(self.embodiment.values()))
        self.scaling: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in self.names:
            targets = np.concatenate([motion for i, motion in self.motion.items() if self.embodiment[i] == name])
            self.scaling[name] = (targets.mean(axis=0), np.maximum(targets.std(axis=0), 1e-6))
        self.heads = nn.ModuleList(nn.Linear(label_dim, self.scaling[name][0].shape[0]) for name in self.names)

    def loss(self, latent: torch.Tensor, pairs: np.ndarray) -> torch.Tensor | None:
        """Standardised squared error of the heads, averaged over the pairs (clip, t) whose clip has actions;
        None when no pair of the batch has any."""
        labelled = [row for row, (clip, _) in enumerate(pairs) if clip in self.motion]
        if not labelled:
            return None
        total = latent.new_zeros(())
        for name, head in zip(self.names, self.heads, strict=True):
            rows = [row for row in labelled if self.embodiment[pairs[row][0]] == name]
            if rows:
                mean, std = self.scaling[name]
                target = np.stack([(self.motion[pairs[row][0]][pairs[row][1]] - mean) / std for row in rows])
                error = head(latent[rows]) - torch.as_tensor(target, dtype=latent.dtype, device=latent.device)
                total = total + (error**2).mean(dim=1).sum()
        return total / len(labelled)


def fit_latent_actions(
    clips: list[Clip],
    config: LatentActionConfig,
    training: TrainConfig,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> tuple[LatentActionModel, list[dict[str, float]]]:
    """A model trained on frame pairs of ``clips`` (clips shorter than the gap are a clear error), grounded in the
    true actions of those that have them when ``config.action_weight`` > 0."""
    for clip in clips:
        check_length(clip, config.frame_gap)
    torch.manual_seed(training.seed)
    model = LatentActionModel(config).to(training.device)
    grounding = ActionGrounding(clips, config.label_dim, config.frame_gap) if config.action_weight > 0 else None
    optimised = nn.ModuleList([model] if grounding is None else [model, grounding.to(training.device)])
    pairs = training_pairs(clips, config.frame_gap)
    recent: dict[str, torch.Tensor] = {}

    def batch_loss(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        chosen = pairs[rng.integers(len(pairs), size=training.batch_size)]
        first, second = _pair_batch(clips, chosen, config.frame_gap)
        loss, output = model.loss(first.to(training.device), second.to(training.device))
        recent["latent"] = output.latent
        figures = {"reconstruction": loss.item(), "codes_in_batch": float(len(output.codes.unique()))}
        action_loss = grounding.loss(output.latent.flatten(1), chosen) if grounding is not None else None
        if action_loss is not None:
            loss = loss + config.action_weight * action_loss
            figures["action_loss"] = action_loss.item()
        return loss, figures

    def restart(step: int) -> None:
        if (step + 1) % RESTART_EVERY == 0 and step + 1 < training.steps:
            model.restart_dead_codes(recent["latent"])

    return model, train(optimised, batch_loss, training, on_log, after_step=restart)


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
    means = {c: window_means(clips[c].actions, gap) for c in np.unique(pairs[:, 0])}
    return np.stack([means[c][t] for c, t in pairs])


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
        codes_used=len(np.unique(codes)),
        probe_r2=overall,
        probe_r2_per_dim=per_dim,
        held_out_pairs=len(codes),
    )


@dataclass
class TrainedLatentActions:
    model: LatentActionModel
    evaluation: LatentActionEvaluation
    history: list[dict[str, float]]
    clips: int
    skipped: dict[str, str]  # dataset or clip -> why it was left out
    grounded_in: dict[str, int]  # embodiment -> training clips whose true actions grounded the latent


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
    grounded = Counter(c.embodiment for c in train_clips if c.actions is not None) if config.action_weight > 0 else {}
    return TrainedLatentActions(model, evaluation, history, len(clips), skipped, dict(sorted(grounded.items())))
