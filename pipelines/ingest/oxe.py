"""Open X-Embodiment standardisations: each dataset's keys and action encoding mapped to our contract.

Every dataset names its cameras, state and instruction differently and encodes actions its own way.
The mappings follow Octo/OpenVLA's per-dataset transforms: actions become end-effector deltas
(xyz, rotation) plus an absolute gripper in [0, 1] (1 = open), with each dataset's quirk applied:

- bridge: step 0 carries a zero action and is dropped; the gripper is binarised.
- fractal (RT-1), kuka, jaco_play, berkeley_autolab_ur5: a relative gripper command (+close / -open) is
  turned into an absolute gripper state.
- language_table: a 2-D planar action is padded to 7-D (no z, no rotation, gripper open); the
  instruction is stored as 512 unicode code points, zero-padded.
- droid: cartesian velocity plus an inverted gripper position (1 - position).
- taco_play: relative world actions with a -1/+1 gripper, clipped to [0, 1].
- kuka: the state may arrive zlib-compressed as bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipelines.ingest.runner import ReadPlan, write_plan
from pipelines.rlds.builders import RLDSBuilder, RLDSEpisode, RLDSError, RLDSRecord
from pipelines.runtime.parallel import RayConfig
from schemas.embodiment import CameraMismatchError, Embodiment, get_embodiment
from schemas.episode import Episode, EpisodeError, RejectedEpisode, exact_timestamps
from schemas.errors import error_reason

__all__ = [
    "STANDARDISATIONS",
    "Standardisation",
    "binarize_gripper",
    "ingest_oxe",
    "oxe_plan",
    "read_by_embodiment",
    "read_standardised",
    "relative_to_absolute_gripper",
    "standardise",
]

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriterConfig, WriteReport

Steps = dict[str, np.ndarray | list]


def binarize_gripper(gripper: np.ndarray) -> np.ndarray:
    """Octo's Bridge rule: > 0.95 open (1), < 0.05 closed (0); values in between take the next decided state."""
    gripper = np.asarray(gripper, dtype=np.float32)
    result = np.empty_like(gripper)
    state = 1.0 if gripper[-1] > 0.5 else 0.0
    for t in range(len(gripper) - 1, -1, -1):
        if gripper[t] > 0.95:
            state = 1.0
        elif gripper[t] < 0.05:
            state = 0.0
        result[t] = state
    return result


def relative_to_absolute_gripper(command: np.ndarray) -> np.ndarray:
    """RT-1 style relative gripper (+1 close, -1 open, 0 hold) -> absolute state (1 open, 0 closed).

    Before the first command the gripper is in the opposite state of that command (open if none).
    """
    command = np.asarray(command, dtype=np.float32).reshape(-1)
    steps = np.where(command < -0.1, 1, np.where(command > 0.1, -1, 0))  # +1 = becomes open, -1 = closes
    nonzero = np.flatnonzero(steps)
    state = -steps[nonzero[0]] if len(nonzero) else 1
    out = np.empty(len(steps), dtype=np.float32)
    for t, step in enumerate(steps):
        state = step if step != 0 else state
        out[t] = state
    return out / 2 + 0.5


def _first_text(steps: Steps, key: str) -> str:
    return str(steps[key][0]).strip() if key in steps and len(steps[key]) else ""


def _code_points_text(steps: Steps, key: str) -> str:
    """Language Table stores text as int32 unicode code points, zero-padded."""
    points = np.asarray(steps[key][0]).reshape(-1)
    return "".join(chr(int(p)) for p in points if p > 0).strip()


def _float_state(steps: Steps, key: str, width: int) -> np.ndarray:
    """A float state column, decompressing kuka-style zlib bytes when the dataset stores them that way."""
    value = steps[key]
    if isinstance(value, list):
        value = np.stack([np.frombuffer(zlib.decompress(item), dtype=np.float32) for item in value])
    return np.asarray(value, dtype=np.float32).reshape(len(value), width)


def _concat(*columns: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(c, dtype=np.float32).reshape(len(c), -1) for c in columns], axis=1)


@dataclass(frozen=True)
class Standardisation:
    """How one OXE dataset maps to the contract.

    Attributes:
        dataset: RLDS builder name.
        embodiment: registered embodiment the episodes are written as.
        cameras: embodiment camera -> step image key.
        state / action / instruction: functions of the decoded steps.
        drop_first_step: drop step 0 (Bridge's zero action).
    """

    dataset: str
    embodiment: str
    cameras: dict[str, str]
    state: Callable[[Steps], np.ndarray]
    action: Callable[[Steps], np.ndarray]
    instruction: Callable[[Steps], str]
    drop_first_step: bool = False


def _rt1_style_action(steps: Steps) -> np.ndarray:
    return _concat(
        steps["action/world_vector"],
        steps["action/rotation_delta"],
        relative_to_absolute_gripper(steps["action/gripper_closedness_action"]),
    )


STANDARDISATIONS: dict[str, Standardisation] = {
    s.dataset: s
    for s in (
        Standardisation(
            dataset="bridge_dataset",
            embodiment="widowx",
            cameras={"primary": "observation/image_0"},
            state=lambda s: _float_state(s, "observation/state", 7),
            action=lambda s: _concat(s["action"][:, :6], binarize_gripper(s["action"][:, 6])),
            instruction=lambda s: _first_text(s, "language_instruction"),
            drop_first_step=True,
        ),
        Standardisation(
            dataset="fractal20220817_data",
            embodiment="google_robot",
            cameras={"primary": "observation/image"},
            state=lambda s: _concat(s["observation/base_pose_tool_reached"], s["observation/gripper_closed"]),
            action=_rt1_style_action,
            instruction=lambda s: _first_text(s, "observation/natural_language_instruction"),
        ),
        Standardisation(
            dataset="language_table",
            embodiment="language_table",
            cameras={"primary": "observation/rgb"},
            state=lambda s: _float_state(s, "observation/effector_translation", 2),
            action=lambda s: _concat(s["action"], np.zeros((len(s["action"]), 4)), np.ones((len(s["action"]), 1))),
            instruction=lambda s: _code_points_text(s, "observation/instruction"),
        ),
        Standardisation(
            dataset="droid",
            embodiment="franka",
            cameras={"primary": "observation/exterior_image_1_left", "wrist": "observation/wrist_image_left"},
            state=lambda s: _concat(s["observation/cartesian_position"], s["observation/gripper_position"]),
            action=lambda s: _concat(
                s["action_dict/cartesian_velocity"], 1 - np.asarray(s["action_dict/gripper_position"])
            ),
            instruction=lambda s: _first_text(s, "language_instruction"),
        ),
        Standardisation(
            dataset="kuka",
            embodiment="kuka_iiwa",
            cameras={"primary": "observation/image"},
            state=lambda s: _concat(
                _float_state(s, "observation/clip_function_input/base_pose_tool_reached", 7),
                _float_state(s, "observation/gripper_closed", 1),
            ),
            action=_rt1_style_action,
            instruction=lambda s: _first_text(s, "observation/natural_language_instruction"),
        ),
        Standardisation(
            dataset="taco_play",
            embodiment="franka",
            cameras={"primary": "observation/rgb_static", "wrist": "observation/rgb_gripper"},
            state=lambda s: _concat(s["observation/robot_obs"][:, :6], s["observation/robot_obs"][:, 7:8]),
            action=lambda s: _concat(
                s["action/rel_actions_world"][:, :6], np.clip(s["action/rel_actions_world"][:, 6:7], 0, 1)
            ),
            instruction=lambda s: _first_text(s, "observation/natural_language_instruction"),
        ),
        Standardisation(
            dataset="jaco_play",
            embodiment="jaco",
            cameras={"primary": "observation/image", "wrist": "observation/image_wrist"},
            state=lambda s: _concat(
                s["observation/end_effector_cartesian_pos"][:, :6], s["observation/end_effector_cartesian_pos"][:, -1:]
            ),
            action=lambda s: _concat(
                s["action/world_vector"],
                np.zeros((len(s["action/world_vector"]), 3)),
                relative_to_absolute_gripper(s["action/gripper_closedness_action"]),
            ),
            instruction=lambda s: _first_text(s, "observation/natural_language_instruction"),
        ),
        Standardisation(
            dataset="berkeley_autolab_ur5",
            embodiment="ur5",
            cameras={"primary": "observation/image", "wrist": "observation/hand_image"},
            state=lambda s: np.asarray(s["observation/robot_state"][:, 6:14], dtype=np.float32),
            action=_rt1_style_action,
            instruction=lambda s: _first_text(s, "observation/natural_language_instruction"),
        ),
    )
}


def standardise(episode: RLDSEpisode, standardisation: Standardisation) -> Episode:
    """Map a decoded RLDS episode to the contract; a missing key raises ``EpisodeError`` naming it."""
    embodiment = get_embodiment(standardisation.embodiment)
    steps = episode.steps
    try:
        frames = {camera: np.asarray(steps[key]) for camera, key in standardisation.cameras.items()}
        state = standardisation.state(steps)
        action = standardisation.action(steps)
        instruction = standardisation.instruction(steps)
    except KeyError as error:
        raise EpisodeError(
            episode.episode_id, str(error.args[0]), f"{standardisation.dataset}: key missing from the record"
        ) from None
    notes = {"source": episode.source, "oxe_dataset": standardisation.dataset}
    if standardisation.drop_first_step:
        frames = {camera: video[1:] for camera, video in frames.items()}
        state, action = state[1:], action[1:]
        notes["dropped_steps"] = [0]
    length = len(action)
    return Episode(
        episode_id=episode.episode_id,
        embodiment=embodiment.name,
        fps=embodiment.fps,
        instruction=instruction,
        frames=frames,
        state=state,
        action=action,
        timestamps=exact_timestamps(length, embodiment.fps),
        notes=notes,
    )


@lru_cache(maxsize=8)
def _builder(folder: str) -> RLDSBuilder:
    return RLDSBuilder(folder)


def read_standardised(folder: str, dataset: str, record: RLDSRecord) -> Episode | RejectedEpisode:
    """One record decoded and standardised where it runs (e.g. a Ray worker); a bad one comes back rejected."""
    episode = _builder(folder).read(record)
    if isinstance(episode, RejectedEpisode):
        return episode
    try:
        return standardise(episode, STANDARDISATIONS[dataset])
    except EpisodeError as error:
        return RejectedEpisode(error.episode, error.field, error.reason)


INSTRUCTION_KEYS = (
    "language_instruction",
    "observation/natural_language_instruction",
    "natural_language_instruction",
    "observation/instruction",
    "instruction",
)
RLDS_STATE_KEY = "observation/state"  # where a state group without source_key is read from
RLDS_ACTION_KEY = "action"


def rlds_cameras(builder: RLDSBuilder, embodiment: Embodiment) -> dict[str, str]:
    """Step image key -> embodiment camera (by its name without ``observation/``, or an alias)."""
    keys = [key.removeprefix("steps/") for key, spec in builder.specs.items() if spec.per_step and spec.kind == "image"]
    try:
        return embodiment.match_cameras({key: (key.removeprefix("observation/"),) for key in keys})
    except CameraMismatchError as error:
        raise RLDSError(f"{builder.folder / 'features.json'}: {error}") from None


def read_by_embodiment(
    folder: str, embodiment: Embodiment, cameras: dict[str, str], record: RLDSRecord, instruction: str | None = None
) -> Episode | RejectedEpisode:
    """One record of any RLDS dataset as ``embodiment``: its groups read the step keys they name (``source_key``;
    default ``observation/state`` and ``action``), ``cameras`` maps step image keys to cameras. ``instruction``
    is used when no step carries one."""
    episode = _builder(folder).read(record)
    if isinstance(episode, RejectedEpisode):
        return episode
    steps = episode.steps
    try:
        texts = [key for key in (*INSTRUCTION_KEYS, *sorted(steps)) if key in steps and _is_text(steps[key])]
        text = next((t for key in texts if (t := _first_text(steps, key))), instruction or "")
        state = embodiment.gather("state", steps, RLDS_STATE_KEY) if embodiment.has_state else None
        action = embodiment.gather("action", steps, RLDS_ACTION_KEY)
    except (KeyError, ValueError) as error:
        return RejectedEpisode(episode.episode_id, f"file {record.path}", error_reason(error))
    return Episode(
        episode_id=episode.episode_id,
        embodiment=embodiment.name,
        fps=embodiment.fps,
        instruction=text,
        frames={camera: np.asarray(steps[key]) for key, camera in cameras.items()},
        state=None if state is None else state.astype(np.float32),
        action=action.astype(np.float32),
        timestamps=exact_timestamps(episode.length, embodiment.fps),
        notes={"source": episode.source, "rlds_dataset": _builder(folder).name},
    )


def _is_text(values: object) -> bool:
    return isinstance(values, list) and bool(values) and isinstance(values[0], str)


RECORDS_PER_TASK = 8  # RLDS episodes are often a few dozen steps (Bridge: ~40): several per Ray task


def oxe_plan(
    folder: Path | str,
    *,
    split: str = "train",
    dataset: str | None = None,
    embodiment: Embodiment | None = None,
    instruction: str | None = None,
) -> ReadPlan:
    """Read plan of one split of an RLDS builder folder: records are read here, decoded per episode as tasks.

    A known Open X-Embodiment dataset (``dataset``, by default the builder's own name) is standardised as its
    registered embodiment; any other, or one given another ``embodiment``, is read by that embodiment's groups.
    """
    builder = _builder(str(Path(folder).resolve()))
    builder.shard_paths(split)  # a split the builder lacks refuses the source now, not at its first record
    name = dataset or builder.name
    known = STANDARDISATIONS.get(name)
    if known is not None and (embodiment is None or embodiment.name == known.embodiment):
        embodiment = get_embodiment(known.embodiment)
        units = ((str(builder.folder), name, record) for record in builder.records(split))
        return ReadPlan(embodiment, embodiment.fps, read_standardised, units, units_per_task=RECORDS_PER_TASK)
    if embodiment is None:
        raise RLDSError(
            f"{builder.folder}: {name!r} is not a known Open X-Embodiment dataset ({', '.join(sorted(STANDARDISATIONS))}); "
            "pass --embodiment NAME, or --embodiment auto to infer one from its features.json"
        )
    cameras = rlds_cameras(builder, embodiment)
    units = ((str(builder.folder), embodiment, cameras, record, instruction) for record in builder.records(split))
    return ReadPlan(embodiment, embodiment.fps, read_by_embodiment, units, units_per_task=RECORDS_PER_TASK)


def ingest_oxe(
    folder: Path | str,
    destination: Path | str,
    *,
    split: str = "train",
    dataset: str | None = None,
    config: WriterConfig | None = None,
    on_item: Callable[[int], None] | None = None,
    ray: RayConfig | None = None,
) -> WriteReport:
    """Ingest one split of an RLDS builder folder as a LeRobot v3.0 dataset of the standardised embodiment."""
    plan = oxe_plan(folder, split=split, dataset=dataset)
    return write_plan(plan, destination, ray=ray, config=config, on_item=on_item)
