"""Train the reference policy on a release: batches drawn with the release's mixture weights, flow-matching
loss, safetensors checkpoints with the config, weight slots and normalisation stats, and exact resume.

As GR00T N1, a policy is pre-trained on the whole pyramid and then post-trained on the target embodiment's
own data: ``train_policy`` does either, the second starting from the first's weights (``initial``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipelines.learning.checkpoints import load_checkpoint, load_trainer_state, save_checkpoint, save_trainer_state
from pipelines.learning.frame_pairs import random_shift
from pipelines.learning.language import language_encoder
from pipelines.learning.training import TrainConfig, TrainerState, train
from policy.config import PolicyConfig, TrainingRecipe
from policy.data import Mixture, NothingToTrainError, ReleaseData, load_release, observation_inputs
from policy.model import build_model
from schemas.embodiment import get_embodiment

__all__ = ["CHECKPOINT_DIR", "PolicyRun", "RecipeRuns", "fit_dims", "train_policy", "train_reference_policy"]

CHECKPOINT_DIR, TRAINER_DIR = "checkpoint", "trainer"
SHIFT = 4  # random-shift augmentation in pixels (at the 64-pixel reference size)


@dataclass
class PolicyRun:
    folder: Path
    sha256: str
    history: list[dict[str, float]]
    data: ReleaseData
    resumed_from: int


@dataclass
class RecipeRuns:
    """The two phases of ``train_reference_policy``; ``served`` is the one to serve and evaluate."""

    pretrain: PolicyRun
    post_train: PolicyRun | None

    @property
    def served(self) -> PolicyRun:
        return self.post_train or self.pretrain

    def history(self) -> list[dict[str, float]]:
        """Both phases' loss history on one step axis (post-training steps follow pre-training's)."""
        offset = self.pretrain.history[-1]["step"] if self.pretrain.history else 0
        later = [
            {**entry, "step": entry["step"] + offset} for entry in (self.post_train.history if self.post_train else [])
        ]
        return self.pretrain.history + later


def fit_dims(config: PolicyConfig, data: ReleaseData) -> PolicyConfig:
    """``config`` with its padded state/action widths raised (to a multiple of 16) where an embodiment of the
    release is wider, e.g. the 44-D GR1 actions beyond GR00T's 32."""
    widest_state = max((d.embodiment.state_dim for d in data.datasets), default=0)
    widest_action = max(d.embodiment.action_dim for d in data.datasets)
    return replace(
        config,
        max_state_dim=max(config.max_state_dim, 16 * math.ceil(widest_state / 16)),
        max_action_dim=max(config.max_action_dim, 16 * math.ceil(widest_action / 16)),
    )


def checkpoint_config(
    config: PolicyConfig, data: ReleaseData, training: TrainConfig, mixture: Mixture | None, initial: str = ""
) -> dict[str, Any]:
    """Everything needed to serve the checkpoint besides its weights, and where they came from."""
    return {
        "policy": config.to_dict(),
        "slots": data.slots,
        "normalisers": {name: n.to_dict() for name, n in data.normalisers.items()},
        "cameras": {name: list(get_embodiment(name).cameras) for name in data.slots},
        "embodiments": {name: get_embodiment(name).to_document() for name in data.slots},  # served without files
        "release": data.version,
        "datasets": {d.name: d.weight for d in data.datasets},
        "mixture": (mixture or Mixture()).describe(),
        "training": asdict(training),
        "initial_checkpoint": initial,
    }


def train_policy(
    release_folder: Path | str,
    out: Path | str,
    config: PolicyConfig | None = None,
    training: TrainConfig | None = None,
    mixture: Mixture | None = None,
    initial: Path | str | None = None,
    data: ReleaseData | None = None,
    loader_workers: int = TrainingRecipe.loader_workers,
    checkpoint_every: int = 500,
    log: Callable[[str], None] = print,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> PolicyRun:
    """Train on the release at ``release_folder`` (the datasets and weights of ``mixture``, default all) into
    ``out``, from the weights of the run at ``initial`` when given (post-training); a run already there
    with the same settings is resumed from its last checkpoint. ``data`` reuses an already loaded release;
    ``loader_workers`` processes decode the batches (0: this process)."""
    config, training, out = config or PolicyConfig(), training or TrainConfig(), Path(out)
    data = data or load_release(release_folder, config, mixture, seed=training.seed, log=log)
    config = fit_dims(config, data)
    start = load_checkpoint(Path(initial) / CHECKPOINT_DIR) if initial is not None else None
    if start is not None:
        config = PolicyConfig.from_dict(start.config["policy"])  # the same model, e.g. its padded widths
    saved = checkpoint_config(config, data, training, mixture, start.sha256 if start else "")
    language = language_encoder(config.language_model)
    torch.manual_seed(training.seed)
    model = build_model(config, language.dim).to(training.device)
    if start is not None:
        model.load_state_dict(start.weights)

    resume = load_trainer_state(out / TRAINER_DIR)
    if resume is not None:
        checkpoint = load_checkpoint(out / CHECKPOINT_DIR)
        if checkpoint.config != saved:
            raise ValueError(f"{out}: holds a run with other settings or data; pick another folder or delete it")
        model.load_state_dict(checkpoint.weights)
        log(f"resuming {out} at step {resume.step}")

    batches = data.batches(config, training, loader_workers, start=resume.step if resume else 0)

    def batch_loss(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        batch = next(batches)
        inputs = observation_inputs(batch.frames, batch.state, batch.texts, batch.slot, language)
        cameras = inputs.images.shape[1]
        inputs.images = random_shift(inputs.images.flatten(1, 2), SHIFT, rng).unflatten(1, (cameras, 3))
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        loss = model.loss(
            inputs.to(training.device),
            torch.from_numpy(batch.actions).to(training.device),
            torch.from_numpy(batch.mask).to(training.device),
            generator,
        )
        return loss, {}

    def save(state: TrainerState) -> None:
        nonlocal sha256
        sha256 = save_checkpoint(out / CHECKPOINT_DIR, model, saved)
        save_trainer_state(out / TRAINER_DIR, state)

    sha256 = ""
    history = train(
        model, batch_loss, training, on_log=on_log, resume=resume, checkpoint_every=checkpoint_every, on_checkpoint=save
    )
    if not sha256:  # the run had already finished: nothing was trained or saved
        sha256 = load_checkpoint(out / CHECKPOINT_DIR).sha256
    return PolicyRun(out, sha256, history, data, resume.step if resume else 0)


def train_reference_policy(
    release_folder: Path | str,
    out: Path | str,
    config: PolicyConfig,
    recipe: TrainingRecipe,
    mixture: Mixture | None = None,
    log: Callable[[str], None] = print,
    on_log: Callable[[str, dict[str, float]], None] | None = None,
) -> RecipeRuns:
    """GR00T N1's recipe: pre-train on the release's ``mixture`` into ``out/pretrain``, then post-train on the
    recipe's target embodiments' datasets of that mixture into ``out/post_train`` (starting from the
    pre-trained weights). ``on_log`` receives the phase name and each history entry."""
    out = Path(out)
    data = load_release(release_folder, config, mixture, seed=recipe.seed, log=log)

    def phase_log(phase: str) -> Callable[[dict[str, float]], None] | None:
        return (lambda entry: on_log(phase, entry)) if on_log is not None else None

    pretraining = recipe.phase(recipe.pretrain_steps)
    pretrained = train_policy(
        release_folder,
        out / "pretrain",
        config,
        pretraining,
        mixture,
        data=data,
        loader_workers=recipe.loader_workers,
        log=log,
        on_log=phase_log("pretrain"),
    )
    if not recipe.post_train_steps or not recipe.target:
        return RecipeRuns(pretrained, None)
    data = replace(data, datasets=[d for d in data.datasets if d.embodiment.name in recipe.target])
    if not data.datasets:
        raise NothingToTrainError(f"release {data.version}: no dataset of {sorted(recipe.target)} to post-train on")
    post_trained = train_policy(
        release_folder,
        out / "post_train",
        config,
        recipe.phase(recipe.post_train_steps),
        mixture,
        initial=out / "pretrain",
        data=data,
        loader_workers=recipe.loader_workers,
        log=log,
        on_log=phase_log("post_train"),
    )
    return RecipeRuns(pretrained, post_trained)
