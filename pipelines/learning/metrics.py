"""Figures that say how good a label or a policy is: R2 against ground truth, reconstruction PSNR, codebook
perplexity, and the intervals that say whether a success rate or a difference is more than noise."""

from __future__ import annotations

import numpy as np

__all__ = [
    "Z_95",
    "paired_bootstrap_interval",
    "perplexity",
    "psnr",
    "r2_scores",
    "rate_difference_interval",
    "ridge_fit",
    "ridge_predict",
    "wilson_interval",
]

Z_95 = 1.959964  # the standard normal's 97.5% quantile: two-sided 95% intervals


def r2_scores(true: np.ndarray, predicted: np.ndarray) -> tuple[float, list[float]]:
    """(overall, per dimension) coefficient of determination of (N, D) predictions. Overall weighs each
    dimension by its variance (1 - total squared error / total variance); a constant dimension has no
    per-dimension R2 (NaN) and adds nothing overall."""
    residual = ((true - predicted) ** 2).sum(axis=0)
    total = ((true - true.mean(axis=0)) ** 2).sum(axis=0)
    per_dim = np.where(total > 1e-12, 1 - residual / np.maximum(total, 1e-12), np.nan)
    varying = total > 1e-12
    overall = 1 - residual[varying].sum() / total[varying].sum() if varying.any() else float("nan")
    return float(overall), [float(v) for v in per_dim]


def psnr(mean_squared_error: float) -> float:
    """Peak signal-to-noise ratio in dB of images in [0, 1] given their mean squared error."""
    return float("inf") if mean_squared_error == 0 else float(10 * np.log10(1 / mean_squared_error))


def perplexity(codes: np.ndarray, codebook_size: int) -> float:
    """exp(entropy) of how often each code is used: 1 = one code for everything, codebook_size = all equally."""
    counts = np.bincount(np.asarray(codes).ravel(), minlength=codebook_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def ridge_fit(features: np.ndarray, targets: np.ndarray, penalty: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """A linear probe: weights (D + 1, T) of ridge regression on standardised features; returns (weights,
    [mean, std] of the features) for ``ridge_predict``."""
    mean, std = features.mean(axis=0), features.std(axis=0) + 1e-8
    x = np.c_[(features - mean) / std, np.ones(len(features))]
    regulariser = penalty * len(x) * np.eye(x.shape[1])
    regulariser[-1, -1] = 0
    weights = np.linalg.solve(x.T @ x + regulariser, x.T @ targets)
    return weights, np.stack([mean, std])


def ridge_predict(features: np.ndarray, weights: np.ndarray, scaling: np.ndarray) -> np.ndarray:
    return np.c_[(features - scaling[0]) / scaling[1], np.ones(len(features))] @ weights


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a success rate: unlike the normal approximation it stays inside [0, 1] and is
    not empty at 0 or ``trials`` successes, which is where closed-loop rates of 50 episodes often sit."""
    if trials == 0:
        return 0.0, 1.0
    p, n = successes / trials, trials
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def rate_difference_interval(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int, z: float = Z_95
) -> tuple[float, float]:
    """Interval of rate a - rate b by Newcombe's hybrid score method (his method 10), built from the two
    Wilson intervals; it keeps good coverage at rates near 0 and 1, where the Wald interval does not."""
    p, q = successes_a / max(trials_a, 1), successes_b / max(trials_b, 1)
    low_a, high_a = wilson_interval(successes_a, trials_a, z)
    low_b, high_b = wilson_interval(successes_b, trials_b, z)
    delta = p - q
    return (
        float(delta - np.sqrt((p - low_a) ** 2 + (high_b - q) ** 2)),
        float(delta + np.sqrt((high_a - p) ** 2 + (q - low_b) ** 2)),
    )


def paired_bootstrap_interval(
    a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) - mean(b) for paired values (the same held-out episodes scored
    by two models): episodes are resampled together, so what they share cancels."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired values need two equal, non-empty 1-D arrays, got {a.shape} and {b.shape}")
    differences = a - b
    draws = np.random.default_rng(seed).integers(len(differences), size=(resamples, len(differences)))
    means = differences[draws].mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))
