"""What each pyramid layer is worth to the reference policy, measured so that a trainer can decide on it.

Every variant trains with the same recipe (steps, batch, seed) on another mixture of one release: the
real-robot layer alone, then with simulation, with neural trajectories and with labelled human video, the
full pyramid, and a sweep of the synthetic layer's share of the draws. Every variant is scored on the same
held-out episodes of the target embodiment (open loop) and the same seeded robosuite scenes (closed loop).
A change is reported with its 95% interval (a paired bootstrap over the shared episodes for open-loop error,
Newcombe's interval for a difference of success rates); a change whose interval holds 0 is within noise,
and an open-loop change over fewer than ``MIN_PAIRED_EPISODES`` shared episodes gets no verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.learning.metrics import paired_bootstrap_interval, rate_difference_interval
from pipelines.runtime.parallel import RayConfig, ray_call
from policy.config import ClosedLoopSettings, PolicyConfig, TrainingRecipe
from policy.data import Mixture, ReleaseData
from policy.evaluate import (
    ClosedLoopResult,
    OpenLoopResult,
    evaluation_seeds,
    open_loop,
    parallel_closed_loop,
    save_videos,
)
from policy.inference import ReferencePolicy
from policy.train import train_reference_policy
from schemas.pyramid import Layer, SourceKind

__all__ = [
    "BASELINE",
    "FULL",
    "TrainedVariant",
    "Variant",
    "VariantScore",
    "layer_value_rows",
    "layer_value_table",
    "layer_value_variants",
    "score_variant",
    "train_variant",
    "within_noise",
]

BASELINE, FULL = "teleop_only", "all"
MIN_PAIRED_EPISODES = 10  # fewer shared held-out episodes give a bootstrap interval too narrow to trust
REAL_ROBOT = frozenset({SourceKind.TELEOP, SourceKind.OXE})
ADDED_ALONE = {  # variant -> the source kind added to the real-robot layer
    "teleop_sim": SourceKind.SIM,
    "teleop_neural": SourceKind.NEURAL,
    "teleop_human_video": SourceKind.HUMAN_VIDEO,
}


@dataclass(frozen=True)
class Variant:
    """One training mixture, and the variant its changes are measured against."""

    name: str
    mixture: Mixture
    compared_with: str


def layer_value_variants(present: set[SourceKind], synthetic_shares: Sequence[float]) -> list[Variant]:
    """The variants a release with these source kinds supports, the baseline first."""
    real = REAL_ROBOT & present
    found = [Variant(BASELINE, Mixture(real), BASELINE)]
    found += [Variant(name, Mixture(real | {kind}), BASELINE) for name, kind in ADDED_ALONE.items() if kind in present]
    found.append(Variant(FULL, Mixture(), BASELINE))
    if {SourceKind.SIM, SourceKind.NEURAL} & present:
        found += [
            Variant(f"all_synthetic_{round(100 * share)}", Mixture(None, {Layer.SYNTHETIC: share}), FULL)
            for share in synthetic_shares
        ]
    return found


@dataclass
class TrainedVariant:
    """What training a variant returns: the served checkpoint and both phases' loss history."""

    folder: Path
    sha256: str
    history: list[dict[str, float]]
    skipped: dict[str, str]
    minutes: float


def train_variant(
    release_folder: Path,
    out: Path,
    config: PolicyConfig,
    recipe: TrainingRecipe,
    mixture: Mixture,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> TrainedVariant:
    """The recipe on one mixture (a finished run in ``out`` is reused); run as one Ray task by the caller."""
    started = time.monotonic()
    runs = train_reference_policy(
        release_folder,
        out,
        config,
        recipe,
        mixture,
        log=lambda message: None,
        on_log=(lambda phase, entry: on_log({"phase": phase, **entry})) if on_log is not None else None,
    )
    served = runs.served
    return TrainedVariant(
        served.folder, served.sha256, runs.history(), runs.pretrain.data.skipped, (time.monotonic() - started) / 60
    )


@dataclass
class VariantScore:
    variant: Variant
    trained: TrainedVariant
    open_loop: OpenLoopResult
    closed: dict[str, ClosedLoopResult] = field(default_factory=dict)

    @property
    def episode_errors(self) -> np.ndarray:
        """Open-loop MSE of every shared held-out episode, in one fixed order."""
        return np.concatenate([self.open_loop.episode_mse[name] for name in sorted(self.open_loop.episode_mse)])


def score_variant(
    variant: Variant,
    release_folder: Path,
    out: Path,
    config: PolicyConfig,
    recipe: TrainingRecipe,
    closed_loop: ClosedLoopSettings,
    evaluation: ReleaseData,
    ray: RayConfig | None,
    log: Callable[[str], None] = print,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> VariantScore:
    """Train ``variant`` into ``out`` (one Ray task holding the workers' CPUs; ``on_log`` gets its loss), then
    score it on ``evaluation``'s held-out episodes of the target embodiments and on the shared closed-loop
    seeds (episodes spread over Ray); the first episodes of each task are saved as mp4 in ``out/videos``."""
    trained = ray_call(train_variant, (release_folder, out, config, recipe, variant.mixture), ray, on_log=on_log)
    policy = ReferencePolicy(trained.folder, device=recipe.device)
    score = VariantScore(variant, trained, open_loop(policy, evaluation, set(recipe.target)))
    log(f"{variant.name}: open-loop MSE {np.mean(score.episode_errors):.5f} on {len(score.episode_errors)} episodes")
    seeds = evaluation_seeds(closed_loop.episodes)
    for task in closed_loop.tasks:
        done = ClosedLoopResult(task)

        def progress(part: ClosedLoopResult, task: str = task, done: ClosedLoopResult = done) -> None:
            done.extend(part)
            log(f"{variant.name} {task}: {sum(done.successes)} successes in {len(done.seeds)} of {len(seeds)} episodes")

        score.closed[task] = parallel_closed_loop(
            trained.folder, task, seeds, ray, closed_loop.max_steps, recipe.device, closed_loop.videos, progress
        )
        save_videos(score.closed[task], out / "videos")
    return score


def _verdict(low: float, high: float, better_when_positive: bool) -> str:
    if low <= 0 <= high:
        return "within noise"
    return "better" if (low > 0) == better_when_positive else "worse"


def layer_value_rows(scores: list[VariantScore]) -> list[dict[str, Any]]:
    """One row per variant: its figures, and each change against the variant it is compared with, with a 95%
    interval and a verdict (better, worse, within noise, or too few episodes)."""
    by_name = {score.variant.name: score for score in scores}
    rows = []
    for score in scores:
        mse = float(np.mean(score.episode_errors))
        row: dict[str, Any] = {
            "variant": score.variant.name,
            "compared_with": score.variant.compared_with,
            "mixture": score.variant.mixture.describe(),
            "sha256": score.trained.sha256[:12],
            "minutes": round(score.trained.minutes, 2),
            "open_loop_mse": mse,
            "held_out_episodes": len(score.episode_errors),
        }
        reference = by_name.get(score.variant.compared_with)
        if reference is not None and reference is not score:
            low, high = paired_bootstrap_interval(score.episode_errors, reference.episode_errors)
            change = mse - float(np.mean(reference.episode_errors))
            row |= {"open_loop_mse_change": change, "open_loop_mse_change_lo": low, "open_loop_mse_change_hi": high}
            enough = len(score.episode_errors) >= MIN_PAIRED_EPISODES
            row["open_loop_verdict"] = _verdict(low, high, False) if enough else "too few episodes"
        for task, result in score.closed.items():
            low, high = result.interval
            name = task.lower()
            row |= {f"{name}_success": result.success_rate, f"{name}_success_lo": low, f"{name}_success_hi": high}
            row[f"{name}_steps_to_success"] = result.steps_to_success
            if reference is not None and reference is not score and task in reference.closed:
                other = reference.closed[task]
                low, high = rate_difference_interval(
                    sum(result.successes), len(result.successes), sum(other.successes), len(other.successes)
                )
                row |= {
                    f"{name}_change": result.success_rate - other.success_rate,
                    f"{name}_change_lo": low,
                    f"{name}_change_hi": high,
                    f"{name}_verdict": _verdict(low, high, better_when_positive=True),
                }
        rows.append(row)
    return rows


def within_noise(rows: list[dict[str, Any]]) -> list[str]:
    """Variants with a measured change none of which is shown to matter (every interval holds 0, or too few
    episodes to tell): the layer they add or reweigh is not shown to matter at this budget."""
    names = []
    for row in rows:
        verdicts = [value for key, value in row.items() if key.endswith("_verdict")]
        if verdicts and not {"better", "worse"} & set(verdicts):
            names.append(row["variant"])
    return names


def layer_value_table(rows: list[dict[str, Any]], tasks: Sequence[str]) -> str:
    """The rows as a markdown table: open-loop error and each task's success, changes with intervals."""

    def change(row: dict[str, Any], key: str, digits: int) -> str:
        if f"{key}_change" not in row:
            return "-"
        low, high = row[f"{key}_change_lo"], row[f"{key}_change_hi"]
        verdict = row["open_loop_verdict" if key == "open_loop_mse" else f"{key}_verdict"]
        return f"{row[f'{key}_change']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}] {verdict}"

    header = ["variant", "vs", "open-loop MSE", "change [95%]"]
    for task in tasks:
        header += [f"{task} success [95%]", "change [95%]"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["variant"], row["compared_with"], f"{row['open_loop_mse']:.5f}", change(row, "open_loop_mse", 5)]
        for task in tasks:
            name = task.lower()
            cells.append(
                f"{row[f'{name}_success']:.2f} [{row[f'{name}_success_lo']:.2f}, {row[f'{name}_success_hi']:.2f}]"
            )
            cells.append(change(row, name, 2))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
