"""Read LeRobot v2.0, v2.1 and v3.0 datasets (GR00T's ``meta/modality.json`` flavour included) as episodes.

Sources differ in quirks, so the reader normalises them into the episode contract and records what it did
in ``Episode.notes`` (per episode) and ``LeRobotSource.notes`` (per dataset): float64 vectors are cast to
float32, timestamps that are uniformly spaced but offset (GR00T's demo data starts at 0.05 s) are re-timed to
exactly k/fps, a video feature declared in ``info.json`` without any files is dropped, cameras of ``image``
dtype (PNG/JPEG in the parquet files) are decoded like video, and features that are neither a camera, the
state, the action nor a number are left out.

The embodiment says how the dataset maps to the contract: each of its cameras is a ``video`` or ``image``
feature of the same name (``observation.images.<camera>``) or of an alias, and its state and action groups read
``observation.state`` and ``action`` (or the columns their ``source_key`` names).

``LeRobotSource(root).read_episode(i)`` raises ``EpisodeReadError`` naming the file, the episode and the
reason, so callers can quarantine one episode and keep the rest.
"""

from __future__ import annotations

import io
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
from PIL import Image

from pipelines.lerobot import layout
from pipelines.lerobot.encoded import EncodedEpisode
from pipelines.lerobot.video import VideoDecodeError, decode_segment, segment_mp4
from schemas.embodiment import (
    CameraMismatchError,
    ControlMode,
    Embodiment,
    Group,
    UnknownEmbodimentError,
    embodiment_origin,
    get_embodiment,
    register,
    registered_embodiments,
)
from schemas.episode import Episode, EpisodeError, RejectedEpisode, exact_timestamps, validate_episode
from schemas.errors import InputError, error_reason
from schemas.pyramid import safe_relative_path

__all__ = [
    "DatasetReadError",
    "EpisodeReadError",
    "LeRobotSource",
    "V3Layout",
    "carried_embodiment",
    "open_layout",
    "read_episode_task",
    "video_keys_with_files",
]

CAMERA_DTYPES = ("video", "image")
NUMERIC_DTYPES = (
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)
TEXT_DTYPES = ("string", "str")


class DatasetReadError(InputError, RuntimeError):
    """The dataset as a whole cannot be read (missing or broken metadata); names the file."""


class EpisodeReadError(RuntimeError):
    """One episode cannot be read; the rest of the dataset may still be fine."""

    def __init__(self, path: Path | str, episode: str, reason: str):
        self.path, self.episode, self.reason = str(path), episode, reason
        super().__init__(f"{path}: episode {episode!r}: {reason}")


def _load_json(path: Path) -> dict[str, Any]:
    """A metadata file's JSON object; anything else (missing, not UTF-8 JSON, not an object) names the file."""
    if not path.is_file():
        raise DatasetReadError(f"{path}: missing; not a complete LeRobot dataset")
    try:
        document = json.loads(path.read_text())
    except ValueError as error:  # invalid JSON or UTF-8
        raise DatasetReadError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(document, dict):
        raise DatasetReadError(f"{path}: holds a {type(document).__name__}, not a JSON object")
    return document


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetReadError(f"{path}: missing; not a complete LeRobot dataset")
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except ValueError as error:
        raise DatasetReadError(f"{path}: not valid JSON lines ({error})") from error
    if not all(isinstance(row, dict) for row in rows):
        raise DatasetReadError(f"{path}: every line must be a JSON object")
    return rows


def _inside(root: Path, relative: str) -> Path:
    """A file named by a dataset's own metadata (a path template filled in): it must stay inside the dataset."""
    return root / safe_relative_path(relative, str(root))


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
        try:
            tables = [pq.read_table(path, columns=None) for path in episode_files]
        except (OSError, pa.ArrowException) as error:
            raise DatasetReadError(f"{root / layout.EPISODES_DIR}: unreadable episode metadata ({error})") from error
        columns = [c for c in tables[0].column_names if not c.startswith("stats/")]
        self.episodes = {row["episode_index"]: row for t in tables for row in t.select(columns).to_pylist()}
        self._episode_tables = tables
        tasks_path = root / layout.TASKS_PATH
        if not tasks_path.is_file():
            raise DatasetReadError(f"{tasks_path}: missing; not a complete LeRobot dataset")
        try:
            tasks = pq.read_table(tasks_path).to_pandas()
        except (OSError, pa.ArrowException) as error:
            raise DatasetReadError(f"{tasks_path}: unreadable ({error})") from error
        self.tasks = {int(i): str(t) for t, i in zip(tasks.index, tasks["task_index"], strict=True)}
        self._data_cache: tuple[Path, pa.Table] | None = None

    def episode_infos(self) -> list[EpisodeInfo]:
        return [EpisodeInfo(i, row["length"]) for i, row in sorted(self.episodes.items())]

    def data_path(self, episode_index: int) -> Path:
        row = self.episodes[episode_index]
        return _inside(
            self.root,
            self.info["data_path"].format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"]),
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
        path = _inside(
            self.root,
            self.info["video_path"].format(
                video_key=video_key, chunk_index=row[prefix + "chunk_index"], file_index=row[prefix + "file_index"]
            ),
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
        return _inside(
            self.root,
            self.info["data_path"].format(episode_chunk=self._chunk(episode_index), episode_index=episode_index),
        )

    def episode_table(self, episode_index: int) -> pa.Table:
        return pq.read_table(self.data_path(episode_index))

    def video_segment(self, episode_index: int, video_key: str) -> tuple[Path, float, float]:
        path = _inside(
            self.root,
            self.info["video_path"].format(
                episode_chunk=self._chunk(episode_index), video_key=video_key, episode_index=episode_index
            ),
        )
        return path, 0.0, self.episodes[episode_index]["length"] / self.info["fps"]


def open_layout(root: Path | str) -> V3Layout | V2Layout:
    """The episode layout of the LeRobot dataset at ``root`` (v2.x or v3.0), its ``info.json`` read."""
    root = Path(root)
    info = _load_json(root / layout.INFO_PATH)
    version = str(info.get("codebase_version", ""))
    if version.startswith("v3"):
        return V3Layout(root, info)
    if version.startswith("v2"):
        return V2Layout(root, info)
    raise DatasetReadError(f"{root / layout.INFO_PATH}: unsupported codebase_version {version!r}")


def video_keys_with_files(episodes: V3Layout | V2Layout) -> tuple[list[str], list[str]]:
    """The ``video`` features with files, and those declared without any (GR00T's demo data has one)."""
    declared = [k for k, f in episodes.info.get("features", {}).items() if f.get("dtype") == "video"]
    if not episodes.episodes:
        return declared, []
    kept = [k for k in declared if any(episodes.video_segment(i, k)[0].is_file() for i in episodes.episodes)]
    return kept, [k for k in declared if k not in kept]


def carried_embodiment(root: Path | str) -> Embodiment:
    """The embodiment a pyramid dataset was written with (``meta/pyramid.json``): the registry's, or the document
    the dataset carries, registered for this process (a user's embodiment where its file is not)."""
    path = Path(root) / layout.PYRAMID_META_PATH
    meta = _load_json(path)
    name, document = meta.get("embodiment"), meta.get("embodiment_document")
    carried = Embodiment.from_document(document, str(path)) if document else None
    try:
        known = get_embodiment(name)
    except UnknownEmbodimentError:
        if carried is None:
            raise
        return register(carried, str(path))
    if carried is not None and not known.same_layout(carried):
        raise DatasetReadError(
            f"{path}: written as embodiment {name!r} with another layout than {embodiment_origin(name)} has now; "
            "ingest the source again, or give the changed file a new name"
        )
    return known


class LeRobotSource:
    """A LeRobot dataset on disk, read episode by episode in the contract.

    Args:
        root: dataset folder (the one holding ``meta/``).
        embodiment: the embodiment to read as. When None it comes from ``meta/pyramid.json`` (our own
            datasets, which carry their embodiment's document) or by matching ``meta/modality.json`` against the
            registry (GR00T datasets).
    """

    def __init__(self, root: Path | str, embodiment: Embodiment | None = None):
        self.root = Path(root)
        try:
            self._open(embodiment)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError, pa.ArrowException) as error:
            if isinstance(error, InputError):
                raise
            raise DatasetReadError(
                f"{self.root / 'meta'}: malformed metadata ({type(error).__name__}: "
                f"{error_reason(error)}); is this a complete LeRobot dataset?"
            ) from error

    def _open(self, embodiment: Embodiment | None) -> None:
        self.layout = open_layout(self.root)
        self.info: dict[str, Any] = self.layout.info
        self.version = str(self.info.get("codebase_version", ""))
        fps = float(self.info.get("fps", 0))
        if fps <= 0 or fps != int(fps):
            raise DatasetReadError(f"{self.root / layout.INFO_PATH}: fps must be a positive integer, got {fps}")
        self.fps = int(fps)
        self.features: dict[str, dict[str, Any]] = self.info.get("features", {})
        self.notes: dict[str, Any] = {}
        self.video_keys = self._video_keys_with_files()
        self.image_keys = [k for k, f in self.features.items() if f.get("dtype") == "image"]
        self.embodiment = embodiment or self._resolve_embodiment()
        self.cameras = self._match_cameras()
        self.vector_sources: dict[str, list[str]] = {}  # state/action -> the columns it is read from
        self._check_vectors()
        self.extra_keys = self._extra_keys()
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
        kept, dropped = video_keys_with_files(self.layout)
        if dropped:
            self.notes["dropped_video_features"] = dropped
        return kept

    def _resolve_embodiment(self) -> Embodiment:
        if self._pyramid_meta.get("embodiment"):
            return carried_embodiment(self.root)
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
                f"{modality_path}: layout matches no known embodiment (robot_type {candidate.robot_type!r}, "
                f"cameras {list(candidate.cameras)}); pass --embodiment NAME, or --embodiment auto to infer one"
            )
        raise DatasetReadError(
            f"{self.root}: no meta/pyramid.json or meta/modality.json tells its embodiment; pass --embodiment NAME, "
            f"or --embodiment auto to infer one (`pyramid embodiments infer {self.root}` writes a file to review)"
        )

    def _match_cameras(self) -> dict[str, str]:
        """Source camera feature -> embodiment camera, by name or alias."""
        if not self.layout.episodes:
            return {}
        names = {
            key: (key.removeprefix("observation."), key.removeprefix(layout.CAMERA_PREFIX))
            for key in (*self.video_keys, *self.image_keys)
        }
        try:
            return self.embodiment.match_cameras(names)
        except CameraMismatchError as error:
            raise DatasetReadError(f"{self.root / layout.INFO_PATH}: {error}") from None

    def _check_vectors(self) -> None:
        """Per vector (state, action), the columns it is read from (``vector_sources``); their widths (meta/info.json) must match the
        groups. A pyramid dataset stores each vector whole in ``observation.state`` / ``action``; a foreign one is
        read by its groups' sources where it has them, else whole (a robosuite Panda recorded straight to
        LeRobot has no robomimic obs keys)."""
        info_path = self.root / layout.INFO_PATH
        for kind, default in (("state", layout.STATE_KEY), ("action", layout.ACTION_KEY)):
            groups = self._groups(kind)
            if not groups:
                continue
            by_groups = not self._pyramid_meta.get("embodiment") and any(
                g.source_index is not None or (g.source_key is not None and g.source_key in self.features)
                for g in groups
            )
            used = list(dict.fromkeys(g.source_key or default for g in groups)) if by_groups else [default]
            for key in used:
                feature = self.features.get(key)
                if feature is None:
                    raise DatasetReadError(
                        f"{info_path}: no feature {key!r}, which embodiment "
                        f"{self.embodiment.name!r} reads its {kind} from"
                    )
                if feature.get("dtype") not in NUMERIC_DTYPES:
                    raise DatasetReadError(
                        f"{info_path}: feature {key!r} has dtype {feature.get('dtype')!r}; a "
                        f"{kind} must be numeric ({', '.join(NUMERIC_DTYPES)})"
                    )
            self.vector_sources[kind] = used
            try:
                self._gather(kind, {key: np.zeros((1, *self.features[key].get("shape", [1]))) for key in used})
            except (KeyError, ValueError) as error:
                raise DatasetReadError(
                    f"{info_path}: {error_reason(error)}; fix the {kind} groups in "
                    f"{embodiment_origin(self.embodiment.name)}, or pass --embodiment auto"
                )

    def _groups(self, kind: str) -> tuple[Group, ...]:
        return self.embodiment.state_groups if kind == "state" else self.embodiment.action_groups

    def _gather(self, kind: str, columns: dict[str, np.ndarray]) -> np.ndarray:
        """The (T, dim) vector from the columns it is read from (``vector_sources``)."""
        default = layout.STATE_KEY if kind == "state" else layout.ACTION_KEY
        if self.vector_sources[kind] != [default]:
            return self.embodiment.gather(kind, columns, default)  # type: ignore[arg-type]
        values = columns[default].reshape(len(columns[default]), -1)
        dim = self.embodiment.state_dim if kind == "state" else self.embodiment.action_dim
        if values.shape[1] != dim:
            raise ValueError(
                f"{default!r} has {values.shape[1]} values per frame, embodiment {self.embodiment.name!r}'s "
                f"{kind} groups take {dim}"
            )
        return values

    def _extra_keys(self) -> list[str]:
        """Numeric features the embodiment does not use, carried as extra columns; other features are noted."""
        used = {
            *layout.INDEX_COLUMNS,
            *(k for keys in self.vector_sources.values() for k in keys),
            *self.video_keys,
            *self.image_keys,
        }
        extras = []
        for key, feature in self.features.items():
            dtype = feature.get("dtype")
            if key in used or key.startswith("annotation.") or (dtype == "video" and key not in self.video_keys):
                continue
            if dtype in NUMERIC_DTYPES:
                extras.append(key)
            else:
                self.notes.setdefault("dropped_features", {})[key] = f"dtype {dtype!r} is not carried"
        return extras

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
        if not isinstance(self.layout, V3Layout) or self.image_keys:
            raise DatasetReadError(f"{self.root}: encoded episodes are read from v3.0 datasets with video cameras")
        episode = self._read(episode_index, encoded=True)
        videos, shapes, stats = {}, {}, {}
        for key in self.video_keys:
            camera = self.cameras[key]
            path, start, end = self.layout.video_segment(episode_index, key)
            try:
                videos[camera] = segment_mp4(path, start, end)
            except VideoDecodeError as error:
                raise EpisodeReadError(path, episode.episode_id, str(error)) from error
            shapes[camera] = tuple(self.features[key]["shape"])
            stats[camera] = self.layout.feature_stats(episode_index, key)
        return EncodedEpisode(episode, shapes, stats, videos)

    def _read(self, episode_index: int, *, encoded: bool) -> Episode:
        """One episode, or an ``EpisodeReadError`` naming its file and why, whatever is wrong with it."""
        episode_id, where = f"{self.root.name}/{episode_index:06d}", self.root
        try:
            episode_id = self.episode_id(episode_index)
            where = self.layout.data_path(episode_index)
            return self._read_rows(episode_index, episode_id, where, encoded)
        except EpisodeError as error:
            raise EpisodeReadError(where, episode_id, f"field {error.field!r}: {error.reason}") from error
        except (KeyError, ValueError, TypeError, AttributeError, IndexError, OSError, pa.ArrowException) as error:
            raise EpisodeReadError(where, episode_id, error_reason(error)) from error

    def _read_rows(self, episode_index: int, episode_id: str, data_path: Path, encoded: bool) -> Episode:
        if not data_path.is_file():
            raise EpisodeReadError(data_path, episode_id, "data file is missing")
        try:
            table = self.layout.episode_table(episode_index)
        except (OSError, pa.ArrowException) as error:
            raise EpisodeReadError(data_path, episode_id, f"unreadable parquet ({error})") from error
        expected = self.layout.episodes[episode_index]["length"]
        if table.num_rows != expected:
            raise EpisodeReadError(data_path, episode_id, f"{table.num_rows} rows, episode metadata says {expected}")
        if expected == 0:
            raise EpisodeReadError(data_path, episode_id, "episode is empty (0 frames)")
        notes: dict[str, Any] = dict(self._pyramid_episodes.get(episode_index, {}).get("notes", {}))
        columns = {key: _column_to_numpy(table.column(key)) for keys in self.vector_sources.values() for key in keys}
        episode = Episode(
            episode_id=episode_id,
            embodiment=self.embodiment.name,
            fps=self.fps,
            instruction=self._instruction(table, notes),
            frames={} if encoded else self._frames(table, episode_index, episode_id, expected),
            state=self._vector("state", columns, layout.STATE_KEY, notes),
            action=self._vector("action", columns, layout.ACTION_KEY, notes),
            timestamps=self._timestamps(table, episode_id, data_path, notes),
            extras=self._extras(table, notes),
            notes=notes,
        )
        validate_episode(episode, self.embodiment, frames=not encoded)
        return episode

    def _frames(self, table: pa.Table, episode_index: int, episode_id: str, length: int) -> dict[str, np.ndarray]:
        frames = {}
        for key in self.video_keys:
            path, start, _ = self.layout.video_segment(episode_index, key)
            if not path.is_file():
                raise EpisodeReadError(path, episode_id, "video file is missing")
            try:
                frames[self.cameras[key]] = decode_segment(path, start, length)
            except VideoDecodeError as error:
                raise EpisodeReadError(path, episode_id, str(error)) from error
        for key in self.image_keys:
            frames[self.cameras[key]] = np.stack([self._image(item, key) for item in table.column(key).to_pylist()])
        return frames

    def _image(self, item: Any, key: str) -> np.ndarray:
        """One frame of an ``image`` feature: PNG/JPEG bytes in the parquet row, or a file inside the dataset."""
        data = item.get("bytes") if isinstance(item, dict) else None
        if data is None:
            relative = item.get("path") if isinstance(item, dict) else None
            path = self.root / safe_relative_path(str(relative or ""), str(self.root))
            if not path.is_file():
                raise ValueError(f"{key}: a frame has no image bytes and no file at {relative!r}")
            data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGB"))

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

    def _vector(
        self, kind: str, columns: dict[str, np.ndarray], default: str, notes: dict[str, Any]
    ) -> np.ndarray | None:
        if kind not in self.vector_sources:
            return None
        values = self._gather(kind, columns)
        if values.dtype != np.float32:
            notes.setdefault("cast", {})[kind] = f"{values.dtype}->float32"
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
        for name in self.extra_keys:
            if name not in table.column_names:
                raise KeyError(f"column {name!r}, declared in meta/info.json, is missing")
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
def _cached_source(root: str, embodiment: Embodiment | None) -> LeRobotSource:
    return LeRobotSource(root, embodiment)


def read_episode_task(root: str, embodiment: Embodiment | None, episode_index: int) -> Episode | RejectedEpisode:
    """One episode read where it runs (e.g. a Ray worker); an unreadable one comes back as ``RejectedEpisode``."""
    try:
        return _cached_source(root, embodiment).read_episode(episode_index)
    except EpisodeReadError as error:
        return RejectedEpisode(error.episode, f"file {error.path}", error.reason)
