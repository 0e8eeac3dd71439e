"""Feature statistics in lerobot's episode-stats format, computed exactly and fast.

lerobot stores per-episode ``min, max, mean, std, count, q01, q10, q50, q90, q99`` for every feature
(images per channel, scaled to [0, 1], shaped (3, 1, 1)). Its own writer estimates quantiles with
running histograms and samples image frames; here vectors use numpy's exact quantiles and uint8 images
use a 256-bin count per channel, which gives exact statistics over every pixel in one pass.
GR00T's ``stats.json`` needs exact ``mean, std, min, max, q01, q99`` per column over all frames.
"""

from __future__ import annotations

import numpy as np

__all__ = ["QUANTILES", "aggregate_stats", "exact_column_stats", "image_stats", "vector_stats"]

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)  # lerobot's DEFAULT_QUANTILES
PIXEL_BLOCK = 1 << 18  # pixels counted at a time: bincount's int64 copy of a block stays in the cache


def _quantile_names() -> list[str]:
    return [f"q{round(q * 100):02d}" for q in QUANTILES]


def vector_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Stats of a per-frame column (T,) or (T, D); a (T,) column gets shape (1,) stats, as in lerobot."""
    values = np.asarray(values, dtype=np.float64)
    columns = values.reshape(len(values), -1)
    quantiles = np.quantile(columns, QUANTILES, axis=0)
    stats = {
        "min": columns.min(axis=0),
        "max": columns.max(axis=0),
        "mean": columns.mean(axis=0),
        "std": columns.std(axis=0),
        "count": np.array([len(values)]),
    }
    stats.update(dict(zip(_quantile_names(), quantiles, strict=True)))
    return stats


def _histogram_quantiles(counts: np.ndarray, total: int) -> np.ndarray:
    """Exact linear-interpolation quantiles (numpy's default) of integer data given as value counts."""
    cumulative = np.cumsum(counts)
    positions = np.asarray(QUANTILES) * (total - 1)
    lower = np.floor(positions).astype(np.int64)
    fraction = positions - lower
    value_at = lambda rank: np.searchsorted(cumulative, rank, side="right")
    low, high = value_at(lower), value_at(np.minimum(lower + 1, total - 1))
    return low + fraction * (high - low)


def _channel_counts(frames: np.ndarray) -> np.ndarray:
    """(C, 256) value counts per channel of (..., C) uint8 frames, a block of pixels at a time: ``np.bincount``
    casts its input to int64, and a whole episode's channel at once streams 8x its bytes through memory (twice
    as slow on 470 frames of 256x256)."""
    pixels = frames.reshape(-1, frames.shape[-1])
    counts = np.zeros((pixels.shape[1], 256), np.int64)
    for start in range(0, len(pixels), PIXEL_BLOCK):
        for channel, values in enumerate(np.ascontiguousarray(pixels[start : start + PIXEL_BLOCK].T)):
            counts[channel] += np.bincount(values, minlength=256)
    return counts


def image_stats(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel stats of (T, H, W, 3) uint8 frames over every pixel, in [0, 1], shaped (3, 1, 1)."""
    levels = np.arange(256, dtype=np.float64)
    per_channel = {name: [] for name in ("min", "max", "mean", "std", *_quantile_names())}
    for counts in _channel_counts(frames).astype(np.float64):
        total = int(counts.sum())
        present = np.nonzero(counts)[0]
        mean = counts @ levels / total
        per_channel["min"].append(present[0])
        per_channel["max"].append(present[-1])
        per_channel["mean"].append(mean)
        per_channel["std"].append(np.sqrt(counts @ (levels - mean) ** 2 / total))
        for name, value in zip(_quantile_names(), _histogram_quantiles(counts, total), strict=True):
            per_channel[name].append(value)
    stats = {
        name: np.asarray(values, dtype=np.float64).reshape(-1, 1, 1) / 255.0 for name, values in per_channel.items()
    }
    stats["count"] = np.array([len(frames)])
    return stats


def exact_column_stats(values: np.ndarray) -> dict[str, list[float]]:
    """mean, std, min, max, q01, q99 over all rows of (N, D) values: the numbers in GR00T's stats.json."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    return {
        "mean": values.mean(axis=0).tolist(),
        "std": values.std(axis=0).tolist(),
        "min": values.min(axis=0).tolist(),
        "max": values.max(axis=0).tolist(),
        "q01": np.quantile(values, 0.01, axis=0).tolist(),
        "q99": np.quantile(values, 0.99, axis=0).tolist(),
    }


def aggregate_stats(episodes: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """A dataset's stats from its episodes' (``meta/stats.json``), combined as lerobot combines them: min of the
    minima, max of the maxima, count-weighted mean, pooled std, count-weighted quantiles."""
    combined = {}
    # first-seen order, not a set's: stats.json gets the same bytes every run
    for feature in dict.fromkeys(name for stats in episodes for name in stats):
        parts = [stats[feature] for stats in episodes if feature in stats]
        means = np.stack([p["mean"] for p in parts])
        counts = np.stack([p["count"] for p in parts])
        total = counts.sum(axis=0)
        weights = counts.reshape(counts.shape + (1,) * (means.ndim - counts.ndim))
        mean = (means * weights).sum(axis=0) / total
        variance = ((np.stack([p["std"] for p in parts]) ** 2 + (means - mean) ** 2) * weights).sum(axis=0) / total
        combined[feature] = {
            "min": np.min(np.stack([p["min"] for p in parts]), axis=0),
            "max": np.max(np.stack([p["max"] for p in parts]), axis=0),
            "mean": mean,
            "std": np.sqrt(variance),
            "count": total,
            **{
                q: (np.stack([p[q] for p in parts]) * weights).sum(axis=0) / total
                for q in _quantile_names()
                if all(q in p for p in parts)
            },
        }
    return combined
