"""The label figures against values worked out by hand and against scikit-style references."""

import numpy as np
import pytest

from pipelines.learning.metrics import (
    paired_bootstrap_interval,
    perplexity,
    psnr,
    r2_scores,
    rate_difference_interval,
    ridge_fit,
    ridge_predict,
    wilson_interval,
)


def test_r2_is_one_for_a_perfect_fit_zero_for_the_mean_and_nan_for_a_constant_dimension():
    true = np.array([[0.0, 1.0, 5.0], [1.0, 3.0, 5.0], [2.0, 5.0, 5.0]])
    overall, per_dim = r2_scores(true, true)
    assert overall == 1.0 and per_dim[:2] == [1.0, 1.0] and np.isnan(per_dim[2])
    overall, per_dim = r2_scores(true, np.repeat(true.mean(axis=0, keepdims=True), 3, axis=0))
    assert overall == pytest.approx(0.0) and per_dim[:2] == pytest.approx([0.0, 0.0])


def test_overall_r2_weighs_each_dimension_by_its_variance():
    true = np.array([[0.0, 0.0], [1.0, 10.0], [2.0, 20.0]])  # variances 2 and 200 (sums of squares)
    predicted = true + np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])  # one unit off in the small dimension
    overall, per_dim = r2_scores(true, predicted)
    assert per_dim == pytest.approx([1 - 1 / 2, 1.0])
    assert overall == pytest.approx(1 - 1 / 202)


def test_psnr_of_images_in_the_unit_range():
    assert psnr(0.01) == pytest.approx(20.0) and psnr(1e-4) == pytest.approx(40.0) and psnr(0.0) == float("inf")


def test_perplexity_counts_the_codes_in_use():
    assert perplexity(np.zeros(100, int), 8) == pytest.approx(1.0)
    assert perplexity(np.arange(800) % 8, 8) == pytest.approx(8.0)
    assert perplexity(np.array([0, 0, 1, 1]), 16) == pytest.approx(2.0)  # unused codes do not count


def test_a_ridge_probe_recovers_a_linear_map_on_held_out_features():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(5, 2))
    features = rng.normal(size=(400, 5)) * [1, 10, 0.1, 3, 1] + 7  # unscaled, off-centre features
    targets = features @ weights + 2.0
    fitted, scaling = ridge_fit(features[:300], targets[:300], penalty=1e-6)
    predicted = ridge_predict(features[300:], fitted, scaling)
    assert r2_scores(targets[300:], predicted)[0] > 0.999


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [  # Wilson intervals from Newcombe (1998), Statistics in Medicine 17, table I (95%, no continuity correction)
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0000, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
    ],
)
def test_wilson_interval_matches_newcombes_table(successes, trials, expected):
    assert wilson_interval(successes, trials) == pytest.approx(expected, abs=5e-5)


def test_wilson_interval_of_no_trials_is_everything():
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [  # differences of independent proportions, Newcombe (1998), Statistics in Medicine 17, table II, method 10
        ((56, 70), (48, 80), (0.0524, 0.3339)),
        ((9, 10), (3, 10), (0.1705, 0.8090)),
        ((5, 56), (0, 29), (-0.0381, 0.1926)),
        ((0, 10), (0, 20), (-0.1611, 0.2775)),
    ],
)
def test_rate_difference_interval_matches_newcombes_method_10(a, b, expected):
    assert rate_difference_interval(*a, *b) == pytest.approx(expected, abs=5e-4)


def test_paired_bootstrap_sees_a_shift_that_unpaired_noise_would_hide():
    rng = np.random.default_rng(3)
    shared = rng.normal(0, 10, size=60)  # large per-episode differences both models share
    low, high = paired_bootstrap_interval(shared + 0.5 + rng.normal(0, 0.1, 60), shared)
    assert 0.4 < low < 0.5 < high < 0.6
    low, high = paired_bootstrap_interval(shared + rng.normal(0, 0.1, 60), shared)
    assert low < 0 < high


def test_paired_bootstrap_refuses_unpaired_values():
    with pytest.raises(ValueError, match="equal, non-empty"):
        paired_bootstrap_interval(np.zeros(3), np.zeros(4))
