"""Pictures of the reference policy: loss curves, a held-out episode's actions, layer value with intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from pipelines.plots import png_bytes

__all__ = ["layer_value_png", "open_loop_png", "policy_training_png"]


def policy_training_png(title: str, histories: dict[str, list[dict[str, float]]]) -> bytes:
    """Flow-matching loss curves of one or more policy runs (e.g. the layer-value variants)."""
    figure, ax = plt.subplots(figsize=(6, 3))
    for name, history in histories.items():
        ax.plot([h["step"] for h in history], [h["loss"] for h in history], label=name)
    ax.set(xlabel="step", ylabel="flow-matching loss", yscale="log", title=title)
    ax.legend(fontsize=7)
    return png_bytes(figure)


def open_loop_png(true: np.ndarray, predicted: np.ndarray, names: list[str], title: str) -> bytes:
    """One held-out episode: recorded and predicted actions per dimension (a chunk every 16 steps)."""
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3 * columns, 1.8 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.axis("off")
            continue
        ax.plot(true[:, i], color="black", linewidth=1, label="recorded")
        ax.plot(predicted[:, i], color="#dd8452", linewidth=1, label="predicted")
        ax.set_title(names[i], fontsize=8)
        ax.tick_params(labelsize=6)
    axes.flat[0].legend(fontsize=6)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return png_bytes(figure)


def layer_value_png(rows: list[dict[str, Any]], tasks: Sequence[str]) -> bytes:
    """Per training variant: open-loop MSE on the shared held-out episodes, and each task's closed-loop success
    with its Wilson 95% interval as an error bar."""
    figure, (errors, success) = plt.subplots(1, 2, figsize=(10, 3.2))
    names = [str(r["variant"]) for r in rows]
    errors.bar(names, [float(r["open_loop_mse"]) for r in rows], color="#4c72b0")
    errors.set(ylabel="open-loop MSE (held-out)", title="lower is better")
    width = 0.8 / max(1, len(tasks))
    for number, task in enumerate(tasks):
        key = task.lower()
        rates = np.array([r[f"{key}_success"] for r in rows])
        bounds = np.array([[r[f"{key}_success_lo"], r[f"{key}_success_hi"]] for r in rows])
        where = np.arange(len(rows)) + (number - (len(tasks) - 1) / 2) * width
        success.bar(where, rates, width, yerr=[rates - bounds[:, 0], bounds[:, 1] - rates], capsize=3, label=task)
    success.set_xticks(np.arange(len(rows)), names)
    success.set(ylabel="closed-loop success", ylim=(0, 1), title="higher is better (95% intervals)")
    success.legend(fontsize=7)
    for ax in (errors, success):
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    figure.tight_layout()
    return png_bytes(figure)
