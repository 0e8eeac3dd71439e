"""Versioned, immutable releases on any fsspec storage: publish atomically, list, diff, retain, collect, pull.

Layout under the store root::

    objects/<aa>/<sha256>              every file's bytes, stored once, whichever releases and paths name them
    releases/<version>/manifest.json   a release: its datasets and its files (path -> sha256, size)
    index.json                         {"releases": {version: created}}: what listing reads
    leases/<kind>-<token>.json         a publish or a garbage collection in progress
    latest                             {"version": ...}, replaced in one step

Publishing is content-addressed: a file whose sha256 is already in ``objects/`` is not uploaded again, so a
nightly release that adds 1% of the data uploads about 1%. Objects go first (each one atomically) and
``manifest.json`` last, so readers, which only see versions with a manifest, never see half a release. A
publisher killed midway leaves only unlisted objects: publishing again completes the release, and
``collect_garbage`` removes what no listed release references. A publish and a collection never overlap: each
writes its lease, then looks for the other's (a collection yields to a publish; a publish waits for a
collection to finish), so a collection never deletes an object a publish is about to reference. Stores written
before objects existed (files under ``releases/<version>/``) are still read.

A store is shared, so its neighbours are untrusted: a corrupt or foreign entry under ``releases/`` affects only
itself (``unreadable`` names it), ``latest`` only moves forward in build time unless asked, temporary names are
unique per process, a collection deletes only files named like its own objects, and every object-store call
has a timeout and a bounded retry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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
from schemas.pyramid import FileEntry, Layer, ReleaseManifest, safe_relative_path

__all__ = [
    "ChecksumError",
    "GarbageReport",
    "ReleaseDiff",
    "ReleaseStore",
    "StoreUnreachableError",
    "UnknownReleaseError",
    "pull_release",
]

T = TypeVar("T")

RELEASES_DIR = "releases"
OBJECTS_DIR = "objects"
LEASES_DIR = "leases"
INDEX = "index.json"
LATEST = "latest"
LEASE_EXPIRES_S = 24 * 3600  # a lease this old belongs to a process that died on another host
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
class GarbageReport:
    """What a garbage collection did: objects deleted and bytes freed, objects kept, files it left alone because
    it did not write them, or why it did nothing (a publish in progress)."""

    deleted: list[str]
    freed_bytes: int
    kept: int
    foreign: list[str]
    skipped: str | None = None

    def line(self) -> str:
        if self.skipped:
            return f"garbage collection skipped: {self.skipped}"
        foreign = f"; left alone {len(self.foreign)} files pyramid did not write" if self.foreign else ""
        return (
            f"garbage collection: deleted {len(self.deleted)} unreferenced objects ({self.freed_bytes / 1e6:.1f} MB),"
            f" kept {self.kept}{foreign}"
        )


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

    def object_path(self, sha256: str) -> str:
        return self._path(OBJECTS_DIR, sha256[:2], sha256)

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

    def _names(self, folder: str) -> list[str]:
        """Names of the entries of ``folder`` in the store (none when it does not exist)."""
        try:
            entries = self._io(f"listing {folder}", partial(self.fs.ls, self._path(folder), detail=False))
        except FileNotFoundError:
            return []
        return [entry.rstrip("/").rsplit("/", 1)[-1] for entry in entries]

    def _put_bytes(self, target: str, data: bytes) -> None:
        """Write ``data`` to ``target`` in one step: readers see the old content or the new, never a part."""
        if self.local:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:6]}")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        else:  # a single PUT replaces the object atomically
            self._io(f"writing {target}", partial(self.fs.pipe_file, target, data))

    def _put_file(self, source: Path, target: str) -> None:
        """Copy the local file ``source`` to ``target`` in one step."""
        if self.local:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:6]}")
            shutil.copyfile(source, temporary)
            os.replace(temporary, path)
        else:
            self._io(f"uploading {target}", partial(self.fs.put_file, str(source), target))

    # -- reading -----------------------------------------------------------------------------------

    def versions(self) -> list[str]:
        """Published versions (those with a readable manifest), oldest build first. Reads the index and one
        listing of ``releases/``; only a release the index does not know yet (published concurrently, or by an
        older pyramid) has its manifest read, and then the index is rewritten. Entries that are not releases (a
        stray file, a corrupt manifest) are left out and named in ``unreadable``."""
        names = [name for name in self._names(RELEASES_DIR) if not name.startswith(".")]  # dot: temporary files
        index = self._read_index()
        created = {name: index[name] for name in names if name in index}
        self.unreadable = {}
        for name in (name for name in names if name not in index):
            manifest = self._read_listed_manifest(name)
            if manifest is not None:
                created[name] = manifest.created
        if created != index:
            try:
                self._put_bytes(self._path(INDEX), json.dumps({"releases": created}, indent=1).encode())
            except PermissionError:
                pass  # a read-only store (a trainer's credentials): the next publisher writes the index
        return sorted(created, key=lambda name: (created[name], name))

    def _read_index(self) -> dict[str, str]:
        try:
            document = json.loads(self._io("reading the index", partial(self.fs.cat_file, self._path(INDEX))))
            releases = document["releases"]
            return {str(name): str(created) for name, created in releases.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # a corrupt index is rebuilt
            return {}

    def _read_listed_manifest(self, name: str) -> ReleaseManifest | None:
        """The manifest of ``releases/<name>``, or None (recorded in ``unreadable`` when it is not a release)."""
        try:
            raw = self._io(
                f"reading release {name}", partial(self.fs.cat_file, self._path(RELEASES_DIR, name, MANIFEST))
            )
            manifest = ReleaseManifest.model_validate_json(raw)
        except FileNotFoundError:
            return None  # a release whose manifest is not written yet (or never will be): not a release
        except ValidationError as error:  # a foreign or tampered manifest
            first = error.errors()[0]
            self.unreadable[name] = f"manifest {'.'.join(map(str, first['loc']))}: {first['msg']}"
            return None
        except (OSError, ValueError) as error:  # a stray file, a corrupt manifest
            self.unreadable[name] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
            return None
        if manifest.version != name:
            self.unreadable[name] = f"its manifest is of release {manifest.version}"
            return None
        return manifest

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
        manifest = self._read_listed_manifest(version)
        if manifest is None:  # indexed, then deleted or tampered with
            reason = self.unreadable.get(version, "its manifest is gone")
            raise UnknownReleaseError(f"{self.uri}: release {version!r} is unreadable ({reason})")
        return manifest

    def get_file(self, version: str, relative: str, entry: FileEntry, local: Path) -> None:
        """Download one file of a release to ``local`` (not verified here: ``pull_release`` checks it)."""
        source = self.object_path(entry.sha256)
        try:
            self._io(f"downloading {source}", partial(self.fs.get_file, source, str(local)))
        except FileNotFoundError:  # a release published before objects existed keeps its files in its folder
            source = self._path(RELEASES_DIR, version, safe_relative_path(relative))
            self._io(f"downloading {source}", partial(self.fs.get_file, source, str(local)))

    def read_file(self, version: str, relative: str, entry: FileEntry) -> bytes:
        try:
            return self._io(f"reading {relative}", partial(self.fs.cat_file, self.object_path(entry.sha256)))
        except FileNotFoundError:
            source = self._path(RELEASES_DIR, version, safe_relative_path(relative))
            return self._io(f"reading {source}", partial(self.fs.cat_file, source))

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

        Refused when any dataset failed a check or a file does not match the manifest. Only files whose content
        the store does not hold yet are uploaded. Publishing a version that already exists is a no-op, so a rerun
        after a crash simply completes. ``latest`` moves to it only when it was built after the current latest,
        unless ``move_latest_back``. ``on_step`` hears each step as it is reached (``file:<n>``,
        ``before_manifest``, ``before_index``, ``before_latest``): where a test kills a publisher.
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
            with self._lease("publish"):
                self._wait_for_collections()
                self._upload(folder, manifest, on_step, log)
                on_step("before_manifest")
                self._put_file(folder / MANIFEST, self._path(RELEASES_DIR, manifest.version, MANIFEST))
                on_step("before_index")
            self.versions()  # adds it to the index
        on_step("before_latest")
        current = self.latest()
        if current is None or move_latest_back or self._built_after(manifest, current):
            self._put_bytes(self._path(LATEST), json.dumps({"version": manifest.version}).encode())
        else:
            log(f"latest stays {current}, built after {manifest.version} (--move-latest-back moves it)")
        log(f"published {manifest.version} to {self.uri}")
        return manifest.version

    def _upload(
        self, folder: Path, manifest: ReleaseManifest, on_step: Callable[[str], None], log: Callable[[str], None]
    ) -> None:
        """Upload the objects of ``manifest``'s files that the store does not hold, in parallel."""
        stored = {name for prefix in self._names(OBJECTS_DIR) for name in self._names(f"{OBJECTS_DIR}/{prefix}")}
        missing = {entry.sha256: relative for relative, entry in manifest.files.items() if entry.sha256 not in stored}

        def upload(item: tuple[str, str]) -> None:
            sha256, relative = item
            self._put_file(folder / relative, self.object_path(sha256))

        with ThreadPoolExecutor(max_workers=8) as pool:
            for count, _ in enumerate(pool.map(upload, sorted(missing.items())), start=1):
                on_step(f"file:{count}")
        sizes = {entry.sha256: entry.size for entry in manifest.files.values()}
        uploaded = sum(sizes[sha256] for sha256 in missing)
        log(
            f"uploaded {len(missing)} of {len(sizes)} objects ({uploaded / 1e6:.1f} of "
            f"{sum(sizes.values()) / 1e6:.1f} MB); the rest were in the store already"
        )

    def _built_after(self, manifest: ReleaseManifest, version: str) -> bool:
        try:
            current = self.manifest(version)
        except UnknownReleaseError:
            return True  # latest names nothing readable: any release is better
        return (manifest.created, manifest.version) >= (current.created, current.version)

    # -- leases: a publish and a garbage collection never overlap ------------------------------------

    @contextmanager
    def _lease(self, kind: str) -> Iterator[None]:
        """Hold a lease of ``kind`` (publish, collect) while the block runs."""
        target = self._path(LEASES_DIR, f"{kind}-{uuid.uuid4().hex}.json")
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
        self._put_bytes(target, json.dumps(owner).encode())
        try:
            yield
        finally:
            self._io(f"removing {target}", partial(self.fs.rm_file, target))

    def _leases(self, kind: str) -> dict[str, bool]:
        """Leases of ``kind`` -> whether their holder may still run: on this host, while its process is alive;
        from another host, for ``LEASE_EXPIRES_S``."""
        leases = {}
        for name in self._names(LEASES_DIR):
            if not name.startswith(f"{kind}-"):
                continue
            try:
                owner = json.loads(self._io("reading a lease", partial(self.fs.cat_file, self._path(LEASES_DIR, name))))
            except FileNotFoundError:
                continue  # released meanwhile
            except (OSError, ValueError):
                owner = {}
            if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
                leases[name] = _process_alive(owner["pid"])
            else:
                leases[name] = time.time() - float(owner.get("since", 0)) < LEASE_EXPIRES_S
        return leases

    def _wait_for_collections(self, poll_s: float = 0.5) -> None:
        """Called holding a publish lease: a collection that started before it finishes first."""
        while any(self._leases("collect").values()):
            time.sleep(poll_s)

    # -- retention, garbage and comparison ----------------------------------------------------------

    def apply_retention(self, keep: int) -> list[str]:
        """Unlist all but the ``keep`` newest releases (never the latest); returns the deleted versions. The
        manifest goes first, so a release is unlisted before anything else of it disappears; its objects are
        freed by ``collect_garbage`` where no other release shares them."""
        if keep < 1:
            raise ValueError("keep at least one release")
        versions = self.versions()
        latest = self.latest()
        doomed = [v for v in versions[:-keep] if v != latest]
        for version in doomed:
            self.fs.rm_file(self._path(RELEASES_DIR, version, MANIFEST))
            self.fs.rm(self._path(RELEASES_DIR, version), recursive=True)
        if doomed:
            self.versions()  # drops them from the index
        return doomed

    def collect_garbage(self) -> GarbageReport:
        """Delete the objects no listed release references (left by abandoned publishes, or freed by retention),
        and abandoned partial objects. Does nothing while a publish holds a lease; deletes only files named like
        those a publish writes."""
        with self._lease("collect"):
            publishing = self._leases("publish")
            if any(publishing.values()):
                holder = next(name for name, alive in publishing.items() if alive)
                return GarbageReport([], 0, 0, [], f"a publish is in progress (lease {holder}); run it later")
            for name in publishing:  # the leases of publishers that died
                self._io(f"removing lease {name}", partial(self.fs.rm_file, self._path(LEASES_DIR, name)))
            referenced = {entry.sha256 for v in self.versions() for entry in self.manifest(v).files.values()}
            deleted, foreign, freed, kept = [], [], 0, 0
            for prefix in self._names(OBJECTS_DIR):
                folder = self._path(OBJECTS_DIR, prefix)
                for item in self._io(f"listing {folder}", partial(self.fs.ls, folder, detail=True)):
                    name = item["name"].rstrip("/").rsplit("/", 1)[-1]
                    if _PARTIAL_OBJECT.fullmatch(name):  # a dead publisher's (a live one holds a lease)
                        self._io(f"deleting {item['name']}", partial(self.fs.rm_file, item["name"]))
                    elif not _OBJECT_NAME.fullmatch(name) or name[:2] != prefix or item.get("type") == "directory":
                        foreign.append(f"{OBJECTS_DIR}/{prefix}/{name}")
                    elif name in referenced:
                        kept += 1
                    else:
                        self._io(f"deleting {item['name']}", partial(self.fs.rm_file, item["name"]))
                        deleted.append(name)
                        freed += int(item.get("size") or 0)
            return GarbageReport(deleted, freed, kept, foreign)

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
            relative = f"{entry.path}/meta/pyramid.json"
            meta = json.loads(self.read_file(manifest.version, relative, manifest.files[relative]))
            ids[entry.dataset] = {episode["episode_id"] for episode in meta["episodes"]}
        return ids


_OBJECT_NAME = re.compile(r"[0-9a-f]{64}")
_PARTIAL_OBJECT = re.compile(r"\.[0-9a-f]{64}\.\d+-[0-9a-f]{6}")  # _put_file's temporary name


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


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
        store.get_file(manifest.version, relative, entry, part)
        actual = sha256_file(part)
        if actual != entry.sha256:
            part.unlink()
            raise ChecksumError(
                f"{store.uri}: {relative} of release {manifest.version} (object {entry.sha256[:12]}...) has sha256 "
                f"{actual[:12]}..., not the manifest's; refusing the release"
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
