"""What grows with the data: a user's teleop source at 1x, 4x and 16x of a base size, through ingest, pyramid,
publish, pull and the training loader.

The source is synthesised as a LeRobot v3.0 dataset of the robosuite Panda (2 cameras, moving content: a smooth
scene with a moving block per camera, and smooth state and action signals), 30-second episodes at 20 fps.
Each size runs in a fresh process; it reports wall time per stage, frames per second per core, peak RSS (the
process and its children), file counts and metadata sizes, and loads every pulled dataset in lerobot's
``LeRobotDataset``. Goals: peak RSS at 16x within 1.25x of 1x; frames/s per core at 16x within 0.8x of 1x.
Writes ``benchmarks/results/scale.json``.

    python benchmarks/bench_scale.py [--base-minutes 1] [--size 128] [--factors 1 4 16]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from record import at_least, at_most, bench_parser, in_fresh_process, peak_rss_mb, write_result

EPISODE_SECONDS, FPS = 30, 20
LOADER_BATCHES = 20


def moving_frames(length: int, size: int, seed: int) -> np.ndarray:
    """A smooth background and a block moving on a seeded path: work for a video codec like a real camera's."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([xx / size * 200, yy / size * 180, np.full_like(xx, 60 + 40 * rng.random())], axis=-1)
    frames = np.repeat(base[None], length, axis=0).astype(np.uint8)
    block = max(4, size // 6)
    phase = rng.random(2) * 6
    for t in range(length):
        top = int((size - block) * (0.5 + 0.4 * np.sin(t / 17 + phase[0])))
        left = int((size - block) * (0.5 + 0.4 * np.cos(t / 23 + phase[1])))
        frames[t, top : top + block, left : left + block] = (200, 70, 60)
    return frames


def synthesise_source(root: Path, episodes: int, size: int) -> int:
    """A user's teleop dataset of ``episodes`` 30-second episodes; returns its frame count."""
    from pipelines.lerobot.writer import write_dataset
    from schemas.embodiment import get_embodiment
    from schemas.episode import Episode, exact_timestamps

    panda = get_embodiment("robosuite_panda")
    length = EPISODE_SECONDS * FPS

    def episode(index: int) -> Episode:
        t = np.linspace(0, 2 * np.pi, length, dtype=np.float32)[:, None]
        rng = np.random.default_rng(index)
        return Episode(
            episode_id=f"user/{index:05d}",
            embodiment=panda.name,
            fps=FPS,
            instruction="lift the red cube",
            frames={c: moving_frames(length, size, index * 10 + k) for k, c in enumerate(panda.cameras)},
            state=np.sin(t * rng.uniform(1, 3, panda.state_dim)).astype(np.float32),
            action=np.clip(np.cos(t * rng.uniform(1, 3, panda.action_dim)), -1, 1).astype(np.float32),
            timestamps=exact_timestamps(length, FPS),
        )

    report = write_dataset(root, panda, FPS, (episode(i) for i in range(episodes)))
    return report.frames


def run_size(episodes: int, size: int, workdir: Path) -> dict[str, float]:
    """Every stage at one size, in this process; figures of that run."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from pipelines.ingest.config import SourceConfig
    from pipelines.ingest.sources import ingest_source
    from pipelines.release.build import build_pyramid
    from pipelines.release.loader import LoaderConfig
    from pipelines.release.open import PulledRelease
    from pipelines.release.store import ReleaseStore, pull_release
    from schemas.home import Home
    from schemas.pyramid import SourceKind

    home = Home(workdir / "home")
    seconds: dict[str, float] = {}

    def timed(stage: str, action):
        start = time.perf_counter()
        result = action()
        seconds[stage] = time.perf_counter() - start
        return result

    frames = timed("synthesise", lambda: synthesise_source(workdir / "user_source", episodes, size))
    source = SourceConfig(name="user", path=workdir / "user_source", format="lerobot", embodiment="robosuite_panda")
    timed("ingest", lambda: ingest_source(source, home.dataset(SourceKind.TELEOP, "user")))
    timed("pyramid", lambda: build_pyramid(home))
    version = timed("publish", lambda: ReleaseStore(home.store).publish(home.pyramid))
    folder = timed("pull", lambda: pull_release(home.store, version, workdir / "pulled"))
    release = PulledRelease(folder)
    config = LoaderConfig(batch_size=32, chunk=16, workers=0)
    timed("loader", lambda: sum(len(b["frame_index"]) for b in release.loader(config, stop=LOADER_BATCHES)))
    for entry in release.manifest.datasets:  # every output loads in lerobot
        assert len(LeRobotDataset(f"scale/{entry.dataset}", root=folder / entry.path)) == entry.frames
    dataset = folder / release.manifest.datasets[0].path
    data_seconds = sum(seconds[s] for s in ("ingest", "pyramid", "publish", "pull"))
    return {
        "episodes": episodes,
        "frames": frames,
        **{f"{stage}_s": round(value, 3) for stage, value in seconds.items()},
        "frames_per_s_per_core": round(frames / data_seconds / (os.cpu_count() or 1), 2),
        "loader_samples_per_s": round(32 * LOADER_BATCHES / seconds["loader"], 1),
        "data_files": len(list((dataset / "data").rglob("*.parquet"))),
        "video_files": len(list((dataset / "videos").rglob("*.mp4"))),
        "episode_meta_files": len(list((dataset / "meta" / "episodes").rglob("*.parquet"))),
        "episode_meta_kb": round(sum(p.stat().st_size for p in (dataset / "meta").rglob("*")) / 1024, 1),
        "store_objects": len(list((home.store / "objects").glob("*/*"))),
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--base-minutes", type=float, default=1.0, help="the 1x size")
    parser.add_argument("--size", type=int, default=128, help="camera frames' side")
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--episodes", type=int, help=argparse.SUPPRESS)  # child process: one size
    args = parser.parse_args()
    if args.episodes:
        with tempfile.TemporaryDirectory() as workdir:
            figures = run_size(args.episodes, args.size, Path(workdir))
        print(json.dumps({**figures, "peak_rss_mb": round(peak_rss_mb(), 1)}))
        return
    base_episodes = max(1, round(args.base_minutes * 60 / EPISODE_SECONDS))
    runs = {}
    for factor in args.factors:
        command = [sys.executable, __file__, "--episodes", str(base_episodes * factor), "--size", str(args.size)]
        runs[factor] = in_fresh_process(command)
        print(f"{factor:3d}x: {json.dumps(runs[factor])}", flush=True)
    first, last = runs[args.factors[0]], runs[args.factors[-1]]
    rss_ratio = last["peak_rss_mb"] / first["peak_rss_mb"]
    speed_ratio = last["frames_per_s_per_core"] / first["frames_per_s_per_core"]
    figures = {f"x{factor}_{key}": value for factor, run in runs.items() for key, value in run.items()}
    figures |= {f"rss_ratio_{args.factors[-1]}x": round(rss_ratio, 3)}
    figures |= {f"frames_per_s_per_core_ratio_{args.factors[-1]}x": round(speed_ratio, 3)}
    write_result(
        "scale",
        "Scale: the same pipeline at growing sizes",
        figures,
        {
            f"rss_ratio_{args.factors[-1]}x": at_most(rss_ratio, 1.25),
            f"frames_per_s_per_core_ratio_{args.factors[-1]}x": at_least(speed_ratio, 0.8),
        },
        reference=f"the same pipeline at the {args.factors[0]}x size in the same run",
        setup=f"A synthetic user teleop source (robosuite Panda, 2 cameras at {args.size}x{args.size}, moving content, "
        f"{EPISODE_SECONDS} s episodes at {FPS} fps) at {args.base_minutes:g} min x {args.factors}; ingest, pyramid, "
        f"publish, pull, then {LOADER_BATCHES} loader batches of 32 in one process; each size in a fresh process. "
        "Frames/s per core counts ingest to pull.",
    )


if __name__ == "__main__":
    main()
