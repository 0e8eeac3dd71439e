"""The inverse dynamics model's settings, read by the command line and Dagster without loading torch: the
model, its training defaults, how it is scored and how it labels clips."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipelines.learning.training import TrainConfig
from schemas.options import option

__all__ = ["IDM_TRAINING", "IDMConfig", "IDMLabelling", "IDMScoring"]

IDM_TRAINING = TrainConfig(steps=8000)  # held-out R2 still rose from 4k to 8k steps on the demo data


@dataclass(frozen=True)
class IDMConfig:
    """An inverse dynamics model of one embodiment (``embodiment``, its ``camera`` and ``action_dim`` come
    from the embodiment file): actions from two frames ``frame_gap`` steps apart."""

    embodiment: str
    camera: str
    action_dim: int
    image_size: int = option(64, "square frames the model reads (pixels)")
    frame_gap: int = option(4, "H: steps between the two frames, the length of a predicted chunk")
    width: int = option(32, "channels of the first convolution (doubling twice)")
    hidden: int = option(256, "width of the trunk's output")
    ensemble: int = option(4, "prediction heads whose spread gives the confidence")
    shift: int = option(4, "training augmentation: both frames shifted together by up to this many pixels")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IDMScoring:
    """How a trained IDM is scored on held-out episodes, and the floor its check holds."""

    holdout: float = option(0.2, "share of each dataset's episodes held out for evaluation")
    r2_floor: float = option(0.9, "label_quality check: held-out R2 over all action dims at least")


@dataclass(frozen=True)
class IDMLabelling:
    """Which IDM labels a human-video source's clips, and which clips it refuses."""

    embodiment: str = option("robosuite_panda", "whose IDM labels the clips")
    min_confidence: float = option(0.0, "quarantine clips whose mean IDM confidence is lower")
