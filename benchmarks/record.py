"""Where every benchmark leaves its figures: ``benchmarks/results/<name>.json`` holds the figures, the declared
goals (met or not), the reference tool it was measured against, the commit, the date and the machine.
``docs/benchmarks.md`` is generated from these files (``python benchmarks/report.py``).

One shape for every file: ``{"name", "title", "setup", "reference", "commit", "date", "machine": {"cores",
"ram_gb", "gpu"}, "quick", "figures": {figure: number}, "goals": {figure: {"op", "value", "met"}}, "rows"}``.
A goal is keyed by the figure it judges; its ``value`` is the bound, the measured number is the figure's.

Importing this module keeps library logs and warnings out of the terminal (as the CLI does) unless the command
line has ``--verbose``, which ``bench_parser`` declares: every benchmark imports it before robosuite."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.runtime.quiet import quiet_libraries

__all__ = [
    "RESULTS",
    "at_least",
    "at_most",
    "bench_parser",
    "in_fresh_process",
    "machine",
    "peak_rss_mb",
    "write_result",
]

RESULTS = Path(__file__).with_name("results")
VERBOSE = "--verbose"

if VERBOSE not in sys.argv[1:]:
    quiet_libraries()


def bench_parser(description: str) -> argparse.ArgumentParser:
    """A benchmark's command line, with ``--verbose`` (library logs and warnings too)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(VERBOSE, action="store_true", help="show library logs and warnings")
    return parser


def peak_rss_mb() -> float:
    """Peak resident memory of this process plus the largest of its finished children (workers, encoders)."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return usage / 1024


def in_fresh_process(command: list[str]) -> dict[str, Any]:
    """Run a variant in its own process (so its memory is its own); its last stdout line is its JSON figures."""
    child = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def at_least(value: float | None, floor: float) -> dict[str, Any]:
    """The goal ``figure >= floor`` judged on the figure's ``value``; an unmeasured one (None) is neither met
    nor missed."""
    return {"op": ">=", "value": floor, "met": None if value is None else bool(value >= floor)}


def at_most(value: float | None, ceiling: float) -> dict[str, Any]:
    return {"op": "<=", "value": ceiling, "met": None if value is None else bool(value <= ceiling)}


def machine() -> dict[str, Any]:
    """Cores, memory and the GPU (None without one) of the machine measuring."""
    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"cores": os.cpu_count(), "ram_gb": round(ram_gb, 1), "gpu": gpu}


def write_result(
    name: str,
    title: str,
    figures: dict[str, Any],
    goals: dict[str, dict[str, Any]],
    reference: str,
    setup: str,
    rows: list[dict[str, Any]] | None = None,
    quick: bool = False,
    measured_on: dict[str, Any] | None = None,
) -> Path:
    """Write ``results/<name>.json`` (``title`` and ``setup`` say what was measured, ``reference`` against what;
    ``quick``: a shortened run; ``measured_on``: the ``machine()`` of another node that did the measured work,
    e.g. a GPU node's training) and print each goal's verdict."""
    unjudged = set(goals) - set(figures)
    if unjudged:
        raise ValueError(f"goals {sorted(unjudged)} name no figure of {name}")
    commit = subprocess.run(
        ["git", "-C", str(RESULTS.parent), "rev-parse", "--short", "HEAD"], check=False, capture_output=True, text=True
    ).stdout.strip()
    record = {
        "name": name,
        "title": title,
        "setup": setup,
        "reference": reference,
        "commit": commit or "unknown",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": measured_on or machine(),
        "quick": quick,
        "figures": figures,
        "goals": goals,
        "rows": rows or [],
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    for goal_name, goal in goals.items():
        verdict = {True: "met", False: "NOT met", None: "not measured"}[goal["met"]]
        print(f"{goal_name}: {figures[goal_name]} (goal {goal['op']} {goal['value']:g}): {verdict}")
    print(f"wrote {path}")
    return path
