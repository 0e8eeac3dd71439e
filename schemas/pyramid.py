"""The pyramid's vocabulary: layers, source kinds, and the manifest entry that describes one dataset."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Layer", "Lineage", "ManifestEntry", "SourceKind", "layer_of"]


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


class ManifestEntry(BaseModel):
    """One dataset of the pyramid, as listed in a release manifest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str = Field(description="dataset name, unique within a release")
    source: SourceKind
    layer: Layer
    embodiment: str = Field(description="registered embodiment name")
    episodes: int = Field(ge=0)
    frames: int = Field(ge=0)
    hours: float = Field(ge=0)
    mixture_weight: float = Field(ge=0, description="sampling weight of this dataset at train time")
    lineage: Lineage

    @model_validator(mode="after")
    def _layer_matches_source(self) -> ManifestEntry:
        if self.layer != layer_of(self.source):
            raise ValueError(
                f"dataset {self.dataset!r}: source {self.source.value!r} belongs to layer "
                f"{layer_of(self.source).value!r}, not {self.layer.value!r}"
            )
        return self
