"""Training batches per second from a release: pyramid's streaming loader against lerobot's ``LeRobotDataset``.

The release holds the real GR00T demo (GR1, one 256x256 camera, 5 episodes, 2,096 frames at 20 fps) ingested and
built. Both read the same access pattern: random steps, every camera's frame, a 16-step action chunk (lerobot:
``delta_timestamps``), batches of 32, the same number of worker processes. Each variant runs in a fresh process
(peak RSS: that process and its workers); samples/s count from the first batch on. The same release is also
published to S3 on loopback and pulled into a local cache, which the loader then reads. Writes
``benchmarks/results/loader.json``.

    python benchmarks/bench_loader.py [--batches 240] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from record import at_least, bench_parser, in_fresh_process, peak_rss_mb, write_result

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


def ours(release: Path, batches: int, workers: int) -> Iterator[dict]:
    from pipelines.release.loader import LoaderConfig
    from pipelines.release.open import PulledRelease

    config = LoaderConfig(batch_size=BATCH, chunk=CHUNK, seed=0, workers=workers)
    return iter(PulledRelease(release).loader(config, stop=batches))


def lerobot(release: Path, batches: int, workers: int) -> Iterator[dict]:
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
    return iter(torch.utils.data.DataLoader(dataset, batch_size=BATCH, sampler=sampler, num_workers=workers))


def ours_in_one_process(release: Path, batches: int, workers: int) -> Iterator[dict]:
    """Ours without worker processes: times ``workers``, the most that many workers could give (on as many cores)."""
    return ours(release, batches, 0)


def torchcodec_decode_only(release: Path, batches: int, workers: int) -> Iterator[dict]:
    """The frames our batches need and nothing else, decoded by torchcodec's batched call in one process: the floor
    any loader that decodes every sampled frame pays (and whether torchcodec decodes them faster than we do)."""
    from torchcodec.decoders import VideoDecoder

    from pipelines.release.loader import LoaderConfig, ReleaseBatches
    from pipelines.release.open import PulledRelease

    plans = ReleaseBatches(release, PulledRelease(release).manifest, LoaderConfig(batch_size=BATCH, seed=0, workers=0))
    decoders: dict[Path, VideoDecoder] = {}
    for number in range(batches):
        name, episodes, steps = plans.plan(number)
        dataset = plans.dataset(name)
        for key in dataset.video_keys:
            times: dict[Path, list[float]] = {}
            for episode, step in zip(episodes, steps, strict=True):
                path, start, _ = dataset.layout.video_segment(int(episode), key)
                times.setdefault(path, []).append(start + step / dataset.fps)
            for path, seconds in times.items():
                if path not in decoders:
                    decoders[path] = VideoDecoder(str(path), seek_mode="approximate", num_ffmpeg_threads=1)
                decoders[path].get_frames_played_at(seconds=sorted(seconds))
        yield {"frame_index": steps}


VARIANTS = {
    "pyramid": ours,
    "lerobot": lerobot,
    "pyramid_one_process": ours_in_one_process,
    "torchcodec_decode_only": torchcodec_decode_only,
}


def run_variant(name: str, release: Path, batches: int, workers: int) -> None:
    """Steady-state samples/s (from the first batch on: a training run of thousands of batches pays the workers'
    start once), and the time to the first batch, which includes it."""
    start = time.perf_counter()
    loader = VARIANTS[name](release, batches + 1, workers)
    next(loader)
    first = time.perf_counter()
    samples = sum(len(batch["frame_index"]) for batch in loader)
    seconds = time.perf_counter() - first
    print(
        json.dumps({"samples_per_s": samples / seconds, "first_batch_s": first - start, "peak_rss_mb": peak_rss_mb()})
    )


@contextmanager
def loopback_s3() -> Iterator[str]:
    """moto's S3-compatible server on loopback, with the environment a trainer's credentials would give."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    moto = str(Path(sys.executable).with_name("moto_server"))
    server = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    os.environ |= {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
                break
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def pull_from_s3(release: Path, cache: Path) -> tuple[Path, dict[str, float]]:
    """The release published to S3 on loopback, then pulled into ``cache`` twice: cold (every file downloaded and
    verified) and warm (every file found and verified); the pulled copy is what a trainer's loader reads."""
    import s3fs

    from pipelines.release.store import ReleaseStore, pull_release

    with loopback_s3():
        s3fs.S3FileSystem(skip_instance_cache=True).mkdir("pyramid-bench")
        uri = "s3://pyramid-bench/releases"
        version = ReleaseStore(uri).publish(release)
        start = time.perf_counter()
        pulled = pull_release(uri, version, cache)
        cold = time.perf_counter() - start
        pull_release(uri, version, cache)
        warm = time.perf_counter() - start - cold
    size = sum(p.stat().st_size for p in pulled.rglob("*") if p.is_file())
    return pulled, {"s3_pull_s": round(cold, 2), "s3_repull_s": round(warm, 2), "release_mb": round(size / 1e6, 1)}


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--batches", type=int, default=240)
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
        pulled, s3 = pull_from_s3(release, Path(workdir) / "cache")
        for name, folder in [*((name, release) for name in VARIANTS), ("pyramid_from_s3", pulled)]:
            variant = name.removesuffix("_from_s3")
            command = [sys.executable, __file__, "--variant", variant, "--release", str(folder)]
            command += ["--batches", str(args.batches), "--workers", str(args.workers)]
            measured[name] = in_fresh_process(command)
            print(
                f"{name:8s} {measured[name]['samples_per_s']:8.1f} samples/s  first batch after "
                f"{measured[name]['first_batch_s']:5.1f} s  peak {measured[name]['peak_rss_mb']:6.0f} MB"
            )
    ratio = measured["pyramid"]["samples_per_s"] / measured["lerobot"]["samples_per_s"]
    figures = {
        "samples_per_s": round(measured["pyramid"]["samples_per_s"], 1),
        "lerobot_samples_per_s": round(measured["lerobot"]["samples_per_s"], 1),
        "one_process_samples_per_s": round(measured["pyramid_one_process"]["samples_per_s"], 1),
        "from_s3_samples_per_s": round(measured["pyramid_from_s3"]["samples_per_s"], 1),
        "torchcodec_decode_only_samples_per_s": round(measured["torchcodec_decode_only"]["samples_per_s"], 1),
        **s3,
        "ceiling_ratio_vs_lerobot": round(
            args.workers * measured["pyramid_one_process"]["samples_per_s"] / measured["lerobot"]["samples_per_s"], 3
        ),
        "decode_ceiling_ratio_vs_lerobot": round(
            args.workers * measured["torchcodec_decode_only"]["samples_per_s"] / measured["lerobot"]["samples_per_s"],
            3,
        ),
        "first_batch_s": round(measured["pyramid"]["first_batch_s"], 2),
        "lerobot_first_batch_s": round(measured["lerobot"]["first_batch_s"], 2),
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
        "fresh process, samples/s counted from its first batch on (the time to that batch, which includes starting "
        "the workers, is reported apart: ours are spawned, lerobot's forked). ceiling_ratio_vs_lerobot: ours in "
        "one process times the workers, against lerobot; with as many workers as cores, decoding bounds it. "
        "decode_ceiling_ratio_vs_lerobot: the same for torchcodec decoding our batches' frames and doing nothing else "
        "(with this decoder, the bound for a loader that decodes every sampled frame). From "
        "S3 (moto's server on loopback): the release published, pulled into a local cache (cold, then again warm: "
        "every file verified), and the loader run on the pulled copy.",
    )


if __name__ == "__main__":
    main()
