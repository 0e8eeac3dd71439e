"""A release as the reference policy trains on it: the datasets with actions, their normalisers (state and actions
per embodiment), whole episodes held out for evaluation, and training batches of one dataset at a time drawn with
the release's mixture weights. Nothing holds the release: batches stream from its files
(``pipelines.release.loader``) and held-out episodes are read one at a time.

The same ``observation_inputs`` turns a robot's raw observation into model inputs at serving time, so
training and serving cannot disagree on resizing, normalisation or padding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pipelines.learning.frame_pairs import resize_frames
from pipelines.learning.language import LanguageEncoder
from pipelines.lerobot import layout
from pipelines.lerobot.reader import LeRobotSource
from pipelines.release.loader import DatasetDraw, LoaderConfig, release_loader
from pipelines.release.open import PulledRelease
from policy.config import PolicyConfig
from policy.model import ModelInputs
from policy.normalize import Normaliser, embodiment_normalisers
from schemas.embodiment import Embodiment, get_embodiment
from schemas.pyramid import Layer, SourceKind, layer_of

if TYPE_CHECKING:
    from pipelines.learning.training import TrainConfig

__all__ = [
    "EpisodeData",
    "Mixture",
    "NothingToTrainError",
    "PolicyDataset",
    "ReleaseData",
    "TrainingBatch",
    "load_release",
    "observation_inputs",
    "pad",
]


class NothingToTrainError(ValueError):
    """The chosen part of a release holds no dataset the policy can train on."""


@dataclass
class EpisodeData:
    """One episode in memory: frames (T, cameras, S, S, 3) uint8; state (T, D) and actions (T, A) normalised."""

    episode_id: str
    frames: np.ndarray
    state: np.ndarray
    actions: np.ndarray
    instruction: str

    def __len__(self) -> int:
        return len(self.actions)


@dataclass(frozen=True)
class Mixture:
    """What a policy trains on from a release: the datasets of ``sources`` (None: every source kind), drawn
    with the manifest's weights, except that each layer in ``layer_shares`` gets that share of the draws and
    the other layers share the rest in their manifest proportions."""

    sources: frozenset[SourceKind] | None = None
    layer_shares: dict[Layer, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if any(not 0 <= share <= 1 for share in self.layer_shares.values()) or sum(self.layer_shares.values()) > 1:
            raise ValueError(f"layer shares must lie in [0, 1] and sum to at most 1, not {self.layer_shares}")

    def keeps(self, source: SourceKind) -> bool:
        return self.sources is None or source in self.sources

    def weights(self, datasets: list[PolicyDataset]) -> list[float]:
        """Each dataset's draw probability under this mixture."""
        layers = np.array([d.layer for d in datasets])
        shared = [layer for layer in self.layer_shares if (layers == layer).any()]
        groups = [(layers == layer, self.layer_shares[layer]) for layer in shared]
        others = ~np.isin(layers, shared)
        if others.any():
            groups.append((others, 1 - sum(self.layer_shares[layer] for layer in shared)))
        weights = np.zeros(len(datasets))
        for inside, share in groups:  # a group's share spread by manifest weight (evenly if those are all 0)
            base = np.array([d.weight for d, chosen in zip(datasets, inside, strict=True) if chosen], np.float64)
            weights[inside] = share * (base / base.sum() if base.sum() > 0 else np.full(len(base), 1 / len(base)))
        return (weights / weights.sum() if weights.sum() > 0 else np.full(len(datasets), 1 / len(datasets))).tolist()

    def describe(self) -> dict[str, object]:
        return {
            "sources": sorted(kind.value for kind in self.sources) if self.sources is not None else "all",
            "layer_shares": {layer.value: share for layer, share in sorted(self.layer_shares.items())},
        }


@dataclass
class PolicyDataset:
    """One dataset of the release: where it is, its draw weight, and its training and held-out episode indices."""

    name: str
    source: SourceKind
    embodiment: Embodiment
    weight: float
    folder: Path
    train: list[int]
    held_out: list[int]

    @property
    def layer(self) -> Layer:
        return layer_of(self.source)


@dataclass
class TrainingBatch:
    """Samples of one dataset as the model trains on them: frames (B, cameras, S, S, 3) uint8, padded normalised
    state (B, max_state_dim), the padded normalised (B, chunk, max_action_dim) actions that follow, their mask
    (0 past the episode's end and in padded dims), the instructions and the embodiment's weight slot."""

    frames: np.ndarray
    state: np.ndarray
    actions: np.ndarray
    mask: np.ndarray
    texts: list[str]
    slot: np.ndarray
    episode_index: np.ndarray  # where each sample comes from, in its dataset


@dataclass
class ReleaseData:
    """The datasets a policy trains on, the normalisers and weight slots of every embodiment of the release
    (shared by all training variants, so their results compare), and what was left out and why."""

    version: str
    folder: Path
    datasets: list[PolicyDataset]
    normalisers: dict[str, Normaliser]
    slots: dict[str, int]
    skipped: dict[str, str] = field(default_factory=dict)

    def batches(
        self, config: PolicyConfig, training: TrainConfig, workers: int, start: int = 0
    ) -> Iterator[TrainingBatch]:
        """Training batches ``start`` to ``training.steps`` from the training episodes, streamed by ``workers``
        decoding processes; batch ``n`` depends only on the seed and ``n``, so a resumed run continues exactly."""
        loader = LoaderConfig(
            batch_size=training.batch_size,
            chunk=config.chunk,
            seed=training.seed,
            workers=workers,
            image_size=config.image_size,
        )
        draws = {d.name: DatasetDraw(d.weight, tuple(d.train)) for d in self.datasets}
        release = PulledRelease(self.folder)
        for batch in release_loader(release.folder, release.manifest, loader, start, training.steps, draws):
            yield self._training_batch(batch, config)

    def _training_batch(self, batch: dict[str, Any], config: PolicyConfig) -> TrainingBatch:
        dataset = next(d for d in self.datasets if d.name == batch["dataset"])
        embodiment, normaliser = dataset.embodiment, self.normalisers[dataset.embodiment.name]
        frames = np.stack([batch[layout.camera_key(c)].numpy() for c in embodiment.cameras], axis=1)
        size = len(frames)
        state = (
            normaliser.normalise_state(batch[layout.STATE_KEY].numpy())
            if embodiment.has_state
            else np.zeros((size, 0), np.float32)
        )
        recorded = batch[layout.ACTION_KEY].numpy()  # the loader repeats the last action past the end: masked out
        valid = ~batch["action_is_pad"].numpy()[..., None]
        width = embodiment.action_dim
        actions = np.zeros((size, config.chunk, config.max_action_dim), np.float32)
        actions[..., :width] = normaliser.normalise_action(recorded.reshape(-1, width)).reshape(recorded.shape) * valid
        mask = np.zeros_like(actions)
        mask[..., :width] = valid
        slot = np.full(size, self.slots[embodiment.name])
        state = pad(state, config.max_state_dim)
        return TrainingBatch(frames, state, actions, mask, list(batch["task"]), slot, batch["episode_index"].numpy())

    def held_out_episodes(self, dataset: PolicyDataset, size: int) -> Iterator[EpisodeData]:
        """``dataset``'s held-out episodes, read one at a time: frames at ``size``, state and actions normalised."""
        source, normaliser = LeRobotSource(dataset.folder), self.normalisers[dataset.embodiment.name]
        for index in dataset.held_out:
            episode = source.read_episode(index)
            where = f"{dataset.folder.name}, episode {episode.episode_id}"
            state = (
                normaliser.normalise_state(episode.state)
                if dataset.embodiment.has_state
                else np.zeros((episode.length, 0), np.float32)
            )
            yield EpisodeData(
                episode.episode_id,
                camera_frames(episode.frames, dataset.embodiment, size, where),
                state,
                normaliser.normalise_action(episode.action),
                episode.instruction,
            )


def pad(values: np.ndarray, width: int) -> np.ndarray:
    """(B, D) -> (B, width) zero-padded; D > width is a clear error."""
    if values.shape[-1] > width:
        raise ValueError(f"{values.shape[-1]} dims do not fit the policy's padded width {width}")
    out = np.zeros((*values.shape[:-1], width), np.float32)
    out[..., : values.shape[-1]] = values
    return out


def observation_inputs(
    frames: np.ndarray, state: np.ndarray, texts: list[str], slot: np.ndarray, language: LanguageEncoder
) -> ModelInputs:
    """Model inputs from frames (B, cameras, S, S, 3) uint8 already at the model's size, normalised padded
    state (B, max_state_dim), instructions and weight slots."""
    images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 1, 4, 2, 3).float().div_(255)
    tokens, mask = language.tokens(texts)
    return ModelInputs(images, tokens, mask, torch.from_numpy(state).float(), torch.from_numpy(slot).long())


def camera_frames(frames: dict[str, np.ndarray], embodiment: Embodiment, size: int, where: str) -> np.ndarray:
    """The embodiment's cameras (each (T, H, W, 3)) resized and stacked as (T, cameras, size, size, 3)."""
    missing = [c for c in embodiment.cameras if c not in frames]
    if missing:
        raise ValueError(f"{where}: cameras {missing} missing, has {sorted(frames)}")
    return np.stack([resize_frames(frames[c], size, f"{where}, camera {c}") for c in embodiment.cameras], axis=1)


def _episodes(folder: Path, embodiment: Embodiment) -> list[int]:
    """The dataset's episode indices, once its cameras are known to be stored as videos (the loader reads those)."""
    source = LeRobotSource(folder)
    missing = [c for c in embodiment.cameras if layout.camera_key(c) not in source.video_keys]
    if missing:
        raise ValueError(f"{folder.name}: cameras {missing} have no video, has {sorted(source.video_keys)}")
    return source.episode_indices


def _split(episodes: list[int], holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """Whole episodes held out (at least one where a dataset has two or more), chosen by a seeded draw."""
    count = min(len(episodes) - 1, max(1, round(holdout * len(episodes)))) if len(episodes) > 1 else 0
    chosen = set(np.random.default_rng(seed).choice(len(episodes), size=count, replace=False).tolist())
    return [e for i, e in enumerate(episodes) if i not in chosen], [e for i, e in enumerate(episodes) if i in chosen]


def load_release(
    folder: Path | str,
    config: PolicyConfig,
    mixture: Mixture | None = None,
    holdout: float = 0.1,
    seed: int = 0,
    embodiments: set[str] | None = None,
    log: Callable[[str], None] = print,
) -> ReleaseData:
    """The release at ``folder`` (a pulled release or a built pyramid) ready to train on: the datasets
    ``mixture`` keeps, with its draw weights (default: every dataset, the manifest's weights). Normalisers,
    weight slots and held-out episodes are the same whatever the mixture, so variants compare;
    ``embodiments`` keeps only their datasets (e.g. to score a policy on its target's held-out episodes).
    Datasets without actions, or without a video of each of their embodiment's cameras, are skipped with their
    reason."""
    release, mixture = PulledRelease(folder), mixture or Mixture()
    entries = [e for e in release.manifest.datasets if get_embodiment(e.embodiment).has_actions]
    skipped = {e.dataset: "no actions (unlabelled video)" for e in release.manifest.datasets if e not in entries}
    normalisers = embodiment_normalisers({release.folder / e.path: e.embodiment for e in entries}, config.normalisation)
    tags = sorted({get_embodiment(e.embodiment).tag for e in entries})
    if len(tags) > config.embodiment_slots:
        raise ValueError(
            f"{len(tags)} embodiments in release {release.manifest.version}, the policy has {config.embodiment_slots} slots"
        )
    slots = {e.embodiment: tags.index(get_embodiment(e.embodiment).tag) for e in entries}
    datasets = []
    for rank, entry in enumerate(entries):
        if not mixture.keeps(entry.source) or (embodiments is not None and entry.embodiment not in embodiments):
            continue
        embodiment, folder = get_embodiment(entry.embodiment), release.folder / entry.path
        try:
            episodes = _episodes(folder, embodiment)
        except ValueError as error:
            skipped[entry.dataset] = str(error)
            log(f"skipping {entry.dataset}: {error}")
            continue
        train, held_out = _split(episodes, holdout, seed + rank)
        datasets.append(
            PolicyDataset(entry.dataset, entry.source, embodiment, entry.mixture_weight, folder, train, held_out)
        )
        log(f"loaded {entry.dataset}: {len(train)} training and {len(held_out)} held-out episodes ({embodiment.name})")
    if not datasets:
        raise NothingToTrainError(f"release {release.manifest.version}: no dataset to train on (skipped: {skipped})")
    for dataset, weight in zip(datasets, mixture.weights(datasets), strict=True):
        dataset.weight = weight
    return ReleaseData(release.manifest.version, release.folder, datasets, normalisers, slots, skipped)
