"""Evaluate a reference policy: open loop on held-out episodes (a chunk predicted every ``chunk`` steps and
compared with the recorded actions in physical units) and closed loop in robosuite (success rate over
seeded scenes the training demos never used)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from generators.robosuite_env import ROBOSUITE_TASKS, FrameRenderer, make_env
from policy.data import ReleaseData, observation_inputs, pad
from policy.inference import ReferencePolicy
from schemas.embodiment import get_embodiment

__all__ = ["EVAL_SEED", "ClosedLoopResult", "OpenLoopResult", "closed_loop", "open_loop"]

EVAL_SEED = 1_000_000  # closed-loop scenes start here, far from the seeds teleop and simulation record with


@dataclass
class OpenLoopResult:
    """Errors per dataset over its held-out episodes; ``traces`` keeps one episode's true and predicted actions
    per dataset for plots."""

    mse: dict[str, float] = field(default_factory=dict)
    mae: dict[str, float] = field(default_factory=dict)
    mse_per_dim: dict[str, list[float]] = field(default_factory=dict)
    traces: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def overall(self, datasets: list[str] | None = None) -> tuple[float, float]:
        """Mean MSE and MAE over ``datasets`` (default all)."""
        names = datasets or list(self.mse)
        return float(np.mean([self.mse[n] for n in names])), float(np.mean([self.mae[n] for n in names]))


def open_loop(
    policy: ReferencePolicy, data: ReleaseData, embodiments: set[str] | None = None, seed: int = 0
) -> OpenLoopResult:
    """Every ``chunk`` steps of each held-out episode, predict a chunk from that step's observation and compare
    it with the recorded actions that follow (both in physical units)."""
    result, chunk = OpenLoopResult(), policy.config.chunk
    policy.reset(seed)
    for dataset in data.datasets:
        name = dataset.embodiment.name
        if not dataset.held_out or name not in policy.slots or (embodiments and name not in embodiments):
            continue
        normaliser, errors = policy.normalisers[name], []
        for number, episode in enumerate(dataset.held_out):
            starts = np.arange(0, len(episode), chunk)
            inputs = observation_inputs(
                episode.frames[starts],
                pad(episode.state[starts], policy.config.max_state_dim),
                [episode.instruction] * len(starts),
                np.full(len(starts), policy.slots[name]),
                policy.language,
            )
            scaled = policy.predict(inputs)[..., : dataset.embodiment.action_dim]
            predicted = normaliser.unnormalise_action(scaled).reshape(-1, dataset.embodiment.action_dim)
            predicted = predicted[: len(episode)]
            true = normaliser.unnormalise_action(episode.actions)
            errors.append(predicted - true)
            if number == 0:
                result.traces[dataset.name] = (true, predicted)
        stacked = np.concatenate(errors)
        result.mse[dataset.name] = float(np.mean(stacked**2))
        result.mae[dataset.name] = float(np.mean(np.abs(stacked)))
        result.mse_per_dim[dataset.name] = np.mean(stacked**2, axis=0).tolist()
    return result


@dataclass
class ClosedLoopResult:
    task: str
    successes: list[bool]
    steps: list[int]

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else 0.0


def _observation(
    obs: dict[str, np.ndarray], frames: dict[str, np.ndarray], embodiment_name: str, instruction: str
) -> dict:
    """A robosuite observation in the GR00T format the policy (and its server) take."""
    embodiment = get_embodiment(embodiment_name)
    state = np.concatenate([obs[key] for key in embodiment.state_keys()])
    return {
        "video": {camera: frame[None, None] for camera, frame in frames.items()},
        "state": {g.name: state[None, None, g.start : g.end].astype(np.float32) for g in embodiment.state_groups},
        "language": {"task": [[instruction]]},
    }


def closed_loop(
    policy: ReferencePolicy,
    task: str,
    episodes: int,
    first_seed: int = EVAL_SEED,
    max_steps: int = 250,
    action_horizon: int = 8,
    image_size: int = 84,
    on_episode: Callable[[int, bool], None] | None = None,
) -> ClosedLoopResult:
    """Run the policy on ``episodes`` seeded robosuite scenes of ``task``: every ``action_horizon`` steps it
    sees the cameras (rendered at ``image_size``, as the demos were) and the arm state and returns a chunk,
    whose first ``action_horizon`` actions are executed. An episode succeeds when the task's check does."""
    spec = ROBOSUITE_TASKS[task]
    cameras = tuple(policy.cameras[spec.embodiment])
    result = ClosedLoopResult(task, [], [])
    for episode in range(episodes):
        seed = first_seed + episode
        env = make_env(task, seed=seed)
        renderer = FrameRenderer(env, cameras, image_size)
        policy.reset(seed)
        obs, success, step = env.reset(), False, 0
        try:
            while step < max_steps and not success:
                observation = _observation(obs, renderer.render(), spec.embodiment, spec.instruction)
                chunk = np.concatenate(list(policy.get_action(spec.embodiment, observation).values()), axis=-1)[0]
                for action in chunk[:action_horizon]:
                    obs, _, _, _ = env.step(action)
                    step += 1
                    if env._check_success():
                        success = True
                        break
        finally:
            renderer.close()
            env.close()
        result.successes.append(success)
        result.steps.append(step)
        if on_episode is not None:
            on_episode(episode, success)
    return result
