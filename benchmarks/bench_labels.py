"""Labelling throughput of the latent action model and the IDM on CPU: the whole labelling path (read and
decode each clip, label, encode and write a LeRobot dataset) on Ray at 1 and 2 workers, against the
reference, the model alone labelling the same, already decoded frames in one process on one thread.

Clips are scripted robosuite Lift episodes seen from the front camera (96x96, 20 fps), written as an
action-less human-video dataset (not curated: near-duplicate clips stay, for volume). The models have the
default size and random weights: labelling speed does not depend on what they learned. A local Ray with that
many CPUs is started and its workers warmed before timing, so start-up is not counted.

    python benchmarks/bench_labels.py [--clips 16]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import ray
import torch
from record import at_least, bench_parser, write_result

from generators.scripted_teleop import ExpertConfig, record_expert_demo
from idm.config import IDMConfig
from idm.label import label_idm_actions, save_idm
from idm.model import InverseDynamicsModel
from idm.train import ActionNormaliser, idm_labels
from latent_actions.config import LatentActionConfig
from latent_actions.label import label_latent_actions, save_latent_action_model
from latent_actions.model import LatentActionModel
from latent_actions.train import latent_labels
from pipelines.learning.frame_pairs import read_clips
from pipelines.lerobot.writer import write_dataset
from pipelines.runtime.parallel import RayConfig, start_local_ray
from schemas.embodiment import get_embodiment
from schemas.episode import Episode, exact_timestamps


@ray.remote(num_cpus=1)
def warm_worker() -> None:
    import idm.label  # noqa: F401  (torch and the label modules every labelling task imports)
    import latent_actions.label  # noqa: F401

    time.sleep(1)  # hold this CPU so the next warm-up task lands on another worker


def pipeline_frames_per_second(label, root: Path, checkpoint: Path, workers: int, frames: int, workdir: Path) -> float:
    start_local_ray(workers)
    ray.get([warm_worker.remote() for _ in range(workers)])
    try:
        start = time.perf_counter()
        label(root, workdir / f"{checkpoint.name}_{workers}", checkpoint, ray=RayConfig(workers=workers))
        return frames / (time.perf_counter() - start)
    finally:
        ray.shutdown()


def clip_dataset(root: Path, clips: int) -> int:
    """``clips`` successful scripted Lift episodes from the front camera as an action-less dataset; its frames."""
    episodes, seed = [], 0
    while len(episodes) < clips:
        demo, success = record_expert_demo("Lift", seed, ExpertConfig(cameras=("frontview",), image_size=96))
        if success:
            frames = demo.obs["frontview_image"]
            episodes.append(
                Episode(
                    episode_id=f"lift_front/{seed}",
                    embodiment="human_video",
                    fps=20,
                    instruction=demo.instruction,
                    frames={"primary": frames},
                    state=None,
                    action=None,
                    timestamps=exact_timestamps(len(frames), 20),
                )
            )
        seed += 1
    return write_dataset(root, get_embodiment("human_video"), 20, episodes).frames


def reference_frames_per_second(label_frames, clips: list[np.ndarray]) -> float:
    torch.set_num_threads(1)
    start = time.perf_counter()
    for frames in clips:
        label_frames(frames)
    return sum(len(c) for c in clips) / (time.perf_counter() - start)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--clips", type=int, default=16)
    args = parser.parse_args()
    torch.manual_seed(0)
    lam = LatentActionModel(LatentActionConfig()).eval()
    idm = InverseDynamicsModel(IDMConfig(embodiment="robosuite_panda", camera="agentview", action_dim=7)).eval()
    normaliser = ActionNormaliser(np.zeros(7, np.float32), np.ones(7, np.float32))
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        root = workdir / "clips"
        frames = clip_dataset(root, args.clips)
        save_latent_action_model(workdir / "lam", lam)
        save_idm(workdir / "idm", idm, normaliser)
        clips = [c.frames for c in read_clips(root, lam.config.image_size)]
        models = {
            "latent actions": (label_latent_actions, workdir / "lam", lambda f: latent_labels(lam, f)),
            "IDM": (label_idm_actions, workdir / "idm", lambda f: idm_labels(idm, normaliser, f)),
        }
        results = {}
        for name, (label, checkpoint, label_frames) in models.items():
            reference = reference_frames_per_second(label_frames, clips)
            pipeline = {w: pipeline_frames_per_second(label, root, checkpoint, w, frames, workdir) for w in (1, 2)}
            results[name] = (reference, pipeline)
    print(f"\n{args.clips} clips, {frames} frames (96x96 video, models read 64x64)")
    print(f"{'model':<16}{'reference f/s':>15}{'Ray x1 f/s':>12}{'Ray x2 f/s':>12}{'x1/reference':>14}{'x2/x1':>8}")
    for name, (reference, pipeline) in results.items():
        print(
            f"{name:<16}{reference:>15.0f}{pipeline[1]:>12.0f}{pipeline[2]:>12.0f}"
            f"{pipeline[1] / reference:>14.2f}{pipeline[2] / pipeline[1]:>8.2f}"
        )
    figures: dict[str, float] = {"clips": args.clips, "frames": frames}
    for name, (reference, pipeline) in results.items():
        key = "latent_actions" if name == "latent actions" else "idm"
        figures[f"{key}_reference_fps"] = round(reference, 1)
        figures[f"{key}_ray_x1_fps"] = round(pipeline[1], 1)
        figures[f"{key}_ray_x2_fps"] = round(pipeline[2], 1)
        figures[f"{key}_x1_over_reference"] = round(pipeline[1] / reference, 3)
        figures[f"{key}_x2_over_x1"] = round(pipeline[2] / pipeline[1], 3)
    write_result(
        "labels",
        "Labelling throughput: latent actions and the IDM",
        figures,
        {f"{key}_x2_over_x1": at_least(figures[f"{key}_x2_over_x1"], 1.8) for key in ("latent_actions", "idm")},
        reference="the model alone on already decoded, resized frames, one process, one thread",
        setup=f"{args.clips} scripted Lift clips from the front camera (96x96, 20 fps; models read 64x64), default "
        "model sizes with random weights; the whole labelling path (read, decode, label, encode, write) on Ray at 1 "
        "and 2 workers, warmed first.",
    )


if __name__ == "__main__":
    main()
