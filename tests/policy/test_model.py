"""The flow-matching policy's parts: per-embodiment weight slots, masked loss, and that training then
sampling really reproduces the actions it was trained on."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from policy.config import PolicyConfig
from policy.model import (
    ChunkRegressionPolicy,
    EmbodimentLinear,
    FlowMatchingPolicy,
    ModelInputs,
    SpatialSoftmax,
    VisionEncoder,
    build_model,
)

CONFIG = PolicyConfig(image_size=16, hidden=32, heads=2, vl_layers=1, dit_layers=2, max_state_dim=8, max_action_dim=4)


def inputs(batch: int, slot: int = 0, seed: int = 0) -> ModelInputs:
    generator = torch.Generator().manual_seed(seed)
    return ModelInputs(
        images=torch.rand(batch, 1, 3, 16, 16, generator=generator),
        language=torch.randn(batch, 3, 8, generator=generator),
        language_mask=torch.ones(batch, 3, dtype=torch.bool),
        state=torch.rand(batch, 8, generator=generator) * 2 - 1,
        slot=torch.full((batch,), slot),
    )


def test_embodiment_slots_are_separate_weights():
    layer = EmbodimentLinear(slots=3, inputs=4, outputs=2)
    x = torch.randn(2, 5, 4)
    out = layer(x, torch.tensor([0, 2]))
    assert torch.allclose(out[0], x[0] @ layer.weight[0] + layer.bias[0], atol=1e-6)
    assert torch.allclose(out[1], x[1] @ layer.weight[2] + layer.bias[2], atol=1e-6)
    out.sum().backward()
    assert layer.weight.grad[1].abs().sum() == 0  # an embodiment absent from the batch is untouched
    assert layer.weight.grad[0].abs().sum() > 0 and layer.weight.grad[2].abs().sum() > 0


def test_loss_counts_only_unmasked_action_entries(monkeypatch):
    """Padded action dims and steps past an episode's end carry no error: with the velocity held at zero the
    loss is the mean of (actions - noise)^2 over the real entries only."""
    torch.manual_seed(0)
    model = FlowMatchingPolicy(CONFIG, language_dim=8)
    monkeypatch.setattr(model, "velocity", lambda *args: torch.zeros(4, CONFIG.chunk, 4))
    actions = torch.rand(4, CONFIG.chunk, 4) * 2 - 1
    mask = torch.ones_like(actions)
    mask[..., 3] = 0  # a 3-dim embodiment padded to 4
    mask[:, 10:] = 0  # the episode ended 10 steps after these frames
    changed = actions.clone()
    changed[..., 3], changed[:, 10:] = 100.0, -100.0
    losses = [model.loss(inputs(4), a, mask, torch.Generator().manual_seed(1)).item() for a in (actions, changed)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert 0 < losses[0] < 10


def test_training_then_sampling_reproduces_the_demonstrated_chunks():
    """Four distinct observations, each with its own action chunk: after training, 4 Euler steps from noise
    land on each observation's chunk (and the zero-init AdaLN model starts far from them)."""
    torch.manual_seed(0)
    model = FlowMatchingPolicy(CONFIG, language_dim=8)
    batch = inputs(4, seed=3)
    targets = (
        torch.from_numpy(np.random.default_rng(0).uniform(-0.8, 0.8, (4, 1, 4))).float().repeat(1, CONFIG.chunk, 1)
    )
    targets = targets + torch.linspace(0, 0.2, CONFIG.chunk)[None, :, None]
    mask = torch.ones_like(targets)
    generator = torch.Generator().manual_seed(0)
    before = ((model.eval().sample(batch, torch.Generator().manual_seed(5)) - targets) ** 2).mean().item()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(600):
        loss = model.loss(batch, targets, mask, generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    after = ((model.sample(batch, torch.Generator().manual_seed(5)) - targets) ** 2).mean().item()
    assert before > 0.3
    assert after < 0.01, f"sampled chunks are {after:.4f} (MSE) from the trained ones"


def test_sampling_is_reproducible_with_a_seeded_generator():
    torch.manual_seed(0)
    model = FlowMatchingPolicy(CONFIG, language_dim=8).eval()
    first, second, other = (model.sample(inputs(2), torch.Generator().manual_seed(s)) for s in (7, 7, 8))
    assert torch.equal(first, second) and not torch.equal(first, other)
    assert first.shape == (2, CONFIG.chunk, CONFIG.max_action_dim)


def test_config_is_checked():
    with pytest.raises(ValueError, match="normalisation"):
        PolicyConfig(normalisation="zscore")
    with pytest.raises(ValueError, match="divisible"):
        PolicyConfig(hidden=30, heads=4)
    with pytest.raises(ValueError, match="divide image_size 40"):
        FlowMatchingPolicy(PolicyConfig(image_size=40), language_dim=8)
    with pytest.raises(ValueError, match="vision_stride must be 2, 4, 8 or 16"):
        FlowMatchingPolicy(PolicyConfig(vision_stride=32), language_dim=8)
    with pytest.raises(ValueError, match="architecture must be 'flow_matching' or 'chunk_regression'"):
        PolicyConfig(architecture="diffusion")


@pytest.mark.parametrize(("stride", "tokens_per_camera"), [(16, 16), (8, 64), (4, 256)])
def test_a_smaller_vision_stride_gives_more_finer_tokens_per_camera(stride, tokens_per_camera):
    torch.manual_seed(0)
    encoder = VisionEncoder(image_size=64, hidden=32, stride=stride)
    tokens = encoder(torch.rand(2, 3, 3, 64, 64))  # batch 2, three cameras
    assert tokens.shape == (2, 3 * tokens_per_camera, 32)
    # tokens keep their place in the frame: changing one corner's patch moves its token far more than the
    # token of the opposite corner
    frames = torch.rand(1, 1, 3, 64, 64)
    changed = frames.clone()
    changed[..., :stride, :stride] = 1 - changed[..., :stride, :stride]
    moved = (encoder(changed) - encoder(frames)).norm(dim=-1)[0]
    assert moved[0] > 10 * moved[-1]


def test_spatial_softmax_finds_each_channel_peak():
    features = torch.full((1, 2, 5, 5), -50.0)
    features[0, 0, 0, 4] = 50.0  # top right: x = 1, y = -1
    features[0, 1, 2, 2] = 50.0  # centre
    assert SpatialSoftmax()(features)[0].tolist() == pytest.approx([1.0, -1.0, 0.0, 0.0], abs=1e-4)


def test_the_baseline_regresses_the_demonstrated_chunks_and_ignores_masked_entries():
    """The behaviour-cloning baseline: the same inputs, the chunk regressed. It fits four observations' chunks,
    its loss ignores padded dims, and it is deterministic."""
    torch.manual_seed(0)
    config = replace(CONFIG, architecture="chunk_regression")
    model = build_model(config, language_dim=8)
    assert isinstance(model, ChunkRegressionPolicy)
    batch = inputs(4, seed=3)
    targets = torch.from_numpy(np.random.default_rng(0).uniform(-0.8, 0.8, (4, config.chunk, 4))).float()
    mask = torch.ones_like(targets)
    mask[..., 3] = 0
    changed = targets.clone()
    changed[..., 3] = 100.0
    assert model.loss(batch, targets, mask).item() == pytest.approx(model.loss(batch, changed, mask).item())
    before = ((model.sample(batch) - targets)[..., :3] ** 2).mean().item()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(300):
        loss = model.loss(batch, targets, mask)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    after = ((model.sample(batch) - targets)[..., :3] ** 2).mean().item()
    assert before > 0.1 and after < 0.01, (before, after)
    assert torch.equal(model.sample(batch, torch.Generator().manual_seed(1)), model.sample(batch))


def test_a_local_pretrained_vision_model_replaces_the_conv_encoder(tmp_path):
    """A transformers vision model saved in a folder (here a tiny randomly initialised CLIP vision tower)
    feeds System 2 through the same code path a real pretrained one would, and trains with the policy."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        )
    ).save_pretrained(tmp_path / "vision")
    config = PolicyConfig(**{**CONFIG.to_dict(), "vision_model": str(tmp_path / "vision"), "vision_layer": 1})
    model = FlowMatchingPolicy(config, language_dim=8)
    tokens, _ = model.system2(inputs(2))
    assert tokens.shape == (2, 17 + 3, CONFIG.hidden)  # 16 patches + CLS of one camera, 3 words
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(3):  # AdaLN-Zero: the vision-language tokens only matter once the gates have moved off zero
        optimiser.zero_grad()
        model.loss(inputs(2), torch.zeros(2, CONFIG.chunk, 4), torch.ones(2, CONFIG.chunk, 4)).backward()
        optimiser.step()
    assert model.system2.vision.backbone.embeddings.patch_embedding.weight.grad.abs().sum() > 0
    assert model.eval().sample(inputs(2)).shape == (2, CONFIG.chunk, 4)
