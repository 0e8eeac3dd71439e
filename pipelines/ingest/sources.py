"""Ingest one declared source, whatever its format, into a LeRobot v3.0 dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pipelines.config import SourceConfig
from pipelines.ingest.oxe import ingest_oxe
from pipelines.lerobot.convert import convert_lerobot
from pipelines.lerobot.writer import WriteReport
from schemas.embodiment import get_embodiment

__all__ = ["ingest_source"]


def ingest_source(source: SourceConfig, destination: Path, on_progress: Callable[[int], None] | None = None) -> WriteReport:
    """Read ``source`` by its format and write it to ``destination`` (replaced atomically, bad items quarantined)."""
    if source.format == "rlds":
        return ingest_oxe(source.path, destination, split=source.split, on_item=on_progress)
    embodiment = get_embodiment(source.embodiment) if source.embodiment else None
    progress = (lambda done, _total: on_progress(done)) if on_progress is not None else None
    return convert_lerobot(source.path, destination, embodiment=embodiment, on_episode=progress)
