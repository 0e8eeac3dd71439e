"""Read a TFDS/RLDS builder folder (Open X-Embodiment) without TensorFlow.

A builder folder ``<name>/<version>/`` holds ``dataset_info.json`` (splits, shard lengths, file name
template), ``features.json`` (every feature's shape, dtype and encoding) and TFRecord shards. Each record is
one episode as a ``tf.train.Example`` whose per-step values are concatenated over time; the feature specs
say how to split them back into steps, decode images and text.

A record that fails its checksum or does not match the specs is reported as a ``RejectedEpisode``; the
shard's other records still come through. A broken record frame (length checksum, truncation) ends that
shard, reported once with the byte offset.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from pipelines.rlds.tf_example import ExampleDecodeError, decode_example
from pipelines.rlds.tfrecord import TFRecordError, read_records
from schemas.episode import RejectedEpisode
from schemas.errors import InputError, error_reason
from schemas.pyramid import safe_relative_path

__all__ = ["FeatureSpec", "RLDSBuilder", "RLDSEpisode", "RLDSError", "RLDSRecord"]

StepValue = np.ndarray | list[str] | list[bytes]


class RLDSError(InputError, RuntimeError):
    """The builder folder itself is unusable; names the file."""


@dataclass(frozen=True)
class FeatureSpec:
    """One leaf feature of features.json, e.g. ``steps/observation/image_0``."""

    key: str
    kind: Literal["tensor", "image", "text"]
    shape: tuple[int, ...]
    dtype: str
    encoding: str = "none"

    @property
    def per_step(self) -> bool:
        return self.key.startswith("steps/")


@dataclass(frozen=True)
class RLDSRecord:
    """One episode's raw record as read from its shard, or why it could not be read."""

    episode_id: str
    path: Path
    index: int | None
    data: bytes | None = None
    error: str | None = None


@dataclass
class RLDSEpisode:
    """One decoded episode: per-step values (first axis = step) and episode metadata."""

    episode_id: str
    source: str  # shard path and record number
    steps: dict[str, StepValue]  # keys without the "steps/" prefix
    metadata: dict[str, Any]

    @property
    def length(self) -> int:
        return len(next(iter(self.steps.values())))


def _walk(node: dict[str, Any], prefix: str, specs: dict[str, FeatureSpec]) -> None:
    if "featuresDict" in node:
        for name, child in node["featuresDict"]["features"].items():
            _walk(child, f"{prefix}/{name}" if prefix else name, specs)
    elif "sequence" in node:
        _walk(node["sequence"]["feature"], prefix, specs)
    elif "image" in node:
        image = node["image"]
        shape = tuple(int(d) for d in image["shape"]["dimensions"])
        specs[prefix] = FeatureSpec(
            prefix, "image", shape, image.get("dtype", "uint8"), image.get("encodingFormat", "png")
        )
    elif "text" in node:
        specs[prefix] = FeatureSpec(prefix, "text", (), "string")
    elif "tensor" in node:
        tensor = node["tensor"]
        shape = tuple(int(d) for d in tensor.get("shape", {}).get("dimensions", []))
        specs[prefix] = FeatureSpec(prefix, "tensor", shape, tensor["dtype"], tensor.get("encoding", "none"))
    else:
        raise RLDSError(f"features.json: feature {prefix!r} has an unknown kind ({sorted(node)})")


def parse_features(document: dict[str, Any]) -> dict[str, FeatureSpec]:
    """Flatten features.json into leaf specs keyed like the Example's feature names."""
    specs: dict[str, FeatureSpec] = {}
    _walk(document, "", specs)
    return specs


class RLDSBuilder:
    """An RLDS builder folder: its specs, splits and episodes."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.info = self._load_json("dataset_info.json")
        try:
            self.name: str = safe_relative_path(str(self.info["name"]), str(self.folder))
            self.splits = {
                str(s["name"]): [int(n) for n in s.get("shardLengths", [])] for s in self.info.get("splits", [])
            }
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise RLDSError(f"{self.folder / 'dataset_info.json'}: malformed ({error_reason(error)})") from None
        try:
            self.specs = parse_features(self._load_json("features.json"))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise RLDSError(f"{self.folder / 'features.json'}: malformed ({error_reason(error)})") from None

    def _load_json(self, name: str) -> dict[str, Any]:
        path = self.folder / name
        if not path.is_file():
            raise RLDSError(f"{path}: missing; not an RLDS builder folder")
        try:
            document = json.loads(path.read_text())
        except ValueError as error:  # invalid JSON or UTF-8
            raise RLDSError(f"{path}: not valid JSON ({error})") from error
        if not isinstance(document, dict):
            raise RLDSError(f"{path}: holds a {type(document).__name__}, not a JSON object")
        return document

    def shard_paths(self, split: str) -> list[Path]:
        if split not in self.splits:
            raise RLDSError(
                f"{self.folder / 'dataset_info.json'}: no split {split!r} (has {sorted(self.splits)}); "
                "name one of those with --split, or split: in sources.yaml"
            )
        count = len(self.splits[split])
        return [self.folder / f"{self.name}-{split}.tfrecord-{i:05d}-of-{count:05d}" for i in range(count)]

    def records(self, split: str = "train") -> Iterator[RLDSRecord]:
        """Every raw record of a split in shard order, checksums verified; no decoding (cheap, sequential)."""
        for shard_index, path in enumerate(self.shard_paths(split)):
            prefix = f"{self.name}/{split}/{shard_index:05d}"
            if not path.is_file():
                yield RLDSRecord(f"{prefix}/*", path, None, error="shard file is missing")
                continue
            try:
                for record in read_records(path):
                    episode_id = f"{prefix}/{record.index:05d}"
                    if record.error is not None:
                        yield RLDSRecord(episode_id, path, record.index, error=f"record {record.index}: {record.error}")
                    else:
                        yield RLDSRecord(episode_id, path, record.index, data=record.data)
            except TFRecordError as error:
                yield RLDSRecord(
                    f"{prefix}/{error.record:05d}+",
                    path,
                    error.record,
                    error=f"{error.reason}; rest of shard unreadable",
                )

    def read(self, record: RLDSRecord) -> RLDSEpisode | RejectedEpisode:
        """Decode one record (the per-episode work, e.g. on a Ray worker); a bad one comes as ``RejectedEpisode``."""
        if record.error is not None:
            return RejectedEpisode(record.episode_id, f"file {record.path}", record.error)
        try:
            return self.decode(record.data, record.episode_id, f"{record.path}#{record.index}")
        except (ExampleDecodeError, ValueError, OSError, KeyError, TypeError, IndexError, struct.error) as error:
            return RejectedEpisode(record.episode_id, f"file {record.path}", f"record {record.index}: {error}")

    def episodes(self, split: str = "train") -> Iterator[RLDSEpisode | RejectedEpisode]:
        """Every episode of a split in shard order; unreadable ones come as ``RejectedEpisode``."""
        return (self.read(record) for record in self.records(split))

    def decode(self, record: bytes, episode_id: str, source: str) -> RLDSEpisode:
        """Split one Example's concatenated values into steps according to the specs."""
        raw = decode_example(record)
        length = self._episode_length(raw)
        steps: dict[str, StepValue] = {}
        metadata: dict[str, Any] = {}
        for key, spec in self.specs.items():
            if key not in raw:
                continue
            value = _decode_value(spec, raw[key], length if spec.per_step else 1)
            if spec.per_step:
                steps[key.removeprefix("steps/")] = value
            else:
                metadata[key.removeprefix("episode_metadata/")] = value[0]
        return RLDSEpisode(episode_id, source, steps, metadata)

    def _episode_length(self, raw: dict[str, Any]) -> int:
        for key in ("steps/is_first", "steps/is_last", "steps/reward"):
            if key in raw:
                return len(raw[key])
        for key, spec in self.specs.items():
            if spec.per_step and key in raw:
                return (
                    len(raw[key]) // max(1, int(np.prod(spec.shape, dtype=int)))
                    if spec.kind == "tensor"
                    else len(raw[key])
                )
        raise ValueError("no per-step feature to tell the episode length")


_NUMPY_DTYPES = {
    "float32": np.float32,
    "float64": np.float64,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "bool": np.bool_,
}


def _decode_value(spec: FeatureSpec, raw: Any, steps: int) -> StepValue:
    if spec.kind == "text":
        return [item.decode("utf-8", errors="replace") for item in raw]
    if spec.kind == "image":
        if len(raw) != steps:
            raise ValueError(f"{spec.key}: {len(raw)} images for {steps} steps")
        return np.stack([_decode_image(spec, data) for data in raw])
    if spec.dtype == "string":  # bytes tensors (e.g. kuka's zlib-compressed state) stay bytes
        return list(raw)
    size = int(np.prod(spec.shape, dtype=int))
    values = np.asarray(raw)
    if values.size != steps * size:
        raise ValueError(f"{spec.key}: {values.size} values, expected {steps} steps x {size}")
    return values.astype(_NUMPY_DTYPES.get(spec.dtype, values.dtype)).reshape(steps, *spec.shape)


def _decode_image(spec: FeatureSpec, data: bytes) -> np.ndarray:
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    if spec.shape and image.shape != tuple(spec.shape):
        raise ValueError(f"{spec.key}: image is {image.shape}, features.json says {spec.shape}")
    return image
