"""Where a release's manifest lives and how it is read; light enough for publishers and pullers to import."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pipelines.runtime.fingerprint import sha256_file
from schemas.errors import InputError
from schemas.pyramid import FileEntry, ReleaseManifest

__all__ = ["CHART", "DATASETS_DIR", "MANIFEST", "MANIFEST_TABLE", "ManifestError", "file_entries", "load_manifest"]

MANIFEST = "manifest.json"  # written last: a release folder without it is incomplete
MANIFEST_TABLE = "manifest.parquet"  # one row per dataset
CHART = "pyramid.png"  # hours per layer
DATASETS_DIR = "datasets"  # datasets/<source>__<embodiment>/ (LeRobot v3.0)


class ManifestError(InputError, ValueError):
    """A manifest that is not valid (tampered with, foreign, truncated); names the file and the field."""


def load_manifest(folder: Path) -> ReleaseManifest | None:
    """The manifest of a release folder, or None when it has none (yet); an invalid one is a ``ManifestError``."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        return ReleaseManifest.model_validate_json(path.read_text())
    except ValidationError as error:
        first = error.errors()[0]
        raise ManifestError(f"{path}: field {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def file_entries(folder: Path, under: str) -> dict[str, FileEntry]:
    """sha256 and size of every file below ``folder / under``, keyed by path relative to ``folder``."""
    return {
        path.relative_to(folder).as_posix(): FileEntry(sha256=sha256_file(path), size=path.stat().st_size)
        for path in sorted((folder / under).rglob("*"))
        if path.is_file()
    }
