"""Neural trajectories: generated clips labelled by the IDM and the latent action model, filtered, written as a
LeRobot dataset of the ``neural`` source under the IDM embodiment's ``neural_`` pseudo-embodiment.

A clip is kept only if its first frame is faithful to the teleop frame it was generated from, something moves
steadily, the IDM is confident about it and the instruction matcher finds it doing what its prompt says; each
rejection is recorded with its reason and figure. Kept episodes carry the IDM's actions, its per-frame
confidence and the latent actions (continuous and codes) as extra columns, and their lineage: source frame,
prompt, seed, the hashes of the video model and the label models, and the clip's filter figures.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from generators.video.config import NeuralFilters
from generators.video.instruction_match import clip_match, load_matcher
from idm.label import cached_idm, load_idm
from idm.train import idm_labels
from latent_actions.label import cached_latent_action_model, load_latent_action_model
from latent_actions.train import latent_labels
from pipelines.learning.frame_pairs import resize_frames
from pipelines.learning.labelled import episode_clip, label_dataset, labelled_episode
from pipelines.lerobot import layout
from pipelines.runtime.parallel import RayConfig
from schemas.embodiment import Embodiment, get_embodiment
from schemas.episode import Episode, RejectedEpisode

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

__all__ = [
    "MultiplierOutcome",
    "frame_jump",
    "label_neural_trajectories",
    "motion",
    "multiplier_outcome",
    "neural_embodiment",
]

TYPICAL_CHANGE_FLOOR = 0.5  # gray levels: a near-still clip's median change counts as at least this


def neural_embodiment(embodiment: str) -> Embodiment:
    return get_embodiment(f"neural_{embodiment}")


def motion(frames: np.ndarray, gap: int) -> float:
    """Mean absolute pixel change between frames ``gap`` steps apart: how much a clip moves."""
    gap = min(gap, len(frames) - 1)
    return float(np.abs(frames[gap:].astype(np.float32) - frames[:-gap].astype(np.float32)).mean())


def frame_jump(frames: np.ndarray) -> float:
    """The largest change between consecutive frames over the clip's median change: a real clip changes steadily,
    while an object popping in or the robot teleporting is one step far above the rest."""
    changes = np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(axis=(1, 2, 3))
    return float(changes.max() / max(float(np.median(changes)), TYPICAL_CHANGE_FLOOR))


def label_trajectory(
    root: str,
    episode_index: int,
    idm_checkpoint: str,
    latent_checkpoint: str,
    matcher_checkpoint: str | None,
    filters: NeuralFilters,
) -> Episode | RejectedEpisode:
    """One generated clip labelled and filtered where it runs (a Ray worker loads the models once)."""
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
    jump = frame_jump(clip.frames)
    if jump > filters.max_frame_jump:
        return RejectedEpisode(
            episode.episode_id, "temporal", f"frame jump {jump:.1f}x the median change, above {filters.max_frame_jump}"
        )
    labels = idm_labels(idm, normaliser, clip.frames)
    confidence = float(labels.confidence.mean())
    if confidence < filters.min_idm_confidence:
        return RejectedEpisode(
            episode.episode_id, "idm_confidence", f"IDM confidence {confidence:.3f} below {filters.min_idm_confidence}"
        )
    frames = next(iter(episode.frames.values()))
    checks = {}
    if matcher_checkpoint is not None:
        match, threshold = clip_match(matcher_checkpoint, frames, episode.instruction, clip.where)
        if match < threshold:
            return RejectedEpisode(
                episode.episode_id,
                "instruction",
                f"instruction match {match:.3f} with {episode.instruction!r} below the matcher's {threshold:.3f}",
            )
        checks["instruction_match"] = round(match, 4)
    codes, latent = latent_labels(latent_model, resize_frames(frames, latent_model.config.image_size, clip.where))
    embodiment = neural_embodiment(idm.config.embodiment)
    extras = {
        "idm.confidence": labels.confidence,
        "latent_action.latent": latent.astype(np.float32),
        "latent_action.codes": codes.astype("int64"),
    }
    labelled = labelled_episode(episode, embodiment, embodiment.clip_actions(labels.actions), extras, "idm", idm_sha256)
    labelled.notes.update(
        {
            "latent_action_model_sha256": latent_sha256,
            "motion": round(moved, 3),
            "frame_jump": round(jump, 2),
            "idm_confidence": round(confidence, 4),
            **checks,
        }
    )
    return labelled


def label_neural_trajectories(
    root: Path | str,
    destination: Path | str,
    idm_checkpoint: Path | str,
    latent_checkpoint: Path | str,
    filters: NeuralFilters | None = None,
    *,
    matcher_checkpoint: Path | str | None = None,
    ray: RayConfig | None = None,
) -> WriteReport:
    """The neural-trajectory dataset of the generated clips at ``root``; every checkpoint is checked here before
    any work starts. The instruction filter (``filters.instruction_match``) needs ``matcher_checkpoint``."""
    filters = filters or NeuralFilters()
    idm, _, idm_sha256 = load_idm(idm_checkpoint)
    _, latent_sha256 = load_latent_action_model(latent_checkpoint)
    checkpoints = {"idm": idm_sha256, "latent_actions": latent_sha256}
    if filters.instruction_match:
        if matcher_checkpoint is None:
            raise ValueError(
                "the instruction filter is on but no instruction matcher was given: train one (the "
                "instruction_matcher asset) and pass its checkpoint, or set instruction_match to false"
            )
        checkpoints["instruction_matcher"] = load_matcher(matcher_checkpoint)[3]
    matcher = str(matcher_checkpoint) if filters.instruction_match else None
    arguments = (str(idm_checkpoint), str(latent_checkpoint), matcher, filters)
    return label_dataset(
        root, destination, neural_embodiment(idm.config.embodiment), label_trajectory, arguments, checkpoints, ray=ray
    )


@dataclass(frozen=True)
class MultiplierOutcome:
    """Kept neural hours against the teleop hours they were generated from, and the multiplier asked for."""

    teleop_hours: float
    neural_hours: float
    asked: float
    kept: int
    rejections: dict[str, int]
    kept_share: dict[str, float]  # of the clips with their episode's own instruction, and with a counterfactual one

    @property
    def multiplier(self) -> float:
        return self.neural_hours / self.teleop_hours if self.teleop_hours else 0.0

    @property
    def reached(self) -> bool:
        return self.multiplier >= self.asked

    def why_not(self) -> str:
        """What to change when the multiplier was missed (empty when it was reached)."""
        if self.reached:
            return ""
        return (
            f"filters kept {self.kept} of {self.kept + sum(self.rejections.values())} clips "
            f"({self.rejections}); raise oversample or relax the filters"
        )


def multiplier_outcome(clips_root: Path | str, report: WriteReport) -> MultiplierOutcome:
    """The multiplier the filtered dataset in ``report`` reached, from the provenance the generation wrote
    beside the clips at ``clips_root``."""
    meta = json.loads((Path(clips_root) / layout.PYRAMID_META_PATH).read_text())
    generation, rejected = meta["provenance"], {r.episode_id for r in report.rejected}
    kept: dict[str, list[bool]] = {"original": [], "counterfactual": []}
    for episode in meta["episodes"]:
        kind = "counterfactual" if episode["notes"].get("counterfactual") else "original"
        kept[kind].append(episode["episode_id"] not in rejected)
    return MultiplierOutcome(
        generation["teleop_hours"],
        report.hours,
        generation["multiplier_requested"],
        report.episodes,
        dict(Counter(r.field for r in report.rejected)),
        {kind: round(float(np.mean(flags)), 4) for kind, flags in kept.items() if flags},
    )
