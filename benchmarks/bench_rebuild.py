"""Nightly builds against a full build: ingest every source, build and publish the pyramid.

The first run starts from an empty pyramid home (the raw embedded data, if a `make demo` home is given, is
reused, as it is an input); the second sees the same inputs and code, so each stage should recognise its
previous output and keep it (goal: <= 5% of the full build's time). The third adds 1% new data (the first
frames of an episode of the largest teleop dataset, as a new source) and publishes again: the content-addressed
store should upload little more than what changed (goal: <= 3% of a full publish's bytes). Runs in one process;
under Dagster each materialisation adds its process start-up on top. Writes ``benchmarks/results/rebuild.json``.

    python benchmarks/bench_rebuild.py [--home DIR]   (default: a temporary home; the real fixtures only)
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from record import at_most, bench_parser, write_result

from pipelines.ingest.config import DEFAULT_SOURCES_FILE, load_sources
from pipelines.ingest.sources import ingest_source
from pipelines.lerobot.inventory import summarise_home
from pipelines.lerobot.reader import LeRobotSource
from pipelines.lerobot.writer import write_dataset
from pipelines.release.build import build_pyramid
from pipelines.release.store import ReleaseStore
from schemas.home import Home
from schemas.pyramid import SourceKind

NEW_DATA_SHARE = 0.01  # the nightly: 1% new data


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


def stored_bytes(store: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in (store / "objects").glob("*/*")}


def add_new_data(home: Home, share: float) -> float:
    """New data: the first frames of an episode of the largest teleop dataset, as many as make ``share`` of the
    frames the pyramid then holds, as a new source of the same embodiment; returns the share they make."""
    datasets = summarise_home(home)
    held = sum(d.frames for d in datasets)
    largest = max((d for d in datasets if d.source == SourceKind.TELEOP), key=lambda d: d.frames)
    source = LeRobotSource(largest.root)
    episode = source.read_episode(source.episode_indices[0])
    cut = slice(0, min(episode.length, max(2, round(share * held / (1 - share)))))
    new = replace(
        episode,
        episode_id=f"nightly-{episode.episode_id}",
        frames={camera: video[cut] for camera, video in episode.frames.items()},
        state=None if episode.state is None else episode.state[cut],
        action=None if episode.action is None else episode.action[cut],
        timestamps=episode.timestamps[cut],
        extras={name: values[cut] for name, values in episode.extras.items()},
    )
    write_dataset(home.dataset(SourceKind.TELEOP, "zz_nightly"), source.embodiment, source.fps, [new])
    return new.length / (held + new.length)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--home", type=Path, help="a pyramid home whose raw/ inputs to use (its outputs are untouched)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        home = Home(Path(workdir) / "home")
        home.root.mkdir()
        given = Home(args.home) if args.home else None
        if given and given.raw.is_dir():
            shutil.copytree(given.raw, home.raw, copy_function=shutil.copy2)
        full = nightly(home)
        published = stored_bytes(home.store)
        again = nightly(home)
        new_share = add_new_data(home, NEW_DATA_SHARE)
        nightly(home)
        uploaded = sum(size for name, size in stored_bytes(home.store).items() if name not in published)
    print(f"{'stage':10s} {'full build':>11s} {'no new data':>12s}")
    for stage in full:
        print(f"{stage:10s} {full[stage]:10.2f}s {again[stage]:11.3f}s")
    total, rerun = sum(full.values()), sum(again.values())
    upload_fraction = uploaded / sum(published.values())
    print(f"{'total':10s} {total:10.2f}s {rerun:11.3f}s   ratio {rerun / total:.1%} (goal <= 5%)")
    print(f"new data {new_share:.2%} of the frames: uploaded {upload_fraction:.2%} of a full publish's bytes")
    figures = {
        "full_build_s": round(total, 3),
        "no_new_data_s": round(rerun, 4),
        "no_new_data_ratio": round(rerun / total, 5),
        **{f"full_{stage}_s": round(seconds, 3) for stage, seconds in full.items()},
        **{f"no_new_data_{stage}_s": round(seconds, 4) for stage, seconds in again.items()},
        "full_publish_mb": round(sum(published.values()) / 1e6, 3),
        "new_data_share": round(new_share, 5),
        "upload_fraction_1pct_new": round(upload_fraction, 5),
        "upload_over_new_data": round(upload_fraction / new_share, 3),
    }
    write_result(
        "rebuild",
        "Nightly builds: no new data, and 1% new data",
        figures,
        {
            "no_new_data_ratio": at_most(figures["no_new_data_ratio"], 0.05),
            "upload_fraction_1pct_new": at_most(figures["upload_fraction_1pct_new"], 0.03),
        },
        reference="the full build from an empty home (time), and a full publish (bytes), in the same run",
        setup="Every declared source whose raw data exists "
        + (f"(the raw data of {args.home})" if args.home else "(the real fixtures only)")
        + ", ingested, built and published in one process; then the same again; then 1% new data, the first frames "
        "of an episode of the largest teleop dataset as a new source (named to sort after the others), built and "
        "published again. "
        "In a merged dataset each source has its own data and video files, so the new source adds files and "
        "changes the metadata; the files of the sources before it are byte-identical and not uploaded.",
    )


if __name__ == "__main__":
    main()
