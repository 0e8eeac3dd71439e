"""Does a clip do what its instruction says? A small video-text matcher, trained contrastively on the pyramid's
own labelled clips, scores a generated clip against its prompt.

A clip is read as ``frames`` frames spread evenly over its span (a generated clip's whole length; a random span
of a real episode in training) and their change from the first, through a conv trunk, into a shared embedding
space with the instruction's sentence embedding (the bundled MiniLM, mean-pooled). Training is a softmax over
every distinct instruction of the training clips. A clip's *match* is the probability its own instruction gets
among itself and those instructions but the one it means (its nearest; a generated prompt rephrases or changes
its episode's instruction): a clip that looks like another task's, or that does not move as its words say,
gives its prompt a low match. The threshold comes from held-out real episodes: the match that
``keep_real`` of them reach with their true instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generators.video.config import InstructionMatcherConfig
from pipelines.learning.checkpoints import cached_by_content, load_checkpoint, save_checkpoint
from pipelines.learning.frame_pairs import (
    Clip,
    random_shift,
    read_training_clips,
    resize_frames,
    split_by_episode,
    to_tensor,
)
from pipelines.learning.language import language_encoder
from pipelines.learning.layers import strided_convs
from pipelines.learning.training import TrainConfig, train

__all__ = [
    "InstructionMatcher",
    "MatcherEvaluation",
    "TrainedMatcher",
    "cached_matcher",
    "clip_match",
    "instruction_match",
    "load_matcher",
    "rivals",
    "save_matcher",
    "train_matcher",
]

MODEL = "instruction_matcher"


def sentence_embeddings(texts: list[str]) -> torch.Tensor:
    """(N, D) mean-pooled token embeddings of the shared frozen sentence model."""
    tokens, mask = language_encoder().tokens(texts)
    return (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)


class InstructionMatcher(nn.Module):
    def __init__(self, config: InstructionMatcherConfig, text_dim: int):
        super().__init__()
        self.config = config
        w, channels = config.width, 3 * (2 * config.frames - 1)  # the frames and each one's change from the first
        self.video = nn.Sequential(
            *strided_convs(channels, w),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * w, config.dim),
        )
        self.text = nn.Sequential(nn.Linear(text_dim, config.dim), nn.GELU(), nn.Linear(config.dim, config.dim))

    def embed_video(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, K, 3, S, S) in [0, 1] -> (B, dim) unit vectors."""
        changes = frames[:, 1:] - frames[:, :1]
        return F.normalize(self.video(torch.cat([frames, changes], dim=1).flatten(1, 2)), dim=-1)

    def embed_text(self, sentences: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(sentences), dim=-1)

    def logits(self, frames: torch.Tensor, sentences: torch.Tensor) -> torch.Tensor:
        """(B, N): every clip against every instruction, as cosine similarity over the temperature."""
        return self.embed_video(frames) @ self.embed_text(sentences).T / self.config.temperature


def span_frames(frames: np.ndarray, start: int, end: int, count: int) -> np.ndarray:
    """``count`` frames spread evenly from ``start`` to ``end`` (both included)."""
    return frames[np.round(np.linspace(start, end, count)).astype(int)]


def rivals(instruction: str, known: list[str]) -> list[str]:
    """The known instructions an instruction competes with: all but the one it means, its nearest in sentence
    embedding (itself when it is known). A generated prompt rephrases or changes its episode's instruction, so
    a clip that does what a rephrasing says is not outscored by the instruction it rephrases."""
    embeddings = F.normalize(sentence_embeddings([instruction, *known]), dim=-1)
    meant = int((embeddings[1:] @ embeddings[0]).argmax())
    return [text for index, text in enumerate(known) if index != meant]


@torch.no_grad()
def instruction_match(
    model: InstructionMatcher, known: list[str], frames: np.ndarray, instructions: list[str]
) -> np.ndarray:
    """The match of a clip (T, S, S, 3) uint8 at the model's size with each of ``instructions``: the probability
    the instruction gets among itself and its ``rivals`` among the ``known`` ones (the matcher's training
    instructions)."""
    clip = to_tensor(span_frames(frames, 0, len(frames) - 1, model.config.frames))[None]
    video = model.embed_video(clip)
    matches = []
    for instruction in instructions:
        texts = model.embed_text(sentence_embeddings([instruction, *rivals(instruction, known)]))
        matches.append(float(torch.softmax(video @ texts.T / model.config.temperature, dim=-1)[0, 0]))
    return np.asarray(matches)


@dataclass(frozen=True)
class MatcherEvaluation:
    """Held-out real windows (``span`` steps from every ``span``-th step of held-out episodes) scored with their
    true instruction and with every other known one in its place."""

    pair_accuracy: float  # true instruction matched above a swapped one, over all (window, swapped) pairs
    true_match_median: float
    threshold: float  # the match ``keep_real`` of the true pairs reach
    kept_true: float  # share of true pairs at or above the threshold (about keep_real)
    kept_swapped: float  # share of swapped pairs at or above it
    windows: int
    instructions: int

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_matcher(
    model: InstructionMatcher, known: list[str], held_out: list[Clip], keep_real: float
) -> MatcherEvaluation:
    span, true_matches, swapped_matches, wins = model.config.span, [], [], []
    model.eval()
    for clip in held_out:
        for start in range(0, len(clip.frames) - span, span):
            frames = clip.frames[start : start + span + 1]
            others = [text for text in known if text != clip.instruction]
            matches = instruction_match(model, known, frames, [clip.instruction, *others])
            true_matches.append(matches[0])
            swapped_matches += matches[1:].tolist()
            wins += (matches[0] > matches[1:]).tolist()
    if not wins:
        raise ValueError(f"no held-out window of {span + 1} frames with a swappable instruction to score")
    threshold = float(np.quantile(true_matches, 1 - keep_real))
    return MatcherEvaluation(
        pair_accuracy=float(np.mean(wins)),
        true_match_median=float(np.median(true_matches)),
        threshold=threshold,
        kept_true=float(np.mean(np.asarray(true_matches) >= threshold)),
        kept_swapped=float(np.mean(np.asarray(swapped_matches) >= threshold)),
        windows=len(true_matches),
        instructions=len(known),
    )


@dataclass
class TrainedMatcher:
    model: InstructionMatcher
    known: list[str]
    evaluation: MatcherEvaluation
    history: list[dict[str, float]]
    clips: int
    skipped: dict[str, str]


def train_matcher(
    roots: list[str],
    config: InstructionMatcherConfig,
    training: TrainConfig,
    holdout: float = 0.2,
    keep_real: float = 0.9,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> TrainedMatcher:
    """Train on the instructed episodes of the datasets at ``roots`` (some held out) and score the held-out ones;
    runs where it is called, e.g. as one Ray task."""
    clips, skipped = read_training_clips(roots, config.image_size, config.span)
    clips = [clip for clip in clips if clip.instruction]
    known = sorted({clip.instruction for clip in clips})
    if len(known) < 2:
        raise ValueError(
            f"the datasets at {roots} hold {len(known)} distinct instruction(s); the instruction matcher learns "
            "which of several instructions a clip follows, so it needs episodes of at least two"
        )
    train_clips, held_out = split_by_episode(clips, holdout, training.seed)
    torch.manual_seed(training.seed)
    sentences = sentence_embeddings(known).to(training.device)
    model = InstructionMatcher(config, sentences.shape[1]).to(training.device)
    targets = np.array([known.index(clip.instruction) for clip in train_clips])

    def batch_loss(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        chosen = rng.integers(len(train_clips), size=training.batch_size)
        windows = []
        for index in chosen:
            frames = train_clips[index].frames
            length = int(rng.integers(config.span, len(frames)))  # spans as long as a generated clip or longer
            start = int(rng.integers(0, len(frames) - length))
            windows.append(span_frames(frames, start, start + length, config.frames))
        stacked = to_tensor(np.concatenate(windows))  # (B * K, 3, S, S)
        shifted = random_shift(
            stacked.reshape(len(chosen), -1, config.image_size, config.image_size), config.shift, rng
        )
        logits = model.logits(shifted.reshape(len(chosen), config.frames, 3, *shifted.shape[-2:]), sentences)
        labels = torch.from_numpy(targets[chosen]).to(training.device)
        loss = F.cross_entropy(logits, labels)
        return loss, {"accuracy": float((logits.argmax(-1) == labels).float().mean())}

    history = train(model, batch_loss, training, on_log)
    evaluation = evaluate_matcher(model.cpu(), known, held_out, keep_real)
    return TrainedMatcher(model, known, evaluation, history, len(clips), skipped)


def save_matcher(folder: Path | str, trained: TrainedMatcher) -> str:
    config = {
        "model": MODEL,
        **trained.model.config.to_dict(),
        "text_dim": trained.model.text[0].in_features,
        "known": trained.known,
        "evaluation": trained.evaluation.to_dict(),
    }
    return save_checkpoint(folder, trained.model, config)


def load_matcher(folder: Path | str) -> tuple[InstructionMatcher, list[str], float, str]:
    """The matcher of a checkpoint folder, its known instructions, its measured threshold and content hash."""
    checkpoint = load_checkpoint(folder)
    fields = {k: v for k, v in checkpoint.config.items() if k in InstructionMatcherConfig.__dataclass_fields__}
    model = InstructionMatcher(InstructionMatcherConfig(**fields), checkpoint.config["text_dim"])
    model.load_state_dict(checkpoint.weights)
    threshold = float(checkpoint.config["evaluation"]["threshold"])
    return model.eval(), list(checkpoint.config["known"]), threshold, checkpoint.sha256


cached_matcher = cached_by_content(load_matcher)


def clip_match(checkpoint: str, frames: np.ndarray, instruction: str, where: str) -> tuple[float, float]:
    """A clip's (T, H, W, 3) uint8 match with its instruction, and the matcher's threshold; the matcher at
    ``checkpoint`` is loaded once per process."""
    matcher, known, threshold, _ = cached_matcher(checkpoint)
    match = instruction_match(matcher, known, resize_frames(frames, matcher.config.image_size, where), [instruction])
    return float(match[0]), threshold
