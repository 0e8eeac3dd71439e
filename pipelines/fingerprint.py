"""Cheap fingerprints of inputs and code, so unchanged work is recognised and not redone."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import cache
from importlib.metadata import version
from pathlib import Path

__all__ = ["code_version", "inputs_fingerprint", "sha256_file"]

_REPO_ROOT = Path(__file__).resolve().parent.parent
_CODE_PACKAGES = ("schemas", "pipelines", "generators", "latent_actions", "idm")


@cache
def code_version() -> str:
    """``<package version>+<12 hex>``: a hash of every Python source that produces data, so any code change
    (committed or not) counts as a new version."""
    digest = hashlib.sha256()
    for package in _CODE_PACKAGES:
        for path in sorted((_REPO_ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(_REPO_ROOT)).encode())
            digest.update(path.read_bytes())
    return f"{version('pyramid')}+{digest.hexdigest()[:12]}"


def inputs_fingerprint(paths: Iterable[Path], settings: object = None) -> str:
    """Hash of every file under ``paths`` (relative name, size, modification time), the settings (JSON)
    and the code version. Reading metadata only, it costs milliseconds even for large datasets."""
    digest = hashlib.sha256(code_version().encode())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for root in paths:
        root = Path(root)
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            stat = path.stat()
            digest.update(f"{path.relative_to(root.parent)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
