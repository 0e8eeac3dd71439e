"""Pictures for people who would rather look than read: sample frames, action histograms, the pyramid."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from pipelines.lerobot.reader import LeRobotSource
from pipelines.lerobot.video import decode_segment
from pipelines.quality import dataset_tables
from schemas.pyramid import Layer, ReleaseManifest

__all__ = [
    "action_histogram_png",
    "clip_strip_png",
    "label_quality_png",
    "png_bytes",
    "pyramid_chart_png",
    "sample_frames_png",
]


def png_bytes(figure: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def sample_frames_png(root: Path | str) -> bytes:
    """First, middle and last frame of the first episode, one row per camera."""
    dataset = LeRobotSource(root)
    index = dataset.episode_indices[0]
    length = dataset.layout.episodes[index]["length"]
    keys = dataset.video_keys
    figure, axes = plt.subplots(len(keys), 3, figsize=(7.5, 2.5 * len(keys)), squeeze=False)
    for row, key in enumerate(keys):
        path, start, _ = dataset.layout.video_segment(index, key)
        frames = decode_segment(path, start, length)
        for col, t in enumerate((0, length // 2, length - 1)):
            axes[row][col].imshow(frames[t])
            axes[row][col].set_title(f"{key.removeprefix('observation.images.')} t={t}", fontsize=8)
            axes[row][col].axis("off")
    return png_bytes(figure)


def clip_strip_png(clips: dict[str, np.ndarray], columns: int = 8) -> bytes:
    """One row per clip (title -> (T, H, W, 3) uint8 frames), ``columns`` frames evenly spaced from first to last."""
    figure, axes = plt.subplots(len(clips), columns, figsize=(1.2 * columns, 1.45 * len(clips)), squeeze=False)
    for row, (title, frames) in enumerate(clips.items()):
        steps = np.linspace(0, len(frames) - 1, columns).round().astype(int)
        for col, t in enumerate(steps):
            axes[row][col].imshow(frames[t])
            axes[row][col].set_title(f"t={t}", fontsize=7)
            axes[row][col].axis("off")
        axes[row][0].text(0, -0.35, title, transform=axes[row][0].transAxes, fontsize=8, ha="left")
    figure.subplots_adjust(hspace=0.6)
    return png_bytes(figure)


def action_histogram_png(root: Path | str) -> bytes | None:
    """One histogram per action dimension, titled with the embodiment's group names; None without actions."""
    dataset = LeRobotSource(root)
    frames, _ = dataset_tables(dataset)
    columns = [c for c in frames.columns if c.startswith("action_")]
    if not columns:
        return None
    names = [f"{g.name}[{i - g.start}]" for g in dataset.embodiment.action_groups for i in range(g.start, g.end)]
    cols = min(7, len(columns))
    rows = int(np.ceil(len(columns) / cols))
    figure, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 1.8 * rows), squeeze=False)
    for ax, column, name in zip(axes.flat, columns, names, strict=False):
        ax.hist(frames[column].to_numpy(), bins=30, color="#4c72b0")
        ax.set_title(name, fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(columns) :]:
        ax.axis("off")
    figure.suptitle(f"action distribution ({len(frames)} frames)", fontsize=9, y=1.04)
    return png_bytes(figure)


def pyramid_chart_png(manifest: ReleaseManifest) -> bytes:
    """The data pyramid: one centred bar per layer (real robot on top), its width the layer's hours."""
    hours = manifest.hours_per_layer()
    layers = list(Layer)  # top to base
    widths = np.array([hours[layer] for layer in layers])
    figure, ax = plt.subplots(figsize=(6.5, 3.2))
    colours = {Layer.REAL_ROBOT: "#c44e52", Layer.SYNTHETIC: "#dd8452", Layer.HUMAN_WEB: "#4c72b0"}
    scale = widths.max() or 1.0
    for row, (layer, width) in enumerate(zip(layers, widths, strict=True)):
        y = len(layers) - 1 - row
        ax.barh(y, width, left=-width / 2, height=0.8, color=colours[layer])
        datasets = sum(1 for entry in manifest.datasets if entry.layer == layer)
        weight = sum(entry.mixture_weight for entry in manifest.datasets if entry.layer == layer)
        label = f"{layer.value}: {width:.3f} h, {datasets} datasets, weight {weight:.2f}"
        ax.text(0, y, label, ha="center", va="center", fontsize=8, color="black" if width < 0.5 * scale else "white")
    ax.set_xlim(-0.6 * scale, 0.6 * scale)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("bar width: hours of data")
    ax.set_title(
        f"pyramid built {manifest.created[:10]}: {widths.sum():.3f} h in {len(manifest.datasets)} datasets", fontsize=10
    )
    return png_bytes(figure)


def label_quality_png(
    title: str,
    history: list[dict[str, float]],
    scores: dict[str, float],
    floor: float,
    score: str = "held-out R2 per action dimension",
) -> bytes:
    """A model at a glance: its training loss curve and its held-out scores (R2 per action dimension, by
    default) against the floor they must hold."""
    figure, (curve, bars) = plt.subplots(1, 2, figsize=(10, 3))
    curve.plot([h["step"] for h in history], [h["loss"] for h in history], color="#4c72b0")
    curve.set(xlabel="step", ylabel="training loss", yscale="log", title="training")
    names, values = list(scores), [v if np.isfinite(v) else 0.0 for v in scores.values()]
    bars.bar(names, values, color=["#55a868" if v >= floor else "#c44e52" for v in values])
    bars.axhline(floor, color="black", linestyle="--", linewidth=1, label=f"floor {floor}")
    bars.set(ylim=(min(0.0, *values), max(1.0, *values) * 1.05), title=score)
    bars.tick_params(axis="x", labelrotation=60, labelsize=7)
    bars.legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    return png_bytes(figure)
