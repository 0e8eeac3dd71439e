"""Versioned, immutable releases on any fsspec storage: publish atomically, list, diff, retain, pull.

Layout under the store root::

    releases/<version>/manifest.json   the release exists only once this is there
    releases/<version>/...              its files (datasets/..., manifest.parquet, pyramid.png)
    latest                              {"version": ...}, replaced in one step

On a local filesystem a release is copied into a hidden staging folder and renamed into place; on an
object store its files are uploaded first and ``manifest.json`` last, so readers, which only see
versions with a manifest, never see half a release. A publisher killed midway leaves only hidden
staging folders or unlisted objects; publishing again completes the release. Two publishers never
collide: different content means different versions, the same content the same bytes.

A store is shared, so its neighbours are untrusted: a corrupt or foreign entry under ``releases/`` affects only
itself (``unreadable`` names it), ``latest`` only moves forward in build time unless asked, temporary names are
unique per process, and every object-store call has a timeout and a bounded retry.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import fsspec
from fsspec.implementations.local import LocalFileSystem
from pydantic import ValidationError

from pipelines.release.manifest import MANIFEST, load_manifest
from pipelines.runtime.atomic import MARKER, atomic_write_text, check_destination
from pipelines.runtime.fingerprint import sha256_file
from schemas.errors import InputError
from schemas.pyramid import Layer, ReleaseManifest, safe_relative_path

__all__ = [
    "ChecksumError",
    "ReleaseDiff",
    "ReleaseStore",
    "StoreUnreachableError",
    "UnknownReleaseError",
    "pull_release",
]

T = TypeVar("T")

RELEASES_DIR = "releases"
LATEST = "latest"
TIMEOUT_S = 20  # connect and read timeout of every object-store call
ATTEMPTS = 3  # tries of a store call that timed out, waiting 1 s, 2 s, ... between them


class ChecksumError(RuntimeError):
    """A pulled file does not match its manifest checksum; names the file."""


class UnknownReleaseError(InputError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def _with_timeouts(uri: str, options: dict | None) -> dict:
    """``options`` for ``uri``'s filesystem with a connect and read timeout where the caller set none (S3 for now),
    and no retries of its own (``ReleaseStore._io`` retries): a frozen server fails in about ``ATTEMPTS`` x
    ``TIMEOUT_S`` instead of hanging."""
    options = dict(options or {})
    if uri.startswith(("s3://", "s3a://")):
        config = options.setdefault("config_kwargs", {})
        config.setdefault("connect_timeout", TIMEOUT_S)
        config.setdefault("read_timeout", TIMEOUT_S)
        config.setdefault("retries", {"total_max_attempts": 1})  # retried by ReleaseStore._io, the same for every store
    return options


def _transient_errors() -> tuple[type[BaseException], ...]:
    """Errors of a store that may answer on a second try: timeouts and dropped connections."""
    try:
        from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, HTTPClientError
    except ImportError:  # no S3 support installed
        return TimeoutError, ConnectionError
    return TimeoutError, ConnectionError, HTTPClientError, EndpointConnectionError, ConnectionClosedError


class StoreUnreachableError(InputError):
    """The store did not answer, try after try; names it."""


@dataclass(frozen=True)
class ReleaseDiff:
    old: str
    new: str
    added: dict[str, list[str]]  # dataset -> episode ids
    removed: dict[str, list[str]]
    hours: dict[Layer, tuple[float, float]]  # layer -> (old hours, new hours)

    def lines(self) -> list[str]:
        lines = [f"{self.old} -> {self.new}"]
        for layer, (before, after) in self.hours.items():
            lines.append(f"  {layer.value:11s} {before:9.4f} h -> {after:9.4f} h ({after - before:+.4f})")
        for label, changes in (("added", self.added), ("removed", self.removed)):
            for dataset, episodes in sorted(changes.items()):
                lines.append(f"  {label} {len(episodes)} episodes in {dataset}")
        return lines


class ReleaseStore:
    """Releases under one fsspec URI (a local path, ``s3://bucket/prefix``, ...)."""

    def __init__(self, uri: str | Path, storage_options: dict | None = None):
        self.uri = str(uri)
        self.fs, self.root = fsspec.core.url_to_fs(self.uri, **_with_timeouts(self.uri, storage_options))
        if hasattr(self.fs, "retries"):  # s3fs retries each call 5 times, nested: ``_io`` is the one retry here
            self.fs.retries = 1
        self.root = self.root.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        self.unreadable: dict[str, str] = {}  # entries under releases/ that are not readable releases, and why

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def _io(self, what: str, action: Callable[[], T]) -> T:
        """``action`` (one call to the store), tried up to ``ATTEMPTS`` times with a growing pause while the store
        times out or drops the connection; then a ``StoreUnreachableError`` naming it."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return action()
            except _transient_errors() as error:
                if attempt == ATTEMPTS:
                    raise StoreUnreachableError(
                        f"{self.uri}: {what} failed {ATTEMPTS} times ({type(error).__name__}: {error}); check that "
                        "the store is up and reachable"
                    ) from error
                time.sleep(attempt)
        raise AssertionError("unreachable")

    # -- reading -----------------------------------------------------------------------------------

    def versions(self) -> list[str]:
        """Published versions (those with a readable manifest), oldest build first; entries that are not (a
        stray file, a corrupt manifest) are left out and named in ``unreadable``."""
        try:
            entries = self._io("listing releases", partial(self.fs.ls, self._path(RELEASES_DIR), detail=False))
        except FileNotFoundError:
            return []
        created, self.unreadable = {}, {}
        for name in (entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries):
            if name.startswith("."):
                continue  # a publisher's staging folder
            try:
                raw = self._io(
                    f"reading release {name}", partial(self.fs.cat_file, self._path(RELEASES_DIR, name, MANIFEST))
                )
                manifest = ReleaseManifest.model_validate_json(raw)
            except FileNotFoundError:
                continue  # files of a release still uploading (or abandoned): not a release
            except ValidationError as error:  # a foreign or tampered manifest
                first = error.errors()[0]
                self.unreadable[name] = f"manifest {'.'.join(map(str, first['loc']))}: {first['msg']}"
                continue
            except (OSError, ValueError) as error:  # a stray file, a corrupt manifest
                self.unreadable[name] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
                continue
            if manifest.version != name:
                self.unreadable[name] = f"its manifest is of release {manifest.version}"
                continue
            created[name] = manifest.created
        return sorted(created, key=lambda name: (created[name], name))

    def latest(self) -> str | None:
        try:
            return json.loads(self._io("reading latest", partial(self.fs.cat_file, self._path(LATEST))))["version"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # a corrupt pointer: the newest release stands in
            versions = self.versions()
            return versions[-1] if versions else None

    def resolve(self, version: str) -> str:
        resolved = self.latest() if version == "latest" else version
        versions = self.versions()
        if resolved in self.unreadable:
            raise UnknownReleaseError(f"{self.uri}: release {resolved!r} is unreadable ({self.unreadable[resolved]})")
        if resolved is None or resolved not in versions:
            raise UnknownReleaseError(
                f"{self.uri}: no release {version!r} (published: {', '.join(versions) or 'none'})"
            )
        return resolved

    def manifest(self, version: str) -> ReleaseManifest:
        version = self.resolve(version)
        raw = self._io(
            f"reading release {version}", partial(self.fs.cat_file, self._path(RELEASES_DIR, version, MANIFEST))
        )
        return ReleaseManifest.model_validate_json(raw)

    def file_path(self, version: str, relative: str) -> str:
        return self._path(RELEASES_DIR, version, safe_relative_path(relative))

    # -- publishing --------------------------------------------------------------------------------

    def publish(
        self,
        folder: Path,
        *,
        log: Callable[[str], None] = lambda message: None,
        move_latest_back: bool = False,
        on_step: Callable[[str], None] = lambda step: None,
    ) -> str:
        """Publish the release candidate in ``folder`` (as built by ``build_pyramid``); returns its version.

        Refused when any dataset failed a check or a file does not match the manifest. Publishing a
        version that already exists is a no-op, so a rerun after a crash simply completes. ``latest`` moves to
        it only when it was built after the current latest, unless ``move_latest_back``. ``on_step`` hears each
        step as it is reached (``file:<n>``, ``before_rename``, ``before_latest``): where a test kills a publisher.
        """
        folder = Path(folder)
        manifest = load_manifest(folder)
        if manifest is None:
            raise FileNotFoundError(f"{folder / MANIFEST}: missing; not a release candidate")
        failed = [f"{e.dataset}: {name}" for e in manifest.datasets for name, ok in e.checks.items() if not ok]
        if failed:
            raise ValueError(f"release {manifest.version} not published, checks failed: {'; '.join(failed)}")
        if manifest.version in self.versions():
            log(f"{manifest.version} is already published")
        else:
            for relative, entry in manifest.files.items():
                if sha256_file(folder / relative) != entry.sha256:
                    raise ChecksumError(f"{folder / relative}: does not match the manifest; rebuild before publishing")
            if self.local:
                self._publish_local(folder, manifest, on_step)
            else:
                self._publish_object_store(folder, manifest, on_step)
        on_step("before_latest")
        current = self.latest()
        if current is None or move_latest_back or self._built_after(manifest, current):
            self._write_latest(manifest.version)
        else:
            log(f"latest stays {current}, built after {manifest.version} (--move-latest-back moves it)")
        log(f"published {manifest.version} to {self.uri}")
        return manifest.version

    def _built_after(self, manifest: ReleaseManifest, version: str) -> bool:
        try:
            current = self.manifest(version)
        except UnknownReleaseError:
            return True  # latest names nothing readable: any release is better
        return (manifest.created, manifest.version) >= (current.created, current.version)

    def _publish_local(self, folder: Path, manifest: ReleaseManifest, on_step: Callable[[str], None]) -> None:
        releases = Path(self._path(RELEASES_DIR))
        releases.mkdir(parents=True, exist_ok=True)
        self._remove_abandoned_staging(releases)
        staging = releases / f".staging-{manifest.version}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        staging.mkdir()
        try:
            for count, relative in enumerate([*manifest.files, MANIFEST], start=1):
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / relative, target)
                on_step(f"file:{count}")
            with open(staging / MANIFEST, "rb") as stream:
                os.fsync(stream.fileno())
            on_step("before_rename")
            os.rename(staging, releases / manifest.version)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if manifest.version not in self.versions():  # not a concurrent publish of the same release
                raise

    @staticmethod
    def _remove_abandoned_staging(releases: Path) -> None:
        """Staging folders of publishers that died (their pid is gone) are removed."""
        for staging in releases.glob(".staging-*"):
            pid = int(staging.name.split("-")[-2])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(staging, ignore_errors=True)
            except PermissionError:
                pass  # alive, another user's

    def _publish_object_store(self, folder: Path, manifest: ReleaseManifest, on_step: Callable[[str], None]) -> None:
        def upload(relative: str) -> None:
            target = self.file_path(manifest.version, relative)
            self._io(f"uploading {target}", partial(self.fs.put_file, str(folder / relative), target))

        with ThreadPoolExecutor(max_workers=8) as pool:
            for count, _ in enumerate(pool.map(upload, manifest.files), start=1):
                on_step(f"file:{count}")
        on_step("before_rename")
        target = self._path(RELEASES_DIR, manifest.version, MANIFEST)
        self._io(f"uploading {target}", partial(self.fs.put_file, str(folder / MANIFEST), target))

    def _write_latest(self, version: str) -> None:
        document = json.dumps({"version": version}).encode()
        if self.local:
            target = Path(self._path(LATEST))
            temporary = target.with_name(f".{LATEST}.{os.getpid()}-{uuid.uuid4().hex[:6]}")
            temporary.write_bytes(document)
            os.replace(temporary, target)
        else:
            # a single PUT replaces the object atomically
            self._io("writing latest", partial(self.fs.pipe_file, self._path(LATEST), document))

    # -- retention and comparison ----------------------------------------------------------------

    def apply_retention(self, keep: int) -> list[str]:
        """Delete all but the ``keep`` newest releases (never the latest); returns the deleted versions.
        The manifest goes first, so a release is unlisted before any of its files disappear."""
        if keep < 1:
            raise ValueError("keep at least one release")
        versions = self.versions()
        latest = self.latest()
        doomed = [v for v in versions[:-keep] if v != latest]
        for version in doomed:
            self.fs.rm_file(self._path(RELEASES_DIR, version, MANIFEST))
            self.fs.rm(self._path(RELEASES_DIR, version), recursive=True)
        return doomed

    def diff(self, old: str, new: str) -> ReleaseDiff:
        """Episodes added and removed per dataset, and hours per layer, between two releases."""
        before, after = self.manifest(old), self.manifest(new)
        ids_before, ids_after = self._episode_ids(before), self._episode_ids(after)
        names = set(ids_before) | set(ids_after)
        added = {n: sorted(ids_after.get(n, set()) - ids_before.get(n, set())) for n in names}
        removed = {n: sorted(ids_before.get(n, set()) - ids_after.get(n, set())) for n in names}
        hours_before, hours_after = before.hours_per_layer(), after.hours_per_layer()
        return ReleaseDiff(
            before.version,
            after.version,
            {n: ids for n, ids in added.items() if ids},
            {n: ids for n, ids in removed.items() if ids},
            {layer: (hours_before[layer], hours_after[layer]) for layer in Layer},
        )

    def _episode_ids(self, manifest: ReleaseManifest) -> dict[str, set[str]]:
        ids = {}
        for entry in manifest.datasets:
            path = self.file_path(manifest.version, f"{entry.path}/meta/pyramid.json")
            meta = json.loads(self._io(f"reading {path}", partial(self.fs.cat_file, path)))
            ids[entry.dataset] = {episode["episode_id"] for episode in meta["episodes"]}
        return ids


def pull_release(
    uri: str | Path,
    version: str,
    destination: Path | str,
    *,
    layers: Sequence[str] | None = None,
    embodiments: Sequence[str] | None = None,
    workers: int = 8,
    storage_options: dict | None = None,
    on_file: Callable[[str], None] | None = None,
    overwrite: bool = False,
) -> Path:
    """Download a release (optionally only some layers/embodiments) to ``destination/<version>``; a folder there
    that pyramid did not write, or one overlapping a local store, is refused (``overwrite`` allows the first).

    Resumable: files already there with the right checksum are kept. Parallel: ``workers`` downloads at
    once. Every file is verified against the manifest before it is moved into place; a mismatch raises
    ``ChecksumError`` naming the file. The manifest is written last, so a folder with a manifest is complete.
    """
    store = ReleaseStore(uri, storage_options)
    manifest = store.manifest(version)
    wanted = [
        entry
        for entry in manifest.datasets
        if (not layers or entry.layer.value in layers) and (not embodiments or entry.embodiment in embodiments)
    ]
    if not wanted:
        raise ValueError(f"release {manifest.version} has no dataset in layers {layers} / embodiments {embodiments}")
    prefixes = tuple(entry.path + "/" for entry in wanted)
    selected = {p: e for p, e in manifest.files.items() if p.startswith(prefixes) or "/" not in p}
    target = Path(destination) / manifest.version
    check_destination(target, [Path(store.root)] if store.local else [], overwrite=overwrite)
    target.mkdir(parents=True, exist_ok=True)
    (target / MARKER).touch()  # pyramid's, even half pulled: a later pull resumes into it

    def fetch(relative: str) -> None:
        entry = selected[relative]
        local = target / safe_relative_path(relative)
        if local.is_file() and local.stat().st_size == entry.size and sha256_file(local) == entry.sha256:
            return  # already pulled (resuming)
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(f".{local.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")  # two pulls never share
        source = store.file_path(manifest.version, relative)
        store._io(f"downloading {source}", partial(store.fs.get_file, source, str(part)))
        actual = sha256_file(part)
        if actual != entry.sha256:
            part.unlink()
            raise ChecksumError(
                f"{store.file_path(manifest.version, relative)}: sha256 {actual[:12]}... does not match the "
                f"manifest's {entry.sha256[:12]}...; refusing release {manifest.version}"
            )
        os.replace(part, local)
        if on_file is not None:
            on_file(relative)

    (target / MANIFEST).unlink(missing_ok=True)  # incomplete until every file checks out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(fetch, sorted(selected)))
    pulled = manifest.model_copy(update={"datasets": wanted, "files": selected})
    atomic_write_text(target / MANIFEST, pulled.model_dump_json(indent=2) + "\n")
    return target
