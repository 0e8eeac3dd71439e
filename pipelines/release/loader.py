"""Training batches streamed from a pulled release, in bounded memory whatever the release's size.

A batch is drawn from one dataset (datasets of different embodiments have different widths), picked with the
manifest's mixture weights; its samples are (episode, step) pairs, episodes drawn in proportion to their
length. Each sample holds every camera's frame at that step, the state, the next ``chunk`` actions (padded past
the episode's end, with a mask) and the instruction. Batch ``n`` depends only on the seed and ``n``: the stream
is deterministic, a run resumes mid-epoch from the number of batches it consumed, and worker processes (each
making every ``workers``-th batch) give the same batches as one process.

Decoding is planned per batch: the samples of one video file are decoded in time order from one open container
per file and worker, decoding forward to a frame before the next keyframe and seeking otherwise, so samples
close in time share the decoding. Vectors come from the data file, of which a
worker keeps the few it used last; nothing holds the whole release.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from pipelines.learning.frame_pairs import resize_frames
from pipelines.lerobot import layout
from pipelines.lerobot.reader import V3Layout, open_layout
from pipelines.lerobot.video import VideoDecodeError, seek_before, video_stream
from schemas.options import option
from schemas.pyramid import ReleaseManifest

__all__ = ["DatasetDraw", "LoaderConfig", "ReleaseBatches", "release_loader"]

OPEN_FILES = 8  # video containers a worker keeps open
DEFAULT_GOP = 2  # keyframe interval of a file whose info.json does not record one (lerobot's and ours)


@dataclass(frozen=True)
class LoaderConfig:
    batch_size: int = option(32, "samples per batch, all from one dataset")
    chunk: int = option(16, "future actions per sample (the action chunk)")
    seed: int = option(0, "seeds which dataset, episodes and steps every batch draws")
    workers: int = option(2, "decoding processes (0: in this process)")
    image_size: int = option(0, "frames centre-cropped and resized to this square side by the workers (0: as stored)")


@dataclass(frozen=True)
class DatasetDraw:
    """How a loader draws from one dataset: its weight among the datasets drawn, and the episode indices it samples
    (None: every episode), e.g. a policy's training episodes without its held-out ones."""

    weight: float
    episodes: tuple[int, ...] | None = None


class _LRU(OrderedDict):
    """At most ``size`` entries; the least recently used one is closed (if it can be) and dropped."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or(self, key: Any, make: Any) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > self.size:
            _, old = self.popitem(last=False)
            if hasattr(old, "close"):
                old.close()
        return value


class _VideoFile:
    """One open mp4: frames at given times, decoding forward from where it is when the next time lies before the
    next keyframe (``gop`` frames apart), seeking otherwise. Single-threaded decoding: frame threads would have
    to refill after every seek."""

    def __init__(self, path: Path, gop: int):
        self.path, self.gop = path, gop
        self.container = av.open(str(path))
        self.stream = video_stream(self.container, path)
        self.fps = float(self.stream.average_rate or self.stream.guessed_rate or 20)
        self.frames: Iterator[av.VideoFrame] | None = None
        self.last: tuple[float, np.ndarray] | None = None

    def close(self) -> None:
        self.container.close()

    def frame_at(self, seconds: float) -> np.ndarray:
        tolerance = 0.5 / self.fps
        if self.last is not None and abs(self.last[0] - seconds) < tolerance:
            return self.last[1]  # another sample at the same step
        behind = self.last is None or seconds < self.last[0] or seconds - self.last[0] >= self.gop / self.fps
        if self.frames is None or behind:
            seek_before(self.container, self.stream, seconds)
            self.frames = self.container.decode(self.stream)
        for frame in self.frames:
            if frame.pts is None:
                continue
            time = float(frame.pts * self.stream.time_base)
            if time > seconds - tolerance:
                self.last = (time, frame.to_ndarray(format="rgb24"))
                return self.last[1]
        raise VideoDecodeError(f"{self.path}: no frame at t={seconds:.4f}s")


class _Dataset:
    """One dataset of the release, as a worker reads it: episode metadata, and data and video files on demand."""

    def __init__(self, root: Path, chunk: int, image_size: int, episodes: tuple[int, ...] | None):
        self.root, self.chunk, self.image_size = root, chunk, image_size
        self.layout: V3Layout = open_layout(root)  # type: ignore[assignment]  (a release holds v3.0 datasets)
        if not str(self.layout.info.get("codebase_version")).startswith("v3"):
            raise ValueError(f"{root}: a release holds LeRobot v3.0 datasets only")
        self.fps = int(self.layout.info["fps"])
        features = self.layout.info["features"]
        self.video_keys = [k for k, f in features.items() if f.get("dtype") == "video"]
        self.gops = {k: int(features[k].get("info", {}).get("video.g") or DEFAULT_GOP) for k in self.video_keys}
        self.vector_keys = [k for k in (layout.STATE_KEY, layout.ACTION_KEY) if k in features]
        wanted = None if episodes is None else set(episodes)
        infos = [i for i in self.layout.episode_infos() if wanted is None or i.index in wanted]
        if not infos:
            raise ValueError(f"{root}: none of the episodes {episodes} is in the dataset")
        self.episode_indices = np.array([i.index for i in infos])
        self.lengths = np.array([i.length for i in infos])
        self.data_files = _LRU(2)
        self.videos = _LRU(OPEN_FILES)

    def _vectors(self, episode_index: int) -> dict[str, np.ndarray]:
        """The episode's rows of the vector columns, cut from its data file (kept while recently used)."""
        path = self.layout.data_path(episode_index)

        def read() -> dict[str, np.ndarray]:
            table = pq.read_table(path, columns=[*self.vector_keys, "episode_index"])
            rows = table.num_rows
            columns = {
                key: table.column(key).combine_chunks().flatten().to_numpy().reshape(rows, -1)
                for key in self.vector_keys
            }
            return {**columns, "episode_index": table.column("episode_index").to_numpy()}

        columns = self.data_files.get_or(path, read)
        rows = np.flatnonzero(columns["episode_index"] == episode_index)
        return {key: columns[key][rows] for key in self.vector_keys}

    def samples(self, episodes: np.ndarray, steps: np.ndarray) -> dict[str, Any]:
        batch: dict[str, Any] = {"episode_index": torch.from_numpy(episodes), "frame_index": torch.from_numpy(steps)}
        vectors = [self._vectors(int(e)) for e in episodes]
        if layout.STATE_KEY in self.vector_keys:
            state = np.stack([v[layout.STATE_KEY][s] for v, s in zip(vectors, steps, strict=True)])
            batch[layout.STATE_KEY] = torch.from_numpy(state.astype(np.float32))
        if layout.ACTION_KEY in self.vector_keys:
            actions, pad = self._chunks(vectors, steps)
            batch[layout.ACTION_KEY], batch["action_is_pad"] = torch.from_numpy(actions), torch.from_numpy(pad)
        for key in self.video_keys:
            batch[key] = torch.from_numpy(self._frames(key, episodes, steps))
        batch["task"] = [str(self.layout.episodes[int(e)]["tasks"][0]) for e in episodes]
        return batch

    def _chunks(self, vectors: list[dict[str, np.ndarray]], steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, chunk, A) actions from each step on, the last one repeated past the episode's end (as lerobot pads),
        and (B, chunk) True where padded."""
        width = vectors[0][layout.ACTION_KEY].shape[1]
        actions = np.zeros((len(steps), self.chunk, width), np.float32)
        pad = np.zeros((len(steps), self.chunk), bool)
        for row, (episode, step) in enumerate(zip(vectors, steps, strict=True)):
            values = episode[layout.ACTION_KEY]
            wanted = np.arange(step, step + self.chunk)
            pad[row] = wanted >= len(values)
            actions[row] = values[np.minimum(wanted, len(values) - 1)]
        return actions, pad

    def _frames(self, key: str, episodes: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 frames of camera ``key``; the samples of one file decoded in time order."""
        wanted = []
        for row, (episode, step) in enumerate(zip(episodes, steps, strict=True)):
            path, start, _ = self.layout.video_segment(int(episode), key)
            wanted.append((path, start + step / self.fps, row))
        frames: list[np.ndarray | None] = [None] * len(wanted)
        for path, seconds, row in sorted(wanted):
            video = self.videos.get_or(path, lambda path=path: _VideoFile(path, self.gops[key]))
            frames[row] = video.frame_at(seconds)
        stacked = np.stack(frames)
        return resize_frames(stacked, self.image_size, f"{self.root}, {key}") if self.image_size else stacked


class ReleaseBatches(IterableDataset):
    """The batches of a release from batch ``start`` on (``stop``: the first not given; None: endless)."""

    def __init__(
        self,
        folder: Path | str,
        manifest: ReleaseManifest,
        config: LoaderConfig,
        start: int = 0,
        stop: int | None = None,
        datasets: Sequence[str] | Mapping[str, DatasetDraw] | None = None,
    ):
        self.folder, self.config, self.start, self.stop = Path(folder), config, start, stop
        entries = [e for e in manifest.datasets if datasets is None or e.dataset in datasets]
        if not entries:
            raise ValueError(f"{folder}: none of the datasets {list(datasets or [])} is in the release")
        draws = (
            datasets if isinstance(datasets, Mapping) else {e.dataset: DatasetDraw(e.mixture_weight) for e in entries}
        )
        self.names = [e.dataset for e in entries]
        self.paths = {e.dataset: self.folder / e.path for e in entries}
        self.episodes = {name: draws[name].episodes for name in self.names}
        weights = np.array([draws[name].weight for name in self.names], np.float64)
        self.weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1 / len(weights))
        self._open: dict[str, _Dataset] = {}

    def dataset(self, name: str) -> _Dataset:
        if name not in self._open:
            self._open[name] = _Dataset(
                self.paths[name], self.config.chunk, self.config.image_size, self.episodes[name]
            )
        return self._open[name]

    def plan(self, number: int) -> tuple[str, np.ndarray, np.ndarray]:
        """Batch ``number``: its dataset, and its samples' episode indices and steps (from the seed alone)."""
        rng = np.random.default_rng([self.config.seed, number])
        name = self.names[int(rng.choice(len(self.names), p=self.weights))]
        dataset = self.dataset(name)
        picked = rng.choice(
            len(dataset.lengths), size=self.config.batch_size, p=dataset.lengths / dataset.lengths.sum()
        )
        steps = (rng.random(self.config.batch_size) * dataset.lengths[picked]).astype(np.int64)
        return name, dataset.episode_indices[picked], steps

    def batch(self, number: int) -> dict[str, Any]:
        name, episodes, steps = self.plan(number)
        return {**self.dataset(name).samples(episodes, steps), "dataset": name, "batch": number}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        worker = get_worker_info()
        first, step = (self.start, 1) if worker is None else (self.start + worker.id, worker.num_workers)
        numbers = itertools.count(first, step) if self.stop is None else range(first, self.stop, step)
        for number in numbers:
            yield self.batch(number)


def release_loader(
    folder: Path | str,
    manifest: ReleaseManifest,
    config: LoaderConfig | None = None,
    start: int = 0,
    stop: int | None = None,
    datasets: Sequence[str] | Mapping[str, DatasetDraw] | None = None,
) -> DataLoader:
    """Batches ``start``, ``start + 1``, ... in order, made by ``config.workers`` processes, from ``datasets``
    (names: with the manifest's weights; draws: with their own weights and episodes; None: every dataset)."""
    config = config or LoaderConfig()
    batches = ReleaseBatches(folder, manifest, config, start, stop, datasets)
    return DataLoader(
        batches,
        batch_size=None,
        num_workers=config.workers,
        prefetch_factor=2 if config.workers else None,
        # spawned, not forked: a fork of a process with threads (Ray, S3 clients, encoders) can inherit a held lock
        multiprocessing_context="spawn" if config.workers else None,
    )
