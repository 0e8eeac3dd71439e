"""Simulation settings, read by the command line and Dagster without loading robosuite: how many demos to
generate per task, and how MimicGen-style generation adapts and executes the source segments."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.options import option

__all__ = ["EmbeddedDemos", "EmbeddedStandIns", "MimicGenConfig", "SimRun"]


@dataclass(frozen=True)
class EmbeddedDemos:
    """The embedded default teleop data: scripted-expert demos per task, so the demo needs no download."""

    demos_per_task: int = option(10, "successful expert demos recorded per task")
    image_size: int = option(84, "square camera frames (even)")


@dataclass(frozen=True)
class EmbeddedStandIns:
    """Stand-ins for human video: action-less robosuite clips from a camera no teleop dataset uses."""

    clips_per_task: int = option(2, "stand-in clips rendered per embedded task")


@dataclass(frozen=True)
class SimRun:
    demos_per_task: int = option(80, "successful generated demos per task (8x the embedded sources)")
    image_size: int = option(84, "square camera frames (even)")


@dataclass(frozen=True)
class MimicGenConfig:
    """How a new scene's demo is made from source segments. MimicGen bridges with a fixed 5 steps, which
    suits a slow human source; behind a source moving at full speed the arm (OSC follows ~1.5 cm a step
    here) would lag for the whole segment, hence the speed limits."""

    selection: str = option(
        "nearest", "source segment per subtask: random, or nearest (as MimicGen: one of the few closest)"
    )
    nearest_k: int = option(3, "how many nearest segments 'nearest' chooses among at random")
    interpolation_steps: int = option(5, "the fewest steps bridging the robot's pose to each segment's first pose")
    bridge_speed: float = option(0.01, "a bridge takes more steps where it would move faster than this (m/step)")
    bridge_angular_speed: float = option(0.1, "the same limit on rotation (rad/step)")
    action_noise: float = option(0.05, "std of the noise on the delta end-effector command (input units)")
    object_symmetry: bool = option(
        True,
        "segments follow an object's visible yaw only (a task's declared symmetry: a cube turned 80 degrees is "
        "grasped after a 10-degree turn); off: its full yaw, as MimicGen",
    )
    settle_steps: int = option(10, "steps holding still after the last segment before success is judged")
    max_steps: int = option(2_000, "a longer rollout (e.g. arms waiting on each other forever) fails")
