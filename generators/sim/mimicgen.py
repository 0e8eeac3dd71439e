"""MimicGen's generation method in robosuite 1.5, with DexMimicGen's bimanual subtasks: new demos from a few
source demos.

Each source demo is cut, per arm, into object-centric subtasks at its termination signals (boundaries
moved by a random offset). For a new scene each subtask takes a source segment (one of the few whose object
pose was nearest, or chosen at random), moves the segment's target poses into the object's current frame,
bridges from the arm's current pose to the segment's start (no faster than the arm follows), and executes
it with delta end-effector (OSC_POSE) commands, the source's gripper actions replayed and optional action
noise. Two arms follow DexMimicGen's three kinds of subtask: *parallel* (each arm on its own),
*coordination* (the arms start together, share one source demo and one transform, and finish on the same
step) and *sequential* (an arm waits until another arm's subtask has finished). Only rollouts that succeed
are kept; a failure keeps its reason (which subtask went wrong) for analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import h5py
import numpy as np

from generators.robosuite_env import (
    POSITION_SCALE,
    ROBOSUITE_TASKS,
    ROTATION_SCALE,
    arm_poses,
    body_pose,
    grasp_signal,
    make_env,
)
from generators.sim.config import MimicGenConfig
from generators.sim.poses import (
    bridge_steps,
    delta_command,
    interpolate_poses,
    nearest_symmetric_pose,
    transform_segment,
)
from schemas.embodiment import get_embodiment

__all__ = [
    "SUBTASKS",
    "Rollout",
    "SourceDemo",
    "Subtask",
    "SubtaskKind",
    "check_sources",
    "generate_rollout",
    "load_source_demos",
    "replay_actions",
    "segment_bounds",
]


class SubtaskKind(StrEnum):
    PARALLEL = "parallel"
    COORDINATION = "coordination"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True)
class Subtask:
    """One object-centric subtask of one arm: the object its motion is relative to (None: the world, e.g. a
    fixed bin), the signal that ends it (None: the demo's end), its kind, for a sequential subtask the
    (arm, subtask) that must finish before it starts, and how many steps (low, high) its end moves past the
    signal, drawn per demo and attempt (MimicGen's 10-20 lets a grasp close and lift before the next
    object's frame takes over)."""

    object: str | None
    end_signal: str | None
    kind: SubtaskKind = SubtaskKind.PARALLEL
    after: tuple[int, int] | None = None
    end_offset: tuple[int, int] = (10, 20)


Spec = tuple[tuple[Subtask, ...], ...]  # per arm, its subtasks in order

# each arm grasps its handle on its own, then both lift the pot as one; the grasps end at their signal (a later
# end would let one arm lift its side alone and tip the pot out of the other's hand)
_TWO_ARM_LIFT: Spec = (
    (Subtask("pot", "grasp0", end_offset=(-3, 3)), Subtask("pot", None, SubtaskKind.COORDINATION)),
    (Subtask("pot", "grasp1", end_offset=(-3, 3)), Subtask("pot", None, SubtaskKind.COORDINATION)),
)

SUBTASKS: dict[str, Spec] = {
    "Lift": ((Subtask("cube", "grasp"), Subtask("cube", None)),),
    "Stack": ((Subtask("cubeA", "grasp"), Subtask("cubeB", None)),),
    "PickPlaceCan": ((Subtask("can", "grasp"), Subtask(None, None)),),
    "TwoArmLift": _TWO_ARM_LIFT,
    "GR1TwoArmLift": _TWO_ARM_LIFT,
}


def coordination_groups(spec: Spec) -> list[list[tuple[int, int]]]:
    """The n-th coordination subtask of every arm forms group n; members share object and end signal."""
    per_arm = [
        [(arm, i) for i, s in enumerate(subtasks) if s.kind == SubtaskKind.COORDINATION]
        for arm, subtasks in enumerate(spec)
    ]
    if len({len(members) for members in per_arm}) > 1:
        raise ValueError(f"every arm needs the same number of coordination subtasks, got {[len(m) for m in per_arm]}")
    groups = [list(group) for group in zip(*per_arm)]
    for group in groups:
        if len({(spec[a][i].object, spec[a][i].end_signal) for a, i in group}) > 1:
            raise ValueError(f"coordination subtasks {group} must share their object and end signal")
    return groups


def _check_spec(spec: Spec) -> None:
    for arm, subtasks in enumerate(spec):
        for index, subtask in enumerate(subtasks):
            if subtask.kind == SubtaskKind.SEQUENTIAL:
                other = subtask.after
                if (
                    other is None
                    or other[0] == arm
                    or not (0 <= other[0] < len(spec) and 0 <= other[1] < len(spec[other[0]]))
                ):
                    raise ValueError(
                        f"sequential subtask {index} of arm {arm} needs another arm's subtask to wait for, got {other}"
                    )
    coordination_groups(spec)


@dataclass(frozen=True)
class SourceDemo:
    """What generation needs of a source demo (its ``datagen_info``), per arm."""

    name: str
    target_pose: np.ndarray  # (T, arms, 4, 4)
    gripper: np.ndarray  # (T, arms)
    object_poses: dict[str, np.ndarray]  # object -> (T, 4, 4)
    signals: dict[str, np.ndarray]  # signal -> (T,) bool

    @property
    def length(self) -> int:
        return len(self.target_pose)


def load_source_demos(path: Path | str) -> list[SourceDemo]:
    """Source demos of a robomimic HDF5 file with ``datagen_info``; a demo without it, or whose arrays
    disagree on its number of steps, is a clear error naming the file and demo."""
    demos = []
    with h5py.File(path, "r") as file:
        for name in sorted(file["data"], key=lambda n: int(n.split("_")[-1])):
            group = file["data"][name]
            if "datagen_info" not in group:
                raise ValueError(f"{path}: {name} has no datagen_info; MimicGen needs eef/object poses and signals")
            info, length = group["datagen_info"], len(group["actions"])
            arrays = {
                "target_pose": info["target_pose"][()],
                "gripper_action": info["gripper_action"][()],
                **{f"object_poses/{k}": v[()] for k, v in info["object_poses"].items()},
                **{f"subtask_term_signals/{k}": v[()] for k, v in info["subtask_term_signals"].items()},
            }
            wrong = {key: len(value) for key, value in arrays.items() if len(value) != length}
            if wrong:
                raise ValueError(f"{path}: {name} has {length} actions but datagen_info lengths {wrong}")
            demos.append(
                SourceDemo(
                    name=f"{Path(path).stem}/{name}",
                    target_pose=arrays["target_pose"].reshape(length, -1, 4, 4),
                    gripper=arrays["gripper_action"].reshape(length, -1),
                    object_poses={k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("object_poses/")},
                    signals={
                        k.split("/", 1)[1]: v.astype(bool)
                        for k, v in arrays.items()
                        if k.startswith("subtask_term_signals/")
                    },
                )
            )
    return demos


def check_sources(task: str, sources: list[SourceDemo], spec: Spec | None = None) -> None:
    """Refuse source demos that cannot seed ``task``: wrong number of arms, or a missing object or signal."""
    spec = spec or SUBTASKS[task]
    _check_spec(spec)
    if not sources:
        raise ValueError(f"{task}: no source demos")
    for source in sources:
        if source.target_pose.shape[1] != len(spec):
            raise ValueError(f"{source.name}: has {source.target_pose.shape[1]} arm(s), {task} needs {len(spec)}")
        needed = {s.end_signal for arm in spec for s in arm} - {None}
        missing = sorted(needed - set(source.signals)) + sorted(
            {s.object for arm in spec for s in arm} - {None} - set(source.object_poses)
        )
        if missing:
            raise ValueError(f"{source.name}: no subtask signal or object pose for {missing}; {task} needs them")


def segment_bounds(demo: SourceDemo, spec: Spec, rng: np.random.Generator) -> list[list[tuple[int, int]]]:
    """Per arm, (start, end) of each subtask: it ends where its signal first turns on, moved by a random
    number of steps in its ``end_offset`` (inclusive); the last ends with the demo. Coordination subtasks end
    where the group's first member ends, so the arms' segments finish together."""
    leader = {member: group[0] for group in coordination_groups(spec) for member in group}
    ends: dict[tuple[int, int], int] = {}
    bounds = []
    for arm, subtasks in enumerate(spec):
        arm_bounds, start = [], 0
        for index, subtask in enumerate(subtasks):
            if leader.get((arm, index), (arm, index)) != (arm, index):
                end = max(ends[leader[(arm, index)]], start + 1)
            elif subtask.end_signal is None:
                end = demo.length
            else:
                on = np.flatnonzero(demo.signals[subtask.end_signal])
                if len(on) == 0:
                    raise ValueError(f"{demo.name}: signal {subtask.end_signal!r} never turns on")
                low, high = subtask.end_offset
                end = int(np.clip(on[0] + rng.integers(low, high + 1), start + 1, demo.length - 1))
            ends[(arm, index)] = end
            arm_bounds.append((start, end))
            start = end
        bounds.append(arm_bounds)
    return bounds


@dataclass
class Rollout:
    """One generated attempt: what was done, whether it succeeded, and why not."""

    task: str
    seed: int
    success: bool
    reason: str
    actions: np.ndarray  # (T, the robot's action size)
    sim_states: np.ndarray  # (T, S)
    proprio: dict[str, np.ndarray]  # the embodiment's state keys (robosuite obs keys) -> (T, ...)
    datagen_info: dict[str, np.ndarray]  # as a source demo's: eef/target poses, gripper, object poses, signals
    segments: list[dict] = field(default_factory=list)  # per arm and subtask: source, bounds, kind, steps


@dataclass
class _Arm:
    """One arm's progress: the targets it still has to execute and the subtask they belong to."""

    next_subtask: int = 0
    queue: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (target pose, gripper)
    current: int | None = None
    hold: np.ndarray | None = None  # where it stays while it waits or is done
    gripper: float = -1.0


class _Generation:
    """One attempt's state: the env, the chosen segments and what every step recorded."""

    def __init__(self, task: str, sources: list[SourceDemo], seed: int, config: MimicGenConfig, spec: Spec):
        self.task, self.sources, self.seed, self.config, self.spec = task, sources, seed, config, spec
        self.rng = np.random.default_rng(seed)
        self.objects, self.robot = ROBOSUITE_TASKS[task].objects, ROBOSUITE_TASKS[task].robot
        self.symmetry = ROBOSUITE_TASKS[task].symmetry if config.object_symmetry else {}
        self.state_keys = get_embodiment(self.robot.embodiment).state_keys()
        self.groups = coordination_groups(spec)
        self.env = make_env(task, seed=seed)
        self.obs = self.env.reset()
        self.bounds = [segment_bounds(s, spec, self.rng) for s in sources]
        first = sources[0].gripper[0]
        self.arms = [
            _Arm(hold=self.robot.eef_pose(self.obs, arm), gripper=float(first[arm])) for arm in range(len(spec))
        ]
        self.finished: dict[tuple[int, int], int] = {}
        self.segments: list[dict] = []
        self.record: dict[str, list] = {}
        self.steps = 0

    def _choose(self, subtask: Subtask, arm: int, index: int) -> int:
        if self.config.selection == "random" or subtask.object is None:
            return int(self.rng.integers(len(self.sources)))
        now = body_pose(self.env, self.objects[subtask.object])[:3, 3]
        starts = [s.object_poses[subtask.object][b[arm][index][0]][:3, 3] for s, b in zip(self.sources, self.bounds)]
        nearest = np.argsort([np.linalg.norm(start - now) for start in starts])[: self.config.nearest_k]
        return int(self.rng.choice(nearest))

    def _plan(self, members: list[tuple[int, int]]) -> None:
        """Queue the transformed source segments of ``members`` (one arm, or a coordination group sharing one
        source demo and one transform, padded at the front so all of them end on the same step)."""
        arm0, index0 = members[0]
        subtask = self.spec[arm0][index0]
        chosen = self._choose(subtask, arm0, index0)
        source = self.sources[chosen]
        then = now = np.eye(4)
        if subtask.object is not None:
            then = source.object_poses[subtask.object][self.bounds[chosen][arm0][index0][0]]
            now = body_pose(self.env, self.objects[subtask.object])
            if subtask.object in self.symmetry:
                now = nearest_symmetric_pose(now, then, self.symmetry[subtask.object])
        queues = {}
        for arm, index in members:
            start, end = self.bounds[chosen][arm][index]
            targets = transform_segment(source.target_pose[start:end, arm], then, now)
            here = self.robot.eef_pose(self.obs, arm)
            steps = bridge_steps(
                here,
                targets[0],
                self.config.interpolation_steps,
                self.config.bridge_speed,
                self.config.bridge_angular_speed,
            )
            bridge = interpolate_poses(here, targets[0], steps)
            queues[arm] = [(pose, self.arms[arm].gripper) for pose in bridge] + [
                (pose, float(grip)) for pose, grip in zip(targets, source.gripper[start:end, arm], strict=True)
            ]
            self.segments.append(
                {
                    "arm": arm,
                    "subtask": index,
                    "kind": str(self.spec[arm][index].kind),
                    "object": subtask.object,
                    "source": source.name,
                    "start": start,
                    "end": end,
                    "started_step": self.steps,
                }
            )
        longest = max(len(queue) for queue in queues.values())
        for arm, index in members:
            state = self.arms[arm]
            state.queue = [(state.hold, state.gripper)] * (longest - len(queues[arm])) + queues[arm]
            state.current, state.next_subtask = index, index + 1

    def _ready(self, arm: int) -> bool:
        state = self.arms[arm]
        if state.queue or state.next_subtask >= len(self.spec[arm]):
            return False
        subtask = self.spec[arm][state.next_subtask]
        return subtask.kind != SubtaskKind.SEQUENTIAL or subtask.after in self.finished

    def _schedule(self) -> None:
        for arm in range(len(self.spec)):
            if not self._ready(arm):
                continue
            index = self.arms[arm].next_subtask
            if self.spec[arm][index].kind != SubtaskKind.COORDINATION:
                self._plan([(arm, index)])
                continue
            group = next(g for g in self.groups if (arm, index) in g)
            if all(self._ready(a) and self.arms[a].next_subtask == i for a, i in group):
                self._plan(group)

    def _step(self) -> None:
        poses = [self.robot.eef_pose(self.obs, arm) for arm in range(len(self.arms))]
        commands = []
        for arm, state in enumerate(self.arms):
            target, grip = state.queue.pop(0) if state.queue else (state.hold, state.gripper)
            state.hold, state.gripper = target, grip
            command = delta_command(poses[arm], target, POSITION_SCALE, ROTATION_SCALE)
            if self.config.action_noise:
                command = np.clip(command + self.rng.normal(0, self.config.action_noise, 6), -1, 1)
            commands.append(command)
            if state.current is not None and not state.queue:
                self.finished[(arm, state.current)] = self.steps
                state.current = None
        action = self.robot.action(commands, [state.gripper for state in self.arms])
        record = self.record
        for key, value in (
            ("actions", action),
            ("sim_states", self.env.sim.get_state().flatten()),
            ("eef_pose", poses),
            ("target_pose", [state.hold for state in self.arms]),
            *((key, self.obs[key].astype(np.float32)) for key in self.state_keys),
            *((f"object_poses/{name}", body_pose(self.env, body)) for name, body in self.objects.items()),
            *((f"subtask_term_signals/{name}", on) for name, on in grasp_signal(self.env, self.task).items()),
        ):
            record.setdefault(key, []).append(value)
        self.obs, _, _, _ = self.env.step(action)
        self.steps += 1

    def _failure_reason(self, timed_out: bool) -> str:
        """Where a failed attempt went wrong, for analysis: a subtask whose end signal never came on (e.g. the
        object was never grasped), else the task itself left undone at the end."""
        if timed_out:
            return f"still executing after {self.config.max_steps} steps"
        for segment in self.segments:
            signal = self.spec[segment["arm"]][segment["subtask"]].end_signal
            if signal is not None and not any(self.record[f"subtask_term_signals/{signal}"][segment["started_step"] :]):
                return f"'{signal}' never on (arm {segment['arm']}, subtask {segment['subtask']}: {segment['object']})"
        return "task not completed at the end of the last segment"

    def run(self) -> Rollout:
        try:
            while any(s.queue or s.next_subtask < len(self.spec[a]) for a, s in enumerate(self.arms)):
                self._schedule()
                if not any(s.queue for s in self.arms):
                    raise ValueError(f"{self.task}: subtasks wait on each other forever: {self.spec}")
                if self.steps >= self.config.max_steps:
                    break
                self._step()
            timed_out = self.steps >= self.config.max_steps
            for _ in range(self.config.settle_steps):
                self._step()
            success = not timed_out and bool(self.env._check_success())
        finally:
            self.env.close()
        for segment in self.segments:
            segment["finished_step"] = self.finished.get((segment["arm"], segment["subtask"]), -1)
        reason = "" if success else self._failure_reason(timed_out)
        actions = np.stack(self.record["actions"])
        return Rollout(
            task=self.task,
            seed=self.seed,
            success=success,
            reason=reason,
            actions=actions,
            sim_states=np.stack(self.record["sim_states"]),
            proprio={key: np.stack(self.record[key]) for key in self.state_keys},
            datagen_info={
                "eef_pose": arm_poses(np.asarray(self.record["eef_pose"])),
                "target_pose": arm_poses(np.asarray(self.record["target_pose"])),
                "gripper_action": self.robot.gripper_actions(actions),
                **{
                    k: np.asarray(v)
                    for k, v in self.record.items()
                    if k.startswith(("object_poses/", "subtask_term_signals/"))
                },
            },
            segments=self.segments,
        )


def generate_rollout(
    task: str, sources: list[SourceDemo], seed: int, config: MimicGenConfig | None = None, spec: Spec | None = None
) -> Rollout:
    """One MimicGen attempt on a scene seeded by ``seed`` (deterministic for the same inputs); ``spec`` overrides
    the task's subtasks (e.g. a sequential variant)."""
    spec = spec or SUBTASKS[task]
    check_sources(task, sources, spec)
    return _Generation(task, sources, seed, config or MimicGenConfig(), spec).run()


def replay_actions(task: str, seed: int, actions: np.ndarray) -> bool:
    """Replay recorded actions on the same seeded scene; True when the task succeeds at the end."""
    env = make_env(task, seed=seed)
    try:
        env.reset()
        for action in actions:
            env.step(action)
        return bool(env._check_success())
    finally:
        env.close()
