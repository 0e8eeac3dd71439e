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
    """Four observations, each with its own chunk, and a fifth shown with two chunks (two modes). After training,
    four Euler steps from noise land on each observation's chunk, and on one of the fifth's two; one step (the
    default) lands on the fifth's mean chunk whatever the noise, without the demonstrations' spread.
    Floors: over torch seeds 0-7, one step's error on the four was 0.009-0.033 and on the mean 0.034-0.063;
    four steps' 0.002-0.006, and 0.005-0.032 from the nearer mode (a sample at a mode is 0.25 from the mean)."""
    torch.manual_seed(0)
    model = FlowMatchingPolicy(CONFIG, language_dim=8)
    five = inputs(5, seed=3)
    batch = ModelInputs(**{name: torch.cat([value, value[4:]]) for name, value in vars(five).items()})
    distinct = torch.from_numpy(np.random.default_rng(0).uniform(-0.8, 0.8, (4, 1, 4))).float()
    modes = torch.tensor([0.5, -0.5])[:, None, None].expand(2, 1, 4)
    targets = (
        torch.cat([distinct, modes]).repeat(1, CONFIG.chunk, 1) + torch.linspace(0, 0.2, CONFIG.chunk)[None, :, None]
    )
    before = ((model.eval().sample(batch, torch.Generator().manual_seed(5))[:4] - targets[:4]) ** 2).mean().item()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(600):
        loss = model.loss(batch, targets, torch.ones_like(targets), generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    four_steps = FlowMatchingPolicy(replace(CONFIG, inference_steps=4), language_dim=8)
    four_steps.load_state_dict(model.state_dict())
    fifth = ModelInputs(**{name: value[4:5].expand(16, *value.shape[1:]) for name, value in vars(batch).items()})

    def errors(policy: FlowMatchingPolicy) -> tuple[float, torch.Tensor, float]:
        """MSE on the four, each of 16 samples' MSE to the fifth's two chunks, and their MSE to its mean."""
        on_four = ((policy.eval().sample(batch, torch.Generator().manual_seed(5))[:4] - targets[:4]) ** 2).mean()
        samples = policy.sample(fifth, torch.Generator().manual_seed(6))
        to_modes = torch.stack([((samples - targets[i]) ** 2).mean((1, 2)) for i in (4, 5)])
        return on_four.item(), to_modes, ((samples - targets[4:].mean(0)) ** 2).mean().item()

    one_on_four, _, one_to_mean = errors(model)
    four_on_four, four_to_modes, four_to_mean = errors(four_steps)
    assert before > 0.3
    assert four_on_four < 0.01, f"sampled chunks are {four_on_four:.4f} (MSE) from the trained ones"
    assert four_to_modes.min(0).values.mean() < 0.06 and four_to_mean > 0.1
    assert set(four_to_modes.argmin(0).tolist()) == {0, 1}, "four steps sample both modes"
    assert one_on_four < 0.06 and one_to_mean < 0.1, f"one step: {one_on_four:.4f} on the four, {one_to_mean:.4f}"


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
