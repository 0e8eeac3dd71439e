"""Ingest throughput: Bridge RLDS and the GR00T demo, in-process and on Ray at 1 and 2 workers.

Bridge is its real shard repeated as ``--bridge-shards`` shards of one builder folder (16: 400 episodes of 9
frames), as the real dataset comes in many shards; the one shard alone (225 frames, under a second) measures
fixed costs, not scaling: ``bridge_one_shard_cold_s`` is its whole ingest with no Ray running yet, as a fresh
Dagster run or CLI call sees it (Ray's default ``in_process_seconds``: work this small never starts a local Ray),
and ``bridge_one_shard_cold_on_ray_s`` the same with every task sent to a local Ray started for it.

For each worker count a local Ray with that many CPUs is started and its workers warmed (started, task
modules imported) before timing, so start-up (5-15 s here) is not counted, as on a running cluster; each
run writes a fresh LeRobot v3 dataset. On Ray every episode is read, checked and encoded on a worker and
this process only appends. Prints frames/s and the speed-up of 2 workers over 1, and the cores each run
kept busy (this process's, and the whole machine's). ``<source>_x2_bound`` is the speed-up the source's own
task sizes allow: its Ray tasks (an episode each, or a batch of RLDS records) handed in order to the first
free worker, with work in proportion to frames and nothing else costing anything (the GR00T demo's five
episodes of 328-470 frames cannot go faster than 1.73x on 2 workers).

    python benchmarks/bench_ingest.py [--repeat 1] [--bridge-shards 16]
"""

from __future__ import annotations

import heapq
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import ray
from record import at_least, bench_parser, write_result

from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source, source_plan
from pipelines.lerobot import layout
from pipelines.runtime.parallel import IN_PROCESS_SECONDS, RayConfig, start_local_ray

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"
BRIDGE = FIXTURES / "rlds/bridge_dataset/1.0.0"
GR00T = SourceConfig(name="gr00t", path=FIXTURES / "lerobot_v2/robot_sim.PickNPlace", format="lerobot")
SCALING_GOAL = 1.8  # frames/s at 2 workers over 1 worker


def bridge_shards(folder: Path, copies: int) -> Path:
    """A builder folder whose train split is the real Bridge shard ``copies`` times (links, one per shard)."""
    folder.mkdir(parents=True)
    (shard,) = BRIDGE.glob("*.tfrecord-*")
    for index in range(copies):
        (folder / f"bridge_dataset-train.tfrecord-{index:05d}-of-{copies:05d}").symlink_to(shard)
    info = json.loads((BRIDGE / "dataset_info.json").read_text())
    train = next(split for split in info["splits"] if split["name"] == "train")
    info["splits"] = [{**train, "shardLengths": train["shardLengths"] * copies}]
    (folder / "dataset_info.json").write_text(json.dumps(info))
    (folder / "features.json").symlink_to(BRIDGE / "features.json")
    return folder


def schedule_bound(lengths: list[int], per_task: int, workers: int) -> float:
    """Frames over the makespan when tasks of ``per_task`` episodes go, in order, to the first free of
    ``workers`` (as ``ray_map`` hands them out) and each costs its frames: the most ``workers`` can gain here."""
    task_frames = [sum(lengths[start : start + per_task]) for start in range(0, len(lengths), per_task)]
    free_at = [0] * workers
    for frames in task_frames:
        heapq.heapreplace(free_at, free_at[0] + frames)
    return sum(task_frames) / max(free_at)


def episode_lengths(root: Path) -> list[int]:
    """Frames per episode of a written dataset, in episode order."""
    episodes = pd.read_parquet(root / layout.EPISODES_DIR, columns=["episode_index", "length"])
    return episodes.sort_values("episode_index")["length"].tolist()


@dataclass(frozen=True)
class Run:
    """One ingest's frames/s, and the cores it kept busy: this (the driver's) process, and the whole machine
    (driver, Ray's workers and its own processes), which says how far a run is from the machine's limit; and
    the written episodes' lengths, which bound what more workers can gain."""

    fps: float
    driver_cores: float
    busy_cores: float
    lengths: list[int]


def _busy_seconds(times: Any) -> float:
    """CPU seconds the machine spent running anything (guest time is counted within user time on Linux)."""
    return times.user + times.nice + times.system + times.irq + times.softirq


def measure(source: SourceConfig, ray_config: RayConfig | None, repeat: int) -> Run:
    """The fastest of ``repeat`` runs."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as workdir:
            machine, driver, start = psutil.cpu_times(), time.process_time(), time.perf_counter()
            report = ingest_source(source, Path(workdir) / "out", ray=ray_config)
            seconds = time.perf_counter() - start
            busy = _busy_seconds(psutil.cpu_times()) - _busy_seconds(machine)
            driver_cores = (time.process_time() - driver) / seconds
            runs.append(Run(report.frames / seconds, driver_cores, busy / seconds, episode_lengths(report.root)))
    return max(runs, key=lambda run: run.fps)


@ray.remote(num_cpus=1)
def warm_worker() -> None:
    import pipelines.ingest.sources  # noqa: F401  (the modules every ingest task runs)

    time.sleep(1)  # hold this CPU so the next warm-up task lands on another worker


def on_ray(source: SourceConfig, workers: int, repeat: int) -> Run:
    start_local_ray(workers)
    ray.get([warm_worker.remote() for _ in range(workers)])
    try:
        return measure(source, RayConfig(workers=workers), repeat)
    finally:
        ray.shutdown()


def cold_start_seconds(source: SourceConfig, in_process_seconds: float) -> float:
    """Seconds to ingest ``source`` on 2 workers when no Ray is running yet."""
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        ingest_source(source, Path(workdir) / "out", ray=RayConfig(workers=2, in_process_seconds=in_process_seconds))
        return time.perf_counter() - start


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs")
    parser.add_argument("--bridge-shards", type=int, default=16, help="copies of the real Bridge shard")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory()
    bridge = bridge_shards(Path(scratch.name) / "bridge_dataset/1.0.0", args.bridge_shards)
    sources = {"bridge": SourceConfig(name="bridge", path=bridge, format="rlds"), "gr00t": GR00T}
    figures = {}
    for name, source in sources.items():
        in_process = measure(source, None, args.repeat)
        figures[f"{name}_in_process_fps"] = round(in_process.fps, 1)
        for workers in (1, 2):
            run = on_ray(source, workers, args.repeat)
            figures[f"{name}_ray_x{workers}_fps"] = round(run.fps, 1)
            figures[f"{name}_ray_x{workers}_driver_cores"] = round(run.driver_cores, 2)
            figures[f"{name}_ray_x{workers}_busy_cores"] = round(run.busy_cores, 2)
        figures[f"{name}_x2_over_x1"] = round(figures[f"{name}_ray_x2_fps"] / figures[f"{name}_ray_x1_fps"], 3)
        per_task = source_plan(source).units_per_task
        figures[f"{name}_x2_bound"] = round(schedule_bound(in_process.lengths, per_task, 2), 3)
        figures[f"{name}_ray_x2_over_in_process"] = round(
            figures[f"{name}_ray_x2_fps"] / figures[f"{name}_in_process_fps"], 3
        )
    one_shard = SourceConfig(name="bridge", path=BRIDGE, format="rlds")  # after the runs above: modules imported
    figures["bridge_one_shard_cold_s"] = round(cold_start_seconds(one_shard, IN_PROCESS_SECONDS), 2)
    figures["bridge_one_shard_cold_on_ray_s"] = round(cold_start_seconds(one_shard, 0), 2)
    figures["bridge_one_shard_cold_on_ray_over_default"] = round(
        figures["bridge_one_shard_cold_on_ray_s"] / figures["bridge_one_shard_cold_s"], 2
    )
    print(
        f"the one Bridge shard with no Ray running: {figures['bridge_one_shard_cold_s']} s, "
        f"{figures['bridge_one_shard_cold_on_ray_s']} s with every task on a local Ray started for it"
    )
    print(f"{'source':8s} {'in-process':>11s} {'Ray x1':>9s} {'Ray x2':>9s} {'x2 / x1':>8s} {'bound':>6s}  (frames/s)")
    for name in sources:
        keys = ("in_process_fps", "ray_x1_fps", "ray_x2_fps", "x2_over_x1", "x2_bound")
        cells = [figures[f"{name}_{key}"] for key in keys]
        print(f"{name:8s} {cells[0]:11.0f} {cells[1]:9.0f} {cells[2]:9.0f} {cells[3]:8.2f} {cells[4]:6.2f}")
    write_result(
        "ingest",
        "Ingest throughput: in-process and on Ray",
        figures,
        {f"{name}_x2_over_x1": at_least(figures[f"{name}_x2_over_x1"], SCALING_GOAL) for name in sources},
        reference="in-process ingest of the same source (one process, the writer's encoder thread)",
        setup=f"The real Bridge RLDS shard as {args.bridge_shards} shards ({25 * args.bridge_shards} episodes x 9 "
        "frames) and the GR00T demo (LeRobot v2, 5 episodes "
        f"of 328-470 frames), each written as a fresh LeRobot v3.0 dataset; best of {args.repeat}; Ray started and "
        "its workers warmed before timing. *_driver_cores: CPU seconds of the process that writes the dataset per "
        "second; *_busy_cores: the same for the whole machine (every process), of its "
        f"{psutil.cpu_count()} cores. *_cold_*: the one real Bridge shard (25 episodes) ingested with no Ray running, "
        "with the default in-process start, and with every task on a local Ray started for it.",
    )
    scratch.cleanup()


if __name__ == "__main__":
    main()
