"""`make demo` timed: the demo of one scale from an empty home, as a newcomer runs it, uninterrupted.

Runs ``python -m assets.demo --scale SCALE`` with a fresh ``PYRAMID_HOME`` and ``DAGSTER_HOME`` (the environment
already set up, as after ``make setup``), and records the whole command's wall time and every step's from the
demo's own timing table. Writes ``benchmarks/results/demo_<scale>.json``; the quick scale's goal is 15 minutes
(the issue's aim: 10).

    python benchmarks/bench_demo.py [--scale quick|full]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import at_most, bench_parser, write_result

REPO = Path(__file__).resolve().parent.parent
MINUTES_GOAL = {"quick": 15}  # the full scale's goal is to finish


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--scale", choices=["quick", "full"], default="quick")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        (home / "dagster").mkdir(parents=True)
        shutil.copy(REPO / "dagster.yaml", home / "dagster" / "dagster.yaml")
        env = {**os.environ, "PYRAMID_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
        env.pop("PYRAMID_SOURCES", None)  # the embedded default sources, as `make demo` uses
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "assets.demo", "--scale", args.scale], cwd=REPO, env=env, check=True)
        minutes = (time.perf_counter() - start) / 60
        timings = json.loads((home / "demo" / f"timings-{args.scale}.json").read_text())
    figures: dict[str, float] = {"total_minutes": round(minutes, 2)}
    for step in timings["steps"]:
        name = step["step"].replace(",", "+") + (f"[{step['partition']}]" if step["partition"] else "")
        figures[f"{name}_s"] = round(step["seconds"], 1)
    goals = {"total_minutes": at_most(minutes, MINUTES_GOAL[args.scale])} if args.scale in MINUTES_GOAL else {}
    write_result(
        f"demo_{args.scale}",
        f"`make demo` at the {args.scale} scale, from an empty home",
        figures,
        goals,
        reference="none: the goal is the wall time a newcomer waits",
        setup=f"`python -m assets.demo --scale {args.scale}` (what `make demo` runs once set up) from an empty "
        "home, the environment installed; total_minutes is the whole command, the other figures the demo's own "
        "step times (Dagster runs in one process, one local Ray with 2 workers).",
        quick=args.scale == "quick",
    )


if __name__ == "__main__":
    main()
