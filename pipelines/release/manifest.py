"""Where a release's manifest lives and how it is read; light enough for publishers and pullers to import."""

from __future__ import annotations

from pathlib import Path

from pipelines.fingerprint import sha256_file
from schemas.pyramid import FileEntry, ReleaseManifest

__all__ = ["CHART", "DATASETS_DIR", "MANIFEST", "MANIFEST_TABLE", "file_entries", "load_manifest"]

MANIFEST = "manifest.json"  # written last: a release folder without it is incomplete
MANIFEST_TABLE = "manifest.parquet"  # one row per dataset
CHART = "pyramid.png"  # hours per layer
DATASETS_DIR = "datasets"  # datasets/<source>__<embodiment>/ (LeRobot v3.0)


def load_manifest(folder: Path) -> ReleaseManifest | None:
    """The manifest of a release folder, or None when it has none (yet)."""
    path = Path(folder) / MANIFEST
    return ReleaseManifest.model_validate_json(path.read_text()) if path.is_file() else None


def file_entries(folder: Path, under: str) -> dict[str, FileEntry]:
    """sha256 and size of every file below ``folder / under``, keyed by path relative to ``folder``."""
    return {
        path.relative_to(folder).as_posix(): FileEntry(sha256=sha256_file(path), size=path.stat().st_size)
        for path in sorted((folder / under).rglob("*"))
        if path.is_file()
    }
