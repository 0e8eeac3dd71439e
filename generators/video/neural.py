"""Neural trajectories: generated clips labelled by the IDM and the latent action model, filtered, written as a
LeRobot dataset of the ``neural`` source under the IDM embodiment's ``neural_`` pseudo-embodiment.

A clip is kept only if its first frame is faithful to the teleop frame it was generated from, something moves,
and the IDM is confident about it; each rejection is recorded with its reason and figure. Kept episodes carry
the IDM's actions, its per-frame confidence and the latent actions (continuous and codes) as extra columns, and
their lineage: source frame, prompt, seed, the video model's hash and both label models' hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from idm.label import cached_idm, load_idm
from idm.train import idm_labels
from latent_actions.label import cached_latent_action_model, load_latent_action_model
from latent_actions.train import latent_labels
from pipelines.frame_pairs import resize_frames
from pipelines.labelled import episode_clip, label_dataset, labelled_episode
from pipelines.parallel import RayConfig
from schemas.embodiment import Embodiment, get_embodiment
from schemas.episode import Episode, RejectedEpisode

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

__all__ = ["NeuralFilters", "label_neural_trajectories", "motion", "neural_embodiment"]


@dataclass(frozen=True)
class NeuralFilters:
    """Attributes:
    min_first_frame_psnr_db: the generated first frame against the teleop frame it came from.
    min_motion: mean absolute change between frames ``gap`` steps apart (gray levels, 0-255).
    min_idm_confidence: mean IDM confidence over the clip.

    Defaults from the demo (2026-11-22): the trained model renders first frames at 42-45 dB (5th-95th
    percentile), so below 30 dB a clip did not start from its teleop frame; real Panda teleop clips move 3-10
    gray levels, a still one under 1; the demo IDM gives the first 29 frames of every real Panda teleop episode
    a mean confidence of 0.867 or more, so below 0.85 it does not recognise the clip as that robot's motion.
    The confidence scale is the IDM's own: retune it with another IDM.
    """

    min_first_frame_psnr_db: float = 30.0
    min_motion: float = 1.0
    min_idm_confidence: float = 0.85


def neural_embodiment(embodiment: str) -> Embodiment:
    return get_embodiment(f"neural_{embodiment}")


def motion(frames: np.ndarray, gap: int) -> float:
    """Mean absolute pixel change between frames ``gap`` steps apart: how much a clip moves."""
    gap = min(gap, len(frames) - 1)
    return float(np.abs(frames[gap:].astype(np.float32) - frames[:-gap].astype(np.float32)).mean())


def label_trajectory(
    root: str, episode_index: int, idm_checkpoint: str, latent_checkpoint: str, filters: NeuralFilters
) -> Episode | RejectedEpisode:
    """One generated clip labelled and filtered where it runs (a Ray worker loads both models once)."""
    torch.set_num_threads(1)
    idm, normaliser, idm_sha256 = cached_idm(idm_checkpoint)
    latent_model, latent_sha256 = cached_latent_action_model(latent_checkpoint)
    gap = max(idm.config.frame_gap, latent_model.config.frame_gap)
    read = episode_clip(root, episode_index, idm.config.image_size, gap)
    if isinstance(read, RejectedEpisode):
        return read
    episode, clip = read
    fidelity = float(episode.notes.get("first_frame_psnr_db", float("nan")))
    if not fidelity >= filters.min_first_frame_psnr_db:
        return RejectedEpisode(
            episode.episode_id,
            "first_frame",
            f"first-frame PSNR {fidelity:.1f} dB below {filters.min_first_frame_psnr_db}",
        )
    moved = motion(clip.frames, idm.config.frame_gap)
    if moved < filters.min_motion:
        return RejectedEpisode(episode.episode_id, "motion", f"motion {moved:.2f} below {filters.min_motion}")
    labels = idm_labels(idm, normaliser, clip.frames)
    confidence = float(labels.confidence.mean())
    if confidence < filters.min_idm_confidence:
        return RejectedEpisode(
            episode.episode_id, "idm_confidence", f"IDM confidence {confidence:.3f} below {filters.min_idm_confidence}"
        )
    frames = next(iter(episode.frames.values()))
    codes, latent = latent_labels(latent_model, resize_frames(frames, latent_model.config.image_size, clip.where))
    embodiment = neural_embodiment(idm.config.embodiment)
    extras = {
        "idm.confidence": labels.confidence,
        "latent_action.latent": latent.astype(np.float32),
        "latent_action.codes": codes.astype("int64"),
    }
    labelled = labelled_episode(episode, embodiment, embodiment.clip_actions(labels.actions), extras, "idm", idm_sha256)
    labelled.notes.update(
        {"latent_action_model_sha256": latent_sha256, "motion": round(moved, 3), "idm_confidence": round(confidence, 4)}
    )
    return labelled


def label_neural_trajectories(
    root: Path | str,
    destination: Path | str,
    idm_checkpoint: Path | str,
    latent_checkpoint: Path | str,
    filters: NeuralFilters = NeuralFilters(),
    *,
    ray: RayConfig | None = None,
) -> WriteReport:
    """The neural-trajectory dataset of the generated clips at ``root``; both checkpoints are checked here
    before any work starts."""
    idm, _, idm_sha256 = load_idm(idm_checkpoint)
    _, latent_sha256 = load_latent_action_model(latent_checkpoint)
    arguments = (str(idm_checkpoint), str(latent_checkpoint), filters)
    return label_dataset(
        root,
        destination,
        neural_embodiment(idm.config.embodiment),
        label_trajectory,
        arguments,
        {"idm": idm_sha256, "latent_actions": latent_sha256},
        ray=ray,
    )
