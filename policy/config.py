"""The reference policy's configuration: model size, the padded state/action layout and the flow-matching
schedule. Defaults are the CPU reference size; the same fields scale it up on a GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from schemas.options import option

if TYPE_CHECKING:
    from pipelines.learning.training import TrainConfig

__all__ = ["ClosedLoopSettings", "LayerValueSettings", "PolicyConfig", "ServerLimits", "TrainingRecipe"]

PANDA = "robosuite_panda"


@dataclass(frozen=True)
class PolicyConfig:
    """The model: sizes, the padded state/action layout and the flow-matching schedule."""

    architecture: str = option(
        "flow_matching",
        "flow_matching: the GR00T-style System 2 + flow-matching System 1; chunk_regression: the robomimic-style "
        "behaviour-cloning baseline (conv + spatial softmax + MLP, the chunk regressed), for diagnosis",
    )
    image_size: int = option(64, "square side every camera frame is resized to (a multiple of vision_stride)")
    vision_stride: int = option(
        16, "the conv encoder's downsampling (2, 4, 8 or 16): each camera gives (image_size / vision_stride)^2 tokens"
    )
    hidden: int = option(96, "width of every token (System 2 and System 1); 96 is the CPU reference size")
    heads: int = option(4, "attention heads")
    vl_layers: int = option(2, "System 2 transformer layers over the vision and language tokens")
    dit_layers: int = option(
        4, "System 1 layers, alternating self-attention over [state, action] and cross-attention to System 2"
    )
    chunk: int = option(16, "actions predicted per call (GR00T: 16)")
    inference_steps: int = option(
        1,
        "Euler steps from noise to actions. 1 gives the mean chunk for the observation; more steps sample the demos' "
        "spread, their injected noise included (GR00T: 4; docs/policy.md has the measurement)",
    )
    max_state_dim: int = option(64, "every embodiment's state is zero-padded to this width, with a mask")
    max_action_dim: int = option(32, "every embodiment's action is zero-padded to this width, with a mask")
    embodiment_slots: int = option(32, "per-embodiment weight slots of the state/action encoders and decoder")
    normalisation: str = option("min_max", "min_max or q01_q99, both to [-1, 1] from the release's stats")
    language_model: str = option("", "folder of a sentence-transformers model; empty: the bundled offline MiniLM")
    vision_model: str = option(
        "", "folder of a pretrained transformers vision (or vision-language) model in place of the conv encoder"
    )
    vision_layer: int = option(-1, "which hidden layer of vision_model gives the tokens (GR00T reads a middle one)")
    time_buckets: int = option(1000, "discretisation of the flow-matching time for its sinusoidal embedding")

    def __post_init__(self) -> None:
        if self.architecture not in ("flow_matching", "chunk_regression"):
            raise ValueError(f"architecture must be 'flow_matching' or 'chunk_regression', not {self.architecture!r}")
        if self.normalisation not in ("min_max", "q01_q99"):
            raise ValueError(f"normalisation must be 'min_max' or 'q01_q99', not {self.normalisation!r}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not divisible by heads {self.heads}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PolicyConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class TrainingRecipe:
    """GR00T N1's two phases: pre-training on the release's mixture, then post-training on the target
    embodiments' own data, from the pre-trained weights."""

    pretrain_steps: int = option(500, "optimiser steps on the release's mixture")
    post_train_steps: int = option(2000, "then optimiser steps on the target embodiments' data (0: none)")
    target: list[str] = option([PANDA], "embodiments post-trained on and evaluated")
    batch_size: int = option(32, "frames per step, all from one dataset")
    learning_rate: float = option(3e-4, "peak AdamW learning rate")
    seed: int = option(0, "seeds weights, batches and the held-out split")
    device: str = option("cpu", "torch device: cpu, or cuda on a GPU node")
    loader_workers: int = option(
        0,
        "processes decoding training batches from the release's videos beside the trainer (0: the trainer decodes "
        "them, the faster on 2 cores; on a GPU node, most of its cores)",
    )

    def phase(self, steps: int) -> TrainConfig:
        from pipelines.learning.training import TrainConfig  # torch: not for a process that only reads settings

        return TrainConfig(
            steps=steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            warmup=min(100, steps // 10),
            seed=self.seed,
            device=self.device,
        )


@dataclass(frozen=True)
class ClosedLoopSettings:
    """How a policy is scored in robosuite: the same seeded scenes for every policy, so rates compare."""

    tasks: list[str] = option(
        ["Lift"], "robosuite tasks of the target embodiment (Lift, Stack, PickPlaceCan; TwoArmLift for two Pandas)"
    )
    episodes: int = option(50, "closed-loop episodes per task, seeded scenes shared by every policy")
    max_steps: int = option(
        400, "step limit per episode (robomimic's and MimicGen's rollout horizon for Lift, Can and Stack)"
    )
    videos: int = option(3, "episodes per task saved as mp4")


@dataclass(frozen=True)
class LayerValueSettings:
    synthetic_shares: list[float] = option(
        [0.25, 0.5, 0.75], "shares of the draws given to the synthetic layer in the full pyramid (a sweep)"
    )


@dataclass(frozen=True)
class ServerLimits:
    """What ``pyramid serve`` accepts from a client."""

    max_batch: int = option(64, "the most observations one get_action request may carry")
    max_request_mb: int = option(64, "a larger request gets an error reply (ZeroMQ drops one over 4x this)")
