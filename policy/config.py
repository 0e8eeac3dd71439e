"""The reference policy's configuration: model size, the padded state/action layout and the flow-matching
schedule. Defaults are the CPU reference size; the same fields scale it up on a GPU."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["PolicyConfig", "ServerLimits"]


@dataclass(frozen=True)
class PolicyConfig:
    """Attributes:
    image_size: square side every camera frame is resized to before the vision encoder.
    hidden: width of every token (System 2 and System 1).
    heads: attention heads.
    vl_layers: System 2 transformer layers over the vision and language tokens.
    dit_layers: System 1 layers, alternating self-attention over [state, action] tokens (even layers) and
        cross-attention to the vision-language tokens (odd layers).
    chunk: actions predicted per call (GR00T: 16).
    inference_steps: Euler steps from noise to actions (GR00T: 4).
    max_state_dim, max_action_dim: every embodiment's state/action is zero-padded to these, with masks.
    embodiment_slots: per-embodiment weight slots of the state/action encoders and the action decoder.
    normalisation: "min_max" or "q01_q99" (both map to [-1, 1] from the release's stats; grippers are binary).
    language_model: folder of a sentence-transformers model; "" is the bundled offline MiniLM.
    vision_model: folder of a pretrained transformers vision model, or of a vision-language model whose
        vision tower is used (e.g. SigLIP, CLIP), in place of the conv encoder trained here; "" is the conv.
    vision_layer: which hidden layer of ``vision_model`` gives the tokens (GR00T reads a middle layer).
    time_buckets: discretisation of the flow-matching time for its sinusoidal embedding.
    """

    image_size: int = 64
    hidden: int = 96
    heads: int = 4
    vl_layers: int = 2
    dit_layers: int = 4
    chunk: int = 16
    inference_steps: int = 4
    max_state_dim: int = 64
    max_action_dim: int = 32
    embodiment_slots: int = 32
    normalisation: str = "min_max"
    language_model: str = ""
    vision_model: str = ""
    vision_layer: int = -1
    time_buckets: int = 1000

    def __post_init__(self) -> None:
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
class ServerLimits:
    """What ``pyramid serve`` accepts from a client.

    Attributes:
        max_batch: the most observations one ``get_action`` request may carry.
        max_request_mb: a larger request gets an error reply (ZeroMQ itself drops one over 4x this).
    """

    max_batch: int = 64
    max_request_mb: int = 64
