"""Cheap fingerprints of inputs and code, so unchanged work is recognised and not redone."""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from importlib.metadata import version
from pathlib import Path

from schemas.settings import REPO_ROOT

__all__ = ["code_version", "inputs_fingerprint", "sha256_file"]

_PACKAGES = ("schemas", "pipelines", "generators", "latent_actions", "idm", "policy")  # code that makes data


@cache
def code_version(*modules: str) -> str:
    """``<package version>+<12 hex>``: a hash of the sources of ``modules`` and of every pyramid module they
    import, transitively (committed or not). Work done by unchanged code is recognised as such; editing
    another stage, or the CLI's help, changes nothing. No module given: all the code that makes data."""
    files = (
        _module_files(modules) if modules else sorted(p for pkg in _PACKAGES for p in (REPO_ROOT / pkg).rglob("*.py"))
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    return f"{version('pyramid')}+{digest.hexdigest()[:12]}"


def _module_file(name: str) -> Path | None:
    if name.split(".")[0] not in _PACKAGES:
        return None
    base = REPO_ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _imported(path: Path, package: str) -> frozenset[str]:
    """Every module ``path`` imports, anywhere in it (lazy imports inside functions too), by absolute name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parent = package.rsplit(".", node.level - 1)[0] if node.level else ""
            base = ".".join(part for part in (parent, node.module or "") if part)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return frozenset(names)


def _module_files(modules: tuple[str, ...]) -> list[Path]:
    """The files of ``modules`` and of the pyramid modules they import, transitively, with their packages'
    ``__init__`` files."""
    seen: dict[str, Path] = {}
    pending = list(modules)
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for end in range(1, len(parts) + 1):  # a module's packages run their __init__ first
            prefix = ".".join(parts[:end])
            if prefix in seen or (path := _module_file(prefix)) is None:
                continue
            seen[prefix] = path
            package = prefix if path.name == "__init__.py" else prefix.rpartition(".")[0]
            pending.extend(_imported(path, package))
    return sorted(set(seen.values()))


def inputs_fingerprint(paths: Iterable[Path], settings: object = None, code: str = "") -> str:
    """Hash of every file under ``paths`` (relative name, size, modification time), the settings (JSON)
    and ``code`` (the ``code_version`` of what turns them into the output; default: all of it). Reading
    metadata only, it costs milliseconds even for large datasets."""
    digest = hashlib.sha256((code or code_version()).encode())
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
