"""IDM checkpoints and labelled datasets: every frame of an action-less clip gets the embodiment's actions as
the IDM predicts them (the ``idm_<embodiment>`` pseudo-embodiment) and a per-frame confidence column. A clip
whose mean confidence is below the threshold is quarantined as low-confidence, with its figure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from idm.config import IDMConfig
from idm.model import InverseDynamicsModel
from idm.train import ActionNormaliser, idm_labels
from pipelines.learning.checkpoints import cached_by_content, load_checkpoint, save_checkpoint
from pipelines.learning.labelled import episode_clip, label_dataset, labelled_episode
from pipelines.runtime.parallel import RayConfig
from schemas.embodiment import Embodiment, get_embodiment
from schemas.episode import Episode, RejectedEpisode

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

__all__ = ["cached_idm", "idm_embodiment", "label_idm_actions", "load_idm", "save_idm"]

MODEL = "idm"


def idm_embodiment(embodiment: str) -> Embodiment:
    return get_embodiment(f"idm_{embodiment}")


def save_idm(
    folder: Path | str, model: InverseDynamicsModel, normaliser: ActionNormaliser, evaluation: dict | None = None
) -> str:
    config = {
        "model": MODEL,
        **model.config.to_dict(),
        "normaliser": normaliser.to_dict(),
        "evaluation": evaluation or {},
    }
    return save_checkpoint(folder, model, config)


def load_idm(folder: Path | str) -> tuple[InverseDynamicsModel, ActionNormaliser, str]:
    """The IDM of a checkpoint folder, its action normaliser and content hash."""
    checkpoint = load_checkpoint(folder)
    fields = {k: v for k, v in checkpoint.config.items() if k in IDMConfig.__dataclass_fields__}
    model = InverseDynamicsModel(IDMConfig(**fields))
    model.load_state_dict(checkpoint.weights)
    stats = checkpoint.config["normaliser"]
    normaliser = ActionNormaliser(np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32))
    return model.eval(), normaliser, checkpoint.sha256


cached_idm = cached_by_content(load_idm)


def label_episode(root: str, episode_index: int, checkpoint: str, min_confidence: float) -> Episode | RejectedEpisode:
    """One episode labelled where it runs (a Ray worker loads the checkpoint once)."""
    model, normaliser, sha256 = cached_idm(checkpoint)
    read = episode_clip(root, episode_index, model.config.image_size, model.config.frame_gap)
    if isinstance(read, RejectedEpisode):
        return read
    episode, clip = read
    labels = idm_labels(model, normaliser, clip.frames)
    confidence = float(labels.confidence.mean())
    if confidence < min_confidence:
        return RejectedEpisode(episode.episode_id, "action", f"IDM confidence {confidence:.3f} below {min_confidence}")
    embodiment = idm_embodiment(model.config.embodiment)
    return labelled_episode(
        episode,
        embodiment,
        embodiment.clip_actions(labels.actions),
        {"idm.confidence": labels.confidence},
        MODEL,
        sha256,
    )


def label_idm_actions(
    root: Path | str,
    destination: Path | str,
    checkpoint: Path | str,
    *,
    min_confidence: float = 0.0,
    ray: RayConfig | None = None,
) -> WriteReport:
    """A labelled copy of the dataset at ``root``; the checkpoint is checked here before any work starts."""
    model, _, sha256 = load_idm(checkpoint)
    embodiment = idm_embodiment(model.config.embodiment)
    arguments = (str(checkpoint), min_confidence)
    return label_dataset(root, destination, embodiment, label_episode, arguments, {MODEL: sha256}, ray=ray)
