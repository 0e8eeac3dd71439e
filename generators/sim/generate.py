"""Multiply source demos into many: seeded MimicGen attempts (on Ray when configured), successes rendered and
written as robomimic-style HDF5 with their own ``datagen_info`` (so they ingest like any teleop set and can
seed further generation), failures recorded with their reason."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from mujoco import FatalError
from robosuite.utils.errors import robosuiteError

from generators.robosuite_env import CONTROL_FREQ, ROBOSUITE_TASKS, make_env, render_states
from generators.sim.config import MimicGenConfig
from generators.sim.mimicgen import SourceDemo, check_sources, generate_rollout, load_source_demos
from pipelines.robomimic import RobomimicDemo, write_robomimic
from pipelines.runtime.parallel import RayConfig, ray_map
from schemas.embodiment import get_embodiment

__all__ = ["GenerationReport", "generate_demos"]


@dataclass
class GenerationReport:
    task: str
    path: Path
    attempts: int
    successes: int
    failures: list[dict] = field(default_factory=list)  # {"seed", "reason"}
    seconds: float = 0.0
    workers: int = 1

    @property
    def success_rate(self) -> float:
        return self.successes / self.attempts if self.attempts else 0.0

    @property
    def rollouts_per_minute_per_core(self) -> float:
        return self.attempts / (self.seconds / 60) / self.workers if self.seconds else 0.0


@lru_cache(maxsize=8)
def _sources(path: str) -> list[SourceDemo]:
    return load_source_demos(path)


def _attempt(
    task: str, source_path: str, seed: int, config: MimicGenConfig, cameras: tuple[str, ...], image_size: int
) -> tuple[RobomimicDemo | None, dict]:
    """One seeded attempt where it runs (e.g. a Ray worker); a success comes back rendered. A simulator error
    (robosuite's or MuJoCo's own exceptions) fails this attempt only, with the error as its reason."""
    try:
        rollout = generate_rollout(task, _sources(source_path), seed, config)
    except (robosuiteError, FatalError) as error:
        return None, {"seed": seed, "reason": f"simulator error: {type(error).__name__}: {error}"}
    if not rollout.success:
        return None, {"seed": seed, "reason": rollout.reason}
    env = make_env(task, seed=seed)
    try:
        frames = render_states(env, rollout.sim_states, cameras, image_size)
    finally:
        env.close()
    demo = RobomimicDemo(
        instruction=ROBOSUITE_TASKS[task].instruction,
        states=rollout.sim_states,
        actions=rollout.actions,
        obs={**{f"{c}_image": np.stack([f[c] for f in frames]) for c in cameras}, **rollout.proprio},
        datagen_info=rollout.datagen_info,
        attrs={"seed": seed, "generator": "mimicgen", "segments": json.dumps(rollout.segments)},
    )
    return demo, {"seed": seed, "reason": ""}


def generate_demos(
    task: str,
    source_path: Path | str,
    count: int,
    destination: Path | str,
    *,
    config: MimicGenConfig | None = None,
    first_seed: int = 10_000,
    max_attempts: int | None = None,
    cameras: tuple[str, ...] | None = None,
    image_size: int = 84,
    ray: RayConfig | None = None,
    on_attempt: Callable[[int, int], None] | None = None,
) -> GenerationReport:
    """Generate ``count`` successful demos of ``task`` from the source demos at ``source_path``.

    Attempt ``i`` uses seed ``first_seed + i`` (scene and noise), so a run is reproducible wherever its
    attempts execute. Gives up after ``max_attempts`` (default 4x count) and writes what succeeded.
    ``cameras`` default to the task's embodiment cameras. ``on_attempt(attempts, successes)`` reports progress.
    Source demos that cannot seed the task are refused here, before any attempt runs.
    """
    config = config or MimicGenConfig()
    check_sources(task, load_source_demos(source_path))
    cameras = get_embodiment(ROBOSUITE_TASKS[task].embodiment).cameras if cameras is None else cameras
    max_attempts = max_attempts or 4 * count
    arguments = ((task, str(source_path), first_seed + i, config, cameras, image_size) for i in range(max_attempts))
    results = ray_map(_attempt, arguments, ray) if ray else (_attempt(*args) for args in arguments)
    demos, failures, attempts, start = [], [], 0, time.perf_counter()
    with closing(results):  # once enough succeeded, the attempts still in flight are cancelled
        for demo, outcome in results:
            attempts += 1
            if demo is None:
                failures.append(outcome)
            else:
                demos.append(demo)
            if on_attempt is not None:
                on_attempt(attempts, len(demos))
            if len(demos) == count:
                break
    seconds = time.perf_counter() - start
    if not demos:
        raise RuntimeError(f"{task}: no generated demo succeeded in {attempts} attempts ({failures[:3]} ...)")
    write_robomimic(destination, task, demos, fps=CONTROL_FREQ)
    report = GenerationReport(
        task, Path(destination), attempts, len(demos), failures, seconds, ray.workers if ray else 1
    )
    Path(destination).with_suffix(".report.json").write_text(
        json.dumps(
            {
                "task": task,
                "attempts": attempts,
                "successes": len(demos),
                "failures": failures,
                "seconds": seconds,
                "source": str(source_path),
            },
            indent=2,
        )
    )
    return report
