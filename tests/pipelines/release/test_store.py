"""Publishing and pulling releases on a filesystem: atomic, verified, resumable, crash- and race-safe."""

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.lerobot.reader import LeRobotSource
from pipelines.release.build import build_pyramid
from pipelines.release.manifest import load_manifest
from pipelines.release.open import PulledRelease, UnverifiedFileError
from pipelines.release.store import (
    ChecksumError,
    ReleaseStore,
    StoreUnreachableError,
    UnknownReleaseError,
    pull_release,
)
from tests.conftest import REPO_ROOT, build_episode
from tests.pipelines.release.conftest import PUBLISH, add_stack_episode, write_home


def publish_in_subprocess(store: Path, folder: Path, crash_at: str | None = None) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-c", PUBLISH, str(store), str(folder), crash_at or ""]
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT)


def second_build(home: Path) -> str:
    """A newer pyramid in ``home``: one more stack episode."""
    add_stack_episode(home)
    return build_pyramid(home, validate=lambda root: {"quality": True}).manifest.version


def test_publish_then_pull_by_layer_opens_in_lerobot_mixture_and_hf(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    version = store.publish(home / "pyramid")
    assert store.versions() == [version] and store.latest() == version
    folder = pull_release(tmp_path / "store", "latest", tmp_path / "pulled", layers=["real_robot"])
    release = PulledRelease(folder)
    assert release.dataset_names == ["oxe__widowx", "teleop__robosuite_panda"]
    assert not (folder / "datasets/human_video__human_video").exists()
    datasets = release.lerobot_datasets()
    assert datasets["teleop__robosuite_panda"].num_episodes == 5
    mixture = release.mixture()
    draws = [mixture.locate(i)[0] for i in mixture.sampler(4000, torch.Generator().manual_seed(0))]
    share = Counter(mixture.names[d] for d in draws)["oxe__widowx"] / len(draws)
    assert share == pytest.approx(mixture.weights["oxe__widowx"], abs=0.03)
    assert mixture[0]["dataset"] == "oxe__widowx" and mixture[0]["action"].shape == (7,)
    hf = release.hf_datasets()
    assert hf["oxe__widowx"].num_rows == 4 * 9


def test_pull_resumes_and_refuses_a_tampered_file_naming_it(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    version = store.publish(home / "pyramid")
    fetched: list[str] = []
    pull_release(tmp_path / "store", version, tmp_path / "pulled", on_file=fetched.append)
    assert len(fetched) == len(load_manifest(home / "pyramid").files)
    refetched: list[str] = []
    (tmp_path / "pulled" / version / "manifest.parquet").unlink()  # an interrupted pull lacks some files
    pull_release(tmp_path / "store", version, tmp_path / "pulled", on_file=refetched.append)
    assert refetched == ["manifest.parquet"]
    entry = store.manifest(version).files["datasets/oxe__widowx/data/chunk-000/file-000.parquet"]
    victim = Path(store.object_path(entry.sha256))
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x00")
    with pytest.raises(ChecksumError, match="oxe__widowx/data/chunk-000/file-000.parquet"):
        pull_release(tmp_path / "store", version, tmp_path / "fresh")


def test_a_manifest_path_escaping_the_release_is_refused(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    version = store.publish(home / "pyramid")
    manifest_path = tmp_path / "store/releases" / version / "manifest.json"
    document = json.loads(manifest_path.read_text())
    document["files"]["../../outside.txt"] = document["files"].pop("pyramid.png")
    manifest_path.write_text(json.dumps(document))
    with pytest.raises(UnknownReleaseError, match=f"release '{version}' is unreadable .*escapes the release root"):
        pull_release(tmp_path / "store", version, tmp_path / "pulled")
    assert not (tmp_path / "outside.txt").exists()


def test_a_release_with_a_failed_check_is_not_published(home, tmp_path):
    manifest_path = home / "pyramid/manifest.json"
    document = json.loads(manifest_path.read_text())
    document["datasets"][1]["checks"] = {"quality": False}  # as build_pyramid records a failed GX suite
    manifest_path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="checks failed: oxe__widowx: quality"):
        ReleaseStore(tmp_path / "store").publish(home / "pyramid")
    assert ReleaseStore(tmp_path / "store").versions() == []


def stored_objects(store: Path) -> set[str]:
    """Names of the files under ``objects/``: sha256 names, and hidden temporary ones."""
    return {path.name for path in (store / "objects").glob("*/*")}


@pytest.mark.parametrize("crash_at", ["file:1", "file:4", "before_manifest"])
def test_kill_9_during_publish_leaves_no_partial_release_and_a_rerun_completes(home, tmp_path, crash_at):
    store = ReleaseStore(tmp_path / "store")
    first = store.publish(home / "pyramid")
    kept = stored_objects(tmp_path / "store")
    second = second_build(home)
    process = publish_in_subprocess(tmp_path / "store", home / "pyramid", crash_at)
    assert process.wait(timeout=120) == -9
    assert store.versions() == [first] and store.latest() == first  # the half-published release is invisible
    orphans = stored_objects(tmp_path / "store") - kept
    whole = {name for name in orphans if not name.startswith(".")}  # others: copies the kill cut short
    assert whole and all(Path(store.object_path(name)).is_file() for name in whole)
    garbage = store.collect_garbage()  # the dead publisher's lease does not hold it back
    assert set(garbage.deleted) == whole and stored_objects(tmp_path / "store") == kept
    PulledRelease(pull_release(tmp_path / "store", first, tmp_path / "pulled"))  # nothing of it was collected
    assert publish_in_subprocess(tmp_path / "store", home / "pyramid").wait(timeout=120) == 0
    assert store.versions() == [first, second] and store.latest() == second
    assert not list((tmp_path / "store/leases").iterdir())
    PulledRelease(pull_release(tmp_path / "store", "latest", tmp_path / "pulled"))


@pytest.mark.parametrize("crash_at", ["before_index", "before_latest"])
def test_kill_9_after_the_release_keeps_latest_on_the_old_release_and_lists_the_new(home, tmp_path, crash_at):
    store = ReleaseStore(tmp_path / "store")
    first = store.publish(home / "pyramid")
    second = second_build(home)
    assert publish_in_subprocess(tmp_path / "store", home / "pyramid", crash_at).wait(timeout=120) == -9
    assert store.latest() == first and store.versions() == [first, second]  # complete, just not promoted yet
    index = json.loads((tmp_path / "store/index.json").read_text())["releases"]
    assert set(index) == {first, second}  # listing repaired the index the killed publisher did not update
    assert store.publish(home / "pyramid") == second and store.latest() == second


def test_concurrent_publishes_never_corrupt_each_other(home, tmp_path):
    store_path = tmp_path / "store"
    other_home = tmp_path / "other"
    write_home(other_home, build_episode, extra_stack_episodes=2)
    build_pyramid(other_home, validate=lambda root: {"quality": True})
    publishers = [
        publish_in_subprocess(store_path, folder)
        for folder in (home / "pyramid", other_home / "pyramid", home / "pyramid", other_home / "pyramid")
    ]
    assert [p.wait(timeout=180) for p in publishers] == [0, 0, 0, 0]
    store = ReleaseStore(store_path)
    assert len(store.versions()) == 2 and store.latest() in store.versions()
    for version in store.versions():
        PulledRelease(pull_release(store_path, version, tmp_path / "pulled"))  # every checksum verified


def test_diff_reports_episodes_and_hours_per_layer(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    first = store.publish(home / "pyramid")
    second = second_build(home)
    store.publish(home / "pyramid")
    diff = store.diff(first, second)
    assert diff.removed == {} and list(diff.added) == ["teleop__robosuite_panda"]
    assert len(diff.added["teleop__robosuite_panda"]) == 1
    before, after = diff.hours[next(iter(diff.hours))]
    assert after - before == pytest.approx(24 / 20 / 3600)
    assert any("added 1 episodes in teleop__robosuite_panda" in line for line in diff.lines())


def test_retention_keeps_the_newest_and_never_the_latest_pointer_target(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    first = store.publish(home / "pyramid")
    first_objects = {e.sha256 for e in store.manifest(first).files.values()}
    second_build(home)
    second = store.publish(home / "pyramid")
    second_objects = {e.sha256 for e in store.manifest(second).files.values()}
    assert store.apply_retention(keep=1) == [first] and store.versions() == [second]
    with pytest.raises(KeyError, match="no release"):
        pull_release(tmp_path / "store", first, tmp_path / "pulled")
    garbage = store.collect_garbage()  # frees what only the first release held; shared objects stay
    assert set(garbage.deleted) == first_objects - second_objects and garbage.kept == len(second_objects)
    PulledRelease(pull_release(tmp_path / "store", second, tmp_path / "pulled"))


def test_a_second_release_uploads_only_the_files_whose_content_changed(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    first = store.publish(home / "pyramid")
    before = stored_objects(tmp_path / "store")
    second_build(home)  # one more stack episode: only the panda teleop dataset and the tables change
    messages: list[str] = []
    second = store.publish(home / "pyramid", log=messages.append)
    uploaded = stored_objects(tmp_path / "store") - before
    old, new = store.manifest(first).files, store.manifest(second).files
    changed = {path for path, entry in new.items() if old.get(path) != entry}
    assert uploaded == {new[path].sha256 for path in changed}
    assert changed and all(path.startswith(("datasets/teleop__", "manifest", "pyramid")) for path in changed)
    assert len(changed) < len(new) / 2
    assert f"uploaded {len(uploaded)} of {len({e.sha256 for e in new.values()})} objects" in " ".join(messages)


def test_listing_reads_the_index_and_repairs_it_from_the_manifests(home, tmp_path, monkeypatch):
    store = ReleaseStore(tmp_path / "store")
    first = store.publish(home / "pyramid")
    second_build(home)
    second = store.publish(home / "pyramid")
    index = json.loads((tmp_path / "store/index.json").read_text())["releases"]
    assert set(index) == {first, second}

    def no_manifest_reads(name):
        raise AssertionError(f"read the manifest of {name}")

    monkeypatch.setattr(store, "_read_listed_manifest", no_manifest_reads)
    assert store.versions() == [first, second]  # the index and one listing; no manifest read
    monkeypatch.undo()
    (tmp_path / "store/index.json").write_text(json.dumps({"releases": {second: index[second]}}))  # a lost update
    assert store.versions() == [first, second]
    assert set(json.loads((tmp_path / "store/index.json").read_text())["releases"]) == {first, second}
    (tmp_path / "store/index.json").write_text("{corrupt")
    assert store.versions() == [first, second]


def test_a_store_written_before_objects_existed_still_lists_and_pulls(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    version = store.publish(home / "pyramid")
    for relative, entry in store.manifest(version).files.items():  # the layout of pyramid 0.1: files in place
        target = tmp_path / "store/releases" / version / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.object_path(entry.sha256), target)
    shutil.rmtree(tmp_path / "store/objects")
    (tmp_path / "store/index.json").unlink()
    assert stored_objects(tmp_path / "store") == set()
    assert ReleaseStore(tmp_path / "store").versions() == [version]
    release = PulledRelease(pull_release(tmp_path / "store", "latest", tmp_path / "pulled"))
    assert release.dataset_names and store.collect_garbage().deleted == []


def test_a_collection_during_a_publish_deletes_nothing_and_a_publish_waits_for_a_collection(home, tmp_path):
    import threading

    store = ReleaseStore(tmp_path / "store")
    first = store.publish(home / "pyramid")
    (tmp_path / "store/objects/ab").mkdir()
    (tmp_path / "store/objects/ab/notes.txt").write_text("a file pyramid did not write")
    second_build(home)
    reports = []

    def collect_at_first_upload(step: str) -> None:
        if step == "file:1":
            reports.append(store.collect_garbage())  # the uploaded objects are not referenced yet

    second = store.publish(home / "pyramid", on_step=collect_at_first_upload)
    assert reports[0].skipped and "a publish is in progress" in reports[0].skipped and not reports[0].deleted
    for version in (first, second):
        PulledRelease(pull_release(tmp_path / "store", version, tmp_path / f"pulled-{version}"))
    garbage = store.collect_garbage()
    assert garbage.deleted == [] and garbage.foreign == ["objects/ab/notes.txt"]
    assert (tmp_path / "store/objects/ab/notes.txt").exists()

    add_stack_episode(home)
    build_pyramid(home, validate=lambda root: {"quality": True})
    steps: list[str] = []
    collecting, release = threading.Event(), threading.Event()

    def hold_a_collection() -> None:
        with store._lease("collect"):
            collecting.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=hold_a_collection)
    holder.start()
    collecting.wait(timeout=60)
    publisher = threading.Thread(target=lambda: store.publish(home / "pyramid", on_step=steps.append))
    publisher.start()
    publisher.join(timeout=2)
    assert publisher.is_alive() and steps == []  # waiting: not one object uploaded while a collection runs
    release.set()
    holder.join(timeout=60)
    publisher.join(timeout=120)
    assert not publisher.is_alive() and "before_latest" in steps and len(store.versions()) == 3


def test_groot_export_of_a_pulled_release_reads_back_with_the_v2_reader(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    store.publish(home / "pyramid")
    release = PulledRelease(pull_release(tmp_path / "store", "latest", tmp_path / "pulled", layers=["real_robot"]))
    exported = release.export_groot(tmp_path / "groot")
    for name, folder in exported.items():
        source = LeRobotSource(folder)
        assert source.version == "v2.1" and (folder / "meta/modality.json").is_file()
        original = LeRobotSource(release.folder / f"datasets/{name}")
        first, again = next(iter(original)), next(iter(source))
        np.testing.assert_array_equal(first.action, again.action)


# -- a store's neighbours are untrusted --------------------------------------------------------------------------


def test_a_corrupt_manifest_or_a_stray_entry_affects_only_itself(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    version = store.publish(home / "pyramid")
    releases = tmp_path / "store" / "releases"
    (releases / "README").write_text("a stray file beside the releases")
    (releases / "20000101-000000000000").mkdir()
    (releases / "20000101-000000000000" / "manifest.json").write_text("{corrupt")
    assert store.versions() == [version]
    assert set(store.unreadable) == {"README", "20000101-000000000000"}
    assert PulledRelease(pull_release(tmp_path / "store", "latest", tmp_path / "pulled")).dataset_names
    with pytest.raises(UnknownReleaseError, match="release '20000101-000000000000' is unreadable"):
        pull_release(tmp_path / "store", "20000101-000000000000", tmp_path / "other")
    add_stack_episode(home)
    build_pyramid(home)
    assert store.publish(home / "pyramid") != version  # the stray entries do not block a publish
    assert len(store.versions()) == 2


def test_latest_moves_only_forward_in_build_time_unless_asked(home, tmp_path):
    store = ReleaseStore(tmp_path / "store")
    older = store.publish(home / "pyramid")
    newer_home = tmp_path / "newer"
    write_home(newer_home, build_episode, extra_stack_episodes=1)
    build_pyramid(newer_home)
    newer = store.publish(newer_home / "pyramid")
    assert store.latest() == newer
    assert store.publish(home / "pyramid") == older and store.latest() == newer  # republishing an older build
    store.publish(home / "pyramid", move_latest_back=True)
    assert store.latest() == older


def test_two_pulls_into_one_destination_at_once_both_complete(home, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    version = ReleaseStore(tmp_path / "store").publish(home / "pyramid")
    with ThreadPoolExecutor(2) as pool:
        pulled = list(
            pool.map(lambda _: pull_release(tmp_path / "store", version, tmp_path / "pulled", workers=4), range(2))
        )
    assert pulled[0] == pulled[1] and PulledRelease(pulled[0]).dataset_names
    assert not list((tmp_path / "pulled").rglob("*.part"))


def test_a_file_added_to_a_pulled_release_is_refused(home, tmp_path):
    version = ReleaseStore(tmp_path / "store").publish(home / "pyramid")
    folder = pull_release(tmp_path / "store", version, tmp_path / "pulled")
    (folder / "datasets" / "oxe__widowx" / "data" / "extra.parquet").write_bytes(b"unverified")
    with pytest.raises(UnverifiedFileError, match="extra.parquet: not in .*manifest.json's file list"):
        PulledRelease(folder)


def test_a_frozen_object_store_fails_a_pull_within_its_timeouts(tmp_path, monkeypatch):
    """A server that accepts connections and never answers (a store frozen mid-pull)."""
    import socket
    import threading
    import time

    import pipelines.release.store as store_module

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in iter(int, 1)], daemon=True).start()
    monkeypatch.setattr(store_module, "TIMEOUT_S", 1)
    options = {
        "key": "x",
        "secret": "y",
        "skip_instance_cache": True,
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{server.getsockname()[1]}"},
    }
    started = time.monotonic()
    with pytest.raises(StoreUnreachableError, match="failed 3 times .*check that the store is up and reachable"):
        pull_release("s3://frozen/releases", "latest", tmp_path / "pulled", storage_options=options)
    assert time.monotonic() - started < 60
    server.close()


@pytest.mark.parametrize("field, value", [("dataset", "../../../X"), ("path", "/etc"), ("path", "../../elsewhere")])
def test_a_pulled_manifest_naming_a_place_outside_the_release_is_refused(home, tmp_path, field, value):
    from pipelines.release.manifest import ManifestError

    version = ReleaseStore(tmp_path / "store").publish(home / "pyramid")
    folder = pull_release(tmp_path / "store", version, tmp_path / "pulled")
    document = json.loads((folder / "manifest.json").read_text())
    document["datasets"][0][field] = value  # what a tampered or hostile manifest says
    (folder / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(ManifestError, match=f"manifest.json: field datasets.0.{field}: "):
        PulledRelease(folder).export_groot(tmp_path / "export")
    assert not (tmp_path / "X").exists() and not (tmp_path / "export").exists()


def test_a_pull_never_writes_into_its_store_or_over_someone_elses_folder(home, tmp_path):
    from pipelines.runtime.atomic import DestinationError

    version = ReleaseStore(tmp_path / "store").publish(home / "pyramid")
    with pytest.raises(DestinationError, match="overlaps"):
        pull_release(tmp_path / "store", version, tmp_path / "store" / "releases")
    (tmp_path / "pulled" / version).mkdir(parents=True)
    (tmp_path / "pulled" / version / "notes.txt").write_text("someone's")
    with pytest.raises(DestinationError, match="pyramid did not write it"):
        pull_release(tmp_path / "store", version, tmp_path / "pulled")
    assert pull_release(tmp_path / "store", version, tmp_path / "pulled", overwrite=True).is_dir()
