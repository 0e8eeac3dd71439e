"""A nightly build with no new data, against a full build: ingest every source, build and publish the pyramid.

The first run starts from an empty pyramid home (the raw embedded data, if a `make demo` home is given, is
reused, as it is an input); the second run sees the same inputs and code, so each stage should recognise
its previous output and keep it. Prints both times and their ratio (goal: <= 5%). Runs in one process;
under Dagster each materialisation adds its process start-up on top.

    python benchmarks/bench_rebuild.py [--home DIR]   (default: a temporary home; the real fixtures only)
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from pipelines.ingest.config import DEFAULT_SOURCES_FILE, load_sources
from pipelines.ingest.sources import ingest_source
from pipelines.release.build import build_pyramid
from pipelines.release.store import ReleaseStore
from schemas.home import Home
from schemas.pyramid import SourceKind


def nightly(home: Home) -> dict[str, float]:
    """One nightly build; seconds per stage."""
    seconds = {}
    start = time.perf_counter()
    sources = load_sources(DEFAULT_SOURCES_FILE, home)
    for kind in SourceKind:
        for source in sources.of_kind(kind):
            if source.path.exists():
                ingest_source(source, home.dataset(kind, source.name), reuse_unchanged=True)
    seconds["ingest"] = time.perf_counter() - start
    start = time.perf_counter()
    build_pyramid(home)
    seconds["pyramid"] = time.perf_counter() - start
    start = time.perf_counter()
    ReleaseStore(home.store).publish(home.pyramid)
    seconds["publish"] = time.perf_counter() - start
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="a pyramid home whose raw/ inputs to use (its outputs are untouched)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        home = Home(Path(workdir) / "home")
        home.root.mkdir()
        given = Home(args.home) if args.home else None
        if given and given.raw.is_dir():
            shutil.copytree(given.raw, home.raw, copy_function=shutil.copy2)
        full = nightly(home)
        again = nightly(home)
    print(f"{'stage':10s} {'full build':>11s} {'no new data':>12s}")
    for stage in full:
        print(f"{stage:10s} {full[stage]:10.2f}s {again[stage]:11.3f}s")
    total, rerun = sum(full.values()), sum(again.values())
    print(f"{'total':10s} {total:10.2f}s {rerun:11.3f}s   ratio {rerun / total:.1%} (goal <= 5%)")


if __name__ == "__main__":
    main()
