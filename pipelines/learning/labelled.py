"""Write a labelled copy of an action-less LeRobot dataset: every episode's video with model-made actions, under
the labels' pseudo-embodiment, with lineage (source clip, model hash) per episode and per dataset.

Each label package supplies the per-episode task (``label_episode``) that runs where the episode is read
(a Ray worker or this process); this module reads, rejects and writes. A clip that cannot be labelled (too
short for the frame gap, a non-square camera, an unreadable file) is quarantined with its reason and the
rest lands; the destination is replaced atomically, so a failed run leaves the previous labels in place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipelines.ingest.runner import ReadPlan, write_plan
from pipelines.learning.frame_pairs import Clip, ClipTooShortError, check_length, resize_frames
from pipelines.lerobot import layout
from pipelines.lerobot.inventory import DatasetSummary, summarise_home
from pipelines.lerobot.reader import LeRobotSource, read_episode_task
from pipelines.runtime.parallel import RayConfig
from schemas.embodiment import Embodiment
from schemas.episode import Episode, RejectedEpisode
from schemas.home import Home

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

__all__ = ["episode_clip", "is_labelled", "label_dataset", "labelled_episode", "video_datasets"]


def is_labelled(root: Path) -> bool:
    """True for a dataset this module wrote (its video is another dataset's, its actions a model's)."""
    meta = Path(root) / layout.PYRAMID_META_PATH
    return meta.is_file() and "labelled_from" in json.loads(meta.read_text()).get("provenance", {})


def video_datasets(home: Home | Path, embodiment: str | None = None) -> list[DatasetSummary]:
    """The pyramid home's own video: every dataset but labelled copies, optionally of one embodiment."""
    return [s for s in summarise_home(home) if not is_labelled(s.root) and embodiment in (None, s.embodiment)]


def episode_clip(root: str, episode_index: int, size: int, gap: int) -> tuple[Episode, Clip] | RejectedEpisode:
    """An episode of a dataset and its first camera as a clip at the model's size, or why it cannot be labelled."""
    episode = read_episode_task(root, None, episode_index)
    if isinstance(episode, RejectedEpisode):
        return episode
    camera = next(iter(episode.frames))
    where = f"dataset {Path(root).name}, episode {episode.episode_id}"
    try:
        clip = Clip(
            Path(root).name,
            episode.embodiment,
            episode_index,
            episode.episode_id,
            resize_frames(episode.frames[camera], size, where),
            episode.action,
            episode.instruction,
        )
        check_length(clip, gap)
    except ClipTooShortError as error:
        return RejectedEpisode(episode.episode_id, "frames", str(error))
    except ValueError as error:
        return RejectedEpisode(episode.episode_id, f"camera {camera}", str(error))
    return episode, clip


def labelled_episode(
    episode: Episode,
    embodiment: Embodiment,
    action: np.ndarray,
    extras: dict[str, np.ndarray],
    model: str,
    sha256: str,
) -> Episode:
    """``episode``'s first camera as ``embodiment``'s one camera, with ``action`` as its actions."""
    return Episode(
        episode_id=episode.episode_id,
        embodiment=embodiment.name,
        fps=episode.fps,
        instruction=episode.instruction,
        frames={embodiment.cameras[0]: next(iter(episode.frames.values()))},
        state=None,
        action=action.astype(np.float32),
        timestamps=episode.timestamps,
        extras=extras,
        notes={**episode.notes, "labelled_from": episode.episode_id, "label_model": model, "model_sha256": sha256},
    )


def label_dataset(
    root: Path | str,
    destination: Path | str,
    embodiment: Embodiment,
    label_episode: Callable[..., Episode | RejectedEpisode],
    arguments: tuple,
    models: dict[str, str],
    *,
    ray: RayConfig | None = None,
    on_item: Callable[[int], None] | None = None,
) -> WriteReport:
    """Label every episode of the dataset at ``root`` with ``label_episode(root, episode_index, *arguments)``;
    ``models`` (name -> checkpoint hash) is recorded as the dataset's lineage."""
    source = LeRobotSource(root)
    units = [(str(root), index, *arguments) for index in source.episode_indices]
    plan = ReadPlan(embodiment, source.fps, label_episode, units)
    provenance = {"labelled_from": str(root), "model_checkpoints": models}
    return write_plan(plan, destination, ray=ray, on_item=on_item, provenance=provenance)
