"""An inverse dynamics model: two frames (x_t, x_{t+H}) in, the H actions between them out.

A small convolutional trunk reads both frames and their difference; an ensemble of linear heads each
predicts the (H, A) chunk in normalised action units. The heads start from different weights and see
different bootstrap masks of every batch, so where they disagree the label is uncertain.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["IDMConfig", "InverseDynamicsModel"]


@dataclass(frozen=True)
class IDMConfig:
    """Attributes:
    embodiment: whose actions it predicts; camera: the view it reads (clips are labelled from one camera).
    image_size: square frames; frame_gap: H; action_dim: A.
    width: channels of the first convolution (doubling twice); hidden: trunk output; ensemble: heads.
    shift: training augmentation, both frames shifted together by up to this many pixels.
    """

    embodiment: str
    camera: str
    action_dim: int
    image_size: int = 64
    frame_gap: int = 4
    width: int = 32
    hidden: int = 256
    ensemble: int = 4
    shift: int = 4

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride=2, padding=1), nn.GroupNorm(8, outputs), nn.GELU())


class InverseDynamicsModel(nn.Module):
    def __init__(self, config: IDMConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.trunk = nn.Sequential(
            _conv(9, w),
            _conv(w, 2 * w),
            _conv(2 * w, 4 * w),
            _conv(4 * w, 4 * w),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(16 * 4 * w, config.hidden),
            nn.GELU(),
        )
        self.heads = nn.Linear(config.hidden, config.ensemble * config.frame_gap * config.action_dim)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Frames (B, 3, S, S) in [0, 1] -> normalised action chunks (B, ensemble, H, A)."""
        features = self.trunk(torch.cat([first, second, second - first], dim=1))
        c = self.config
        return self.heads(features).reshape(-1, c.ensemble, c.frame_gap, c.action_dim)
