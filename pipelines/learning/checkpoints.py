"""Model checkpoints as pyramid stores them: ``model.safetensors`` (weights, no pickle) beside ``config.json``
(the model's config and any extra fields, e.g. normalisation stats) and the content hash of both.

The hash names the checkpoint in lineage: a dataset labelled by a model records which weights did it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from pipelines.learning.training import TrainerState
from pipelines.runtime.atomic import atomic_directory

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "Checkpoint",
    "MissingCheckpointError",
    "cached_by_content",
    "load_checkpoint",
    "load_trainer_state",
    "save_checkpoint",
    "save_trainer_state",
]

WEIGHTS_FILE, CONFIG_FILE = "model.safetensors", "config.json"
OPTIMISER_FILE, TRAINER_FILE = "optimiser.safetensors", "trainer.json"


class MissingCheckpointError(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Checkpoint:
    folder: Path
    weights: dict[str, torch.Tensor]
    config: dict[str, Any]
    sha256: str


def _content_hash(weights: bytes, config: dict[str, Any]) -> str:
    digest = hashlib.sha256(weights)
    digest.update(json.dumps(config, sort_keys=True).encode())
    return digest.hexdigest()


def save_checkpoint(folder: Path | str, model: torch.nn.Module, config: dict[str, Any]) -> str:
    """Write weights and config to ``folder`` (replaced atomically); returns the content hash."""
    with atomic_directory(Path(folder), replace=True) as staging:
        weights = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
        save_file(weights, staging / WEIGHTS_FILE)
        sha256 = _content_hash((staging / WEIGHTS_FILE).read_bytes(), config)
        (staging / CONFIG_FILE).write_text(json.dumps({"config": config, "sha256": sha256}, indent=2, sort_keys=True))
    return sha256


def _require_checkpoint(folder: Path) -> None:
    if not (folder / WEIGHTS_FILE).is_file() or not (folder / CONFIG_FILE).is_file():
        raise MissingCheckpointError(
            f"{folder}: no checkpoint ({WEIGHTS_FILE} and {CONFIG_FILE}); train the model first (its Dagster asset)"
        )


def load_checkpoint(folder: Path | str) -> Checkpoint:
    """Read a checkpoint back, its hash verified; a missing or altered one is a clear error."""
    folder = Path(folder)
    _require_checkpoint(folder)
    document = json.loads((folder / CONFIG_FILE).read_text())
    sha256 = _content_hash((folder / WEIGHTS_FILE).read_bytes(), document["config"])
    if sha256 != document["sha256"]:
        raise ValueError(
            f"{folder}: checkpoint hash {sha256[:12]} does not match its config's {document['sha256'][:12]}"
        )
    return Checkpoint(folder, load_file(folder / WEIGHTS_FILE), document["config"], sha256)


def cached_by_content[Loaded](load: Callable[[Path | str], Loaded]) -> Callable[[Path | str], Loaded]:
    """``load(folder)`` memoised per folder *and* the hash its config records, so that a process that lives on
    (a Ray worker of a cluster) loads a model retrained in the same folder again instead of the old weights."""

    @lru_cache(maxsize=2)
    def by_hash(folder: str, sha256: str) -> Loaded:
        return load(folder)

    def cached(folder: Path | str) -> Loaded:
        _require_checkpoint(Path(folder))
        return by_hash(str(folder), json.loads((Path(folder) / CONFIG_FILE).read_text())["sha256"])

    return cached


def save_trainer_state(folder: Path | str, state: TrainerState) -> None:
    """A run's resumable state beside its checkpoint (replaced atomically): optimiser tensors as safetensors,
    the rest (step, sampler state, optimiser settings, history) as JSON."""
    optimiser = state.optimiser
    tensors = {
        f"{param}.{name}": value.detach().cpu().contiguous()
        for param, values in optimiser["state"].items()
        for name, value in values.items()
    }
    with atomic_directory(Path(folder), replace=True) as staging:
        save_file(tensors, staging / OPTIMISER_FILE)
        document = {
            "step": state.step,
            "sampler": state.sampler,
            "history": state.history,
            "param_groups": optimiser["param_groups"],
        }
        (staging / TRAINER_FILE).write_text(json.dumps(document))


def load_trainer_state(folder: Path | str) -> TrainerState | None:
    """The state written by ``save_trainer_state``, or None where there is none (a fresh run)."""
    folder = Path(folder)
    if not (folder / TRAINER_FILE).is_file():
        return None
    document = json.loads((folder / TRAINER_FILE).read_text())
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in load_file(folder / OPTIMISER_FILE).items():
        param, name = key.split(".", 1)
        state.setdefault(int(param), {})[name] = value
    optimiser = {"state": state, "param_groups": document["param_groups"]}
    return TrainerState(document["step"], optimiser, document["sampler"], document["history"])
