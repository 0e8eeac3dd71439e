"""The source datasets of a pyramid: typed, read once at the edge (CLI, Dagster resources) and passed down.

Sources come from three places, merged in this order (a name declared earlier wins):

1. the declared sources file (``sources.yaml`` in the repository, or ``PYRAMID_SOURCES``), edited by hand;
2. the home's source list, ``<home>/sources.yaml``, which ``pyramid ingest`` and ``pyramid sources add`` keep;
3. files dropped into ``<home>/drop`` (see ``discover_drop_sources``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipelines.runtime.atomic import atomic_write_text
from schemas.errors import InputError
from schemas.home import Home, as_home
from schemas.pyramid import SourceKind
from schemas.settings import DEFAULT_HOME, DEFAULT_SOURCES_FILE

__all__ = [
    "AUTO",
    "DEFAULT_HOME",
    "DEFAULT_SOURCES_FILE",
    "SourceConfig",
    "SourceFileError",
    "SourcesConfig",
    "add_home_source",
    "discover_drop_sources",
    "home_sources_file",
    "load_sources",
    "remove_home_source",
    "source_origins",
]

AUTO = "auto"  # embodiment: inferred from the dataset's own metadata (see pipelines.ingest.infer)
DataFormat = Literal["lerobot", "rlds", "robomimic", "video_folder"]


class SourceFileError(InputError):
    """A sources file that cannot be used; names the file and the field."""


class HumanVideoConfig(BaseModel):
    """How a folder of human video is curated into clips (``curation:`` of a ``video_folder`` source)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fps: int = Field(default=20, gt=0, description="output frame rate (frames are picked at k/fps)")
    size: tuple[int, int] = Field(default=(96, 96), description="output (height, width), even for yuv420p")
    clip_seconds: float = Field(default=4.0, gt=0, description="clips are at most this long")
    min_clip_frames: int = Field(default=16, ge=1, description="shorter clips (after trimming) are dropped")
    dark_luma: float = Field(default=20.0, description="clips whose mean luma (0-255) is below this are dropped")
    motion_threshold: float = Field(
        default=0.005,
        description="share of pixels whose luma changes a lot (human_video.PIXEL_CHANGE levels), at or under "
        "which a frame pair is static (counting large changes ignores codec flicker on still footage)",
    )
    duplicate_distance: int = Field(
        default=8,
        description="a clip is a near-duplicate of a kept one when two of its frames at 25/50/75% have "
        "perceptual hashes within this many bits (of 64) of that clip's",
    )

    @field_validator("size")
    @classmethod
    def _even(cls, size: tuple[int, int]) -> tuple[int, int]:
        if any(side <= 0 or side % 2 for side in size):
            raise ValueError(f"size {list(size)}: height and width must be even and positive (yuv420p)")
        return size


class SourceConfig(BaseModel):
    """One source dataset a data engineer declared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_]+$", description="partition key and output folder name")
    path: Path = Field(description="where the source lives; relative paths are relative to the config file")
    format: DataFormat = Field(
        description="how to read it: a LeRobot dataset, an RLDS builder folder, a robomimic HDF5 file, or a "
        "folder of mp4/webm/mov videos with optional sidecar instructions"
    )
    split: str = Field(default="train", description="RLDS split to ingest")
    embodiment: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_]*$",
        description="embodiment name; 'auto' infers one from the dataset; None: from the dataset's metadata "
        "(LeRobot), or its known standardisation (Open X-Embodiment RLDS)",
    )
    cameras: dict[str, str] = Field(
        default_factory=dict, description="robomimic: embodiment camera -> obs key (default: matched by name)"
    )
    instruction: str | None = Field(
        default=None, description="instruction of episodes that carry none (robomimic, RLDS without language)"
    )
    trim_idle: bool = Field(default=True, description="teleop: drop idle lead-in/lead-out frames")
    curation: HumanVideoConfig = Field(
        default_factory=HumanVideoConfig, description="video_folder: how videos are cut, resized and filtered"
    )
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

    def without(self, name: str) -> SourcesConfig:
        """These sources less the one called ``name``."""
        return SourcesConfig(
            **{kind: [s for s in getattr(self, kind) if s.name != name] for kind in SourcesConfig.model_fields}
        )

    def find(self, name: str) -> tuple[SourceKind, SourceConfig] | None:
        """The source called ``name`` and its kind, whatever the kind."""
        for kind in SourcesConfig.model_fields:
            for source in getattr(self, kind):
                if source.name == name:
                    return SourceKind(kind), source
        return None


def load_sources(path: Path = DEFAULT_SOURCES_FILE, home: Home | Path = DEFAULT_HOME) -> SourcesConfig:
    """Parse the sources file: ``{home}`` in a path is the pyramid home, other relative paths are relative to the file."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text()) or {}
        config = SourcesConfig.model_validate(document)
    except yaml.YAMLError as error:
        raise SourceFileError(f"{path}: not valid YAML ({error})".replace("\n", " ")) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SourceFileError(f"{path}: field {where}: {first['msg']}") from None
    base = path.resolve().parent

    def resolve(source: SourceConfig) -> SourceConfig:
        expanded = Path(str(source.path).replace("{home}", str(as_home(home).root)))
        return source.model_copy(update={"path": (base / expanded).resolve()})

    resolved = {kind: [resolve(s) for s in getattr(config, kind)] for kind in SourcesConfig.model_fields}
    return SourcesConfig(**resolved)


def home_sources_file(home: Home | Path) -> Path:
    return as_home(home).sources_file


def _home_sources(home: Home | Path) -> SourcesConfig:
    path = home_sources_file(home)
    return load_sources(path, home) if path.is_file() else SourcesConfig()


def source_origins(sources_file: Path, home: Home | Path) -> list[tuple[SourceKind, SourceConfig, str]]:
    """Every source with its kind and where it is declared (a file, or the drop folder); the first declaration
    of a name wins, as in ``PyramidHome.sources``."""
    declared = [
        (load_sources(sources_file, home) if Path(sources_file).is_file() else SourcesConfig(), str(sources_file)),
        (_home_sources(home), str(home_sources_file(home))),
        (discover_drop_sources(as_home(home).drop), str(as_home(home).drop)),
    ]
    seen: set[str] = set()
    result = []
    for config, origin in declared:
        for kind in SourcesConfig.model_fields:
            for source in getattr(config, kind):
                if source.name not in seen:
                    seen.add(source.name)
                    result.append((SourceKind(kind), source, origin))
    return result


def add_home_source(home: Home | Path, kind: SourceKind, source: SourceConfig, *, replace: bool = False) -> Path:
    """Add ``source`` to the home's source list (atomically), or replace an entry of the same name."""
    current = _home_sources(home)
    if current.find(source.name) is not None and not replace:
        raise InputError(f"{home_sources_file(home)}: a source named {source.name!r} exists; pick another --name")
    kept = current.without(source.name)
    _write_home_sources(home, kept.model_copy(update={kind.value: [*kept.of_kind(kind), source]}))
    return home_sources_file(home)


def remove_home_source(home: Home | Path, name: str) -> tuple[SourceKind, SourceConfig]:
    """Remove the source ``name`` from the home's source list; its datasets stay where they are."""
    current = _home_sources(home)
    found = current.find(name)
    if found is None:
        raise InputError(f"{home_sources_file(home)}: no source named {name!r} (`pyramid sources list` shows them)")
    _write_home_sources(home, current.without(name))
    return found


def _write_home_sources(home: Home | Path, sources: SourcesConfig) -> None:
    document = sources.model_dump(mode="json", exclude_defaults=True)
    atomic_write_text(home_sources_file(home), yaml.safe_dump(document, sort_keys=False))


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
