"""The rich tables the command line and the demo print: the home's datasets, and a release's pyramid."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from pipelines.lerobot.inventory import summarise_home
from schemas.home import Home
from schemas.pyramid import Layer, ReleaseManifest

__all__ = ["manifest_table", "pyramid_table"]


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
