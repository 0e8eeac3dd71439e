"""Evaluate a reference policy: open loop on held-out episodes (a chunk predicted every ``chunk`` steps and
compared with the recorded actions in physical units) and closed loop in robosuite (success rate over
seeded scenes the training demos never used)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generators.robosuite_env import CONTROL_FREQ, ROBOSUITE_TASKS, FrameRenderer, make_env
from pipelines.learning.metrics import wilson_interval
from pipelines.lerobot.video import write_mp4
from pipelines.runtime.parallel import RayConfig, ray_map
from policy.data import ReleaseData, observation_inputs, pad
from policy.inference import ReferencePolicy
from schemas.embodiment import get_embodiment

__all__ = [
    "EVAL_SEED",
    "ClosedLoopResult",
    "OpenLoopResult",
    "closed_loop",
    "evaluation_seeds",
    "open_loop",
    "parallel_closed_loop",
    "save_videos",
]

EVAL_SEED = 1_000_000  # closed-loop scenes start here, far from the seeds teleop and simulation record with
EPISODES_PER_TASK = 5  # closed-loop episodes per Ray task: loading the policy costs about one episode


@dataclass
class OpenLoopResult:
    """Errors per dataset over its held-out episodes (and each episode's own MSE, in a fixed order, for paired
    comparisons); ``traces`` keeps one episode's true and predicted actions per dataset for plots."""

    mse: dict[str, float] = field(default_factory=dict)
    episode_mse: dict[str, list[float]] = field(default_factory=dict)
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
        for number, episode in enumerate(data.held_out_episodes(dataset, policy.config.image_size)):
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
        result.episode_mse[dataset.name] = [float(np.mean(error**2)) for error in errors]
    return result


@dataclass
class ClosedLoopResult:
    """One task's episodes, in seed order. ``videos`` holds the frames of the first recorded episodes (seed ->
    (T, H, W, 3) uint8 of the policy's first camera)."""

    task: str
    seeds: list[int] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    videos: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return float(np.mean(self.successes)) if self.successes else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95% interval of the success rate."""
        return wilson_interval(sum(self.successes), len(self.successes))

    @property
    def steps_to_success(self) -> float | None:
        """Mean control steps of the successful episodes (None without one)."""
        taken = [steps for steps, success in zip(self.steps, self.successes, strict=True) if success]
        return float(np.mean(taken)) if taken else None

    def extend(self, other: ClosedLoopResult) -> None:
        self.seeds += other.seeds
        self.successes += other.successes
        self.steps += other.steps
        self.videos |= other.videos


def evaluation_seeds(episodes: int) -> list[int]:
    """The scenes every policy and variant is scored on: the same seeds, so their rates compare pairwise."""
    return list(range(EVAL_SEED, EVAL_SEED + episodes))


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
    seeds: Sequence[int],
    max_steps: int,
    action_horizon: int = 8,
    image_size: int = 84,
    record: int = 0,
    on_episode: Callable[[int, bool], None] | None = None,
) -> ClosedLoopResult:
    """Run the policy on the robosuite scenes of ``task`` seeded by ``seeds``: every ``action_horizon`` steps it
    sees the cameras (rendered at ``image_size``, as the demos were) and the arm state and returns a chunk,
    whose first ``action_horizon`` actions are executed. An episode succeeds when the task's check does. The
    first ``record`` episodes keep their frames as videos."""
    spec = ROBOSUITE_TASKS[task]
    cameras = tuple(policy.cameras[spec.embodiment])
    result = ClosedLoopResult(task)
    for number, seed in enumerate(seeds):
        env = make_env(task, seed=seed)
        renderer = FrameRenderer(env, cameras, image_size)
        policy.reset(seed)
        obs, success, step, video = env.reset(), False, 0, []
        try:
            while step < max_steps and not success:
                frames = renderer.render()
                observation = _observation(obs, frames, spec.embodiment, spec.instruction)
                chunk = np.concatenate(list(policy.get_action(spec.embodiment, observation).values()), axis=-1)[0]
                for executed, action in enumerate(chunk[:action_horizon]):
                    if number < record:  # every control step, not only those the policy saw
                        video.append((frames if executed == 0 else renderer.render())[cameras[0]])
                    obs, _, _, _ = env.step(action)
                    step += 1
                    if env._check_success():
                        success = True
                        break
        finally:
            renderer.close()
            env.close()
        result.seeds.append(seed)
        result.successes.append(success)
        result.steps.append(step)
        if video:
            result.videos[seed] = np.stack(video)
        if on_episode is not None:
            on_episode(seed, success)
    return result


def save_videos(result: ClosedLoopResult, folder: Path) -> list[Path]:
    """The recorded episodes as ``<folder>/<task>_<seed>_<success|failure>.mp4`` at the control rate."""
    paths = []
    for seed, frames in result.videos.items():
        outcome = "success" if result.successes[result.seeds.index(seed)] else "failure"
        paths.append(folder / f"{result.task}_{seed}_{outcome}.mp4")
        write_mp4(paths[-1], frames, CONTROL_FREQ)
    return paths


def _closed_loop_from_folder(
    folder: str, task: str, seeds: list[int], max_steps: int, device: str, record: int
) -> ClosedLoopResult:
    return closed_loop(ReferencePolicy(folder, device=device), task, seeds, max_steps=max_steps, record=record)


def parallel_closed_loop(
    folder: Path | str,
    task: str,
    seeds: Sequence[int],
    ray: RayConfig | None,
    max_steps: int,
    device: str = "cpu",
    record: int = 0,
    on_episodes: Callable[[ClosedLoopResult], None] | None = None,
) -> ClosedLoopResult:
    """``closed_loop`` of the policy saved at ``folder`` with its seeds spread over Ray tasks (each loads the
    policy once and runs a contiguous share); in this process when ``ray`` is None. An episode depends on its
    seed only: the same scene, and the same actions up to float rounding between torch thread counts.
    ``on_episodes`` gets each finished share, for progress."""
    result = ClosedLoopResult(task)
    if ray is None:
        policy = ReferencePolicy(folder, device=device)
        parts = (
            closed_loop(policy, task, [seed], max_steps=max_steps, record=int(number < record))
            for number, seed in enumerate(seeds)
        )
    else:
        shares = max(2 * ray.workers, -(-len(seeds) // EPISODES_PER_TASK))
        groups = [[int(seed) for seed in group] for group in np.array_split(list(seeds), shares) if len(group)]
        starts = np.cumsum([0] + [len(group) for group in groups])
        arguments = [  # the first ``record`` seeds are the recorded ones, as in one process
            (str(folder), task, group, max_steps, device, int(np.clip(record - start, 0, len(group))))
            for start, group in zip(starts, groups, strict=False)
        ]
        parts = ray_map(_closed_loop_from_folder, arguments, ray)
    for part in parts:
        result.extend(part)
        if on_episodes is not None:
            on_episodes(part)
    return result
