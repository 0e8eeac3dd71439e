"""Embodiments: which cameras a robot has and how its state/action vectors split into named groups.

A group is a slice of the concatenated ``observation.state`` or ``action`` vector, exactly what GR00T's
``meta/modality.json`` expresses. ``Embodiment.to_modality()`` and ``Embodiment.from_modality()``
round-trip that file, so a dataset written by pyramid loads in GR00T's loaders and a GR00T dataset
reads back into the same registry entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = [
    "LABELLED_CAMERA",
    "ControlMode",
    "Embodiment",
    "Group",
    "UnknownEmbodimentError",
    "get_embodiment",
    "register",
    "registered_embodiments",
    "pseudo_embodiment",
]


class ControlMode(StrEnum):
    """What an action vector means, so consumers never guess units."""

    EEF_DELTA = "eef_delta"  # end-effector delta xyz + delta rotation + gripper
    JOINT_POSITION = "joint_position"  # absolute joint targets
    LATENT = "latent"  # continuous latent-action embedding (LAPA-style)
    NONE = "none"  # action-less video


@dataclass(frozen=True)
class Group:
    """A named slice ``[start, end)`` of a state or action vector (one entry of modality.json)."""

    name: str
    start: int
    end: int
    absolute: bool = True
    rotation_type: str | None = None
    binary: bool = False  # gripper open/close: normalised as {0, 1}, never min-max scaled
    original_key: str | None = None
    value_range: tuple[float, float] | None = None  # physical limits, when known

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
        if self.original_key is not None:
            entry["original_key"] = self.original_key
        if self.value_range is not None:
            entry["range"] = list(self.value_range)
        if self.binary:
            entry["binary"] = True
        return entry

    @classmethod
    def from_modality(cls, name: str, entry: dict[str, Any]) -> Group:
        value_range = entry.get("range")
        return cls(
            name=name,
            start=int(entry["start"]),
            end=int(entry["end"]),
            absolute=bool(entry.get("absolute", True)),
            rotation_type=entry.get("rotation_type"),
            binary=bool(entry.get("binary", False)),
            original_key=entry.get("original_key"),
            value_range=tuple(value_range) if value_range is not None else None,
        )


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
    An action-less embodiment (human video) has no state or action groups.
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
    state_dim: int = field(init=False)
    action_dim: int = field(init=False)

    def __post_init__(self) -> None:
        if not self.cameras:
            raise ValueError(f"embodiment {self.name!r} needs at least one camera")
        if self.fps <= 0:
            raise ValueError(f"embodiment {self.name!r}: fps must be positive, got {self.fps}")
        object.__setattr__(self, "state_dim", _check_contiguous("state", self.name, self.state_groups))
        object.__setattr__(self, "action_dim", _check_contiguous("action", self.name, self.action_groups))

    @property
    def has_actions(self) -> bool:
        return self.action_dim > 0

    @property
    def has_state(self) -> bool:
        return self.state_dim > 0

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
        """The GR00T ``meta/modality.json`` document for this embodiment."""
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
            state_groups=tuple(Group.from_modality(k, v) for k, v in modality.get("state", {}).items()),
            action_groups=tuple(Group.from_modality(k, v) for k, v in modality.get("action", {}).items()),
        )

    def same_layout(self, other: Embodiment) -> bool:
        """True when both describe the same vectors and cameras (names and tags aside)."""
        return (
            self.cameras == other.cameras
            and sorted(self.state_groups, key=lambda g: g.start) == sorted(other.state_groups, key=lambda g: g.start)
            and sorted(self.action_groups, key=lambda g: g.start) == sorted(other.action_groups, key=lambda g: g.start)
        )


class UnknownEmbodimentError(KeyError):
    def __str__(self) -> str:
        name = self.args[0]
        return f"unknown embodiment {name!r}; registered: {', '.join(sorted(_REGISTRY))}"


_REGISTRY: dict[str, Embodiment] = {}


def register(embodiment: Embodiment) -> Embodiment:
    """Add an embodiment to the registry; a name can be registered once."""
    if embodiment.name in _REGISTRY and _REGISTRY[embodiment.name] != embodiment:
        raise ValueError(f"embodiment {embodiment.name!r} is already registered with a different layout")
    _REGISTRY[embodiment.name] = embodiment
    return embodiment


def get_embodiment(name: str) -> Embodiment:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownEmbodimentError(name) from None


def registered_embodiments() -> dict[str, Embodiment]:
    return dict(_REGISTRY)


LABELLED_CAMERA = "primary"  # the one view of a labelled clip (human video has only this one)


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
        state_groups=(),
        description=f"video labelled with {base.name} actions by {kind}",
    )


def _groups(*spec: tuple[str, int] | tuple[str, int, dict[str, Any]]) -> tuple[Group, ...]:
    """Consecutive groups from (name, size[, options]) tuples."""
    groups, start = [], 0
    for item in spec:
        name, size, options = (*item, {}) if len(item) == 2 else item  # type: ignore[misc]
        groups.append(Group(name=name, start=start, end=start + size, **options))
        start += size
    return tuple(groups)


_GRIPPER = {"binary": True, "value_range": (0.0, 1.0)}
_DELTA = {"absolute": False}
_DELTA_ROT = {"absolute": False, "rotation_type": "axis_angle"}
_QUAT = {"rotation_type": "quaternion"}


def _osc_arm(prefix: str) -> tuple[tuple, ...]:
    """One arm's OSC_POSE controller input, each dim in [-1, 1]."""
    osc = {"value_range": (-1.0, 1.0)}
    return (f"{prefix}eef_delta_pos", 3, {**_DELTA, **osc}), (f"{prefix}eef_delta_rot", 3, {**_DELTA_ROT, **osc})


def _panda_arm(prefix: str) -> tuple[tuple, tuple]:
    state = (
        (f"{prefix}joint_pos", 7),
        (f"{prefix}eef_pos", 3),
        (f"{prefix}eef_quat", 4, _QUAT),
        (f"{prefix}gripper_qpos", 2),
    )
    # robosuite's gripper command: -1 open, +1 close
    action = (*_osc_arm(prefix), (f"{prefix}gripper", 1, {"binary": True, "value_range": (-1.0, 1.0)}))
    return state, action


_PANDA_STATE, _PANDA_ACTION = _panda_arm("")
_RIGHT_STATE, _RIGHT_ACTION = _panda_arm("right_")
_LEFT_STATE, _LEFT_ACTION = _panda_arm("left_")

PANDA = register(
    Embodiment(
        name="robosuite_panda",
        tag="robosuite_panda",
        robot_type="Panda",
        cameras=("agentview", "robot0_eye_in_hand"),
        fps=20,
        control_mode=ControlMode.EEF_DELTA,
        state_groups=_groups(*_PANDA_STATE),
        action_groups=_groups(*_PANDA_ACTION),
        description="robosuite Panda, OSC_POSE delta end-effector control",
    )
)

BIMANUAL_PANDA = register(
    Embodiment(
        name="robosuite_bimanual_panda",
        tag="robosuite_bimanual_panda",
        robot_type="TwoPanda",
        cameras=("agentview", "robot0_eye_in_hand", "robot1_eye_in_hand"),
        fps=20,
        control_mode=ControlMode.EEF_DELTA,
        state_groups=_groups(*_RIGHT_STATE, *_LEFT_STATE),
        action_groups=_groups(*_RIGHT_ACTION, *_LEFT_ACTION),
        description="two robosuite Pandas (robot0 right, robot1 left), OSC_POSE per arm",
    )
)

ROBOSUITE_GR1 = register(
    Embodiment(
        name="robosuite_gr1",
        tag="robosuite_gr1",
        robot_type="GR1ArmsOnly",
        # one camera, as GR00T's GR1 data: GR1's meshes render at ~55 ms a view here, ~4x a physics step
        cameras=("agentview",),
        fps=20,
        control_mode=ControlMode.EEF_DELTA,
        state_groups=_groups(
            ("joint_pos", 14),
            ("right_eef_pos", 3), ("right_eef_quat", 4, _QUAT), ("right_hand_qpos", 11),
            ("left_eef_pos", 3), ("left_eef_quat", 4, _QUAT), ("left_hand_qpos", 11),
        ),
        # robosuite's composite-controller order: both arms, then both hands (each hand's 6 actuators: -1 open,
        # +1 closed)
        action_groups=_groups(
            *_osc_arm("right_"), *_osc_arm("left_"),
            ("right_hand", 6, {"binary": True, "value_range": (-1.0, 1.0)}),
            ("left_hand", 6, {"binary": True, "value_range": (-1.0, 1.0)}),
        ),
        description="robosuite's GR1 (arms only, Fourier hands), OSC_POSE per arm and the BASIC controller",
    )
)  # fmt: skip

_GR1_PARTS = (
    ("left_arm", 7), ("left_hand", 6), ("left_leg", 6), ("neck", 3),
    ("right_arm", 7), ("right_hand", 6), ("right_leg", 6), ("waist", 3),
)  # fmt: skip

GR1_ARMS_ONLY = register(
    Embodiment(
        name="gr1_arms_only",
        tag="gr1",
        robot_type="GR1ArmsOnly",
        cameras=("ego_view",),
        fps=20,
        control_mode=ControlMode.JOINT_POSITION,
        state_groups=_groups(*_GR1_PARTS),
        action_groups=_groups(*_GR1_PARTS),
        description="Fourier GR-1 humanoid, the 44-D joint layout of NVIDIA's GR00T N1 demo data",
    )
)

_EEF_RPY_STATE = _groups(("eef_pos", 3), ("eef_rpy", 3, {"rotation_type": "euler_angles_rpy"}), ("gripper", 1))
_EEF_QUAT_STATE = _groups(("eef_pos", 3), ("eef_quat", 4, _QUAT), ("gripper", 1))
_OXE_ACTION = _groups(
    ("eef_delta_pos", 3, _DELTA),
    ("eef_delta_rot", 3, {"absolute": False, "rotation_type": "euler_angles_rpy"}),
    ("gripper", 1, _GRIPPER),
)


def _oxe_robot(
    name: str, tag: str, robot_type: str, cameras: tuple[str, ...], fps: int, state, description: str
) -> Embodiment:
    """An Open X-Embodiment robot, standardised to EEF-delta actions (xyz, rotation, gripper) as in Octo."""
    return register(
        Embodiment(
            name=name, tag=tag, robot_type=robot_type, cameras=cameras, fps=fps, control_mode=ControlMode.EEF_DELTA,
            state_groups=state, action_groups=_OXE_ACTION, description=description,
        )
    )  # fmt: skip


WIDOWX = _oxe_robot("widowx", "oxe_widowx", "WidowX", ("primary",), 5, _EEF_RPY_STATE, "WidowX 250 of Bridge V2")
GOOGLE_ROBOT = _oxe_robot(
    "google_robot", "oxe_google", "GoogleRobot", ("primary",), 3, _EEF_QUAT_STATE,
    "Everyday Robots mobile manipulator of RT-1 / fractal",
)  # fmt: skip
FRANKA = _oxe_robot(
    "franka", "oxe_droid", "Franka", ("primary", "wrist"), 15, _EEF_RPY_STATE, "Franka Panda of DROID and TACO-Play"
)
KUKA_IIWA = _oxe_robot(
    "kuka_iiwa", "oxe_kuka", "KukaIiwa", ("primary",), 10, _EEF_QUAT_STATE, "KUKA iiwa of QT-Opt (kuka)"
)
JACO = _oxe_robot("jaco", "oxe_jaco", "Jaco2", ("primary", "wrist"), 10, _EEF_RPY_STATE, "Kinova Jaco 2 of jaco_play")
UR5 = _oxe_robot("ur5", "oxe_ur5", "UR5", ("primary", "wrist"), 5, _EEF_QUAT_STATE, "UR5 of berkeley_autolab_ur5")
LANGUAGE_TABLE = _oxe_robot(
    "language_table", "oxe_language_table", "xArm", ("primary",), 10, _groups(("eef_pos_xy", 2)),
    "xArm pushing blocks on a table (Language Table); planar actions padded to 7-D",
)  # fmt: skip

LATENT_ACTIONS = register(
    Embodiment(
        name="latent_actions",
        tag="lapa",
        robot_type="LatentAction",
        cameras=(LABELLED_CAMERA,),
        fps=20,
        control_mode=ControlMode.LATENT,
        action_groups=_groups(*((f"latent_token_{i}", 8) for i in range(4))),
        description="continuous pre-quantisation embedding of a LAPA-style latent action model (4 tokens x 8)",
    )
)

HUMAN_VIDEO = register(
    Embodiment(
        name="human_video",
        tag="human_video",
        robot_type="Human",
        cameras=("primary",),
        fps=20,
        control_mode=ControlMode.NONE,
        description="action-less human and web video",
    )
)

GENERATED_VIDEO = register(
    Embodiment(
        name="generated_video",
        tag="generated_video",
        robot_type="Generated",
        cameras=(LABELLED_CAMERA,),
        fps=20,
        control_mode=ControlMode.NONE,
        description="action-less clips made by an image-to-video model, before labelling",
    )
)

IDM_PANDA = register(pseudo_embodiment(PANDA, "idm"))
NEURAL_PANDA = register(pseudo_embodiment(PANDA, "neural"))
IDM_GR1 = register(pseudo_embodiment(GR1_ARMS_ONLY, "idm"))
