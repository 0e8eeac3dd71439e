"""Build a folder beside its destination and rename it into place, so readers never see half of it; and never
replace a folder pyramid did not write, or one that holds (or is inside) what is being read."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from schemas.errors import InputError

__all__ = [
    "MARKER",
    "DestinationError",
    "atomic_directory",
    "atomic_write_text",
    "check_destination",
    "written_by_pyramid",
]

MARKER = ".pyramid"  # an empty file in every folder atomic_directory writes: "pyramid made this, it may replace it"
_EARLIER_MARKS = ("meta/pyramid.json", "manifest.json")  # folders pyramid wrote before the marker


class DestinationError(InputError):
    """A destination that writing would damage: it overlaps the source, or pyramid did not write it."""


def written_by_pyramid(folder: Path) -> bool:
    return any((Path(folder) / name).is_file() for name in (MARKER, *_EARLIER_MARKS))


def check_destination(destination: Path, protect: Iterable[Path] = (), *, overwrite: bool = False) -> None:
    """Refuse a ``destination`` that is, contains or lies inside a ``protect``-ed path (a command's source), or
    that is a non-empty folder (or a file) pyramid did not write, unless ``overwrite``."""
    target = Path(destination).resolve()
    for source in protect:
        origin = Path(source).resolve()
        if target == origin or origin in target.parents or target in origin.parents:
            raise DestinationError(f"{destination}: overlaps {source}, which it would replace; write somewhere else")
    if not target.exists() or overwrite:
        return
    if target.is_file() or (any(target.iterdir()) and not written_by_pyramid(target)):
        raise DestinationError(
            f"{destination}: exists and pyramid did not write it; choose another destination, or pass --overwrite "
            "to replace it"
        )


@contextmanager
def atomic_directory(
    destination: Path, *, replace: bool = False, protect: Iterable[Path] = (), overwrite: bool = False
) -> Iterator[Path]:
    """Yield a fresh staging folder; on success it becomes ``destination`` in one rename.

    With ``replace`` an existing destination is swapped out (renamed aside, then deleted) when pyramid wrote it
    (``check_destination``: ``overwrite`` allows any); without it an existing destination is an error. A
    destination overlapping a ``protect``-ed path is always refused. On failure the staging folder is removed
    and nothing changes.
    """
    destination = Path(destination)
    check_destination(destination, protect, overwrite=overwrite)
    if destination.exists() and not replace:
        raise FileExistsError(f"{destination}: already exists")
    destination.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = destination.with_name(f".{destination.name}.staging-{token}")
    staging.mkdir()
    try:
        yield staging
        (staging / MARKER).touch()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if destination.exists():
        retired = destination.with_name(f".{destination.name}.retired-{token}")
        os.rename(destination, retired)
        os.rename(staging, destination)
        if retired.is_dir():
            shutil.rmtree(retired, ignore_errors=True)
        else:
            retired.unlink()
    else:
        os.rename(staging, destination)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it (unique to this process) and one rename,
    so a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
