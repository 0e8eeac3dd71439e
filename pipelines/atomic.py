"""Build a folder beside its destination and rename it into place, so readers never see half of it."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_directory"]


@contextmanager
def atomic_directory(destination: Path, *, replace: bool = False) -> Iterator[Path]:
    """Yield a fresh staging folder; on success it becomes ``destination`` in one rename.

    With ``replace`` an existing destination is swapped out (renamed aside, then deleted); without it an
    existing destination is an error. On failure the staging folder is removed and nothing changes.
    """
    destination = Path(destination)
    if destination.exists() and not replace:
        raise FileExistsError(f"{destination}: already exists")
    destination.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = destination.with_name(f".{destination.name}.staging-{token}")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if destination.exists():
        retired = destination.with_name(f".{destination.name}.retired-{token}")
        os.rename(destination, retired)
        os.rename(staging, destination)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.rename(staging, destination)
