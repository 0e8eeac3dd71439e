"""Embodiments: which cameras a robot has and how its state/action vectors split into named groups.

An embodiment is data, not code: a small YAML (or JSON) file. The built-in ones ship in
``schemas/embodiments/``; a user's live in ``$PYRAMID_HOME/embodiments/`` or on ``PYRAMID_EMBODIMENT_PATH``.
Every process (the CLI, a Dagster run, a Ray worker, the policy server) finds them through one registry,
``get_embodiment``. A file is validated on load, with errors that name the file and the field.

A group is a slice of the concatenated ``observation.state`` or ``action`` vector, exactly what GR00T's
``meta/modality.json`` expresses; ``Embodiment.to_modality()`` and ``Embodiment.from_modality()`` round-trip
that file. A group may also say where a source stores it (``source_key``: a LeRobot column, a robomimic obs
key, an RLDS step key), so one reader serves any robot's layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.errors import InputError
from schemas.settings import embodiment_path

__all__ = [
    "BUILTIN_DIR",
    "LABELLED_CAMERA",
    "PSEUDO_KINDS",
    "CameraMismatchError",
    "ControlMode",
    "Embodiment",
    "EmbodimentDocument",
    "EmbodimentFileError",
    "Group",
    "UnknownEmbodimentError",
    "embodiment_origin",
    "embodiment_yaml",
    "get_embodiment",
    "load_embodiment_file",
    "pseudo_embodiment",
    "register",
    "registered_embodiments",
    "reload_embodiments",
    "write_embodiment_file",
]

BUILTIN_DIR = Path(__file__).resolve().parent / "embodiments"
EMBODIMENT_SUFFIXES = (".yaml", ".yml", ".json")
SAFE_NAME = r"^[a-z0-9][a-z0-9_]*$"  # embodiment, group and camera names: file, column and partition safe
LABELLED_CAMERA = "primary"  # the one view of a labelled clip (human video has only this one)
PSEUDO_KINDS = ("idm", "neural")  # labelled video trains as "<kind>_<embodiment>" (see pseudo_embodiment)


class ControlMode(StrEnum):
    """What an action vector means, so consumers never guess units."""

    EEF_DELTA = "eef_delta"  # end-effector delta xyz + delta rotation + gripper
    JOINT_POSITION = "joint_position"  # absolute joint targets
    LATENT = "latent"  # continuous latent-action embedding (LAPA-style)
    NONE = "none"  # action-less video


@dataclass(frozen=True)
class Group:
    """A named slice ``[start, end)`` of a state or action vector (one entry of modality.json).

    ``source_key`` names the source feature the slice is read from (None: the format's own state or action
    vector); ``source_index`` is the slice of that feature (None: the values after the previous group that
    reads the same feature).
    """

    name: str
    start: int
    end: int
    absolute: bool = True
    rotation_type: str | None = None
    binary: bool = False  # gripper open/close: normalised as {0, 1}, never min-max scaled
    value_range: tuple[float, float] | None = None  # physical limits, when known
    source_key: str | None = None
    source_index: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"group {self.name!r}: need 0 <= start < end, got [{self.start}, {self.end})")

    @property
    def size(self) -> int:
        return self.end - self.start

    def to_modality(self, dtype: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"start": self.start, "end": self.end, "absolute": self.absolute, "dtype": dtype}
        if self.rotation_type is not None:
            entry["rotation_type"] = self.rotation_type
        if self.value_range is not None:
            entry["range"] = list(self.value_range)
        if self.binary:
            entry["binary"] = True
        return entry


def _check_contiguous(kind: str, embodiment: str, groups: tuple[Group, ...]) -> int:
    """Groups must tile the vector with no gap or overlap; returns the vector's size."""
    position = 0
    for group in sorted(groups, key=lambda g: g.start):
        if group.start != position:
            raise ValueError(
                f"embodiment {embodiment!r}: {kind} group {group.name!r} starts at {group.start}, "
                f"expected {position} (groups must tile the {kind} vector without gaps or overlaps)"
            )
        position = group.end
    return position


@dataclass(frozen=True)
class Embodiment:
    """One robot (or pseudo-robot) as the pyramid sees it.

    ``cameras`` are short names; in a LeRobot dataset camera ``c`` is the feature ``observation.images.c``.
    ``camera_aliases`` are (alias, camera) pairs: other names a source may give the same camera (a second
    recording session's ``images.fixed`` for ``top``). An action-less embodiment (human video) has no state or
    action groups.
    """

    name: str
    tag: str  # GR00T-style embodiment tag: selects the policy's per-embodiment weight slot
    robot_type: str
    cameras: tuple[str, ...]
    fps: int
    control_mode: ControlMode
    state_groups: tuple[Group, ...] = ()
    action_groups: tuple[Group, ...] = ()
    description: str = ""
    camera_aliases: tuple[tuple[str, str], ...] = ()
    state_dim: int = field(init=False)
    action_dim: int = field(init=False)

    def __post_init__(self) -> None:
        if not self.cameras:
            raise ValueError(f"embodiment {self.name!r} needs at least one camera")
        if self.fps <= 0:
            raise ValueError(f"embodiment {self.name!r}: fps must be positive, got {self.fps}")
        names = [*self.cameras, *(alias for alias, _ in self.camera_aliases)]
        if len(set(names)) != len(names):
            raise ValueError(f"embodiment {self.name!r}: camera names and aliases must be unique, got {names}")
        for alias, camera in self.camera_aliases:
            if camera not in self.cameras:
                raise ValueError(f"embodiment {self.name!r}: alias {alias!r} names an unknown camera {camera!r}")
        object.__setattr__(self, "state_dim", _check_contiguous("state", self.name, self.state_groups))
        object.__setattr__(self, "action_dim", _check_contiguous("action", self.name, self.action_groups))

    @property
    def has_actions(self) -> bool:
        return self.action_dim > 0

    @property
    def has_state(self) -> bool:
        return self.state_dim > 0

    def camera_for(self, *names: str) -> str | None:
        """The camera a source calls by any of ``names`` (its own name or an alias), or None."""
        aliases = dict(self.camera_aliases)
        for name in names:
            if name in self.cameras:
                return name
            if name in aliases:
                return aliases[name]
        return None

    def match_cameras(self, sources: Mapping[str, Iterable[str]]) -> dict[str, str]:
        """Source camera -> this embodiment's camera, for ``sources`` {source camera key: the names it may go by
        (the key, the key without its format's prefix)}. Every source camera must be a camera or alias here, and
        every camera here must be in the source; ``CameraMismatchError`` says which and what to add."""
        mapping: dict[str, str] = {}
        for key, names in sources.items():
            names = tuple(names)
            camera = self.camera_for(key, *names)
            if camera is None:
                raise CameraMismatchError(
                    f"camera {key!r} is not a camera of embodiment {self.name!r} (cameras {list(self.cameras)}); "
                    f"add {names[-1] if names else key!r}, or an alias for it, to {embodiment_origin(self.name)}"
                )
            if camera in mapping.values():
                other = next(k for k, c in mapping.items() if c == camera)
                raise CameraMismatchError(
                    f"cameras {other!r} and {key!r} are both camera {camera!r} of embodiment "
                    f"{self.name!r}; remove one of the aliases"
                )
            mapping[key] = camera
        missing = [c for c in self.cameras if c not in mapping.values()]
        if missing:
            raise CameraMismatchError(
                f"embodiment {self.name!r} has cameras {missing} that the source lacks (it has "
                f"{list(sources) or 'none'}); add the source's name as an alias in {embodiment_origin(self.name)}"
            )
        return mapping

    def state_keys(self) -> tuple[str, ...]:
        """The source keys the state is read from, in vector order (e.g. robosuite's obs keys)."""
        return tuple(dict.fromkeys(g.source_key for g in sorted(self.state_groups, key=lambda g: g.start)))

    def gather(
        self, kind: Literal["state", "action"], columns: Mapping[str, np.ndarray], default_key: str
    ) -> np.ndarray:
        """The (T, dim) state or action vector from a source's per-frame ``columns``, each group taken from its
        ``source_key`` (or ``default_key``); raises ``KeyError`` for a missing column and ``ValueError`` when a
        column's width does not match the groups that read it."""
        groups = sorted(self.state_groups if kind == "state" else self.action_groups, key=lambda g: g.start)
        parts, used, explicit = [], {}, set()
        for group in groups:
            key = group.source_key or default_key
            if key not in columns:
                raise KeyError(f"{kind} group {group.name!r} reads {key!r}, which the source does not have")
            values = np.asarray(columns[key])
            values = values.reshape(len(values), -1)
            start, end = group.source_index or (used.get(key, 0), used.get(key, 0) + group.size)
            if group.source_index is not None:
                explicit.add(key)
            if end - start != group.size or end > values.shape[1]:
                raise ValueError(
                    f"{kind} group {group.name!r} takes values [{start}, {end}) of {key!r}, which has "
                    f"{values.shape[1]} per frame"
                )
            parts.append(values[:, start:end])
            used[key] = max(used.get(key, 0), end)
        for key, end in used.items():
            width = int(np.prod(np.shape(columns[key])[1:], dtype=int))
            if key not in explicit and end != width:
                raise ValueError(
                    f"{key!r} has {width} values per frame, embodiment {self.name!r}'s {kind} groups take {end}"
                )
        return np.concatenate(parts, axis=1) if parts else np.zeros((0, 0), dtype=np.float32)

    def clip_actions(self, actions: np.ndarray) -> np.ndarray:
        """``actions`` (T, action_dim) clipped to each group's physical limits, where known (a model's estimate
        beyond what the controller accepts means the limit)."""
        clipped = actions.copy()
        for group in self.action_groups:
            if group.value_range is not None:
                clipped[:, group.start : group.end] = np.clip(clipped[:, group.start : group.end], *group.value_range)
        return clipped

    def action_dim_names(self) -> list[str]:
        """One name per action dimension, e.g. ``eef_delta_pos[2]`` (for tables and plots)."""
        return [f"{g.name}[{i - g.start}]" for g in self.action_groups for i in range(g.start, g.end)]

    def binary_action_dims(self) -> list[int]:
        return [i for g in self.action_groups if g.binary for i in range(g.start, g.end)]

    def to_modality(self) -> dict[str, Any]:
        """The GR00T ``meta/modality.json`` document for this embodiment's LeRobot datasets."""
        return {
            "state": {g.name: g.to_modality("float32") for g in self.state_groups},
            "action": {g.name: g.to_modality("float32") for g in self.action_groups},
            "video": {c: {"original_key": f"observation.images.{c}"} for c in self.cameras},
            "annotation": {"human.action.task_description": {}},
        }

    @classmethod
    def from_modality(
        cls,
        modality: dict[str, Any],
        *,
        name: str,
        tag: str,
        robot_type: str,
        fps: int,
        control_mode: ControlMode = ControlMode.JOINT_POSITION,
    ) -> Embodiment:
        """Build an embodiment from a GR00T ``meta/modality.json`` document."""
        video = modality.get("video", {})
        cameras = tuple(
            entry.get("original_key", name_).removeprefix("observation.images.") for name_, entry in video.items()
        )
        return cls(
            name=name,
            tag=tag,
            robot_type=robot_type,
            cameras=cameras,
            fps=fps,
            control_mode=control_mode,
            state_groups=_modality_groups(modality.get("state", {})),
            action_groups=_modality_groups(modality.get("action", {})),
        )

    def same_layout(self, other: Embodiment) -> bool:
        """True when both describe the same vectors and cameras (names, tags and sources aside)."""

        def slices(groups: tuple[Group, ...]) -> list[tuple[str, int, int]]:
            return sorted((g.name, g.start, g.end) for g in groups)

        return (
            self.cameras == other.cameras
            and slices(self.state_groups) == slices(other.state_groups)
            and slices(self.action_groups) == slices(other.action_groups)
        )

    def to_document(self) -> dict[str, Any]:
        """This embodiment as its file's document (``EmbodimentDocument``), defaults left out."""
        aliases: dict[str, list[str]] = {}
        for alias, camera in self.camera_aliases:
            aliases.setdefault(camera, []).append(alias)
        document: dict[str, Any] = {
            "name": self.name,
            "tag": self.tag,
            "robot_type": self.robot_type,
            "fps": self.fps,
            "control_mode": self.control_mode.value,
            "description": self.description,
            "cameras": [{"name": c, "aliases": aliases[c]} if c in aliases else c for c in self.cameras],
            "state": [_group_document(g) for g in sorted(self.state_groups, key=lambda g: g.start)],
            "action": [_group_document(g) for g in sorted(self.action_groups, key=lambda g: g.start)],
        }
        return {key: value for key, value in document.items() if value not in ("", [])}

    @classmethod
    def from_document(cls, document: Mapping[str, Any], origin: str = "embodiment document") -> Embodiment:
        """Validate a file's document and build the embodiment; ``EmbodimentFileError`` names ``origin`` and the
        field on the first problem."""
        try:
            parsed = EmbodimentDocument.model_validate(document)
        except ValidationError as error:
            first = error.errors()[0]
            where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
            more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
            raise EmbodimentFileError(f"{origin}: field {where or '(top level)'}: {first['msg']}{more}") from None
        try:
            return parsed.to_embodiment()
        except ValueError as error:
            raise EmbodimentFileError(f"{origin}: {error}") from None


def _modality_groups(entries: Mapping[str, Mapping[str, Any]]) -> tuple[Group, ...]:
    """Groups of one modality.json section. Where entries read different ``original_key`` columns, their
    start/end index into those columns and the groups are laid out one after another in file order."""
    keys = {entry.get("original_key") for entry in entries.values()}
    groups, position = [], 0
    for name, entry in entries.items():
        start, end = int(entry["start"]), int(entry["end"])
        common = {
            "absolute": bool(entry.get("absolute", True)),
            "rotation_type": entry.get("rotation_type"),
            "binary": bool(entry.get("binary", False)),
            "value_range": tuple(entry["range"]) if entry.get("range") is not None else None,
        }
        if len(keys) <= 1:
            groups.append(Group(name, start, end, **common))
        else:
            size = end - start
            groups.append(
                Group(
                    name,
                    position,
                    position + size,
                    **common,
                    source_key=entry.get("original_key"),
                    source_index=(start, end),
                )
            )
            position += size
    return tuple(groups)


def _group_document(group: Group) -> dict[str, Any]:
    document: dict[str, Any] = {"name": group.name, "size": group.size}
    if not group.absolute:
        document["absolute"] = False
    if group.rotation_type is not None:
        document["rotation_type"] = group.rotation_type
    if group.binary:
        document["binary"] = True
    if group.value_range is not None:
        document["range"] = list(group.value_range)
    if group.source_key is not None:
        document["source_key"] = group.source_key
    if group.source_index is not None:
        document["source_index"] = list(group.source_index)
    return document


# -- the file format -----------------------------------------------------------------------------------------


class GroupDocument(BaseModel):
    """One state or action group of an embodiment file: a ``size`` (the next values of the vector), or an
    explicit ``start``/``end``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SAFE_NAME, description="group name, e.g. eef_pos or gripper")
    size: int | None = Field(default=None, gt=0, description="number of values; the group follows the previous one")
    start: int | None = Field(default=None, ge=0, description="first index in the vector (with end, instead of size)")
    end: int | None = Field(default=None, gt=0, description="one past the last index in the vector")
    absolute: bool = Field(default=True, description="false for deltas (relative actions)")
    rotation_type: Literal["quaternion", "axis_angle", "euler_angles_rpy", "rotation_6d", "matrix"] | None = Field(
        default=None, description="how a rotation group encodes it: quaternion, axis_angle, euler_angles_rpy, ..."
    )
    binary: bool = Field(default=False, description="an open/close gripper: two values, never scaled")
    range: tuple[float, float] | None = Field(default=None, description="physical limits [low, high], when known")
    source_key: str | None = Field(
        default=None,
        description="source feature it is read from (LeRobot column, "
        "robomimic obs key, RLDS step key); default: the format's state/action vector",
    )
    source_index: tuple[int, int] | None = Field(default=None, description="[start, end) within source_key")

    @model_validator(mode="after")
    def _size_or_slice(self) -> GroupDocument:
        if (self.size is None) == (self.start is None or self.end is None):
            raise ValueError("give either size, or both start and end")
        if self.range is not None and self.range[0] >= self.range[1]:
            raise ValueError(f"range must be [low, high] with low < high, got {list(self.range)}")
        return self


class CameraDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SAFE_NAME, description="camera name: observation.images.<name> in LeRobot")
    aliases: list[str] = Field(default_factory=list, description="other names sources give this camera")


class EmbodimentDocument(BaseModel):
    """An embodiment file (YAML or JSON)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=SAFE_NAME, description="the name datasets, sources and --embodiment use")
    tag: str | None = Field(default=None, pattern=SAFE_NAME, description="GR00T embodiment tag; default: name")
    robot_type: str = Field(default="unknown", description="robot model, as LeRobot's info.json robot_type")
    fps: int = Field(gt=0, description="control frequency, frames per second")
    control_mode: ControlMode = Field(description="what an action means: " + ", ".join(m.value for m in ControlMode))
    description: str = Field(default="", description="one line for people")
    cameras: list[str | CameraDocument] = Field(min_length=1, description="camera names, or {name, aliases}")
    state: list[GroupDocument] = Field(default_factory=list, description="state vector groups, in order")
    action: list[GroupDocument] = Field(default_factory=list, description="action vector groups, in order")

    def to_embodiment(self) -> Embodiment:
        cameras = [CameraDocument(name=c) if isinstance(c, str) else c for c in self.cameras]
        return Embodiment(
            name=self.name,
            tag=self.tag or self.name,
            robot_type=self.robot_type,
            cameras=tuple(c.name for c in cameras),
            fps=self.fps,
            control_mode=self.control_mode,
            state_groups=_document_groups(self.state),
            action_groups=_document_groups(self.action),
            description=self.description,
            camera_aliases=tuple((alias, c.name) for c in cameras for alias in c.aliases),
        )


def _document_groups(documents: list[GroupDocument]) -> tuple[Group, ...]:
    groups, position = [], 0
    for document in documents:
        start = position if document.size is not None else document.start
        end = start + document.size if document.size is not None else document.end
        groups.append(
            Group(
                name=document.name,
                start=start,
                end=end,
                absolute=document.absolute,
                rotation_type=document.rotation_type,
                binary=document.binary,
                value_range=document.range,
                source_key=document.source_key,
                source_index=document.source_index,
            )
        )
        position = end
    return tuple(groups)


class CameraMismatchError(InputError, ValueError):
    """A source's cameras and an embodiment's do not match; says which camera and what to add."""


class EmbodimentFileError(InputError, ValueError):
    """An embodiment file that cannot be used; names the file and the field."""


def load_embodiment_file(path: Path | str) -> Embodiment:
    """Read and validate one embodiment file (``.yaml``/``.yml``/``.json``)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise EmbodimentFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise EmbodimentFileError(
            f"{path}: not valid {path.suffix.lstrip('.').upper()} ({error})".replace("\n", " ")
        ) from None
    if not isinstance(document, dict):
        raise EmbodimentFileError(f"{path}: an embodiment file holds a mapping (name, fps, cameras, ...)")
    embodiment = Embodiment.from_document(document, str(path))
    if path.stem != embodiment.name:
        raise EmbodimentFileError(f"{path}: file name must be the embodiment's name ({embodiment.name}{path.suffix})")
    return embodiment


def embodiment_yaml(embodiment: Embodiment, header: str = "") -> str:
    """The file text of ``embodiment``: one line per group, as a person would write them; ``header`` becomes a
    comment at the top."""
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    document = embodiment.to_document()
    for kind in ("state", "action"):
        if kind in document:
            document[kind] = [_FlowMapping(group) for group in document[kind]]
    return comment + yaml.dump(document, Dumper=_FileDumper, sort_keys=False, width=120)


def write_embodiment_file(embodiment: Embodiment, folder: Path | str, header: str = "") -> Path:
    """Write ``embodiment`` as ``<folder>/<name>.yaml``."""
    path = Path(folder) / f"{embodiment.name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(embodiment_yaml(embodiment, header))
    return path


class _FlowMapping(dict):
    """A mapping written on one line (``{name: eef_pos, size: 3}``)."""


class _FileDumper(yaml.SafeDumper):
    pass


_FileDumper.add_representer(
    _FlowMapping, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)
_FileDumper.add_representer(
    list,
    lambda dumper, data: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", data, flow_style=not any(isinstance(item, dict) for item in data)
    ),
)


# -- the registry --------------------------------------------------------------------------------------------


class UnknownEmbodimentError(InputError, KeyError):
    def __str__(self) -> str:
        name = self.args[0]
        return (
            f"unknown embodiment {name!r}; known: {', '.join(sorted(registered_embodiments()))}. Add "
            f"{name}.yaml to {embodiment_path()[0]} (pyramid embodiments infer SRC writes one)"
        )


@dataclass
class _Registry:
    """Embodiments by name, with where each came from; files are (re)read when the search path changes."""

    search: tuple[Path, ...] | None = None
    embodiments: dict[str, Embodiment] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    dynamic: dict[str, tuple[Embodiment, str]] = field(default_factory=dict)  # registered at run time
    derived: dict[str, Embodiment] = field(default_factory=dict)  # pseudo-embodiments looked up so far

    def load(self, search: tuple[Path, ...]) -> None:
        self.search, self.embodiments, self.origins, self.derived = None, {}, {}, {}
        for path in (BUILTIN_DIR, *search):
            for file in _embodiment_files(path):
                self._add(load_embodiment_file(file), str(file))
        for embodiment, origin in self.dynamic.values():
            self._add(embodiment, origin)
        self.search = search  # only a complete load counts: a broken file is reported again next time

    def _add(self, embodiment: Embodiment, origin: str) -> None:
        known = self.embodiments.get(embodiment.name)
        if known is not None and known != embodiment:
            raise EmbodimentFileError(
                f"{origin}: embodiment {embodiment.name!r} is already defined differently in "
                f"{self.origins[embodiment.name]}; rename one of them"
            )
        if known is None:
            self.embodiments[embodiment.name] = embodiment
            self.origins[embodiment.name] = origin


def _embodiment_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.glob("*") if p.suffix in EMBODIMENT_SUFFIXES and not p.name.startswith("."))


_REGISTRY = _Registry()


def _registry(rescan: bool = False) -> _Registry:
    search = embodiment_path()
    if rescan or _REGISTRY.search != search:
        _REGISTRY.load(search)
    return _REGISTRY


def reload_embodiments() -> None:
    """Read the embodiment files again at the next lookup (a command starting, a file edited since)."""
    _REGISTRY.search = None


def register(embodiment: Embodiment, origin: str = "registered at run time") -> Embodiment:
    """Add an embodiment for this process (e.g. one a dataset or a checkpoint carries); the same name with a
    different layout is refused."""
    registry = _registry()
    registry._add(embodiment, origin)
    registry.dynamic.setdefault(embodiment.name, (embodiment, origin))
    return embodiment


def get_embodiment(name: str) -> Embodiment:
    """The embodiment called ``name``: from a file, registered at run time, or the pseudo-embodiment of labelled
    video (``idm_<name>``, ``neural_<name>``)."""
    registry = _registry()
    found = registry.embodiments.get(name) or registry.derived.get(name)
    if found is not None:
        return found
    kind, _, base = name.partition("_")
    if kind in PSEUDO_KINDS and base:
        try:
            registry.derived[name] = pseudo_embodiment(get_embodiment(base), kind)
            return registry.derived[name]
        except UnknownEmbodimentError:
            pass
    registry = _registry(rescan=True)  # a file added since (e.g. by `pyramid embodiments infer`)
    if name in registry.embodiments:
        return registry.embodiments[name]
    raise UnknownEmbodimentError(name)


def embodiment_origin(name: str) -> str:
    """Where the embodiment ``name`` was defined (its file's path), for messages."""
    return _registry().origins.get(name, f"the embodiment file of {name!r}")


def registered_embodiments() -> dict[str, Embodiment]:
    """Every embodiment defined by a file or registered at run time (pseudo-embodiments are derived on demand)."""
    return dict(_registry().embodiments)


def pseudo_embodiment(base: Embodiment, kind: str) -> Embodiment:
    """The embodiment under which ``kind``-labelled video (e.g. ``idm``, ``neural``) with ``base``'s actions trains.

    GR00T trains each labelled source as its own embodiment: ``base``'s action layout, its own weight slot.
    A labelled clip is one camera and no proprioception (a video has none).
    """
    return replace(
        base,
        name=f"{kind}_{base.name}",
        tag=f"{kind}_{base.tag}",
        cameras=(LABELLED_CAMERA,),
        camera_aliases=(),
        state_groups=(),
        description=f"video labelled with {base.name} actions by {kind}",
    )
