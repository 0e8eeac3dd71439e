"""Ingest throughput: the real Bridge shard and the GR00T demo, in-process and on Ray at 1 and 2 workers.

For each worker count a local Ray with that many CPUs is started and its workers warmed (started, task
modules imported) before timing, so start-up (5-15 s here) is not counted, as on a running cluster; each
run writes a fresh LeRobot v3 dataset. On Ray every episode is read, checked and encoded on a worker and
this process only appends. Prints frames/s and the speed-up of 2 workers over 1.

    python benchmarks/bench_ingest.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import ray
from record import at_least, write_result

from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from pipelines.runtime.parallel import RayConfig, start_local_ray

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
SOURCES = {
    "bridge": SourceConfig(name="bridge", path=FIXTURES / "rlds/bridge_dataset/1.0.0", format="rlds"),
    "gr00t": SourceConfig(name="gr00t", path=FIXTURES / "lerobot_v2/robot_sim.PickNPlace", format="lerobot"),
}
SCALING_GOAL = 1.8  # frames/s at 2 workers over 1 worker


def frames_per_second(source: SourceConfig, ray_config: RayConfig | None, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as workdir:
            start = time.perf_counter()
            report = ingest_source(source, Path(workdir) / "out", ray=ray_config)
            best = min(best, time.perf_counter() - start)
    return report.frames / best


@ray.remote(num_cpus=1)
def warm_worker() -> None:
    import pipelines.ingest.sources  # noqa: F401  (the modules every ingest task runs)

    time.sleep(1)  # hold this CPU so the next warm-up task lands on another worker


def on_ray(source: SourceConfig, workers: int, repeat: int) -> float:
    start_local_ray(workers)
    ray.get([warm_worker.remote() for _ in range(workers)])
    try:
        return frames_per_second(source, RayConfig(workers=workers), repeat)
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs")
    args = parser.parse_args()
    figures = {}
    for name, source in SOURCES.items():
        figures[f"{name}_in_process_fps"] = round(frames_per_second(source, None, args.repeat), 1)
        for workers in (1, 2):
            figures[f"{name}_ray_x{workers}_fps"] = round(on_ray(source, workers, args.repeat), 1)
        figures[f"{name}_x2_over_x1"] = round(figures[f"{name}_ray_x2_fps"] / figures[f"{name}_ray_x1_fps"], 3)
        figures[f"{name}_ray_x2_over_in_process"] = round(
            figures[f"{name}_ray_x2_fps"] / figures[f"{name}_in_process_fps"], 3
        )
    print(f"{'source':8s} {'in-process':>11s} {'Ray x1':>9s} {'Ray x2':>9s} {'x2 / x1':>8s}   (frames/s)")
    for name in SOURCES:
        cells = [figures[f"{name}_{key}"] for key in ("in_process_fps", "ray_x1_fps", "ray_x2_fps", "x2_over_x1")]
        print(f"{name:8s} {cells[0]:11.0f} {cells[1]:9.0f} {cells[2]:9.0f} {cells[3]:8.2f}")
    write_result(
        "ingest",
        "Ingest throughput: in-process and on Ray",
        figures,
        {f"{name}_x2_over_x1": at_least(figures[f"{name}_x2_over_x1"], SCALING_GOAL) for name in SOURCES},
        reference="in-process ingest of the same source (one process, the writer's encoder thread)",
        setup="The real Bridge RLDS shard (25 episodes x 9 frames) and the GR00T demo (LeRobot v2, 5 episodes "
        f"of 328-470 frames), each written as a fresh LeRobot v3.0 dataset; best of {args.repeat}; Ray started and "
        "its workers warmed before timing.",
    )


if __name__ == "__main__":
    main()
