"""Typed configuration, read once at the edge (CLI, Dagster resources) and passed down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.pyramid import SourceKind

__all__ = ["SourceConfig", "SourcesConfig", "discover_drop_sources", "load_sources"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES_FILE = REPO_ROOT / "sources.yaml"
DEFAULT_HOME = REPO_ROOT / ".pyramid"


class SourceConfig(BaseModel):
    """One source dataset a data engineer declared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$", description="partition key and output folder name")
    path: Path = Field(description="where the source lives; relative paths are relative to the config file")
    format: Literal["lerobot", "rlds", "robomimic", "video_folder"] = Field(
        description="how to read it: a LeRobot dataset, an RLDS builder folder, a robomimic HDF5 file, or a "
        "folder of mp4/webm/mov videos with optional sidecar instructions"
    )
    split: str = Field(default="train", description="RLDS split to ingest")
    embodiment: str | None = Field(default=None, description="registered embodiment; None: read from metadata")
    cameras: dict[str, str] = Field(
        default_factory=dict, description="robomimic: embodiment camera -> obs key (default '<camera>_image')"
    )
    trim_idle: bool = Field(default=True, description="teleop: drop idle lead-in/lead-out frames")
    description: str = ""


class SourcesConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    teleop: list[SourceConfig] = Field(default_factory=list)
    oxe: list[SourceConfig] = Field(default_factory=list)
    human_video: list[SourceConfig] = Field(default_factory=list)

    def of_kind(self, kind: SourceKind) -> list[SourceConfig]:
        return list(getattr(self, kind.value, []))

    def merged(self, other: SourcesConfig) -> SourcesConfig:
        """These sources plus ``other``'s; a name declared in both keeps this config's entry."""
        combined = {}
        for kind in SourcesConfig.model_fields:
            mine = getattr(self, kind)
            names = {s.name for s in mine}
            combined[kind] = [*mine, *(s for s in getattr(other, kind) if s.name not in names)]
        return SourcesConfig(**combined)

    def get(self, kind: SourceKind, name: str) -> SourceConfig:
        for source in self.of_kind(kind):
            if source.name == name:
                return source
        raise KeyError(f"no {kind.value} source named {name!r} in the sources config")


def load_sources(path: Path = DEFAULT_SOURCES_FILE, home: Path = DEFAULT_HOME) -> SourcesConfig:
    """Parse the sources file: ``{home}`` in a path is the pyramid home, other relative paths are relative to the file."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    config = SourcesConfig.model_validate(document)
    base = Path(path).resolve().parent

    def resolve(source: SourceConfig) -> SourceConfig:
        expanded = Path(str(source.path).replace("{home}", str(home)))
        return source.model_copy(update={"path": (base / expanded).resolve()})

    resolved = {kind: [resolve(s) for s in getattr(config, kind)] for kind in SourcesConfig.model_fields}
    return SourcesConfig(**resolved)


def _drop_name(path: Path) -> str:
    return "drop_" + re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_")


def discover_drop_sources(drop: Path) -> SourcesConfig:
    """Sources a data engineer dropped into a folder, no config edit needed; names are ``drop_<file name>``.

    - ``teleop/<name>/`` holding ``meta/info.json``: a LeRobot dataset (embodiment from its metadata);
    - ``teleop/<name>.hdf5``: robomimic, with ``teleop/<name>.yaml`` giving at least ``embodiment:``
      (a file without it is not registered: its embodiment cannot be guessed);
    - ``human_video/<name>/``: a folder of videos.
    Hidden entries (a copy still in progress, by convention) are ignored.
    """
    drop = Path(drop)
    teleop: list[SourceConfig] = []
    for entry in sorted((drop / "teleop").glob("[!.]*")):
        if entry.is_dir() and (entry / "meta" / "info.json").is_file():
            teleop.append(SourceConfig(name=_drop_name(entry), path=entry.resolve(), format="lerobot"))
        elif entry.suffix in (".hdf5", ".h5") and entry.with_suffix(".yaml").is_file():
            extra = yaml.safe_load(entry.with_suffix(".yaml").read_text()) or {}
            teleop.append(
                SourceConfig(**{"name": _drop_name(entry), "path": entry.resolve(), "format": "robomimic", **extra})
            )
    videos = [
        SourceConfig(name=_drop_name(entry), path=entry.resolve(), format="video_folder")
        for entry in sorted((drop / "human_video").glob("[!.]*"))
        if entry.is_dir()
    ]
    return SourcesConfig(teleop=teleop, human_video=videos)
