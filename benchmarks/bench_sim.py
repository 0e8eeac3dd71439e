"""Simulated-rollout throughput: MimicGen attempts per minute on Ray at 1 and 2 workers, with and without
cameras, against the reference, robosuite's own physics stepping the same number of steps with no planning
or recording (one process, cameras off).

Source demos are recorded first (10 scripted demos per task); each run makes a fixed number of seeded
attempts (successes rendered when cameras are on). A local Ray with that many CPUs is started and its
workers warmed before timing, so start-up is not counted, as on a running cluster.

    python benchmarks/bench_sim.py [--task Lift] [--attempts 8]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import ray
from record import at_least, bench_parser, write_result

from generators.robosuite_env import ROBOSUITE_TASKS, make_env
from generators.scripted_teleop import ExpertConfig, record_teleop_set
from generators.sim.generate import generate_demos
from pipelines.runtime.parallel import RayConfig, start_local_ray
from schemas.embodiment import get_embodiment


@ray.remote(num_cpus=1)
def warm_worker() -> None:
    import generators.sim.generate  # noqa: F401  (robosuite and mujoco, which every attempt imports)

    time.sleep(1)  # hold this CPU so the next warm-up task lands on another worker


def rollouts_per_minute(
    task: str, sources: Path, attempts: int, workers: int, cameras: tuple[str, ...], workdir: Path
) -> tuple[float, float]:
    """(attempts per minute, mean steps per attempt) of one fixed-size generation run."""
    start_local_ray(workers)
    ray.get([warm_worker.remote() for _ in range(workers)])
    try:
        start = time.perf_counter()
        report = generate_demos(
            task,
            sources,
            attempts,
            workdir / f"{workers}_{len(cameras)}.hdf5",
            max_attempts=attempts,
            cameras=cameras,
            ray=RayConfig(workers=workers),
        )
        seconds = time.perf_counter() - start
    finally:
        ray.shutdown()
    with h5py.File(report.path) as file:
        steps = float(np.mean([len(file["data"][name]["actions"]) for name in file["data"]]))
    return report.attempts / seconds * 60, steps


def reference_rollouts_per_minute(task: str, steps: int, repeat: int = 3) -> float:
    """robosuite alone: make the env, reset and step ``steps`` zero actions (the floor of any rollout)."""
    start = time.perf_counter()
    for seed in range(repeat):
        env = make_env(task, seed=seed)
        env.reset()
        for _ in range(steps):
            env.step(np.zeros(env.action_dim))
        env.close()
    return repeat / (time.perf_counter() - start) * 60


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--task", default="Lift", choices=sorted(ROBOSUITE_TASKS))
    parser.add_argument("--attempts", type=int, default=8)
    args = parser.parse_args()
    cameras = get_embodiment(ROBOSUITE_TASKS[args.task].embodiment).cameras
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        sources = workdir / "sources.hdf5"
        record_teleop_set(args.task, 10, sources, ExpertConfig(cameras=()))
        results = {}
        for label, with_cameras in (("no cameras", ()), (f"{len(cameras)} cameras 84x84", cameras)):
            for workers in (1, 2):
                results[label, workers] = rollouts_per_minute(
                    args.task, sources, args.attempts, workers, with_cameras, workdir
                )
        steps = int(results["no cameras", 1][1])
        reference = reference_rollouts_per_minute(args.task, steps)
    print(f"\n{args.task}: {args.attempts} MimicGen attempts per run, ~{steps} steps per successful rollout")
    print(f"reference (robosuite stepping {steps} zero actions, 1 process): {reference:.1f} rollouts/min")
    print(f"{'run':<24}{'workers':>8}{'rollouts/min':>14}{'vs reference':>14}{'2 vs 1 workers':>16}")
    for (label, workers), (per_minute, _) in results.items():
        scaling = per_minute / results[label, 1][0]
        print(f"{label:<24}{workers:>8}{per_minute:>14.1f}{per_minute / reference:>14.2f}{scaling:>16.2f}")
    figures = {"reference_rollouts_per_min": round(reference, 2), "steps_per_rollout": steps}
    for (label, workers), (per_minute, _) in results.items():
        key = "cameras" if label != "no cameras" else "no_cameras"
        figures[f"{key}_x{workers}_rollouts_per_min"] = round(per_minute, 2)
        figures[f"{key}_x{workers}_over_reference"] = round(per_minute / reference, 3)
    for key in ("no_cameras", "cameras"):
        figures[f"{key}_x2_over_x1"] = round(
            figures[f"{key}_x2_rollouts_per_min"] / figures[f"{key}_x1_rollouts_per_min"], 3
        )
    write_result(
        "sim",
        "Simulated rollouts: MimicGen attempts per minute",
        figures,
        {f"{key}_x2_over_x1": at_least(figures[f"{key}_x2_over_x1"], 1.8) for key in ("no_cameras", "cameras")},
        reference=f"robosuite alone stepping {steps} zero actions per rollout in one process, cameras off",
        setup=f"{args.task}: 10 scripted source demos, then {args.attempts} seeded MimicGen attempts per run on Ray at "
        f"1 and 2 workers, without and with the embodiment's {len(cameras)} cameras at 84x84; Ray warmed first.",
    )


if __name__ == "__main__":
    main()
