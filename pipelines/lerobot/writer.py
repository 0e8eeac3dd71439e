"""Stream episodes straight into a LeRobot v3.0 dataset that lerobot's ``LeRobotDataset`` loads as its own.

Why not lerobot's writer: it stages every frame as a PNG and re-encodes, then re-concatenates mp4s per
episode. Here frames go from memory into one encoder thread per camera (keyframe at each episode start),
tabular data goes into one parquet row group per episode, and metadata is written once at ``close()``.

Usage::

    with LeRobotWriter(root, get_embodiment("robosuite_panda"), fps=20) as writer:
        for episode in episodes:
            writer.write(episode)
    report = writer.report
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.lerobot import layout
from pipelines.lerobot.encoded import EncodedEpisode, encode_episode
from pipelines.lerobot.features import arrow_schema, dataset_features, extra_dtype
from pipelines.lerobot.stats import aggregate_stats, vector_stats
from pipelines.lerobot.video import CameraEncoder, VideoCodec, video_info
from pipelines.runtime.atomic import atomic_directory
from schemas.embodiment import Embodiment
from schemas.episode import Episode, EpisodeError, RejectedEpisode
from schemas.errors import InputError

__all__ = [
    "NEW_FILES",
    "LeRobotWriter",
    "NoEpisodeError",
    "RejectedEpisode",
    "WriteReport",
    "WriterConfig",
    "read_report",
    "write_dataset",
]

PYRAMID_FORMAT = "pyramid-lerobot/1"


class NoEpisodeError(InputError, ValueError):
    """Every item of a source was quarantined: there is no dataset to write; the message lists why."""


@dataclass(frozen=True)
class WriterConfig:
    """How a dataset is written.

    Attributes:
        video: encoder settings for every camera.
        data_file_size_mb: rotate data and episode-metadata parquet files at this size (lerobot: 100).
        video_file_size_mb: rotate mp4 files at this size (lerobot: 200).
        continue_on_invalid: reject a bad episode and go on (recorded in the report and in
            ``meta/pyramid.json``) instead of raising.
    """

    video: VideoCodec = field(default_factory=VideoCodec)
    data_file_size_mb: float = layout.DATA_FILE_SIZE_MB
    video_file_size_mb: float = layout.VIDEO_FILE_SIZE_MB
    continue_on_invalid: bool = False


@dataclass
class WriteReport:
    root: Path
    episodes: int
    frames: int
    fps: int
    rejected: list[RejectedEpisode]
    reused: bool = False  # the dataset was already there for the same inputs, and kept

    @property
    def hours(self) -> float:
        return self.frames / self.fps / 3600


def read_report(root: Path) -> WriteReport:
    """The report of a dataset written earlier, rebuilt from its metadata."""
    info = json.loads((root / layout.INFO_PATH).read_text())
    pyramid = json.loads((root / layout.PYRAMID_META_PATH).read_text())
    rejected = [RejectedEpisode(**r) for r in pyramid.get("rejected", [])]
    return WriteReport(root, info["total_episodes"], info["total_frames"], info["fps"], rejected)


class LeRobotWriter:
    """Writes validated episodes of one embodiment into a new LeRobot v3.0 dataset at ``root``."""

    def __init__(
        self,
        root: Path,
        embodiment: Embodiment,
        fps: int,
        config: WriterConfig | None = None,
        provenance: dict[str, Any] | None = None,
    ):
        """``provenance`` (e.g. an inputs fingerprint) is kept in ``meta/pyramid.json``."""
        self.root = Path(root)
        if self.root.exists() and any(self.root.iterdir()):
            raise FileExistsError(f"{self.root}: not empty; a LeRobot dataset is written into a new folder")
        self.embodiment, self.fps, self.config = embodiment, fps, config or WriterConfig()
        self.report: WriteReport | None = None
        self._features: dict[str, dict] | None = None
        self._encoders: dict[str, CameraEncoder] = {}
        self._tasks: dict[str, int] = {}
        self._episode_rows: list[dict[str, Any]] = []
        self._episode_stats: list[dict[str, dict]] = []
        self._pyramid_episodes: list[dict[str, Any]] = []
        self._rejected: list[RejectedEpisode] = []
        self._provenance = provenance or {}
        self._extra_shapes: dict[str, list[int]] = {}
        self._parquet: pq.ParquetWriter | None = None
        self._data_chunk, self._data_file, self._frames_in_data_file = 0, 0, 0
        self._total_frames = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    # -- public API -------------------------------------------------------------------------------

    def write(self, item: Episode | EncodedEpisode) -> bool:
        """Append one episode, raw or encoded by ``encode_episode`` with this dataset's settings.

        Returns False when it was rejected (only with ``continue_on_invalid``).
        """
        try:
            encoded = (
                item
                if isinstance(item, EncodedEpisode)
                else encode_episode(item, self.embodiment, self.fps, self.config.video, encode_videos=False)
            )
            self._check_fits(encoded)
        except EpisodeError as error:
            if not self.config.continue_on_invalid:
                raise
            self.record_rejection(RejectedEpisode(error.episode, error.field, error.reason))
            return False
        episode = encoded.episode
        if self._features is None:
            self._start(encoded)
        episode_index = len(self._episode_rows)
        task_index = self._tasks.setdefault(episode.instruction, len(self._tasks))
        columns = self._episode_columns(episode, episode_index, task_index)
        data_location = self._write_rows(pa.Table.from_arrays(_arrow_columns(columns), schema=self._schema))
        for camera in self.embodiment.cameras:
            self._encoders[camera].submit(encoded.videos[camera])
        self._episode_stats.append(
            {
                **_vector_stats(columns),
                **{layout.camera_key(camera): stats for camera, stats in encoded.image_stats.items()},
            }
        )
        self._episode_rows.append(
            {
                "episode_index": episode_index,
                "tasks": [episode.instruction],
                "length": episode.length,
                **data_location,
                "dataset_from_index": self._total_frames,
                "dataset_to_index": self._total_frames + episode.length,
            }
        )
        self._pyramid_episodes.append(
            {"episode_index": episode_index, "episode_id": episode.episode_id, "notes": episode.notes}
        )
        self._total_frames += episode.length
        return True

    def start_new_files(self) -> None:
        """The next episode starts new data and video files: the files written so far are finished and do not
        change with what follows (a merged source's files stay byte-identical when a later source is added)."""
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
            self._data_chunk, self._data_file = layout.next_chunk_file(self._data_chunk, self._data_file)
        for encoder in self._encoders.values():
            encoder.start_new_file()

    def record_rejection(self, rejected: RejectedEpisode) -> None:
        """Record an episode that never reached ``write()`` (e.g. unreadable at the source)."""
        self._rejected.append(rejected)

    def write_all(self, episodes: Iterable[Episode]) -> WriteReport:
        with self:
            for episode in episodes:
                self.write(episode)
        assert self.report is not None
        return self.report

    def close(self) -> WriteReport:
        """Finish videos and write all metadata. The dataset is complete only after this returns."""
        if self.report is not None:
            return self.report
        if not self._episode_rows:
            self._abort()
            reasons = "; ".join(f"{r.episode_id}: {r.field}: {r.reason}" for r in self._rejected) or "none given"
            raise NoEpisodeError(f"{self.root}: no valid episode to write (rejected: {reasons})")
        self._parquet.close()
        segments = {camera: encoder.close() for camera, encoder in self._encoders.items()}
        for row in self._episode_rows:
            for camera in self.embodiment.cameras:
                segment = segments[camera][row["episode_index"]]
                key = layout.camera_key(camera)
                row[f"videos/{key}/chunk_index"] = segment.chunk_index
                row[f"videos/{key}/file_index"] = segment.file_index
                row[f"videos/{key}/from_timestamp"] = segment.from_timestamp
                row[f"videos/{key}/to_timestamp"] = segment.to_timestamp
        self._write_metadata()
        self.report = WriteReport(
            self.root, len(self._episode_rows), self._total_frames, self.fps, list(self._rejected)
        )
        return self.report

    # -- validation ----------------------------------------------------------------------------------

    def _check_fits(self, encoded: EncodedEpisode) -> None:
        """The rules that compare an episode with this dataset (its embodiment, fps, first episode)."""
        episode = encoded.episode
        if (episode.embodiment, episode.fps) != (self.embodiment.name, self.fps):
            raise EpisodeError(
                episode.episode_id,
                "embodiment",
                f"{episode.embodiment} at {episode.fps} fps; dataset is {self.embodiment.name} at {self.fps} fps",
            )
        if self._features is None:
            return
        for camera in self.embodiment.cameras:
            expected = self._features[layout.camera_key(camera)]["shape"]
            if list(encoded.frame_shapes[camera]) != expected:
                raise EpisodeError(
                    episode.episode_id,
                    f"frames[{camera}]",
                    f"frame shape {encoded.frame_shapes[camera]} != dataset's {tuple(expected)}",
                )
        if set(episode.extras) != set(self._extra_shapes):
            raise EpisodeError(
                episode.episode_id,
                "extras",
                f"columns {sorted(episode.extras)} != dataset's {sorted(self._extra_shapes)}",
            )
        for name, column in episode.extras.items():
            if (
                list(column.shape[1:]) != self._extra_shapes[name]
                or extra_dtype(column) != self._features[name]["dtype"]
            ):
                raise EpisodeError(
                    episode.episode_id,
                    f"extras[{name}]",
                    f"shape/dtype {column.shape[1:]}/{column.dtype} differs from the dataset's",
                )

    # -- writing ---------------------------------------------------------------------------------

    def _start(self, encoded: EncodedEpisode) -> None:
        self._features = dataset_features(self.embodiment, encoded.frame_shapes, encoded.episode.extras)
        self._extra_shapes = {name: list(column.shape[1:]) for name, column in encoded.episode.extras.items()}
        self._schema = arrow_schema(self._features)
        self.root.mkdir(parents=True, exist_ok=True)
        for camera in self.embodiment.cameras:
            self._encoders[camera] = CameraEncoder(
                self.root, layout.camera_key(camera), self.fps, self.config.video, self.config.video_file_size_mb
            )

    def _episode_columns(self, episode: Episode, episode_index: int, task_index: int) -> dict[str, np.ndarray]:
        """The episode's rows as numpy columns in the schema's order and stored dtypes: (T,) or (T, D)."""
        length = episode.length
        columns: dict[str, np.ndarray] = {}
        if episode.state is not None:
            columns[layout.STATE_KEY] = episode.state
        if episode.action is not None:
            columns[layout.ACTION_KEY] = episode.action
        for name, column in episode.extras.items():
            flat = column.reshape(length, -1).astype(np.dtype(self._features[name]["dtype"]))
            # lerobot stores a one-value feature as a scalar column, wider ones as fixed-size lists
            columns[name] = flat[:, 0] if flat.shape[1] == 1 else flat
        first_index = self._total_frames
        columns["timestamp"] = episode.timestamps.astype(np.float32)
        columns["frame_index"] = np.arange(length, dtype=np.int64)
        columns["episode_index"] = np.full(length, episode_index, dtype=np.int64)
        columns["index"] = np.arange(first_index, first_index + length, dtype=np.int64)
        columns["task_index"] = np.full(length, task_index, dtype=np.int64)
        return {name: columns[name] for name in self._schema.names}

    def _write_rows(self, table: pa.Table) -> dict[str, int]:
        """One row group per episode; a new file when this one would pass the size limit."""
        path = self.root / layout.DATA_PATH.format(chunk_index=self._data_chunk, file_index=self._data_file)
        if self._parquet is not None and self._frames_in_data_file > 0:
            size = os.path.getsize(path)
            if size + size / self._frames_in_data_file * table.num_rows >= self.config.data_file_size_mb * 1024 * 1024:
                self._parquet.close()
                self._parquet = None
                self._data_chunk, self._data_file = layout.next_chunk_file(self._data_chunk, self._data_file)
                path = self.root / layout.DATA_PATH.format(chunk_index=self._data_chunk, file_index=self._data_file)
        if self._parquet is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._parquet = pq.ParquetWriter(path, schema=self._schema, compression="snappy", use_dictionary=True)
            self._frames_in_data_file = 0
        self._parquet.write_table(table, row_group_size=table.num_rows)
        self._frames_in_data_file += table.num_rows
        return {"data/chunk_index": self._data_chunk, "data/file_index": self._data_file}

    def _write_metadata(self) -> None:
        episodes = [
            {
                **row,
                **{
                    f"stats/{feature}/{name}": value.tolist()
                    for feature, values in stats.items()
                    for name, value in values.items()
                },
            }
            for row, stats in zip(self._episode_rows, self._episode_stats, strict=True)
        ]
        self._write_episode_files(episodes)
        tasks = pd.DataFrame({"task_index": list(self._tasks.values())}, index=pd.Index(list(self._tasks), name="task"))
        tasks.to_parquet(self.root / layout.TASKS_PATH)
        for camera in self.embodiment.cameras:
            key = layout.camera_key(camera)
            first_video = self.root / layout.VIDEO_PATH.format(video_key=key, chunk_index=0, file_index=0)
            self._features[key]["info"] = {**video_info(first_video), **self.config.video.info()}
        info = {  # lerobot's DatasetInfo, field for field
            "codebase_version": layout.CODEBASE_VERSION_V3,
            "fps": self.fps,
            "features": self._features,
            "total_episodes": len(self._episode_rows),
            "total_frames": self._total_frames,
            "total_tasks": len(self._tasks),
            "chunks_size": layout.CHUNKS_SIZE,
            "data_files_size_in_mb": self.config.data_file_size_mb,
            "video_files_size_in_mb": self.config.video_file_size_mb,
            "data_path": layout.DATA_PATH,
            "video_path": layout.VIDEO_PATH,
            "robot_type": self.embodiment.robot_type,
            "splits": {"train": f"0:{len(self._episode_rows)}"},
        }
        _write_json(self.root / layout.INFO_PATH, info)
        _write_json(self.root / layout.STATS_PATH, aggregate_stats(self._episode_stats))
        _write_json(self.root / layout.MODALITY_PATH, self.embodiment.to_modality())
        _write_json(
            self.root / layout.PYRAMID_META_PATH,
            {
                "format": PYRAMID_FORMAT,
                "embodiment": self.embodiment.name,
                "embodiment_tag": self.embodiment.tag,
                "embodiment_document": self.embodiment.to_document(),  # readable where its file is not
                "extras": self._extra_shapes,
                "video_codec": asdict(self.config.video),
                "episodes": self._pyramid_episodes,
                "rejected": [asdict(r) for r in self._rejected],
                "provenance": self._provenance,
            },
        )

    def _write_episode_files(self, episodes: list[dict[str, Any]]) -> None:
        """``meta/episodes`` rotates as lerobot's does, at the data file size: as many rows per file as fit."""
        row_bytes = pa.Table.from_pylist(episodes[:64]).nbytes / min(len(episodes), 64)
        per_file = max(1, int(self.config.data_file_size_mb * 1024 * 1024 // max(row_bytes, 1)))
        chunk, file = 0, 0
        for start in range(0, len(episodes), per_file):
            part = episodes[start : start + per_file]
            for row in part:
                row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = chunk, file
            path = self.root / layout.EPISODES_PATH.format(chunk_index=chunk, file_index=file)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(part), path, compression="snappy")
            chunk, file = layout.next_chunk_file(chunk, file)

    def _abort(self) -> None:
        """Stop background encoders after a failure; the half-written folder is the caller's to discard."""
        if self._parquet is not None:
            self._parquet.close()
        for encoder in self._encoders.values():
            try:
                encoder.close()
            except RuntimeError:
                pass


NEW_FILES = object()  # an item of write_dataset: the next episodes start new files


def write_dataset(
    destination: Path | str,
    embodiment: Embodiment,
    fps: int,
    items: Iterable[Episode | EncodedEpisode | RejectedEpisode | object],
    config: WriterConfig | None = None,
    on_item: Callable[[int], None] | None = None,
    provenance: dict[str, Any] | None = None,
    *,
    protect: Iterable[Path] = (),
    overwrite: bool = False,
) -> WriteReport:
    """Write a source's episodes to ``destination``, replacing it atomically (a folder pyramid wrote: see
    ``atomic_directory`` for ``protect``, the sources it must not touch, and ``overwrite``).

    ``items`` yields episodes (raw or encoded by ``encode_episode`` with ``config.video``), ``NEW_FILES`` where the
    following episodes start new data and video files, or ``RejectedEpisode`` for what a reader could not read;
    both kinds of bad
    item are quarantined (recorded in the report and ``meta/pyramid.json``) while the rest lands.
    ``on_item(n)`` is called after each item, for progress.
    """
    config = config or WriterConfig(continue_on_invalid=True)
    with atomic_directory(Path(destination), replace=True, protect=protect, overwrite=overwrite) as staging:
        writer = LeRobotWriter(staging, embodiment, fps, config, provenance)
        with writer:
            count = 0
            for item in items:
                if item is NEW_FILES:
                    writer.start_new_files()
                    continue
                count += 1
                if isinstance(item, RejectedEpisode):
                    if not config.continue_on_invalid:
                        raise ValueError(f"{item.episode_id} ({item.field}): {item.reason}")
                    writer.record_rejection(item)
                else:
                    writer.write(item)
                if on_item is not None:
                    on_item(count)
    report = writer.report
    report.root = Path(destination)
    return report


def _arrow_columns(columns: dict[str, np.ndarray]) -> list[pa.Array]:
    """Numpy columns as arrow's: (T,) as scalars, (T, D) as fixed-size lists."""
    return [pa.array(column) if column.ndim == 1 else _vector_column(column) for column in columns.values()]


def _vector_stats(columns: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Every column's stats from one pass over the columns side by side: on short episodes (Bridge's 9 frames)
    one stats call per column was the writing process's largest cost, and it caps how far Ray workers scale."""
    blocks = [column.reshape(len(column), -1) for column in columns.values()]
    stats = vector_stats(np.concatenate(blocks, axis=1, dtype=np.float64))
    bounds = np.cumsum([0] + [block.shape[1] for block in blocks])
    return {
        name: {stat: value if stat == "count" else value[start:end] for stat, value in stats.items()}
        for name, start, end in zip(columns, bounds[:-1], bounds[1:], strict=True)
    }


def _vector_column(values: np.ndarray) -> pa.Array:
    """(T, D) numpy -> fixed_size_list<D> arrow column without a Python loop."""
    values = np.ascontiguousarray(values)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _write_json(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=4, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
