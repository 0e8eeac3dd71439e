"""Train, evaluate and apply an inverse dynamics model for one embodiment.

Labelling slides a window over every step of a clip and averages all predicted chunks that cover a frame
(GR00T's recipe); a frame's confidence falls with the spread of those predictions (ensemble heads times
covering windows, in normalised units), so low-confidence labels can be filtered. Evaluation labels held-out
episodes through that same path and scores the labels against their true actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from idm.config import IDMConfig
from idm.model import InverseDynamicsModel
from pipelines.learning.frame_pairs import (
    Clip,
    check_length,
    label_pairs,
    random_shift,
    read_training_clips,
    split_by_episode,
    to_tensor,
    training_pairs,
)
from pipelines.learning.metrics import r2_scores
from pipelines.learning.training import TrainConfig, train
from schemas.embodiment import get_embodiment

__all__ = ["ActionLabels", "IDMEvaluation", "TrainedIDM", "evaluate_idm", "fit_idm", "idm_labels", "train_idm"]

BOOTSTRAP = 0.8  # share of each batch every ensemble head trains on


@dataclass(frozen=True)
class ActionNormaliser:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, clips: list[Clip]) -> ActionNormaliser:
        actions = np.concatenate([c.actions for c in clips])
        return cls(actions.mean(axis=0), np.maximum(actions.std(axis=0), 1e-3))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def fit_idm(
    clips: list[Clip],
    config: IDMConfig,
    training: TrainConfig,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> tuple[InverseDynamicsModel, ActionNormaliser, list[dict[str, float]]]:
    """An IDM trained on clips with true actions of ``config.embodiment``."""
    for clip in clips:
        check_length(clip, config.frame_gap)
        if clip.actions is None or clip.actions.shape[1] != config.action_dim:
            raise ValueError(f"{clip.where}: needs ({len(clip.frames)}, {config.action_dim}) actions to train the IDM")
    torch.manual_seed(training.seed)
    model = InverseDynamicsModel(config).to(training.device)
    normaliser = ActionNormaliser.fit(clips)
    gap, pairs = config.frame_gap, training_pairs(clips, config.frame_gap)
    targets = [torch.from_numpy((c.actions - normaliser.mean) / normaliser.std).float() for c in clips]

    def batch_loss(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        batch = pairs[rng.integers(len(pairs), size=training.batch_size)]
        first = to_tensor(np.stack([clips[c].frames[t] for c, t in batch]))
        second = to_tensor(np.stack([clips[c].frames[t + gap] for c, t in batch]))
        first, second = (
            random_shift(torch.cat([first, second], dim=1), config.shift, rng).to(training.device).split(3, dim=1)
        )
        chunk = torch.stack([targets[c][t : t + gap] for c, t in batch]).to(training.device)  # (B, H, A)
        predicted = model(first, second)  # (B, E, H, A)
        errors = F.smooth_l1_loss(predicted, chunk[:, None].expand_as(predicted), reduction="none").mean(dim=(2, 3))
        mask = torch.from_numpy(rng.random(errors.shape) < BOOTSTRAP).float().to(training.device)
        loss = (errors * mask).sum() / mask.sum().clamp_min(1)
        return loss, {}

    history = train(model, batch_loss, training, on_log)
    return model, normaliser, history


@dataclass(frozen=True)
class ActionLabels:
    actions: np.ndarray  # (T, A) in the embodiment's units
    confidence: np.ndarray  # (T,) in (0, 1]: 1 / (1 + spread of the covering predictions, normalised units)


@torch.no_grad()
def idm_labels(
    model: InverseDynamicsModel, normaliser: ActionNormaliser, frames: np.ndarray, batch_size: int = 256
) -> ActionLabels:
    """Actions for every frame of a clip (T, S, S, 3): all windows covering a frame averaged."""
    model.eval()
    device = next(model.parameters()).device
    gap, length = model.config.frame_gap, len(frames)
    starts, seconds = label_pairs(length, gap)
    chunks = []
    for begin in range(0, length, batch_size):
        first = to_tensor(frames[starts[begin : begin + batch_size]]).to(device)
        second = to_tensor(frames[seconds[begin : begin + batch_size]]).to(device)
        chunks.append(model(first, second).cpu().numpy())
    predicted = np.concatenate(chunks)  # (T, E, H, A): window s predicts actions s .. s + H - 1
    covering: list[list[np.ndarray]] = [[] for _ in range(length)]
    for start in range(length):
        for offset in range(min(gap, length - start)):
            covering[start + offset].append(predicted[start, :, offset])  # (E, A)
    stacked = [np.concatenate(c) for c in covering]  # per frame (E * windows, A)
    mean = np.stack([s.mean(axis=0) for s in stacked])
    spread = np.array([s.std(axis=0).mean() for s in stacked])
    actions = (mean * normaliser.std + normaliser.mean).astype(np.float32)
    return ActionLabels(actions, (1 / (1 + spread)).astype(np.float32))


@dataclass(frozen=True)
class IDMEvaluation:
    r2: float  # held-out, variance-weighted over action dimensions
    r2_per_dim: list[float]
    r2_per_dataset: dict[str, float]
    r2_per_source: dict[str, float]  # pooled over a source kind's datasets: teleop (human actions) apart from sim
    mae_per_dim: list[float]
    confidence_error_correlation: float  # Spearman, per frame: should be negative (confident = accurate)
    held_out_frames: int

    def to_dict(self) -> dict:
        return asdict(self)


def r2_per_group(true: np.ndarray, predicted: np.ndarray, group_of_frame: np.ndarray) -> dict[str, float]:
    """Overall R2 of each group's frames, pooled (variance-weighted over the group's own frames)."""
    return {
        str(group): r2_scores(true[group_of_frame == group], predicted[group_of_frame == group])[0]
        for group in sorted(set(group_of_frame))
    }


def evaluate_idm(model: InverseDynamicsModel, normaliser: ActionNormaliser, held_out: list[Clip]) -> IDMEvaluation:
    """Label held-out clips (their actions never trained on) as published (clipped to the embodiment's limits)
    and score the labels against the truth, overall, per action dimension, per dataset and per source kind."""
    embodiment = get_embodiment(model.config.embodiment)
    labels = [idm_labels(model, normaliser, clip.frames) for clip in held_out]
    true = np.concatenate([clip.actions for clip in held_out])
    predicted = embodiment.clip_actions(np.concatenate([label.actions for label in labels]))
    confidence = np.concatenate([label.confidence for label in labels])
    overall, per_dim = r2_scores(true, predicted)
    error = (np.abs(true - predicted) / normaliser.std).mean(axis=1)
    ranks = [np.argsort(np.argsort(v)) for v in (confidence, error)]
    correlation = float(np.corrcoef(*ranks)[0, 1]) if len(true) > 2 else float("nan")
    mae = np.abs(true - predicted).mean(axis=0).tolist()
    dataset_of_frame = np.concatenate([[clip.dataset] * len(clip.actions) for clip in held_out])
    per_dataset = r2_per_group(true, predicted, dataset_of_frame)
    per_source = r2_per_group(true, predicted, np.array([name.split("/")[0] for name in dataset_of_frame]))
    return IDMEvaluation(overall, per_dim, per_dataset, per_source, mae, correlation, len(true))


@dataclass
class TrainedIDM:
    model: InverseDynamicsModel
    normaliser: ActionNormaliser
    evaluation: IDMEvaluation
    history: list[dict[str, float]]
    clips: int
    skipped: dict[str, str]


def train_idm(
    roots: list[str],
    config: IDMConfig,
    training: TrainConfig,
    holdout: float = 0.2,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> TrainedIDM:
    """Train on ``config.embodiment``'s episodes in the datasets at ``roots`` (some held out) and evaluate on the
    held-out ones; runs where it is called, e.g. as one Ray task."""
    clips, skipped = read_training_clips(roots, config.image_size, config.frame_gap, config.camera)
    train_clips, held_out = split_by_episode(clips, holdout, training.seed)
    model, normaliser, history = fit_idm(train_clips, config, training, on_log)
    return TrainedIDM(model, normaliser, evaluate_idm(model, normaliser, held_out), history, len(clips), skipped)
