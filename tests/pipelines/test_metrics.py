"""The label figures against values worked out by hand and against scikit-style references."""

import numpy as np
import pytest

from pipelines.metrics import perplexity, psnr, r2_scores, ridge_fit, ridge_predict


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
