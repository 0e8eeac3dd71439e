"""The latent action model's settings, read by the command line and Dagster without loading torch: the model,
its training defaults and how it is scored."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.learning.training import TrainConfig
from schemas.options import option

__all__ = ["LATENT_ACTION_TRAINING", "LatentActionConfig", "LatentActionScoring"]

LATENT_ACTION_TRAINING = TrainConfig(steps=4000)  # held-out probe R2 0.59 at 2k steps, 0.67 at 4k (demo data)


@dataclass(frozen=True)
class LatentActionConfig:
    """The VQ-VAE latent action model; ``codebook_size ** tokens`` distinct latent actions."""

    image_size: int = option(64, "square frames the model reads (pixels); patch_size must divide it")
    patch_size: int = option(8, "pixels per side of a transformer token")
    frame_gap: int = option(8, "H: steps between the two frames of a pair (GR00T ~1 s; 0.4 s at 20 Hz here)")
    dim: int = option(64, "transformer width")
    depth: int = option(2, "encoder and decoder blocks each")
    heads: int = option(4, "attention heads")
    codebook_size: int = option(8, "codes per latent token")
    tokens: int = option(4, "latent action tokens")
    code_dim: int = option(8, "width of one token (the continuous label is tokens * code_dim)")
    action_weight: float = option(
        0.01, "weight of the loss grounding the latent in the true actions of clips that have them (0: LAPA's)"
    )

    @property
    def patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def label_dim(self) -> int:
        return self.tokens * self.code_dim

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LatentActionScoring:
    """How a trained latent action model is scored on held-out episodes, and the floors its check holds."""

    holdout: float = option(0.2, "share of each dataset's episodes held out for evaluation")
    probe_embodiment: str = option("robosuite_panda", "whose true actions the linear probe predicts")
    probe_r2_floor: float = option(0.6, "label_quality check: held-out linear-probe R2 at least")
    perplexity_floor: float = option(2.0, "label_quality check: codebook perplexity at least")
