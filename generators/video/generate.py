"""Generate clips from teleop first frames with any diffusers image-to-video pipeline.

For every teleop episode, K new instructions, with K chosen so that the generated hours reach ``multiplier``
times the teleop hours (times ``oversample``, the margin the filters downstream will take). A clip longer than
the model's window is generated window by window, each conditioned on the last frame of the one before.
One Ray task per source episode loads the pipeline once and generates its K clips in batches; every clip
records its lineage (source dataset, episode and frame, prompt, seed, model hash) and its first-frame fidelity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import PIL.Image
import torch

from generators.video.config import GenerationConfig
from generators.video.instruction_match import clip_match, load_matcher
from generators.video.instructions import new_instructions
from generators.video.model import PyramidVideoPipeline, load_video_pipeline, pipeline_hash
from pipelines.ingest.runner import ReadPlan, write_plan
from pipelines.learning.frame_pairs import read_clip, resize_frames
from pipelines.learning.metrics import psnr
from pipelines.lerobot.reader import EpisodeReadError, LeRobotSource
from pipelines.runtime.parallel import RayConfig
from schemas.embodiment import LABELLED_CAMERA, get_embodiment
from schemas.episode import Episode, RejectedEpisode, exact_timestamps

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

__all__ = [
    "GenerationReport",
    "best_candidates",
    "generate_clips",
    "generate_windows",
    "run_pipeline",
    "window_shape",
]


@dataclass(frozen=True)
class GenerationReport:
    written: WriteReport
    teleop_hours: float
    requested_clips: int
    model_sha256: str

    @property
    def generated_hours(self) -> float:
        return self.written.hours

    @property
    def multiplier(self) -> float:
        return self.generated_hours / self.teleop_hours if self.teleop_hours else 0.0


GENERATED_VIDEO = "generated_video"  # the embodiment of action-less generated clips, before labelling
THIRD_PARTY_WINDOW = (64, 9)  # size and frames asked of a third-party pipeline unless configured


def window_shape(pipeline, config: GenerationConfig) -> tuple[int, int]:
    """The square size and window length generation asks ``pipeline`` for."""
    size, frames = (
        (pipeline.image_size, pipeline.frames) if isinstance(pipeline, PyramidVideoPipeline) else THIRD_PARTY_WINDOW
    )
    return config.image_size or size, config.frames or frames


def run_pipeline(
    pipeline,
    first_frames: np.ndarray,
    prompts: list[str],
    seeds: list[int],
    size: int,
    frames: int,
    steps: int,
    guidance_scale: float,
    device: str = "cpu",
) -> np.ndarray:
    """A diffusers image-to-video pipeline called with the arguments they all take: (B, S, S, 3) uint8 first
    frames -> (B, frames, S, S, 3) uint8 clips. Ours takes the batch in one call; a third-party pipeline gets one
    image and prompt per call, which every I2V pipeline accepts (Wan's refuses a list)."""
    batched = isinstance(pipeline, PyramidVideoPipeline)
    calls = [range(len(first_frames))] if batched else [[i] for i in range(len(first_frames))]
    clips = []
    for rows in calls:
        images = [PIL.Image.fromarray(first_frames[i]) for i in rows]
        generators = [torch.Generator(device).manual_seed(seeds[i]) for i in rows]
        try:
            output = pipeline(
                image=images if batched else images[0],
                prompt=[prompts[i] for i in rows] if batched else prompts[rows[0]],
                num_frames=frames,
                height=size,
                width=size,
                num_inference_steps=steps,
                guidance_scale=guidance_scale,
                generator=generators if batched else generators[0],
                output_type="np",
            )
        except TypeError as error:  # a pipeline without the image-to-video arguments
            raise ValueError(f"{type(pipeline).__name__} is not an image-to-video pipeline: {error}") from error
        generated = np.asarray(output.frames)
        if generated.shape[:2] != (len(rows), frames) or generated.shape[-1] != 3:
            raise ValueError(
                f"{type(pipeline).__name__} returned frames of shape {generated.shape}, "
                f"expected ({len(rows)}, {frames}, H, W, 3)"
            )
        clips.append(generated)
    pixels = (np.concatenate(clips) * 255).round().clip(0, 255).astype(np.uint8)
    return np.stack([resize_frames(clip, size, f"{type(pipeline).__name__} output") for clip in pixels])


def generate_windows(
    pipeline, first_frames: np.ndarray, prompts: list[str], seeds: list[int], windows: int, config: GenerationConfig
) -> np.ndarray:
    """(B, 1 + windows * (F - 1), S, S, 3) generated clips (their first frame too, the model's rendering of the
    conditioning frame), window by window, each window from the last frame of the one before."""
    size, frames = window_shape(pipeline, config)
    pieces, current = [], first_frames
    for window in range(windows):
        generated = run_pipeline(
            pipeline,
            current,
            prompts,
            [seed * 1000 + window for seed in seeds],
            size,
            frames,
            config.sampling_steps,
            config.guidance_scale,
            config.device,
        )
        pieces.append(generated if window == 0 else generated[:, 1:])
        current = generated[:, -1]
    return np.concatenate(pieces, axis=1)


@lru_cache(maxsize=1)
def _cached_pipeline(folder: str, device: str, sha256: str):
    """One loaded pipeline per process, keyed by its hash so a retrained model in the same folder is reloaded."""
    return load_video_pipeline(folder, device)


def clip_frames(pipeline, config: GenerationConfig) -> int:
    return 1 + config.windows * (window_shape(pipeline, config)[1] - 1)


def best_candidates(
    candidates: np.ndarray, prompts: list[str], best_of: int, matcher_checkpoint: str | None, where: str
) -> list[tuple[int, list[float]]]:
    """For each clip (``best_of`` consecutive candidates of one prompt), the index of the candidate the
    instruction matcher matches best with the prompt, and every candidate's match (none with one candidate)."""
    if best_of == 1:
        return [(index, []) for index in range(len(candidates))]
    if matcher_checkpoint is None:
        raise ValueError(f"best_of {best_of} ranks candidates with the instruction matcher; none was given")
    chosen = []
    for first in range(0, len(candidates), best_of):
        matches = [
            clip_match(matcher_checkpoint, candidates[first + j], prompts[first + j], where)[0] for j in range(best_of)
        ]
        chosen.append((first + int(np.argmax(matches)), [round(m, 4) for m in matches]))
    return chosen


def generate_episode_clips(
    folder: str,
    sha256: str,
    root: str,
    episode_index: int,
    instructions: list[tuple[str, bool]],
    first_seed: int,
    config: GenerationConfig,
    matcher_checkpoint: str | None = None,
) -> list[Episode | RejectedEpisode]:
    """The clips of one source episode's first frame, where it runs (a Ray worker loads the pipeline once); an
    unreadable source episode comes back rejected. With ``config.best_of`` above 1, each clip is the candidate
    that the instruction matcher at ``matcher_checkpoint`` matches best with its prompt."""
    pipeline = _cached_pipeline(folder, config.device, sha256)
    source = LeRobotSource(root)
    try:
        clip = read_clip(source, episode_index, window_shape(pipeline, config)[0])
    except (EpisodeReadError, ValueError) as error:
        return [RejectedEpisode(source.episode_id(episode_index), "source", str(error))]
    first = clip.frames[0]
    candidates = [  # (instruction, counterfactual, seed) of every candidate, a clip's best_of in a row
        (text, counterfactual, (first_seed + k) * config.best_of + j)
        for k, (text, counterfactual) in enumerate(instructions)
        for j in range(config.best_of)
    ]
    episodes: list[Episode | RejectedEpisode] = []
    step = config.generation_batch * config.best_of  # whole clips per call, their candidates together
    for begin in range(0, len(candidates), step):
        batch = candidates[begin : begin + step]
        prompts, seeds = [text for text, _, _ in batch], [seed for _, _, seed in batch]
        clips = generate_windows(
            pipeline, np.repeat(first[None], len(batch), axis=0), prompts, seeds, config.windows, config
        )
        where = f"{clip.dataset}, episode {clip.episode_id}"
        for index, matches in best_candidates(clips, prompts, config.best_of, matcher_checkpoint, where):
            (text, counterfactual, seed), frames = batch[index], clips[index]
            fidelity = psnr(float(np.mean((frames[0] / 255.0 - first / 255.0) ** 2)))
            episodes.append(
                Episode(
                    episode_id=f"{clip.dataset}/{clip.episode_id}/{seed}",
                    embodiment=GENERATED_VIDEO,
                    fps=source.fps,
                    instruction=text,
                    frames={LABELLED_CAMERA: frames},
                    state=None,
                    action=None,
                    timestamps=exact_timestamps(len(frames), source.fps),
                    notes={
                        "source_dataset": clip.dataset,
                        "source_episode": clip.episode_id,
                        "source_frame": 0,
                        "prompt": text,
                        "instruction_generated": True,
                        "counterfactual": counterfactual,
                        "seed": seed,
                        "video_model_sha256": sha256,
                        "first_frame_psnr_db": round(fidelity, 2),
                        **({"best_of": config.best_of, "candidate_matches": matches} if matches else {}),
                    },
                )
            )
    return episodes


def generate_clips(
    roots: list[Path | str],
    destination: Path | str,
    pipeline_folder: Path | str,
    config: GenerationConfig | None = None,
    *,
    matcher_checkpoint: Path | str | None = None,
    ray: RayConfig | None = None,
    on_item: Callable[[int], None] | None = None,
) -> GenerationReport:
    """Clips from every episode's first frame of the teleop datasets at ``roots``, written as one action-less
    LeRobot dataset (the ``generated_video`` embodiment) at ``destination``, atomically. A source episode that
    cannot be read is quarantined with its reason; the others are generated. ``config.best_of`` above 1 needs
    ``matcher_checkpoint``, the instruction matcher that picks each clip's candidate. ``on_item(done)`` follows
    the clips written."""
    config = config or GenerationConfig()
    sha256 = pipeline_hash(pipeline_folder)
    pipeline = _cached_pipeline(str(pipeline_folder), config.device, sha256)  # a missing model fails before any work
    matcher, matcher_sha256 = None, ""
    if config.best_of > 1:
        if matcher_checkpoint is None:
            raise ValueError(
                f"best_of {config.best_of} picks each clip's candidate with the instruction matcher: train one (the "
                "instruction_matcher asset) and pass its checkpoint, or set best_of to 1"
            )
        matcher = str(matcher_checkpoint)
        matcher_sha256 = load_matcher(matcher)[3]  # a missing or altered matcher fails before any work
    length = clip_frames(pipeline, config)
    rng = np.random.default_rng(config.seed)
    sources = [LeRobotSource(root) for root in roots]
    if len({s.fps for s in sources}) != 1:
        raise ValueError(f"teleop datasets {[str(r) for r in roots]}: need one fps, have {[s.fps for s in sources]}")
    fps = sources[0].fps
    units, teleop_frames, next_seed = [], 0, config.seed
    for source in sources:
        for index in source.episode_indices:
            try:
                episode = source.read_episode_metadata(index)
            except EpisodeReadError:  # the worker reads it again and records why
                units.append((str(pipeline_folder), sha256, str(source.root), index, [], next_seed, config, matcher))
                continue
            count = math.ceil(config.multiplier * config.oversample * episode.length / length)
            instructions = [
                (i.text, i.counterfactual) for i in new_instructions(episode.instruction, count, config.vocabulary, rng)
            ]
            units.append(
                (str(pipeline_folder), sha256, str(source.root), index, instructions, next_seed, config, matcher)
            )
            teleop_frames, next_seed = teleop_frames + episode.length, next_seed + count
    provenance = {
        "generated_from": [str(r) for r in roots],
        "video_model": str(pipeline_folder),
        "video_model_sha256": sha256,
        "multiplier_requested": config.multiplier,
        "best_of": config.best_of,
        **({"instruction_matcher_sha256": matcher_sha256} if matcher else {}),
        "teleop_hours": teleop_frames / fps / 3600,
    }
    plan = ReadPlan(get_embodiment(GENERATED_VIDEO), fps, generate_episode_clips, units)
    written = write_plan(plan, destination, ray=ray, on_item=on_item, provenance=provenance)
    return GenerationReport(written, teleop_frames / fps / 3600, next_seed - config.seed, sha256)
