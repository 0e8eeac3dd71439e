"""Generated frames per second of the in-house image-to-video model on CPU: the whole generation path (plan the
instructions, load the pipeline in each worker, generate window by window, encode and write a LeRobot dataset)
on Ray at 1 and 2 workers, against the reference, the pipeline call alone on already decoded first frames in
one process on one thread.

The model has the default size (64x64, 8-frame windows, 8x8 patches, width 128, 2 layer pairs) and random
weights: generation speed does not depend on what it learned. Source episodes are scripted robosuite Lift demos
(84x84, 20 fps). A local Ray with that many CPUs is started and its workers warmed before timing.

Then the same path, in one process, through each real diffusers image-to-video class (Wan 2.1, CogVideoX,
LTX-Video) built tiny from its own config with random weights (``tests/generators/video/third_party.py``):
frames/s per class, which shows the cost of each class's call shape (its text encoder, latents and frame-count
rules) at a size that fits a CPU, not its speed at a real checkpoint's size.

Then the instruction matcher (default size and training) on ``--matcher-demos`` scripted Lift and Stack demos per
task, 20% of each held out: how often a held-out real clip matches its true instruction above the swapped one
(chance 0.5), and the shares of true and swapped pairs its threshold keeps, for seeds 0-2.

Last, best-of-N: a video model trained ``--video-steps`` steps on those demos generates clips with 1 and
``--best-of`` candidates per clip, and the matcher scores every clip kept: the time it costs and the share of clips
at or above the matcher's threshold it gains.

    python benchmarks/bench_neural.py [--episodes 4] [--multiplier 2] [--steps 10] [--matcher-demos 10]
        [--video-steps 400] [--best-of 3]
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import ray
import torch
from record import at_least, bench_parser, write_result

from generators.scripted_teleop import ExpertConfig, record_teleop_set
from generators.video.config import (
    INSTRUCTION_MATCHER_TRAINING,
    VIDEO_TRAINING,
    GenerationConfig,
    InstructionMatcherConfig,
    VideoModelConfig,
)
from generators.video.generate import generate_clips, generate_windows
from generators.video.instruction_match import clip_match, load_matcher, save_matcher, train_matcher
from generators.video.model import build_pipeline, save_video_pipeline
from generators.video.train import train_video_model
from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from pipelines.learning.frame_pairs import read_clips
from pipelines.lerobot.reader import LeRobotSource
from pipelines.runtime.parallel import RayConfig, start_local_ray
from schemas.embodiment import LABELLED_CAMERA

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo's tests/, not a library's
from tests.generators.video import third_party


@ray.remote(num_cpus=1)
def warm_worker() -> None:
    import generators.video.generate  # noqa: F401  (torch, diffusers and the sentence model's imports)

    time.sleep(1)  # hold this CPU so the next warm-up task lands on another worker


def pipeline_frames_per_second(
    teleop: Path, model: Path, workers: int, config: GenerationConfig, workdir: Path
) -> float:
    start_local_ray(workers)
    ray.get([warm_worker.remote() for _ in range(workers)])
    try:
        start = time.perf_counter()
        report = generate_clips([teleop], workdir / f"clips_{workers}", model, config, ray=RayConfig(workers=workers))
        return report.written.frames / (time.perf_counter() - start)
    finally:
        ray.shutdown()


def reference_frames_per_second(pipeline, first_frames: np.ndarray, config: GenerationConfig, clips: int) -> float:
    torch.set_num_threads(1)
    start, frames = time.perf_counter(), 0
    for begin in range(0, clips, config.generation_batch):
        count = min(config.generation_batch, clips - begin)
        batch = first_frames[np.arange(begin, begin + count) % len(first_frames)]
        generated = generate_windows(
            pipeline, batch, ["lift the red cube"] * count, list(range(begin, begin + count)), config.windows, config
        )
        frames += generated.shape[0] * generated.shape[1]
    return frames / (time.perf_counter() - start)


def third_party_frames_per_second(teleop: Path, workdir: Path, config: GenerationConfig) -> dict[str, float]:
    """Frames/s of the whole generation path, in this process, through each tiny real diffusers class."""
    rates = {}
    for name in sorted(third_party.BUILDERS):
        folder = third_party.build(name, workdir / name)
        start = time.perf_counter()
        report = generate_clips([teleop], workdir / f"clips_{name}", folder, config)
        rates[name] = report.written.frames / (time.perf_counter() - start)
    return rates


def instruction_matching(
    workdir: Path, demos: int, seeds: tuple[int, ...] = (0, 1, 2)
) -> tuple[dict[str, float], list[str], Path]:
    """Held-out figures of the instruction matcher on scripted Lift and Stack demos, averaged over ``seeds``; the
    demos' datasets, and the first seed's matcher saved for best-of-N."""
    roots = []
    for task in ("Lift", "Stack"):
        name = f"matcher_{task.lower()}"
        record_teleop_set(task, demos, workdir / f"{name}.hdf5", ExpertConfig())
        source = SourceConfig(
            name=name, path=workdir / f"{name}.hdf5", format="robomimic", embodiment="robosuite_panda"
        )
        ingest_source(source, workdir / name)
        roots.append(str(workdir / name))
    trained = [
        train_matcher(roots, InstructionMatcherConfig(), replace(INSTRUCTION_MATCHER_TRAINING, seed=seed))
        for seed in seeds
    ]
    save_matcher(workdir / "matcher", trained[0])
    runs = [t.evaluation for t in trained]
    figures = {
        f"instruction_{name}": round(float(np.mean([getattr(run, name) for run in runs])), 4)
        for name in ("pair_accuracy", "kept_true", "kept_swapped")
    } | {"instruction_pair_accuracy_min": round(min(run.pair_accuracy for run in runs), 4)}
    return figures, roots, workdir / "matcher"


def best_of_gain(
    workdir: Path, roots: list[str], matcher: Path, video_steps: int, candidates: tuple[int, ...] = (1, 3)
) -> dict[str, float]:
    """What best-of-N buys and costs: a video model trained ``video_steps`` steps on the matcher's demos generates
    the same prompts with 1 and N candidates per clip; every written clip (decoded, as the filter reads it) is
    scored by the matcher. Figures per N: seconds per clip, mean match, share at or above the threshold."""
    trained = train_video_model(
        roots, VideoModelConfig(), replace(VIDEO_TRAINING, steps=video_steps), GenerationConfig(sampling_steps=4)
    )
    save_video_pipeline(workdir / "trained_video", trained.pipeline)
    threshold, figures = load_matcher(matcher)[2], {}
    for best_of in candidates:
        config = GenerationConfig(multiplier=1.0, oversample=1.0, sampling_steps=4, best_of=best_of)
        start = time.perf_counter()
        report = generate_clips(
            roots, workdir / f"best_of_{best_of}", workdir / "trained_video", config, matcher_checkpoint=matcher
        )
        seconds = time.perf_counter() - start
        source = LeRobotSource(report.written.root)
        matches = [
            clip_match(str(matcher), episode.frames[LABELLED_CAMERA], episode.instruction, episode.episode_id)[0]
            for episode in map(source.read_episode, source.episode_indices)
        ]
        figures |= {
            f"best_of_{best_of}_seconds_per_clip": round(seconds / len(matches), 3),
            f"best_of_{best_of}_match_mean": round(float(np.mean(matches)), 4),
            f"best_of_{best_of}_above_threshold": round(float(np.mean(np.asarray(matches) >= threshold)), 4),
        }
    return figures


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--multiplier", type=float, default=2.0)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--matcher-demos", type=int, default=10, help="scripted demos per task for the matcher")
    parser.add_argument("--video-steps", type=int, default=400, help="training steps of best-of-N's video model")
    parser.add_argument("--best-of", type=int, default=3, help="candidates per clip, against 1")
    args = parser.parse_args()
    config = GenerationConfig(multiplier=args.multiplier, oversample=1.0, sampling_steps=args.steps)
    torch.manual_seed(0)
    pipeline = build_pipeline(VideoModelConfig())
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        record_teleop_set("Lift", args.episodes, workdir / "lift.hdf5", ExpertConfig())
        teleop = workdir / "teleop"
        ingest_source(
            SourceConfig(name="lift", path=workdir / "lift.hdf5", format="robomimic", embodiment="robosuite_panda"),
            teleop,
        )
        save_video_pipeline(workdir / "model", pipeline)
        first_frames = np.stack([c.frames[0] for c in read_clips(teleop, pipeline.image_size)])
        ours = {w: pipeline_frames_per_second(teleop, workdir / "model", w, config, workdir) for w in (1, 2)}
        reference = reference_frames_per_second(pipeline, first_frames, config, clips=2 * config.generation_batch)
        third_party_config = GenerationConfig(multiplier=0.5, oversample=1.0, windows=2, sampling_steps=args.steps)
        classes = third_party_frames_per_second(teleop, workdir, third_party_config)
        matching, roots, matcher = instruction_matching(workdir, args.matcher_demos)
        best_of = best_of_gain(workdir, roots, matcher, args.video_steps, (1, args.best_of))
    window = f"{config.windows} windows of {pipeline.frames} frames, {config.sampling_steps} steps"
    print(f"\n{args.episodes} source episodes x{args.multiplier:g}; clips of {window}; 64x64 frames")
    print(f"{'reference f/s':>15}{'Ray x1 f/s':>12}{'Ray x2 f/s':>12}{'x1/reference':>14}{'x2/x1':>8}")
    print(f"{reference:>15.1f}{ours[1]:>12.1f}{ours[2]:>12.1f}{ours[1] / reference:>14.2f}{ours[2] / ours[1]:>8.2f}")
    figures = {
        "reference_fps": round(reference, 2),
        "ray_x1_fps": round(ours[1], 2),
        "ray_x2_fps": round(ours[2], 2),
        "x1_over_reference": round(ours[1] / reference, 3),
        "x2_over_x1": round(ours[2] / ours[1], 3),
        **{f"{name}_fps": round(rate, 2) for name, rate in classes.items()},
        **matching,
        **best_of,
        f"best_of_{args.best_of}_cost": round(
            best_of[f"best_of_{args.best_of}_seconds_per_clip"] / best_of["best_of_1_seconds_per_clip"], 3
        ),
        f"best_of_{args.best_of}_gain_above_threshold": round(
            best_of[f"best_of_{args.best_of}_above_threshold"] - best_of["best_of_1_above_threshold"], 4
        ),
    }
    for name, rate in classes.items():
        print(f"{name:>32}: {rate:.1f} f/s (tiny, random weights, one process)")
    print(f"instruction matcher, held out: {matching}")
    print(f"best-of-N (video model {args.video_steps} steps): {best_of}")
    write_result(
        "neural",
        "Neural trajectories: generated frames per second",
        figures,
        {
            "x2_over_x1": at_least(figures["x2_over_x1"], 1.8),
            "instruction_pair_accuracy_min": at_least(figures["instruction_pair_accuracy_min"], 0.5),
        },
        reference="the pipeline call alone on already decoded first frames, one process, one thread",
        setup=f"The in-house image-to-video model at its default size with random weights; {args.episodes} scripted "
        f"Lift source episodes x{args.multiplier:g}, clips of {window}, 64x64 frames; the whole generation path "
        "(plan, load the pipeline per worker, generate, encode, write a LeRobot dataset) on Ray at 1 and 2 workers. "
        f"<class>_fps: the same path in one process through each tiny real diffusers class, x0.5, "
        f"2 windows, {args.steps} steps. instruction_*: the instruction matcher at its default size and training "
        f"on {args.matcher_demos} scripted Lift and Stack demos per task (84x84), 20% held out, mean of seeds 0-2 "
        "(min: the worst seed; chance is 0.5). best_of_<n>_*: a video model trained "
        f"{args.video_steps} steps on those demos generates the same prompts (x1, 4 windows, 4 steps) with 1 and "
        f"{args.best_of} candidates per clip, picked by seed 0's matcher; every written clip scored by it: seconds "
        "per clip, mean match, share at or above its threshold; cost: the seconds ratio, gain: the share's change.",
    )


if __name__ == "__main__":
    main()
