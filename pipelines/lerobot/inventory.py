"""What the pyramid home holds: every materialised LeRobot dataset with its layer, embodiment and size."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipelines.lerobot import layout
from schemas.home import Home, as_home
from schemas.pyramid import Layer, SourceKind, layer_of

__all__ = ["DatasetSummary", "summarise_home"]


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
