"""What the pyramid home holds: every materialised dataset with its layer, embodiment and size."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from pipelines.lerobot import layout
from schemas.home import Home, as_home
from schemas.pyramid import Layer, ReleaseManifest, SourceKind, layer_of

__all__ = ["DatasetSummary", "manifest_table", "pyramid_table", "summarise_home"]


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    source: SourceKind
    layer: Layer
    embodiment: str
    episodes: int
    frames: int
    hours: float
    root: Path


def summarise_home(home: Home | Path) -> list[DatasetSummary]:
    summaries = []
    for kind in SourceKind:
        for info_path in sorted((as_home(home).datasets / kind.value).glob(f"*/{layout.INFO_PATH}")):
            root = info_path.parent.parent
            info = json.loads(info_path.read_text())
            embodiment = json.loads((root / layout.PYRAMID_META_PATH).read_text())["embodiment"]
            summaries.append(
                DatasetSummary(
                    root.name,
                    kind,
                    layer_of(kind),
                    embodiment,
                    info["total_episodes"],
                    info["total_frames"],
                    info["total_frames"] / info["fps"] / 3600,
                    root,
                )
            )
    return summaries


def pyramid_table(home: Home | Path) -> Table:
    table = Table("layer", "source", "dataset", "embodiment", "episodes", "frames", "hours", title=f"pyramid at {home}")
    for s in summarise_home(home):
        table.add_row(
            s.layer.value, s.source.value, s.name, s.embodiment, str(s.episodes), str(s.frames), f"{s.hours:.4f}"
        )
    return table


def manifest_table(manifest: ReleaseManifest) -> Table:
    """A release's pyramid, top (real robot) to base (human and web video): hours, datasets, weights."""
    table = Table("layer", "dataset", "embodiment", "episodes", "hours", "weight", title=f"pyramid {manifest.version}")
    hours = manifest.hours_per_layer()
    for layer in Layer:
        entries = [e for e in manifest.datasets if e.layer == layer]
        table.add_row(
            f"[bold]{layer.value}[/]",
            f"[bold]{len(entries)} datasets[/]",
            "",
            "",
            f"[bold]{hours[layer]:.4f}[/]",
            f"[bold]{sum(e.mixture_weight for e in entries):.3f}[/]",
            end_section=not entries,
        )
        for index, e in enumerate(entries):
            table.add_row(
                "",
                e.dataset,
                e.embodiment,
                str(e.episodes),
                f"{e.hours:.4f}",
                f"{e.mixture_weight:.3f}",
                end_section=index == len(entries) - 1,
            )
    return table
