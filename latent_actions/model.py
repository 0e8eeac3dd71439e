"""A LAPA-style latent action model: a VQ-VAE over frame pairs (x_t, x_{t+H}).

The encoder embeds both frames as patches and alternates spatial attention (within a frame) and temporal
attention (the same patch across the two frames). Learned queries read the change between the frames'
embeddings into ``tokens`` continuous vectors (the latent action, GR00T's label), each quantised against a
small codebook with noise-substitution VQ (NSVQ: the quantisation error's norm carried by random noise, so
gradients reach the encoder and the codebook without a straight-through estimator). The decoder sees x_t's
patches, cross-attends to the action tokens and predicts x_{t+H} as a change to x_t. Unused codes are
restarted on encoder outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latent_actions.config import LatentActionConfig

__all__ = ["LatentActionModel", "LatentActionOutput"]


@dataclass
class LatentActionOutput:
    prediction: torch.Tensor  # (B, 3, S, S) predicted x_{t+H}
    latent: torch.Tensor  # (B, tokens, code_dim) continuous pre-quantisation latent action
    codes: torch.Tensor  # (B, tokens) codebook indices


class Attention(nn.Module):
    """Pre-norm multi-head attention with a residual: self-attention, or cross-attention to ``context``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        query = self.norm(x)
        keys = query if context is None else context
        return x + self.attention(query, keys, keys, need_weights=False)[0]


class FeedForward(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class SpaceTimeBlock(nn.Module):
    """Spatial attention within each frame, then temporal attention across the two frames per patch."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.spatial, self.temporal, self.mlp = Attention(dim, heads), Attention(dim, heads), FeedForward(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 2, N, D)
        batch, frames, patches, dim = x.shape
        x = self.spatial(x.reshape(batch * frames, patches, dim)).reshape(batch, frames, patches, dim)
        x = x.transpose(1, 2).reshape(batch * patches, frames, dim)
        x = self.temporal(x).reshape(batch, patches, frames, dim).transpose(1, 2)
        return self.mlp(x)


class DecoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attention, self.cross, self.mlp = Attention(dim, heads), Attention(dim, heads), FeedForward(dim)

    def forward(self, x: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.cross(self.attention(x), actions))


class LatentActionModel(nn.Module):
    def __init__(self, config: LatentActionConfig):
        super().__init__()
        if config.image_size % config.patch_size:
            raise ValueError(f"patch_size {config.patch_size} must divide image_size {config.image_size}")
        self.config = config
        pixels, dim = 3 * config.patch_size**2, config.dim
        self.encode_patches = nn.Linear(pixels, dim)
        self.space_position = nn.Parameter(torch.randn(config.patches, dim) * 0.02)
        self.time_position = nn.Parameter(torch.randn(2, dim) * 0.02)
        self.encoder = nn.ModuleList(SpaceTimeBlock(dim, config.heads) for _ in range(config.depth))
        self.action_queries = nn.Parameter(torch.randn(config.tokens, dim) * 0.02)
        self.read_action = Attention(dim, config.heads)
        self.to_latent = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, config.code_dim))
        self.codebook = nn.Parameter(torch.randn(config.codebook_size, config.code_dim))
        self.from_latent = nn.Linear(config.code_dim, dim)
        self.decode_patches = nn.Linear(pixels, dim)
        self.decoder = nn.ModuleList(DecoderBlock(dim, config.heads) for _ in range(config.depth))
        self.to_pixels = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, pixels))
        nn.init.zeros_(self.to_pixels[1].weight)  # starts as the copy-x_t baseline; learns only the change
        nn.init.zeros_(self.to_pixels[1].bias)
        self.register_buffer("code_usage", torch.zeros(config.codebook_size))

    def patchify(self, images: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) -> (B, N, 3 * P * P)
        p = self.config.patch_size
        batch, channels, size, _ = images.shape
        grid = images.reshape(batch, channels, size // p, p, size // p, p)
        return grid.permute(0, 2, 4, 1, 3, 5).reshape(batch, (size // p) ** 2, channels * p * p)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:  # (B, N, 3 * P * P) -> (B, 3, S, S)
        p, size = self.config.patch_size, self.config.image_size
        grid = patches.reshape(patches.shape[0], size // p, size // p, 3, p, p)
        return grid.permute(0, 3, 1, 4, 2, 5).reshape(patches.shape[0], 3, size, size)

    def encode(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Continuous latent actions (B, tokens, code_dim) of frame pairs (B, 3, S, S) in [0, 1]."""
        x = torch.stack([self.patchify(first), self.patchify(second)], dim=1)  # (B, 2, N, 3PP)
        x = self.encode_patches(x) + self.space_position + self.time_position[:, None]
        for block in self.encoder:
            x = block(x)
        change = x[:, 1] - x[:, 0]  # (B, N, D)
        queries = self.action_queries.expand(first.shape[0], -1, -1)
        return self.to_latent(self.read_action(queries, change))

    def quantise(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest codes (B, tokens) and the quantised tokens: the codes themselves at inference; in training
        NSVQ's latent + |latent - code| * unit noise."""
        distances = torch.cdist(latent, self.codebook.expand(latent.shape[0], -1, -1))  # (B, tokens, K)
        codes = distances.argmin(-1)
        chosen = self.codebook[codes]
        if not self.training:
            return codes, chosen
        noise = torch.randn_like(latent)
        error = (latent - chosen).norm(dim=-1, keepdim=True)
        return codes, latent + error * noise / noise.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    def decode(self, first: torch.Tensor, quantised: torch.Tensor) -> torch.Tensor:
        x = self.decode_patches(self.patchify(first)) + self.space_position
        actions = self.from_latent(quantised)
        for block in self.decoder:
            x = block(x, actions)
        return (first + self.unpatchify(self.to_pixels(x))).clamp(0, 1)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> LatentActionOutput:
        latent = self.encode(first, second)
        codes, quantised = self.quantise(latent)
        if self.training:
            self.code_usage += torch.bincount(codes.flatten(), minlength=self.config.codebook_size).float()
        return LatentActionOutput(self.decode(first, quantised), latent, codes)

    @torch.no_grad()
    def restart_dead_codes(self, latent: torch.Tensor) -> int:
        """Codes unused since the last call move onto random recent latents; returns how many moved."""
        dead = (self.code_usage == 0).nonzero().flatten()
        if len(dead):
            pool = latent.detach().reshape(-1, self.config.code_dim)
            picks = torch.randint(len(pool), (len(dead),), device=pool.device)
            self.codebook[dead] = pool[picks] + 0.01 * torch.randn_like(pool[picks])
        self.code_usage.zero_()
        return len(dead)

    def loss(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, LatentActionOutput]:
        output = self(first, second)
        return F.mse_loss(output.prediction, second), output
