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

from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from pipelines.runtime.parallel import RayConfig, start_local_ray

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
SOURCES = {
    "bridge (RLDS)": SourceConfig(name="bridge", path=FIXTURES / "rlds/bridge_dataset/1.0.0", format="rlds"),
    "gr00t demo (LeRobot v2)": SourceConfig(
        name="gr00t", path=FIXTURES / "lerobot_v2/robot_sim.PickNPlace", format="lerobot"
    ),
}


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
    rows = []
    for name, source in SOURCES.items():
        serial = frames_per_second(source, None, args.repeat)
        rows.append((name, serial, on_ray(source, 1, args.repeat), on_ray(source, 2, args.repeat)))
    print(f"{'source':26s} {'in-process':>11s} {'Ray x1':>9s} {'Ray x2':>9s} {'x2 / x1':>8s}   (frames/s)")
    for name, serial, one, two in rows:
        cells = [f"{v:9.0f}" if v else f"{'-':>9s}" for v in (one, two)]
        ratio = f"{two / one:8.2f}" if one and two else f"{'-':>8s}"
        print(f"{name:26s} {serial:11.0f} {cells[0]} {cells[1]} {ratio}")


if __name__ == "__main__":
    main()
