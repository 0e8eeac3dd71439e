"""The reference GR00T-N1-style model (GR00T N1, arXiv 2503.14734; docs/policy.md), small enough to train on a CPU.

System 2 turns camera frames and the instruction into vision-language tokens: a conv encoder trained here
(or a local pretrained vision model) for the frames, a frozen sentence model's token embeddings for the
words, and a transformer over both.
System 1 is a diffusion transformer trained by flow matching: [state, action chunk] tokens, AdaLN
conditioning on the flow time, self-attention among those tokens alternating with cross-attention to the
vision-language tokens. The state encoder, action encoder and action decoder have one weight slot per
embodiment, so robots with different layouts share everything else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from policy.config import PolicyConfig

__all__ = ["ChunkRegressionPolicy", "FlowMatchingPolicy", "ModelInputs", "build_model"]

MAX_CAMERAS = 4


@dataclass
class ModelInputs:
    """A batch of one embodiment, already normalised and padded.

    images: (B, cameras, 3, S, S) float in [0, 1]; language: (B, L, D) token embeddings with ``language_mask``
    (B, L) True where a token is real; state: (B, max_state_dim); slot: (B,) embodiment weight slots.
    """

    images: torch.Tensor
    language: torch.Tensor
    language_mask: torch.Tensor
    state: torch.Tensor
    slot: torch.Tensor

    def to(self, device: str) -> ModelInputs:
        return ModelInputs(
            *(getattr(self, name).to(device) for name in ("images", "language", "language_mask", "state", "slot"))
        )


class EmbodimentLinear(nn.Module):
    """A linear layer with one weight matrix per embodiment slot, chosen per sample."""

    def __init__(self, slots: int, inputs: int, outputs: int):
        super().__init__()
        bound = 1 / math.sqrt(inputs)
        self.weight = nn.Parameter(torch.empty(slots, inputs, outputs).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(slots, outputs))

    def forward(self, x: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        """x (B, ..., inputs), slot (B,) -> (B, ..., outputs)."""
        # index_select, not weight[slot]: its backward (index_add) took 1.1 ms a layer here, indexing's 3.8
        weight, bias = self.weight.index_select(0, slot), self.bias.index_select(0, slot)
        shape = x.shape
        out = torch.bmm(x.reshape(shape[0], -1, shape[-1]), weight) + bias[:, None]
        return out.reshape(*shape[:-1], -1)


class EmbodimentMLP(nn.Module):
    def __init__(self, slots: int, inputs: int, hidden: int, outputs: int):
        super().__init__()
        self.first, self.second = EmbodimentLinear(slots, inputs, hidden), EmbodimentLinear(slots, hidden, outputs)

    def forward(self, x: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        return self.second(F.silu(self.first(x, slot)), slot)


class ActionEncoder(nn.Module):
    """GR00T's multi-embodiment action encoder: noisy actions and the flow time's embedding, per slot."""

    def __init__(self, slots: int, action_dim: int, hidden: int):
        super().__init__()
        self.actions = EmbodimentLinear(slots, action_dim, hidden)
        self.mix = EmbodimentLinear(slots, 2 * hidden, hidden)
        self.out = EmbodimentLinear(slots, hidden, hidden)

    def forward(self, actions: torch.Tensor, time: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        """actions (B, T, A), time (B, hidden) -> (B, T, hidden)."""
        encoded = self.actions(actions, slot)
        mixed = F.silu(self.mix(torch.cat([encoded, time[:, None].expand_as(encoded)], dim=-1), slot))
        return self.out(mixed, slot)


def masked_mse(predicted: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries ``mask`` keeps (padded action dims and steps past an episode's end
    carry no error)."""
    return ((predicted - target) ** 2 * mask).sum() / mask.sum().clamp(min=1)


def timestep_embedding(steps: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps (B,) -> (B, dim)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10_000) * torch.arange(half, device=steps.device) / half)
    angles = steps.float()[:, None] * frequencies[None]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class VisionEncoder(nn.Module):
    """Frames -> tokens: a conv stack per camera (the first log2(stride) layers halve the side, the others keep
    it), plus camera and position embeddings. A smaller stride gives more, finer tokens."""

    def __init__(self, image_size: int, hidden: int, stride: int):
        super().__init__()
        if stride not in (2, 4, 8, 16) or image_size % stride:
            raise ValueError(f"vision_stride must be 2, 4, 8 or 16 and divide image_size {image_size}, not {stride}")
        channels = (3, 16, 32, 64, hidden)
        halvings = stride.bit_length() - 1
        layers: list[nn.Module] = []
        for index, (inputs, outputs) in enumerate(pairwise(channels)):
            conv = (
                nn.Conv2d(inputs, outputs, 4, stride=2, padding=1)
                if index < halvings
                else nn.Conv2d(inputs, outputs, 3, padding=1)
            )
            layers += [conv, nn.GroupNorm(8, outputs), nn.SiLU()]
        self.convs = nn.Sequential(*layers, nn.Conv2d(hidden, hidden, 1))
        side = image_size // stride
        self.position = nn.Parameter(torch.randn(side * side, hidden) * 0.02)
        self.camera = nn.Parameter(torch.randn(MAX_CAMERAS, hidden) * 0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, 3, S, S) -> (B, C * (S/stride)^2, hidden)."""
        batch, cameras = images.shape[:2]
        if cameras > MAX_CAMERAS:
            raise ValueError(f"{cameras} cameras; the vision encoder takes at most {MAX_CAMERAS}")
        features = self.convs(images.flatten(0, 1) * 2 - 1).flatten(2).transpose(1, 2)  # (B*C, N, hidden)
        features = (
            features.reshape(batch, cameras, -1, features.shape[-1]) + self.position + self.camera[:cameras, None]
        )
        return features.flatten(1, 2)


class PretrainedVisionEncoder(nn.Module):
    """A local pretrained transformers vision model in place of the conv encoder (on a GPU): the patch tokens
    of one of its hidden layers, projected to the policy width, plus a camera embedding."""

    def __init__(self, folder: str, layer: int, hidden: int):
        super().__init__()
        from transformers import AutoModel

        loaded = AutoModel.from_pretrained(folder)
        self.backbone = getattr(loaded, "vision_model", loaded)  # a vision-language model's vision tower
        self.size, self.layer = self.backbone.config.image_size, layer
        processor = Path(folder) / "preprocessor_config.json"
        stats = json.loads(processor.read_text()) if processor.is_file() else {}
        self.register_buffer(
            "mean", torch.tensor(stats.get("image_mean", [0.5] * 3)).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(stats.get("image_std", [0.5] * 3)).view(1, 3, 1, 1), persistent=False)
        self.project = nn.Linear(self.backbone.config.hidden_size, hidden)
        self.camera = nn.Parameter(torch.randn(MAX_CAMERAS, hidden) * 0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, 3, S, S) in [0, 1] -> (B, C * patches, hidden)."""
        batch, cameras = images.shape[:2]
        pixels = F.interpolate(images.flatten(0, 1), size=(self.size, self.size), mode="bilinear", align_corners=False)
        states = self.backbone(pixel_values=(pixels - self.mean) / self.std, output_hidden_states=True).hidden_states[
            self.layer
        ]
        tokens = self.project(states).unflatten(0, (batch, cameras)) + self.camera[:cameras, None]
        return tokens.flatten(1, 2)


class System2(nn.Module):
    """Vision-language tokens from the frames and the instruction's token embeddings."""

    def __init__(self, config: PolicyConfig, language_dim: int):
        super().__init__()
        self.vision = (
            PretrainedVisionEncoder(config.vision_model, config.vision_layer, config.hidden)
            if config.vision_model
            else VisionEncoder(config.image_size, config.hidden, config.vision_stride)
        )
        self.language = nn.Linear(language_dim, config.hidden)
        self.modality = nn.Parameter(torch.randn(2, config.hidden) * 0.02)
        layer = nn.TransformerEncoderLayer(
            config.hidden,
            config.heads,
            4 * config.hidden,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, config.vl_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.hidden)

    def forward(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, hidden) tokens and their (B, N) padding mask (True where padded)."""
        vision = self.vision(inputs.images) + self.modality[0]
        words = self.language(inputs.language) + self.modality[1]
        tokens = torch.cat([vision, words], dim=1)
        padding = torch.cat(
            [torch.zeros(vision.shape[:2], dtype=torch.bool, device=vision.device), ~inputs.language_mask], 1
        )
        return self.norm(self.transformer(tokens, src_key_padding_mask=padding)), padding


class DiTBlock(nn.Module):
    """Attention (self, or cross to the VL tokens) and an MLP, each AdaLN-Zero modulated by the flow time
    (the six modulation vectors come from the policy, computed once per flow time for every block)."""

    def __init__(self, hidden: int, heads: int, cross: bool):
        super().__init__()
        self.cross = cross
        self.norm1 = nn.LayerNorm(hidden, elementwise_affine=False)
        self.attention = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(hidden, elementwise_affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(hidden, 4 * hidden), nn.GELU(approximate="tanh"), nn.Linear(4 * hidden, hidden)
        )

    def forward(
        self, x: torch.Tensor, modulation: torch.Tensor, context: torch.Tensor, context_padding: torch.Tensor
    ) -> torch.Tensor:
        """x (B, T, hidden); modulation (B, 6, hidden): shift, scale and gate of the attention and of the MLP."""
        shift1, scale1, gate1, shift2, scale2, gate2 = modulation[:, :, None].unbind(1)
        h = self.norm1(x) * (1 + scale1) + shift1
        if self.cross:
            attended = self.attention(h, context, context, key_padding_mask=context_padding, need_weights=False)[0]
        else:
            attended = self.attention(h, h, h, need_weights=False)[0]
        x = x + gate1 * attended
        return x + gate2 * self.mlp(self.norm2(x) * (1 + scale2) + shift2)


class FlowMatchingPolicy(nn.Module):
    """System 2 + System 1; ``loss`` trains by flow matching, ``sample`` integrates from noise to actions."""

    def __init__(self, config: PolicyConfig, language_dim: int):
        super().__init__()
        self.config = config
        hidden, slots = config.hidden, config.embodiment_slots
        self.system2 = System2(config, language_dim)
        self.state_encoder = EmbodimentMLP(slots, config.max_state_dim, hidden, hidden)
        self.action_encoder = ActionEncoder(slots, config.max_action_dim, hidden)
        self.action_decoder = EmbodimentMLP(slots, hidden, hidden, config.max_action_dim)
        self.time = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.position = nn.Parameter(torch.randn(1 + config.chunk, hidden) * 0.02)
        self.blocks = nn.ModuleList(DiTBlock(hidden, config.heads, cross=i % 2 == 1) for i in range(config.dit_layers))
        self.final_norm = nn.LayerNorm(hidden, elementwise_affine=False)
        # AdaLN-Zero: every block's 6 modulation vectors and the final 2 from one projection, zero at init
        self.modulation = nn.Linear(hidden, (6 * config.dit_layers + 2) * hidden)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def time_conditioning(self, time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Flow time (B,) in [0, 1] -> its embedding (B, hidden) and all modulations (B, 6 * layers + 2, hidden)."""
        buckets = (time * self.config.time_buckets).long().clamp(0, self.config.time_buckets - 1)
        embedding = self.time(timestep_embedding(buckets, self.config.hidden))
        return embedding, self.modulation(F.silu(embedding)).unflatten(-1, (-1, self.config.hidden))

    def velocity(
        self,
        context: tuple[torch.Tensor, torch.Tensor],
        state_token: torch.Tensor,
        noisy: torch.Tensor,
        conditioning: tuple[torch.Tensor, torch.Tensor],
        slot: torch.Tensor,
    ) -> torch.Tensor:
        """Predicted flow velocity (B, chunk, max_action_dim) of ``noisy`` actions at the conditioned flow time."""
        time_embedding, modulation = conditioning
        x = torch.cat([state_token, self.action_encoder(noisy, time_embedding, slot)], dim=1) + self.position
        tokens, padding = context
        for i, block in enumerate(self.blocks):
            x = block(x, modulation[:, 6 * i : 6 * i + 6], tokens, padding)
        shift, scale = modulation[:, -2:, None].unbind(1)
        return self.action_decoder((self.final_norm(x) * (1 + scale) + shift)[:, 1:], slot)

    def encode_state(self, inputs: ModelInputs) -> torch.Tensor:
        return self.state_encoder(inputs.state[:, None], inputs.slot)

    def loss(
        self,
        inputs: ModelInputs,
        actions: torch.Tensor,
        action_mask: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Masked flow-matching MSE: x_t = (1 - t) noise + t actions, target velocity actions - noise, with t
        drawn from GR00T's Beta(1.5, 1) schedule (more weight on noisy times)."""
        batch = len(actions)
        beta = torch.rand(batch, generator=generator).pow(1 / 1.5).to(actions.device)  # Beta(1.5, 1) by its inverse CDF
        time = (0.999 - beta) / 0.999
        noise = torch.randn(actions.shape, generator=generator).to(actions.device)
        noisy = (1 - time[:, None, None]) * noise + time[:, None, None] * actions
        conditioning = self.time_conditioning(time)
        predicted = self.velocity(self.system2(inputs), self.encode_state(inputs), noisy, conditioning, inputs.slot)
        return masked_mse(predicted, actions - noise, action_mask)

    @torch.no_grad()
    def sample(
        self,
        inputs: ModelInputs,
        generator: torch.Generator | None = None,
        velocity: Callable[..., torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Actions (B, chunk, max_action_dim) in normalised units: ``inference_steps`` Euler steps from noise.
        ``velocity`` replaces ``self.velocity`` (e.g. a traced copy of it for serving)."""
        velocity = velocity or self.velocity
        batch, steps = len(inputs.state), self.config.inference_steps
        context, state_token = self.system2(inputs), self.encode_state(inputs)
        x = torch.randn(batch, self.config.chunk, self.config.max_action_dim, generator=generator).to(
            inputs.state.device
        )
        embeddings, modulations = self.time_conditioning(torch.arange(steps, device=x.device) / steps)
        for k in range(steps):
            conditioning = (embeddings[k].expand(batch, -1), modulations[k].expand(batch, -1, -1))
            x = x + velocity(context, state_token, x, conditioning, inputs.slot) / steps
        return x


class SpatialSoftmax(nn.Module):
    """Feature maps (N, C, H, W) -> the expected (x, y) of each channel's softmax: (N, 2C) keypoints, as robomimic's
    image encoder pools its ResNet features."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        h, w = features.shape[-2:]
        attention = features.flatten(2).softmax(-1)  # (N, C, H*W)
        ys, xs = torch.meshgrid(
            torch.linspace(-1, 1, h, device=features.device),
            torch.linspace(-1, 1, w, device=features.device),
            indexing="ij",
        )
        grid = torch.stack([xs.flatten(), ys.flatten()], -1)  # (H*W, 2)
        return (attention @ grid).flatten(1)


class ChunkRegressionPolicy(nn.Module):
    """The diagnosis baseline: robomimic-style behaviour cloning with action chunking. Each camera frame goes
    through a small conv net with spatial-softmax keypoints; with the state, the instruction (mean of its token
    embeddings) and the embodiment slot an MLP regresses the whole chunk by masked MSE. What it reaches on the
    same data and inputs as the reference policy tells a data problem from a policy problem."""

    def __init__(self, config: PolicyConfig, language_dim: int):
        super().__init__()
        self.config = config
        channels, width = 32, 4 * config.hidden
        self.convs = nn.Sequential(
            nn.Conv2d(3, channels, 5, stride=2, padding=2),
            nn.GroupNorm(8, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(8, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            SpatialSoftmax(),
        )
        self.camera_features = MAX_CAMERAS * 2 * channels
        self.language = nn.Linear(language_dim, config.hidden)
        self.slot = nn.Embedding(config.embodiment_slots, config.hidden)
        self.mlp = nn.Sequential(
            nn.Linear(self.camera_features + config.max_state_dim + 2 * config.hidden, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, config.chunk * config.max_action_dim),
        )

    def forward(self, inputs: ModelInputs) -> torch.Tensor:
        """Action chunks (B, chunk, max_action_dim) in normalised units."""
        batch = len(inputs.images)
        keypoints = self.convs(inputs.images.flatten(0, 1) * 2 - 1).reshape(batch, -1)
        keypoints = F.pad(keypoints, (0, self.camera_features - keypoints.shape[1]))  # absent cameras are zeros
        mask = inputs.language_mask.unsqueeze(-1).float()
        words = (inputs.language * mask).sum(1) / mask.sum(1).clamp(min=1)
        features = torch.cat([keypoints, inputs.state, self.language(words), self.slot(inputs.slot)], -1)
        return self.mlp(features).reshape(batch, self.config.chunk, self.config.max_action_dim)

    def loss(
        self,
        inputs: ModelInputs,
        actions: torch.Tensor,
        action_mask: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return masked_mse(self(inputs), actions, action_mask)

    @torch.no_grad()
    def sample(
        self,
        inputs: ModelInputs,
        generator: torch.Generator | None = None,
        velocity: Callable[..., torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The regressed chunk; deterministic (``generator`` and ``velocity`` exist for the flow policy)."""
        return self(inputs)


def build_model(config: PolicyConfig, language_dim: int) -> FlowMatchingPolicy | ChunkRegressionPolicy:
    """The model ``config.architecture`` names, with fresh weights."""
    models = {"flow_matching": FlowMatchingPolicy, "chunk_regression": ChunkRegressionPolicy}
    return models[config.architecture](config, language_dim)
