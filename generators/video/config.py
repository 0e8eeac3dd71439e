"""The neural layer's settings, read by the command line and Dagster without loading torch: the in-house video
model and its training, clip generation, and the filters a labelled clip must pass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from generators.video.instructions import DEFAULT_VOCABULARY, Vocabulary
from pipelines.learning.training import TrainConfig
from schemas.options import option

__all__ = [
    "INSTRUCTION_MATCHER_TRAINING",
    "VIDEO_TRAINING",
    "GenerationConfig",
    "GenerationSource",
    "InstructionMatcherConfig",
    "InstructionMatcherScoring",
    "NeuralFilters",
    "NeuralLabelling",
    "VideoModelConfig",
    "VideoModelScoring",
]

VIDEO_TRAINING = TrainConfig(steps=1500, batch_size=8)  # batch: clip windows per step
INSTRUCTION_MATCHER_TRAINING = TrainConfig(steps=1000)


@dataclass(frozen=True)
class VideoModelConfig:
    """The in-house image-to-video model: a spatial-temporal transformer over patch tokens."""

    image_size: int = option(64, "square frames (pixels); the IDM and latent action model read 64")
    frames: int = option(8, "frames per generated window, the first one the condition")
    patch_size: int = option(8, "pixels per side of a transformer token")
    dim: int = option(128, "transformer width")
    heads: int = option(4, "attention heads")
    layers: int = option(2, "(spatial, temporal) transformer block pairs")
    language_model: str = option("", "a local sentence-transformers folder; empty: the bundled offline MiniLM")

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size or self.dim % self.heads or self.frames < 2:
            raise ValueError(
                f"video model config {self}: image_size must be a multiple of patch_size, dim of "
                "heads, and a window needs at least 2 frames"
            )


@dataclass(frozen=True)
class VideoModelScoring:
    """Whose teleop video the model learns, and how its held-out continuations are scored."""

    embodiment: str = option("robosuite_panda", "whose teleop video the model learns")
    holdout: float = option(0.2, "share of each dataset's episodes held out for evaluation")
    sampling_steps: int = option(10, "flow-matching steps when sampling held-out continuations")


@dataclass(frozen=True)
class GenerationSource:
    """Whose teleop first frames seed the clips, and which pipeline generates them."""

    embodiment: str = option("robosuite_panda", "whose teleop first frames seed the clips")
    video_model: str = option(
        "", "a local diffusers image-to-video pipeline folder; empty: the in-house model of the video_model asset"
    )


@dataclass(frozen=True)
class GenerationConfig:
    """How many clips to generate and how; ``vocabulary`` holds the words new instructions are made of.
    A clip has ``1 + windows * (frames - 1)`` frames; candidate j of clip k of a run is seeded with
    ``(seed + k) * best_of + j``."""

    multiplier: float = option(10.0, "generated hours / teleop hours to reach after filtering (GR00T N1: ~10)")
    oversample: float = option(1.25, "extra clips generated for the share the filters reject")
    windows: int = option(4, "model windows chained per clip")
    sampling_steps: int = option(10, "flow-matching (or the pipeline's) sampling steps")
    guidance_scale: float = option(1.0, "classifier-free guidance; 1 is none")
    best_of: int = option(
        1,
        "candidates generated per clip (each its own seed); the one the instruction matcher gives the highest match "
        "with its prompt is kept, so generation costs this many times more (needs the embodiment's trained matcher)",
    )
    generation_batch: int = option(8, "clips per pipeline call")
    image_size: int = option(0, "square size to ask for (0: the in-house model's own, 64 of others)")
    frames: int = option(0, "window length to ask for (0: the in-house model's own, 9 (4k + 1) of others)")
    seed: int = option(0, "seeds the instructions chosen and every clip's noise")
    device: str = option("cpu", "torch device: cpu, or cuda on a GPU node")
    vocabulary: Vocabulary = field(default=DEFAULT_VOCABULARY)

    def __post_init__(self) -> None:
        if self.best_of < 1:
            raise ValueError(f"best_of must be at least 1 (one candidate per clip), not {self.best_of}")


@dataclass(frozen=True)
class NeuralLabelling:
    embodiment: str = option(
        "robosuite_panda",
        "whose generated clips are labelled and checked, by that embodiment's IDM and instruction matcher",
    )


@dataclass(frozen=True)
class NeuralFilters:
    """What a labelled clip must pass to join the neural layer (each rejection is kept with its figure).

    Defaults from the demo (2026-11-22): the trained model renders first frames at 42-45 dB (5th-95th
    percentile), so below 30 dB a clip did not start from its teleop frame; real Panda teleop clips move 3-10
    gray levels, a still one under 1; the demo IDM gives the first 29 frames of every real Panda teleop episode
    a mean confidence of 0.867 or more, so below 0.85 it does not recognise the clip as that robot's motion.
    The confidence scale is the IDM's own: retune it with another IDM. Real clips change steadily: over 29-frame
    windows of the test suite's Panda teleop (52) and human clips (12), the largest frame-to-frame change was at
    most 3.8 and 4.5 times the window's median change; a pop or a teleport stands far above that.
    """

    min_first_frame_psnr_db: float = option(30.0, "the generated first frame against its teleop frame, at least")
    min_motion: float = option(1.0, "mean absolute change over the IDM's frame gap (gray levels 0-255), at least")
    min_idm_confidence: float = option(0.85, "mean IDM confidence over the clip, at least")
    max_frame_jump: float = option(
        6.0,
        "largest frame-to-frame change over the clip's median change, at most (objects popping, the robot teleporting)",
    )
    instruction_match: bool = option(
        True,
        "reject a clip whose match with its instruction is below the instruction matcher's measured threshold "
        "(needs the trained matcher of the embodiment)",
    )


@dataclass(frozen=True)
class InstructionMatcherConfig:
    """The video-text matcher that scores whether a clip does what its instruction says."""

    image_size: int = option(64, "square frames the matcher reads (pixels)")
    frames: int = option(4, "frames read, spread evenly over the clip's span")
    span: int = option(28, "the shortest span scored, in steps (a generated clip of 4 windows of 8 frames spans 28)")
    width: int = option(32, "channels of the first convolution (doubling twice)")
    dim: int = option(64, "the shared video-text embedding width")
    temperature: float = option(0.1, "softmax temperature of the cosine similarities")
    shift: int = option(4, "training augmentation: every frame of a clip shifted together by up to this many pixels")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InstructionMatcherScoring:
    """How the matcher is scored on held-out real episodes, and where its filter threshold comes from."""

    holdout: float = option(0.2, "share of each dataset's episodes held out for evaluation")
    keep_real: float = option(
        0.9, "the filter's threshold is the match this share of held-out real clips reach with their instruction"
    )
