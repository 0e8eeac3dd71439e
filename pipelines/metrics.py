"""Figures that say how good a label is: R2 against ground truth, reconstruction PSNR, codebook perplexity."""

from __future__ import annotations

import numpy as np

__all__ = ["perplexity", "psnr", "r2_scores", "ridge_fit", "ridge_predict"]


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
