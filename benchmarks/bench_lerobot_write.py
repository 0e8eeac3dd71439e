"""Write the same frames with pyramid's LeRobot v3 writer and with lerobot's own writer; compare.

Every variant runs in a fresh process (peak RSS is that process plus its children), writes
EPISODES x FRAMES frames of 2 cameras, and its output is then validated by loading it with lerobot's
``LeRobotDataset`` and checking the frame count and a decoded frame. Prints frames/s, the ratio to
lerobot's default writer, and peak memory.

    python benchmarks/bench_lerobot_write.py [--episodes 32] [--frames 200] [--size 128]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from record import at_least, bench_parser, in_fresh_process, peak_rss_mb, write_result

CAMERAS = ("agentview", "robot0_eye_in_hand")
VARIANTS = {
    "lerobot default (PNG staging, AV1)": ("lerobot", {}),
    "lerobot streaming_encoding (AV1)": ("lerobot", {"streaming_encoding": True}),
    "pyramid (h264)": ("pyramid", {"codec": "h264"}),
    "pyramid (AV1)": ("pyramid", {"codec": "av1"}),
}
DEFAULT_VARIANT = "pyramid (h264)"  # what pyramid writes unless told otherwise


def camera_frames(frames: int, size: int, seed: int) -> np.ndarray:
    """A smooth scene with a moving block: realistic work for a video encoder."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([xx / size * 200, yy / size * 180, np.full_like(xx, 60 + seed * 30)], axis=-1)
    video = np.repeat(base[None], frames, axis=0)
    block = size // 6
    for t in range(frames):
        top = int((size - block) * (0.5 + 0.4 * np.sin(t / 7 + seed)))
        left = int((size - block) * (0.5 + 0.4 * np.cos(t / 9 + seed)))
        video[t, top : top + block, left : left + block] = (200, 70, 60)
    return video.astype(np.uint8)


def episode_data(episode: int, frames: int, size: int, pool: dict[str, np.ndarray]) -> dict:
    rng = np.random.default_rng(episode)
    return {
        "state": rng.normal(size=(frames, 16)).astype(np.float32),
        "action": rng.normal(size=(frames, 7)).astype(np.float32),
        "frames": {c: np.roll(pool[c], episode * 3, axis=0) for c in CAMERAS},
        "task": f"task {episode % 4}",
    }


def write_pyramid(root: Path, episodes: int, frames: int, size: int, codec: str) -> None:
    from pipelines.lerobot.video import VideoCodec
    from pipelines.lerobot.writer import LeRobotWriter, WriterConfig
    from schemas.embodiment import get_embodiment
    from schemas.episode import Episode, exact_timestamps

    pool = {c: camera_frames(frames, size, k) for k, c in enumerate(CAMERAS)}
    with LeRobotWriter(
        root, get_embodiment("robosuite_panda"), 20, WriterConfig(video=VideoCodec(codec=codec))
    ) as writer:
        for e in range(episodes):
            data = episode_data(e, frames, size, pool)
            writer.write(
                Episode(
                    f"bench/{e}",
                    "robosuite_panda",
                    20,
                    data["task"],
                    data["frames"],
                    data["state"],
                    data["action"],
                    exact_timestamps(frames, 20),
                )
            )


def write_lerobot(root: Path, episodes: int, frames: int, size: int, **options) -> None:
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        "observation.state": {"dtype": "float32", "shape": (16,), "names": None},
        "action": {"dtype": "float32", "shape": (7,), "names": None},
        **{
            f"observation.images.{c}": {
                "dtype": "video",
                "shape": (size, size, 3),
                "names": ["height", "width", "channels"],
            }
            for c in CAMERAS
        },
    }
    pool = {c: camera_frames(frames, size, k) for k, c in enumerate(CAMERAS)}
    dataset = LeRobotDataset.create(
        "bench/lerobot", fps=20, root=root, features=features, robot_type="Panda", **options
    )
    for e in range(episodes):
        data = episode_data(e, frames, size, pool)
        for t in range(frames):
            frame = {"observation.state": data["state"][t], "action": data["action"][t], "task": data["task"]}
            frame.update({f"observation.images.{c}": data["frames"][c][t] for c in CAMERAS})
            dataset.add_frame(frame)
        dataset.save_episode()
    dataset.finalize()


def run_variant(name: str, root: Path, episodes: int, frames: int, size: int) -> None:
    """Child-process entry: write one variant, print its time and peak memory as JSON."""
    import lerobot.datasets.lerobot_dataset  # noqa: F401  (import cost excluded from the timing)

    kind, options = VARIANTS[name]
    start = time.perf_counter()
    if kind == "pyramid":
        write_pyramid(root, episodes, frames, size, **options)
    else:
        write_lerobot(root, episodes, frames, size, **options)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak_rss_mb()}))


def validate(root: Path, expected_frames: int) -> str:
    """Load with lerobot's own LeRobotDataset; check the frame count and decode the last frame."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    dataset = LeRobotDataset("bench/check", root=root)
    assert len(dataset) == expected_frames, f"{root}: {len(dataset)} frames, expected {expected_frames}"
    image = dataset[expected_frames - 1][f"observation.images.{CAMERAS[0]}"]
    assert image.shape[0] == 3
    return "ok"


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)  # child process
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.root, args.episodes, args.frames, args.size)
        return
    total = args.episodes * args.frames
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for number, name in enumerate(VARIANTS):
            root = Path(workdir) / f"variant-{number}"
            command = [
                sys.executable,
                __file__,
                "--variant",
                name,
                "--root",
                str(root),
                "--episodes",
                str(args.episodes),
                "--frames",
                str(args.frames),
                "--size",
                str(args.size),
            ]
            measured = in_fresh_process(command)
            results[name] = (measured["seconds"], measured["peak_mb"], validate(root, total))
            shutil.rmtree(root)
            print(
                f"{name:38s} {total / measured['seconds']:8.0f} frames/s  peak {measured['peak_mb']:6.0f} MB",
                flush=True,
            )
    reference = results["lerobot default (PNG staging, AV1)"][0]
    print(f"\n{args.episodes} episodes x {args.frames} frames x {len(CAMERAS)} cameras {args.size}x{args.size}")
    print(f"{'variant':38s} {'frames/s':>9s} {'vs lerobot default':>19s} {'peak MB':>8s}  lerobot load")
    for name, (seconds, peak_mb, status) in results.items():
        print(f"{name:38s} {total / seconds:9.0f} {reference / seconds:18.2f}x {peak_mb:8.0f}  {status}")
    figures: dict[str, float | str] = {}
    for name, (seconds, peak_mb, status) in results.items():
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        figures[f"{key}_fps"] = round(total / seconds, 1)
        figures[f"{key}_vs_lerobot"] = round(reference / seconds, 3)
        figures[f"{key}_peak_rss_mb"] = round(peak_mb, 1)
        figures[f"{key}_lerobot_load"] = status
    ours = figures[f"{re.sub(r'[^a-z0-9]+', '_', DEFAULT_VARIANT.lower()).strip('_')}_vs_lerobot"]
    write_result(
        "lerobot_write",
        "Writing LeRobot v3.0: pyramid's writer against lerobot's",
        figures,
        {"pyramid_default_vs_lerobot": at_least(ours, 5)},
        reference="lerobot 0.6.1's own writer (default: PNG staging, AV1), each variant in a fresh process",
        setup=f"{args.episodes} episodes x {args.frames} frames x {len(CAMERAS)} cameras at {args.size}x{args.size}; "
        "every output loaded with lerobot's LeRobotDataset (frame count and a decoded frame); peak RSS of the "
        "variant's process and its children.",
    )


if __name__ == "__main__":
    main()
