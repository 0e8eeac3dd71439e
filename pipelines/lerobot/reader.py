"""Read LeRobot v2.0, v2.1 and v3.0 datasets (GR00T's ``meta/modality.json`` flavour included) as episodes.

Sources differ in quirks, so the reader normalises them into the episode contract and records what it did
in ``Episode.notes``: float64 vectors are cast to float32, timestamps that are uniformly spaced but offset
(GR00T's demo data starts at 0.05 s) are re-timed to exactly k/fps, and a video feature declared in
``info.json`` without any files is dropped.

``LeRobotSource(root).read_episode(i)`` raises ``EpisodeReadError`` naming the file, the episode and the
reason, so callers can quarantine one episode and keep the rest.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lerobot import layout
from pipelines.lerobot.encoded import EncodedEpisode
from pipelines.lerobot.video import VideoDecodeError, decode_segment, segment_mp4
from schemas.embodiment import ControlMode, Embodiment, get_embodiment, registered_embodiments
from schemas.episode import Episode, EpisodeError, RejectedEpisode, exact_timestamps, validate_episode

__all__ = ["DatasetReadError", "EpisodeReadError", "LeRobotSource", "V3Layout", "read_episode_task"]

_NON_EXTRA_COLUMNS = {*layout.INDEX_COLUMNS, layout.STATE_KEY, layout.ACTION_KEY}


class DatasetReadError(RuntimeError):
    """The dataset as a whole cannot be read (missing or broken metadata); names the file."""


class EpisodeReadError(RuntimeError):
    """One episode cannot be read; the rest of the dataset may still be fine."""

    def __init__(self, path: Path | str, episode: str, reason: str):
        self.path, self.episode, self.reason = str(path), episode, reason
        super().__init__(f"{path}: episode {episode!r}: {reason}")


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise DatasetReadError(f"{path}: missing; not a complete LeRobot dataset")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetReadError(f"{path}: not valid JSON ({error})") from error


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetReadError(f"{path}: missing; not a complete LeRobot dataset")
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except json.JSONDecodeError as error:
        raise DatasetReadError(f"{path}: not valid JSON lines ({error})") from error


@dataclass(frozen=True)
class EpisodeInfo:
    index: int
    length: int


class V3Layout:
    """Locates the rows and video segments of episodes in a v3.0 dataset (many episodes per file)."""

    def __init__(self, root: Path, info: dict[str, Any]):
        self.root, self.info = root, info
        episode_files = sorted((root / layout.EPISODES_DIR).glob("*/*.parquet"))
        if not episode_files:
            raise DatasetReadError(f"{root / layout.EPISODES_DIR}: no episode metadata parquet files")
        tables = [pq.read_table(path, columns=None) for path in episode_files]
        columns = [c for c in tables[0].column_names if not c.startswith("stats/")]
        self.episodes = {row["episode_index"]: row for t in tables for row in t.select(columns).to_pylist()}
        self._episode_tables = tables
        tasks_path = root / layout.TASKS_PATH
        if not tasks_path.is_file():
            raise DatasetReadError(f"{tasks_path}: missing; not a complete LeRobot dataset")
        tasks = pq.read_table(tasks_path).to_pandas()
        self.tasks = {int(i): str(t) for t, i in zip(tasks.index, tasks["task_index"], strict=True)}
        self._data_cache: tuple[Path, pa.Table] | None = None

    def episode_infos(self) -> list[EpisodeInfo]:
        return [EpisodeInfo(i, row["length"]) for i, row in sorted(self.episodes.items())]

    def data_path(self, episode_index: int) -> Path:
        row = self.episodes[episode_index]
        return self.root / self.info["data_path"].format(
            chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]
        )

    def episode_table(self, episode_index: int) -> pa.Table:
        path = self.data_path(episode_index)
        if self._data_cache is None or self._data_cache[0] != path:
            self._data_cache = (path, pq.read_table(path))
        table = self._data_cache[1]
        return table.filter(pc.equal(table["episode_index"], episode_index))

    def feature_stats(self, episode_index: int, feature: str) -> dict[str, np.ndarray]:
        """One episode's stored stats of one feature (``min``, ``mean``, ``q01``, ...)."""
        prefix = f"stats/{feature}/"
        for table in self._episode_tables:
            rows = table.filter(pc.equal(table["episode_index"], episode_index))
            if rows.num_rows:
                names = [c for c in rows.column_names if c.startswith(prefix)]
                return {c.removeprefix(prefix): np.asarray(rows.column(c)[0].as_py()) for c in names}
        raise KeyError(f"episode {episode_index} has no stats")

    def video_segment(self, episode_index: int, video_key: str) -> tuple[Path, float, float]:
        row = self.episodes[episode_index]
        prefix = f"videos/{video_key}/"
        path = self.root / self.info["video_path"].format(
            video_key=video_key, chunk_index=row[prefix + "chunk_index"], file_index=row[prefix + "file_index"]
        )
        return path, row[prefix + "from_timestamp"], row[prefix + "to_timestamp"]


class V2Layout:
    """Locates episodes of a v2.x dataset (one parquet and one mp4 per episode)."""

    def __init__(self, root: Path, info: dict[str, Any]):
        self.root, self.info = root, info
        self.episodes = {row["episode_index"]: row for row in _load_jsonl(root / layout.V2_EPISODES_PATH)}
        self.tasks = {int(row["task_index"]): str(row["task"]) for row in _load_jsonl(root / layout.V2_TASKS_PATH)}

    def episode_infos(self) -> list[EpisodeInfo]:
        return [EpisodeInfo(i, row["length"]) for i, row in sorted(self.episodes.items())]

    def _chunk(self, episode_index: int) -> int:
        return episode_index // int(self.info.get("chunks_size", layout.CHUNKS_SIZE))

    def data_path(self, episode_index: int) -> Path:
        return self.root / self.info["data_path"].format(
            episode_chunk=self._chunk(episode_index), episode_index=episode_index
        )

    def episode_table(self, episode_index: int) -> pa.Table:
        return pq.read_table(self.data_path(episode_index))

    def video_segment(self, episode_index: int, video_key: str) -> tuple[Path, float, float]:
        path = self.root / self.info["video_path"].format(
            episode_chunk=self._chunk(episode_index), video_key=video_key, episode_index=episode_index
        )
        return path, 0.0, self.episodes[episode_index]["length"] / self.info["fps"]


class LeRobotSource:
    """A LeRobot dataset on disk, read episode by episode in the contract.

    Args:
        root: dataset folder (the one holding ``meta/``).
        embodiment: the embodiment to read as. When None it comes from ``meta/pyramid.json`` (our own
            datasets) or by matching ``meta/modality.json`` against the registry (GR00T datasets).
    """

    def __init__(self, root: Path | str, embodiment: Embodiment | None = None):
        self.root = Path(root)
        self.info: dict[str, Any] = _load_json(self.root / layout.INFO_PATH)
        self.version = str(self.info.get("codebase_version", ""))
        if self.version.startswith("v3"):
            self.layout: V3Layout | V2Layout = V3Layout(self.root, self.info)
        elif self.version.startswith("v2"):
            self.layout = V2Layout(self.root, self.info)
        else:
            raise DatasetReadError(f"{self.root / layout.INFO_PATH}: unsupported codebase_version {self.version!r}")
        fps = float(self.info.get("fps", 0))
        if fps <= 0 or fps != int(fps):
            raise DatasetReadError(f"{self.root / layout.INFO_PATH}: fps must be a positive integer, got {fps}")
        self.fps = int(fps)
        self.notes: dict[str, Any] = {}
        self.video_keys = self._video_keys_with_files()
        self.embodiment = embodiment or self._resolve_embodiment()
        self._pyramid_episodes = {e["episode_index"]: e for e in self._pyramid_meta.get("episodes", [])}

    # -- dataset-level ------------------------------------------------------------------------------

    @cached_property
    def _pyramid_meta(self) -> dict[str, Any]:
        path = self.root / layout.PYRAMID_META_PATH
        return _load_json(path) if path.is_file() else {}

    @property
    def episode_indices(self) -> list[int]:
        return [e.index for e in self.layout.episode_infos()]

    def _video_keys_with_files(self) -> list[str]:
        declared = [k for k, f in self.info.get("features", {}).items() if f.get("dtype") == "video"]
        if not self.layout.episodes:
            return declared
        kept = []
        for key in declared:
            if any(self.layout.video_segment(i, key)[0].is_file() for i in self.layout.episodes):
                kept.append(key)
            else:
                self.notes.setdefault("dropped_video_features", []).append(key)
        return kept

    def _resolve_embodiment(self) -> Embodiment:
        if name := self._pyramid_meta.get("embodiment"):
            return get_embodiment(name)
        modality_path = self.root / layout.MODALITY_PATH
        if modality_path.is_file():
            candidate = Embodiment.from_modality(
                _load_json(modality_path),
                name=self.root.name,
                tag="new_embodiment",
                robot_type=str(self.info.get("robot_type", "unknown")),
                fps=self.fps,
                control_mode=ControlMode.JOINT_POSITION,
            )
            for registered in registered_embodiments().values():
                if registered.same_layout(candidate) and registered.robot_type == candidate.robot_type:
                    return registered
            raise DatasetReadError(
                f"{modality_path}: layout matches no registered embodiment (robot_type "
                f"{candidate.robot_type!r}, cameras {candidate.cameras}); register one or pass embodiment="
            )
        raise DatasetReadError(
            f"{self.root}: no meta/pyramid.json or meta/modality.json to tell its embodiment; pass embodiment="
        )

    # -- episodes ------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Episode]:
        for index in self.episode_indices:
            yield self.read_episode(index)

    def __len__(self) -> int:
        return len(self.layout.episodes)

    def episode_id(self, episode_index: int) -> str:
        if episode_index in self._pyramid_episodes:
            return self._pyramid_episodes[episode_index]["episode_id"]
        return f"{self.root.name}/{episode_index:06d}"

    def read_episode(self, episode_index: int) -> Episode:
        return self._read(episode_index, encoded=False)

    def read_episode_metadata(self, episode_index: int) -> Episode:
        """An episode without its frames (instruction, vectors, timestamps): no video is decoded."""
        return self._read(episode_index, encoded=True)

    def read_encoded_episode(self, episode_index: int) -> EncodedEpisode:
        """One episode of a v3.0 dataset with its video packets copied, not decoded, and its stored image
        stats: a lossless, fast way to move episodes into another dataset (merging, releases)."""
        if not isinstance(self.layout, V3Layout):
            raise DatasetReadError(f"{self.root}: encoded episodes are read from v3.0 datasets, not {self.version}")
        episode = self._read(episode_index, encoded=True)
        videos, shapes, stats = {}, {}, {}
        for key in self.video_keys:
            camera = key.removeprefix(layout.CAMERA_PREFIX)
            path, start, end = self.layout.video_segment(episode_index, key)
            try:
                videos[camera] = segment_mp4(path, start, end)
            except VideoDecodeError as error:
                raise EpisodeReadError(path, episode.episode_id, str(error)) from error
            shapes[camera] = tuple(self.info["features"][key]["shape"])
            stats[camera] = self.layout.feature_stats(episode_index, key)
        return EncodedEpisode(episode, shapes, stats, videos)

    def _read(self, episode_index: int, *, encoded: bool) -> Episode:
        episode_id = self.episode_id(episode_index)
        data_path = self.layout.data_path(episode_index)
        if not data_path.is_file():
            raise EpisodeReadError(data_path, episode_id, "data file is missing")
        try:
            table = self.layout.episode_table(episode_index)
        except (OSError, pa.ArrowException) as error:
            raise EpisodeReadError(data_path, episode_id, f"unreadable parquet ({error})") from error
        expected = self.layout.episodes[episode_index]["length"]
        if table.num_rows != expected:
            raise EpisodeReadError(data_path, episode_id, f"{table.num_rows} rows, episode metadata says {expected}")
        notes: dict[str, Any] = dict(self._pyramid_episodes.get(episode_index, {}).get("notes", {}))
        try:
            episode = Episode(
                episode_id=episode_id,
                embodiment=self.embodiment.name,
                fps=self.fps,
                instruction=self._instruction(table, notes),
                frames={} if encoded else self._frames(episode_index, episode_id, expected),
                state=self._vector(table, layout.STATE_KEY, self.embodiment.has_state, notes),
                action=self._vector(table, layout.ACTION_KEY, self.embodiment.has_actions, notes),
                timestamps=self._timestamps(table, episode_id, data_path, notes),
                extras=self._extras(table, notes),
                notes=notes,
            )
            validate_episode(episode, self.embodiment, frames=not encoded)
        except EpisodeError as error:
            raise EpisodeReadError(data_path, episode_id, f"field {error.field!r}: {error.reason}") from error
        return episode

    def _frames(self, episode_index: int, episode_id: str, length: int) -> dict[str, np.ndarray]:
        frames = {}
        for key in self.video_keys:
            path, start, _ = self.layout.video_segment(episode_index, key)
            if not path.is_file():
                raise EpisodeReadError(path, episode_id, "video file is missing")
            try:
                frames[key.removeprefix(layout.CAMERA_PREFIX)] = decode_segment(path, start, length)
            except VideoDecodeError as error:
                raise EpisodeReadError(path, episode_id, str(error)) from error
        return frames

    def _instruction(self, table: pa.Table, notes: dict[str, Any]) -> str:
        column = layout.TASK_ANNOTATION_KEY if layout.TASK_ANNOTATION_KEY in table.column_names else "task_index"
        counts = Counter(table.column(column).to_pylist())
        texts = [self.layout.tasks.get(int(i), "") for i, _ in counts.most_common()]
        if len(texts) > 1:
            notes["instructions"] = texts
        for name in table.column_names:
            if name.startswith("annotation.") and name != layout.TASK_ANNOTATION_KEY:
                values = sorted({self.layout.tasks.get(int(i), str(i)) for i in table.column(name).to_pylist()})
                notes.setdefault("annotations", {})[name.removeprefix("annotation.")] = values
        return texts[0]

    def _vector(self, table: pa.Table, key: str, wanted: bool, notes: dict[str, Any]) -> np.ndarray | None:
        if not wanted or key not in table.column_names:
            return None
        values = _column_to_numpy(table.column(key))
        if values.dtype != np.float32:
            notes.setdefault("cast", {})[key] = f"{values.dtype}->float32"
        return values.astype(np.float32)

    def _timestamps(self, table: pa.Table, episode_id: str, path: Path, notes: dict[str, Any]) -> np.ndarray:
        source = table.column("timestamp").to_numpy().astype(np.float64)
        exact = exact_timestamps(len(source), self.fps)
        if np.array_equal(source.astype(np.float32), exact):
            return exact
        offset = source[0]
        drift = np.abs(source - offset - exact.astype(np.float64))
        if drift.max() > 0.25 / self.fps:
            frame = int(drift.argmax())
            raise EpisodeReadError(
                path,
                episode_id,
                f"timestamps are not uniform at {self.fps} fps (frame {frame} is {source[frame]:.4f} s)",
            )
        notes["retimed"] = {"offset_s": float(offset), "max_jitter_s": float(drift.max())}
        return exact

    def _extras(self, table: pa.Table, notes: dict[str, Any]) -> dict[str, np.ndarray]:
        shapes = self._pyramid_meta.get("extras", {})
        extras = {}
        for name in table.column_names:
            if name in _NON_EXTRA_COLUMNS or name.startswith("annotation."):
                continue
            values = _column_to_numpy(table.column(name))
            if values.dtype == np.float64:
                notes.setdefault("cast", {})[name] = "float64->float32"
                values = values.astype(np.float32)
            if name in shapes:
                values = values.reshape(len(values), *shapes[name])
            extras[name] = values
        return extras


def _column_to_numpy(column: pa.ChunkedArray) -> np.ndarray:
    """List columns become (T, D) arrays, scalar columns (T,)."""
    column = column.combine_chunks()
    if not (
        pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) or pa.types.is_large_list(column.type)
    ):
        return column.to_numpy(zero_copy_only=False)
    widths = pc.unique(pc.list_value_length(column)).to_pylist()
    if len(widths) > 1:
        raise ValueError(f"list column has rows of different lengths {sorted(widths)}")
    return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), widths[0] if widths else 0)


@lru_cache(maxsize=8)
def _cached_source(root: str, embodiment: str | None) -> LeRobotSource:
    return LeRobotSource(root, get_embodiment(embodiment) if embodiment else None)


def read_episode_task(root: str, embodiment: str | None, episode_index: int) -> Episode | RejectedEpisode:
    """One episode read where it runs (e.g. a Ray worker); an unreadable one comes back as ``RejectedEpisode``."""
    try:
        return _cached_source(root, embodiment).read_episode(episode_index)
    except EpisodeReadError as error:
        return RejectedEpisode(error.episode, f"file {error.path}", error.reason)
