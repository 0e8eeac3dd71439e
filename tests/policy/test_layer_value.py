"""Layer value's arithmetic: which variants a release supports, how a mixture reweighs the draws, and the
changes, intervals and verdicts computed from scored variants (made here with known outcomes)."""

from pathlib import Path

import numpy as np
import pytest

from policy.data import Mixture, PolicyDataset
from policy.evaluate import ClosedLoopResult, OpenLoopResult, evaluation_seeds
from policy.layer_value import (
    BASELINE,
    FULL,
    TrainedVariant,
    Variant,
    VariantScore,
    layer_value_rows,
    layer_value_table,
    layer_value_variants,
    within_noise,
)
from schemas.embodiment import get_embodiment
from schemas.pyramid import Layer, SourceKind

PANDA = get_embodiment("robosuite_panda")


def dataset(name: str, source: SourceKind, weight: float) -> PolicyDataset:
    return PolicyDataset(name, source, PANDA, weight, Path(name), [], [])


def test_a_full_release_gets_every_variant_and_the_synthetic_sweep():
    names = [v.name for v in layer_value_variants(set(SourceKind), [0.25, 0.5])]
    assert names == [
        BASELINE,
        "teleop_sim",
        "teleop_neural",
        "teleop_human_video",
        FULL,
        "all_synthetic_25",
        "all_synthetic_50",
    ]


def test_a_release_without_synthetic_data_gets_no_sweep():
    variants = layer_value_variants({SourceKind.TELEOP, SourceKind.HUMAN_VIDEO}, [0.5])
    assert [(v.name, v.compared_with) for v in variants] == [
        (BASELINE, BASELINE),
        ("teleop_human_video", BASELINE),
        (FULL, BASELINE),
    ]
    assert variants[0].mixture.keeps(SourceKind.TELEOP) and not variants[0].mixture.keeps(SourceKind.HUMAN_VIDEO)


def test_a_layer_share_takes_that_share_of_the_draws_and_the_rest_keep_their_proportions():
    datasets = [
        dataset("teleop", SourceKind.TELEOP, 0.2),
        dataset("oxe", SourceKind.OXE, 0.6),
        dataset("sim", SourceKind.SIM, 0.1),
        dataset("neural", SourceKind.NEURAL, 0.1),
    ]
    assert Mixture().weights(datasets) == pytest.approx([0.2, 0.6, 0.1, 0.1])
    weights = Mixture(layer_shares={Layer.SYNTHETIC: 0.5}).weights(datasets)
    assert weights == pytest.approx([0.125, 0.375, 0.25, 0.25])
    unweighted = [dataset("a", SourceKind.TELEOP, 0.0), dataset("b", SourceKind.SIM, 0.0)]
    assert Mixture(layer_shares={Layer.SYNTHETIC: 0.2}).weights(unweighted) == pytest.approx([0.8, 0.2])
    only_synthetic = Mixture(frozenset({SourceKind.SIM}), {Layer.SYNTHETIC: 0.3})
    assert only_synthetic.weights(datasets[2:3]) == pytest.approx([1.0])  # no other layer: all draws are its


def test_layer_shares_outside_zero_to_one_are_refused():
    with pytest.raises(ValueError, match="layer shares"):
        Mixture(layer_shares={Layer.SYNTHETIC: 0.8, Layer.HUMAN_WEB: 0.4})


def score(name: str, compared_with: str, errors: list[float], successes: int, episodes: int = 50) -> VariantScore:
    seeds = evaluation_seeds(episodes)
    closed = ClosedLoopResult("Lift", seeds, [i < successes for i in range(episodes)], [100] * episodes)
    return VariantScore(
        Variant(name, Mixture(), compared_with),
        TrainedVariant(Path(name), "0" * 64, [], {}, 1.0),
        OpenLoopResult(episode_mse={"teleop": errors}),
        {"Lift": closed},
    )


def test_changes_come_with_intervals_and_verdicts():
    rng = np.random.default_rng(0)
    errors = rng.uniform(0.05, 0.15, size=40)
    rows = layer_value_rows(
        [
            score(BASELINE, BASELINE, errors.tolist(), successes=10),
            score("teleop_sim", BASELINE, (errors * 0.5).tolist(), successes=40),
            score(FULL, BASELINE, (errors + rng.normal(0, 0.001, 40)).tolist(), successes=12),
        ]
    )
    baseline, sim, full = rows
    assert "lift_change" not in baseline and baseline["lift_success"] == 0.2
    assert baseline["lift_success_lo"] < 0.2 < baseline["lift_success_hi"]
    assert sim["lift_change"] == pytest.approx(0.6) and 0.4 < sim["lift_change_lo"] < 0.6 < sim["lift_change_hi"]
    assert sim["lift_verdict"] == "better" and sim["open_loop_verdict"] == "better"
    assert sim["open_loop_mse_change_hi"] < 0
    assert full["lift_verdict"] == "within noise" and full["open_loop_verdict"] == "within noise"
    assert within_noise(rows) == [FULL]
    table = layer_value_table(rows, ["Lift"])
    assert "| teleop_sim | teleop_only |" in table and "better" in table and len(table.splitlines()) == 5


def test_a_handful_of_held_out_episodes_gives_no_open_loop_verdict():
    errors = [0.1, 0.2, 0.15, 0.12, 0.18]
    _, half = layer_value_rows(
        [score(BASELINE, BASELINE, errors, 5), score("teleop_sim", BASELINE, [e / 2 for e in errors], 5)]
    )
    assert half["open_loop_mse_change_hi"] < 0 and half["open_loop_verdict"] == "too few episodes"
    assert within_noise([half]) == ["teleop_sim"]  # nothing shown to matter either way
