"""Latent action checkpoints and labelled datasets: every frame of an action-less clip gets the continuous
latent of (x_t, x_{t+H}) as its action (the ``latent_actions`` embodiment) and its codes as an extra column."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from latent_actions.config import LatentActionConfig
from latent_actions.model import LatentActionModel
from latent_actions.train import latent_labels
from pipelines.learning.checkpoints import cached_by_content, load_checkpoint, save_checkpoint
from pipelines.learning.labelled import episode_clip, label_dataset, labelled_episode
from pipelines.runtime.parallel import RayConfig
from schemas.embodiment import get_embodiment
from schemas.episode import Episode, RejectedEpisode

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

__all__ = [
    "EMBODIMENT",
    "cached_latent_action_model",
    "label_latent_actions",
    "load_latent_action_model",
    "save_latent_action_model",
]

EMBODIMENT = get_embodiment("latent_actions")
MODEL = "latent_actions"


def save_latent_action_model(folder: Path | str, model: LatentActionModel, evaluation: dict | None = None) -> str:
    return save_checkpoint(folder, model, {"model": MODEL, **model.config.to_dict(), "evaluation": evaluation or {}})


def load_latent_action_model(folder: Path | str) -> tuple[LatentActionModel, str]:
    """The model of a checkpoint folder and its content hash (a missing checkpoint is a clear error)."""
    checkpoint = load_checkpoint(folder)
    fields = {k: v for k, v in checkpoint.config.items() if k in LatentActionConfig.__dataclass_fields__}
    model = LatentActionModel(LatentActionConfig(**fields))
    model.load_state_dict(checkpoint.weights)
    return model.eval(), checkpoint.sha256


cached_latent_action_model = cached_by_content(load_latent_action_model)


def label_episode(root: str, episode_index: int, checkpoint: str) -> Episode | RejectedEpisode:
    """One episode labelled where it runs (a Ray worker loads the checkpoint once)."""
    model, sha256 = cached_latent_action_model(checkpoint)
    read = episode_clip(root, episode_index, model.config.image_size, model.config.frame_gap)
    if isinstance(read, RejectedEpisode):
        return read
    episode, clip = read
    codes, latent = latent_labels(model, clip.frames)
    return labelled_episode(episode, EMBODIMENT, latent, {"latent_action.codes": codes.astype("int64")}, MODEL, sha256)


def label_latent_actions(
    root: Path | str, destination: Path | str, checkpoint: Path | str, *, ray: RayConfig | None = None
) -> WriteReport:
    """A labelled copy of the dataset at ``root``; the checkpoint is checked here before any work starts."""
    model, sha256 = load_latent_action_model(checkpoint)
    if model.config.label_dim != EMBODIMENT.action_dim:
        raise ValueError(
            f"{checkpoint}: latent actions of {model.config.label_dim} dims, the {EMBODIMENT.name} embodiment has "
            f"{EMBODIMENT.action_dim}; train with tokens * code_dim = {EMBODIMENT.action_dim}"
        )
    return label_dataset(root, destination, EMBODIMENT, label_episode, (str(checkpoint),), {MODEL: sha256}, ray=ray)
