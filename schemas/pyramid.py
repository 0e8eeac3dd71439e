"""The pyramid's vocabulary: layers, source kinds, and the manifest entry that describes one dataset."""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "RELEASE_FORMAT",
    "FileEntry",
    "Layer",
    "LayerValueSummary",
    "Lineage",
    "ManifestEntry",
    "MixturePolicy",
    "ReleaseManifest",
    "SourceKind",
    "layer_of",
    "safe_relative_path",
]

RELEASE_FORMAT = "pyramid-release/1"


class Layer(StrEnum):
    """The three layers of GR00T N1's data pyramid, top (thin, real) to base (wide, action-less)."""

    REAL_ROBOT = "real_robot"
    SYNTHETIC = "synthetic"
    HUMAN_WEB = "human_web"


class SourceKind(StrEnum):
    TELEOP = "teleop"  # teleoperated demos (LeRobot, robomimic HDF5)
    OXE = "oxe"  # Open X-Embodiment (RLDS)
    HUMAN_VIDEO = "human_video"  # human and web video, no actions
    NEURAL = "neural"  # image-to-video generations labelled by IDM / latent actions
    SIM = "sim"  # MimicGen-style simulated rollouts


_LAYER_OF_SOURCE = {
    SourceKind.TELEOP: Layer.REAL_ROBOT,
    SourceKind.OXE: Layer.REAL_ROBOT,
    SourceKind.HUMAN_VIDEO: Layer.HUMAN_WEB,
    SourceKind.NEURAL: Layer.SYNTHETIC,
    SourceKind.SIM: Layer.SYNTHETIC,
}


def layer_of(source: SourceKind) -> Layer:
    return _LAYER_OF_SOURCE[source]


class Lineage(BaseModel):
    """Where a dataset came from, enough to rebuild it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inputs: list[str] = Field(description="URIs or dataset names this dataset was derived from")
    code_version: str = Field(description="pyramid version (and git commit when known) that produced it")
    model_checkpoints: dict[str, str] = Field(
        default_factory=dict, description="model name -> sha256 of the checkpoint used to label or generate"
    )
    input_fingerprint: str = Field(default="", description="hash of the inputs and code; unchanged means reusable")


class ManifestEntry(BaseModel):
    """One dataset of the pyramid, as listed in a release manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="dataset name, unique within a release")
    source: SourceKind
    layer: Layer
    embodiment: str = Field(description="registered embodiment name")
    episodes: int = Field(ge=0)
    frames: int = Field(ge=0)
    hours: float = Field(ge=0)
    mixture_weight: float = Field(ge=0, description="sampling weight of this dataset at train time")
    lineage: Lineage
    path: str = Field(default="", description="the dataset's folder inside the release, e.g. datasets/<name>")
    quarantined: int = Field(default=0, ge=0, description="items left out of the dataset, reasons in its meta")
    checks: dict[str, bool] = Field(default_factory=dict, description="check name -> passed")

    @field_validator("path")
    @classmethod
    def _path_stays_inside(cls, path: str) -> str:
        return safe_relative_path(path) if path else path

    @model_validator(mode="after")
    def _layer_matches_source(self) -> ManifestEntry:
        if self.layer != layer_of(self.source):
            raise ValueError(
                f"dataset {self.dataset!r}: source {self.source.value!r} belongs to layer "
                f"{layer_of(self.source).value!r}, not {self.layer.value!r}"
            )
        return self


def safe_relative_path(path: str, root: str = "the release root") -> str:
    """``path`` if it stays inside the folder (``root``) it is relative to; raises ``ValueError`` otherwise.

    A manifest names the files of a release, a dataset the files of its frames; one that is absolute or climbs
    out with ``..`` could make a reader go anywhere, so it is refused wherever such a name is read.
    """
    pure = PurePosixPath(path)
    control = any(ord(character) < 32 for character in path)  # NUL and friends: no file system takes them
    if not path or control or pure.is_absolute() or "\\" in path or any(part in ("..", "") for part in path.split("/")):
        raise ValueError(f"path {path!r} escapes {root}")
    return path


class MixturePolicy(BaseModel):
    """How datasets are weighted for training: each layer gets a budget, shared inside the layer by hours.

    Within a layer a dataset's share is proportional to ``hours ** (1 / temperature)``: 1 is proportional to
    hours, larger values flatten towards uniform (so small datasets are not drowned). The budgets of
    layers a release lacks are shared among the present ones in proportion to their budgets.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    layer_budgets: dict[Layer, float] = Field(
        default_factory=lambda: {Layer.REAL_ROBOT: 0.5, Layer.SYNTHETIC: 0.3, Layer.HUMAN_WEB: 0.2}
    )
    temperature: float = Field(default=2.0, gt=0)

    def weights(self, datasets: list[tuple[str, Layer, float]]) -> dict[str, float]:
        """(name, layer, hours) -> weight; the weights sum to 1."""
        present = {layer for _, layer, _ in datasets}
        budget_total = sum(self.layer_budgets.get(layer, 0.0) for layer in present)
        if budget_total <= 0:
            raise ValueError(f"no layer budget for the release's layers {sorted(present)}")
        weights: dict[str, float] = {}
        for layer in present:
            members = [(name, hours) for name, other, hours in datasets if other == layer]
            shares = {name: max(hours, 0.0) ** (1 / self.temperature) for name, hours in members}
            if not sum(shares.values()):  # a layer of empty datasets: share its budget evenly
                shares = dict.fromkeys(shares, 1.0)
            budget = self.layer_budgets.get(layer, 0.0) / budget_total
            total = sum(shares.values())
            for name, share in shares.items():
                weights[name] = budget * share / total
        return weights


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


class LayerValueSummary(BaseModel):
    """What the layers were worth, as the ``layer_value`` asset measured it on an earlier release: one row per
    training variant (open-loop MSE and closed-loop success with 95% intervals, deltas and verdicts against
    teleop only), and the variants whose every change is within noise. The evidence behind the next mixture."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measured_on: str = Field(pattern=r"^[0-9]{8}-[0-9a-f]{12}$", description="the release the variants trained on")
    within_noise: list[str]
    rows: list[dict[str, Any]]


class ReleaseManifest(BaseModel):
    """What a release holds: its datasets (layer, embodiment, hours, weight, lineage, checks) and every
    file with its sha256. Written last when a release is published; a release without it does not exist."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = RELEASE_FORMAT
    version: str = Field(pattern=r"^[0-9]{8}-[0-9a-f]{12}$", description="build date + content hash")
    created: str = Field(description="UTC time of the build, ISO 8601")
    code_version: str
    mixture_policy: MixturePolicy
    datasets: list[ManifestEntry]
    files: dict[str, FileEntry] = Field(description="path relative to the release root -> checksum and size")
    layer_value: LayerValueSummary | None = Field(default=None, description="the latest layer value measured")

    @field_validator("files")
    @classmethod
    def _paths_stay_inside(cls, files: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for path in files:
            safe_relative_path(path)
        return files

    @model_validator(mode="after")
    def _datasets_are_listed_files(self) -> ReleaseManifest:
        """A dataset is only what the file list verifies: each one's folder holds listed files."""
        for entry in self.datasets:
            if entry.path and not any(path.startswith(entry.path + "/") for path in self.files):
                raise ValueError(f"dataset {entry.dataset!r}: no file of its folder {entry.path!r} is listed")
        return self

    def hours_per_layer(self) -> dict[Layer, float]:
        hours = dict.fromkeys(Layer, 0.0)
        for entry in self.datasets:
            hours[entry.layer] += entry.hours
        return hours
