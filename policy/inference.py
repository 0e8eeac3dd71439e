"""A trained reference policy, ready to act: GR00T-format observations in, action chunks in physical units
out. The policy server and the closed-loop evaluation both call ``get_action``.

Observation: {"video": {camera: uint8 (B, T, H, W, 3)}, "state": {group: (B, T, D)},
"language": {"task": [[str] * B]}} (the last of the T steps is used); actions: {group: (B, chunk, D)}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.learning.checkpoints import load_checkpoint
from pipelines.learning.language import language_encoder
from policy.config import PolicyConfig
from policy.data import camera_frames, observation_inputs, pad
from policy.model import FlowMatchingPolicy, ModelInputs, build_model
from policy.normalize import Normaliser
from policy.train import CHECKPOINT_DIR
from schemas.embodiment import Embodiment, get_embodiment, register, registered_embodiments

__all__ = ["ObservationError", "ReferencePolicy"]


class ObservationError(ValueError):
    """An observation that does not match the embodiment's modality config (keys, shapes, dtypes)."""


class _TracedVelocity(torch.nn.Module):
    def __init__(self, model: FlowMatchingPolicy):
        super().__init__()
        self.model = model

    def forward(self, tokens, padding, state_token, noisy, embedding, modulation, slot):
        return self.model.velocity((tokens, padding), state_token, noisy, (embedding, modulation), slot)


class ReferencePolicy:
    """A checkpoint written by ``train_policy`` (the folder holding ``checkpoint/``, or that folder itself)."""

    def __init__(self, folder: Path | str, device: str = "cpu", trace: bool = True):
        folder = Path(folder)
        checkpoint = load_checkpoint(folder / CHECKPOINT_DIR if (folder / CHECKPOINT_DIR).is_dir() else folder)
        saved = checkpoint.config
        self.sha256, self.release = checkpoint.sha256, saved["release"]
        self.config = PolicyConfig.from_dict(saved["policy"])
        self.slots: dict[str, int] = saved["slots"]
        for name, document in saved.get("embodiments", {}).items():
            if name not in registered_embodiments():
                register(Embodiment.from_document(document, f"{folder} (checkpoint)"))
        self.cameras: dict[str, list[str]] = saved["cameras"]
        self.normalisers = {name: Normaliser.from_dict(n) for name, n in saved["normalisers"].items()}
        self.language = language_encoder(self.config.language_model)
        self.model = build_model(self.config, self.language.dim)
        self.model.load_state_dict(checkpoint.weights)
        self.model.to(device).eval()
        self.device = device
        self.generator = torch.Generator().manual_seed(0)
        # System 1's velocity as sampling calls it: traced and frozen, or the model's own (eager) method
        flow = isinstance(self.model, FlowMatchingPolicy)
        self.velocity = (self._trace() if trace else self.model.velocity) if flow else None

    def _trace(self) -> torch.jit.ScriptModule:
        """System 1's velocity traced and frozen: the same arithmetic without Python's per-op overhead (about
        2x faster at batch 1 on a CPU)."""
        config, hidden = self.config, self.config.hidden
        # batch 2 with padding: a batch of one would fix attention's mask handling to its batch-of-one branch
        padding = torch.tensor([[False] * 8, [False] * 6 + [True] * 2])
        example = (
            torch.zeros(2, 8, hidden),
            padding,
            torch.zeros(2, 1, hidden),
            torch.zeros(2, config.chunk, config.max_action_dim),
            torch.zeros(2, hidden),
            torch.zeros(2, 6 * config.dit_layers + 2, hidden),
            torch.zeros(2, dtype=torch.long),
        )
        with torch.no_grad():
            traced = torch.jit.freeze(
                torch.jit.trace(_TracedVelocity(self.model).eval(), tuple(x.to(self.device) for x in example))
            )

        def velocity(context, state_token, noisy, conditioning, slot):
            return traced(*context, state_token, noisy, *conditioning, slot)

        return velocity

    def reset(self, seed: int = 0) -> None:
        """Start an episode: the flow-matching noise is reseeded, so an episode's actions are reproducible."""
        self.generator = torch.Generator().manual_seed(seed)

    def embodiment(self, name: str) -> Embodiment:
        if name not in self.slots:
            raise ObservationError(f"embodiment {name!r} is not served by this policy; it serves {sorted(self.slots)}")
        return get_embodiment(name)

    def modality_config(self) -> dict[str, Any]:
        """Per served embodiment: cameras, state and action groups (name and size), chunk length."""
        return {
            name: {
                "video": self.cameras[name],
                "state": {g.name: g.size for g in get_embodiment(name).state_groups},
                "action": {g.name: g.size for g in get_embodiment(name).action_groups},
                "chunk": self.config.chunk,
            }
            for name in self.slots
        }

    def _batch(self, embodiment: Embodiment, observation: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        if not isinstance(observation, dict) or set(observation) - {"video", "state", "language"}:
            raise ObservationError("observation must be a dict with keys video, state and language")
        video, state, language = observation.get("video"), observation.get("state", {}), observation.get("language")
        if not isinstance(video, dict) or not isinstance(state, dict) or not isinstance(language, dict):
            raise ObservationError("observation video, state and language must be dicts")
        frames = {}
        for camera in self.cameras[embodiment.name]:
            array = video.get(camera)
            if not isinstance(array, np.ndarray) or array.dtype != np.uint8 or array.ndim != 5 or array.shape[-1] != 3:
                raise ObservationError(f"video.{camera} must be a uint8 array (B, T, H, W, 3), got {_describe(array)}")
            frames[camera] = array[:, -1]
        batch = len(next(iter(frames.values())))
        vectors = []
        for group in embodiment.state_groups:
            array = state.get(group.name)
            if (
                not isinstance(array, np.ndarray)
                or array.ndim != 3
                or array.shape[0] != batch
                or array.shape[2] != group.size
                or not np.issubdtype(array.dtype, np.floating)
                or not np.isfinite(array).all()
            ):
                raise ObservationError(
                    f"state.{group.name} must be finite floats ({batch}, T, {group.size}), got {_describe(array)}"
                )
            vectors.append(array[:, -1].astype(np.float64))
        texts = language.get("task")
        if (
            not isinstance(texts, list)
            or len(texts) != batch
            or not all(isinstance(t, list) and t and isinstance(t[0], str) for t in texts)
        ):
            raise ObservationError(f"language.task must be a list of {batch} lists of strings")
        if any(len(f) != batch for f in frames.values()):
            raise ObservationError("every camera and state group must have the same batch size")
        stacked = camera_frames(frames, embodiment, self.config.image_size, "observation")  # batch as the time axis
        raw_state = np.concatenate(vectors, axis=1) if vectors else np.zeros((batch, 0))
        normalised = self.normalisers[embodiment.name].normalise_state(raw_state)
        return stacked, pad(normalised, self.config.max_state_dim), [t[-1] for t in texts]

    def predict(self, inputs: ModelInputs) -> np.ndarray:
        """Normalised, padded action chunks (B, chunk, max_action_dim) for model inputs."""
        return self.model.sample(inputs.to(self.device), self.generator, self.velocity).cpu().numpy()

    def get_action(self, embodiment_name: str, observation: dict[str, Any]) -> dict[str, np.ndarray]:
        embodiment = self.embodiment(embodiment_name)
        frames, state, texts = self._batch(embodiment, observation)
        slot = np.full(len(frames), self.slots[embodiment.name])
        inputs = observation_inputs(frames, state, texts, slot, self.language)
        actions = self.normalisers[embodiment.name].unnormalise_action(
            self.predict(inputs)[..., : embodiment.action_dim]
        )
        return {g.name: actions[..., g.start : g.end] for g in embodiment.action_groups}


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} {value.shape}"
    return type(value).__name__
