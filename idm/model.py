"""An inverse dynamics model: two frames (x_t, x_{t+H}) in, the H actions between them out.

A small convolutional trunk reads both frames and their difference; an ensemble of linear heads each
predicts the (H, A) chunk in normalised action units. The heads start from different weights and see
different bootstrap masks of every batch, so where they disagree the label is uncertain.
"""

from __future__ import annotations

import torch
from torch import nn

from idm.config import IDMConfig
from pipelines.learning.layers import strided_convs

__all__ = ["InverseDynamicsModel"]


class InverseDynamicsModel(nn.Module):
    def __init__(self, config: IDMConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.trunk = nn.Sequential(
            *strided_convs(9, w),
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
