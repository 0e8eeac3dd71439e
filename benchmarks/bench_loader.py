"""Training batches per second from a release: pyramid's streaming loader against lerobot's ``LeRobotDataset``.

The release holds the real GR00T demo (GR1, one 256x256 camera, 5 episodes, 2,096 frames at 20 fps) ingested and
built. Both read the same access pattern: random steps, every camera's frame, a 16-step action chunk (lerobot:
``delta_timestamps``), batches of 32, the same number of worker processes. Each variant runs in a fresh process
(peak RSS: that process and its workers) after one warm-up batch. Writes ``benchmarks/results/loader.json``.

    python benchmarks/bench_loader.py [--batches 30] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from record import at_least, in_fresh_process, peak_rss_mb, write_result

FIXTURE = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "lerobot_v2" / "robot_sim.PickNPlace"
BATCH, CHUNK = 32, 16


def build_release(home: Path) -> Path:
    from pipelines.ingest.config import SourceConfig
    from pipelines.ingest.sources import ingest_source
    from pipelines.release.build import build_pyramid
    from schemas.home import Home
    from schemas.pyramid import SourceKind

    ingest_source(
        SourceConfig(name="gr00t", path=FIXTURE, format="lerobot"), Home(home).dataset(SourceKind.TELEOP, "gr00t")
    )
    return build_pyramid(home).folder


def ours(release: Path, batches: int, workers: int) -> int:
    from pipelines.release.loader import LoaderConfig
    from pipelines.release.open import PulledRelease

    config = LoaderConfig(batch_size=BATCH, chunk=CHUNK, seed=0, workers=workers)
    samples = 0
    for batch in PulledRelease(release).loader(config, stop=batches):
        samples += len(batch["frame_index"])
    return samples


def lerobot(release: Path, batches: int, workers: int) -> int:
    import torch
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from pipelines.release.open import PulledRelease

    entry = PulledRelease(release).manifest.datasets[0]
    root = release / entry.path
    fps = LeRobotDataset("bench/fps", root=root).fps
    dataset = LeRobotDataset("bench/gr00t", root=root, delta_timestamps={"action": [i / fps for i in range(CHUNK)]})
    sampler = torch.utils.data.RandomSampler(
        dataset, num_samples=batches * BATCH, generator=torch.Generator().manual_seed(0)
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, sampler=sampler, num_workers=workers)
    samples = 0
    for batch in loader:
        samples += len(batch["frame_index"])
    return samples


VARIANTS = {"pyramid": ours, "lerobot": lerobot}


def run_variant(name: str, release: Path, batches: int, workers: int) -> None:
    VARIANTS[name](release, 1, workers)  # warm-up: imports, metadata, first decoders
    start = time.perf_counter()
    samples = VARIANTS[name](release, batches, workers)
    seconds = time.perf_counter() - start
    print(json.dumps({"samples_per_s": samples / seconds, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)  # child process
    parser.add_argument("--release", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.release, args.batches, args.workers)
        return
    measured = {}
    with tempfile.TemporaryDirectory() as workdir:
        release = build_release(Path(workdir) / "home")
        for name in VARIANTS:
            command = [sys.executable, __file__, "--variant", name, "--release", str(release)]
            command += ["--batches", str(args.batches), "--workers", str(args.workers)]
            measured[name] = in_fresh_process(command)
            print(
                f"{name:8s} {measured[name]['samples_per_s']:8.1f} samples/s  peak {measured[name]['peak_rss_mb']:6.0f} MB"
            )
    ratio = measured["pyramid"]["samples_per_s"] / measured["lerobot"]["samples_per_s"]
    figures = {
        "samples_per_s": round(measured["pyramid"]["samples_per_s"], 1),
        "lerobot_samples_per_s": round(measured["lerobot"]["samples_per_s"], 1),
        "ratio_vs_lerobot": round(ratio, 3),
        "peak_rss_mb": round(measured["pyramid"]["peak_rss_mb"], 1),
        "lerobot_peak_rss_mb": round(measured["lerobot"]["peak_rss_mb"], 1),
    }
    write_result(
        "loader",
        "Training batches from a release: streaming loader against LeRobotDataset",
        figures,
        {"ratio_vs_lerobot": at_least(ratio, 5)},
        reference="lerobot 0.6.1's LeRobotDataset with delta_timestamps for the action chunk, in a torch DataLoader "
        "with the same batch size, workers and number of random samples",
        setup=f"The GR00T demo (GR1, one 256x256 camera) ingested and built as a release; {args.batches} batches of "
        f"{BATCH} random steps with a {CHUNK}-step action chunk, {args.workers} worker processes; each variant in a "
        "fresh process after a one-batch warm-up. Not measured here: the same from an S3-compatible store.",
    )


if __name__ == "__main__":
    main()
