"""Network blocks shared by the small frame models (the IDM and the instruction matcher)."""

from __future__ import annotations

from itertools import pairwise

from torch import nn

__all__ = ["strided_convs"]


def strided_convs(channels: int, width: int) -> list[nn.Module]:
    """Four 3x3 stride-2 convolutions (16x down) widening ``width`` -> 4x ``width``, each with GroupNorm and GELU:
    the trunk of a model that reads a few stacked frames at 64 pixels."""
    widths = [channels, width, 2 * width, 4 * width, 4 * width]
    return [
        nn.Sequential(nn.Conv2d(inputs, outputs, 3, stride=2, padding=1), nn.GroupNorm(8, outputs), nn.GELU())
        for inputs, outputs in pairwise(widths)
    ]
