"""Our episode stats have lerobot's keys and shapes, and are exact where lerobot's are estimates."""

import numpy as np
import pytest
from lerobot.datasets.compute_stats import aggregate_stats, get_feature_stats

from pipelines.lerobot import stats as stats_module
from pipelines.lerobot.stats import aggregate_stats as our_aggregate
from pipelines.lerobot.stats import image_stats, vector_stats
from tests.conftest import scene_frames

STAT_KEYS = {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}


def test_vector_stats_match_lerobot_moments_and_numpy_quantiles():
    values = np.random.default_rng(0).normal(size=(300, 7))
    ours, theirs = vector_stats(values), get_feature_stats(values, axis=0, keepdims=False)
    assert set(ours) == set(theirs) == STAT_KEYS
    for key in ("min", "max", "mean", "std", "count"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-9)
        assert ours[key].shape == theirs[key].shape
    np.testing.assert_allclose(ours["q10"], np.quantile(values, 0.10, axis=0))


def test_scalar_column_stats_have_shape_one_like_lerobot():
    values = np.arange(50, dtype=np.float32)
    theirs = get_feature_stats(values, axis=0, keepdims=True)
    assert {k: v.shape for k, v in vector_stats(values).items()} == {k: v.shape for k, v in theirs.items()}


@pytest.mark.parametrize("block", [stats_module.PIXEL_BLOCK, 1000])  # 1000: many blocks, the last one partial
def test_image_stats_are_exact_over_every_pixel_in_lerobots_shape(block, monkeypatch):
    monkeypatch.setattr(stats_module, "PIXEL_BLOCK", block)
    frames = scene_frames(40, 48, 64, seed=3)
    stats = image_stats(frames)
    assert set(stats) == STAT_KEYS
    assert all(stats[k].shape == (3, 1, 1) for k in STAT_KEYS - {"count"}) and stats["count"].tolist() == [40]
    pixels = frames.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(stats["mean"].ravel(), pixels.mean(0) / 255, rtol=1e-12)
    np.testing.assert_allclose(stats["std"].ravel(), pixels.std(0) / 255, rtol=1e-9)
    for q, key in ((0.01, "q01"), (0.5, "q50"), (0.99, "q99")):
        np.testing.assert_allclose(stats[key].ravel(), np.quantile(pixels, q, axis=0) / 255, rtol=1e-12)
    assert stats["min"].ravel().tolist() == pytest.approx((pixels.min(0) / 255).tolist())


def test_lerobot_aggregates_our_stats():
    episodes = [
        {
            "action": vector_stats(np.random.default_rng(i).normal(size=(20, 3))),
            "cam": image_stats(scene_frames(5, 16, 16, i)),
        }
        for i in range(3)
    ]
    merged = aggregate_stats(episodes)
    assert merged["action"]["count"].tolist() == [60] and merged["cam"]["mean"].shape == (3, 1, 1)
    ours = our_aggregate(episodes)  # the writer combines episodes without importing lerobot: the same numbers
    assert set(ours) == set(merged)
    assert list(ours) == ["action", "cam"]  # the episodes' order, not a set's: stats.json has the same bytes every run
    for feature, stats in merged.items():
        assert set(ours[feature]) == set(stats)
        for key, value in stats.items():
            np.testing.assert_allclose(ours[feature][key], value, rtol=1e-12)
            assert ours[feature][key].shape == value.shape
