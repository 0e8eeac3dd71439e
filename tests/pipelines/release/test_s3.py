"""Releases on a real S3-compatible server (moto's, started on loopback): publish, crash, tamper, pull."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import s3fs

from pipelines.release.open import PulledRelease
from pipelines.release.store import ChecksumError, ReleaseStore, pull_release
from tests.conftest import REPO_ROOT
from tests.pipelines.release.conftest import PUBLISH

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

MOTO_SERVER = str(Path(sys.executable).with_name("moto_server"))
URI = "s3://pyramid-releases/nightly"


@pytest.fixture(scope="module")
def s3_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """Credentials and endpoint as a trainer's environment would carry them; a fresh bucket per test."""
    environment = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    filesystem = s3fs.S3FileSystem(skip_instance_cache=True)
    if filesystem.exists("pyramid-releases"):
        filesystem.rm("pyramid-releases", recursive=True)
    filesystem.mkdir("pyramid-releases")
    s3fs.S3FileSystem.clear_instance_cache()
    return filesystem


def test_publish_and_pull_through_s3(home, tmp_path, s3):
    store = ReleaseStore(URI)
    version = store.publish(home / "pyramid")
    assert store.versions() == [version] and store.latest() == version
    assert s3.exists(f"pyramid-releases/nightly/releases/{version}/manifest.json")
    release = PulledRelease(pull_release(URI, "latest", tmp_path / "pulled", embodiments=["widowx"]))
    assert release.dataset_names == ["oxe__widowx"]
    assert release.lerobot_datasets()["oxe__widowx"].num_episodes == 4


def test_a_publisher_killed_mid_upload_leaves_nothing_visible_on_s3(home, tmp_path, s3):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    crashed = subprocess.run(
        [sys.executable, "-c", PUBLISH, URI, str(home / "pyramid"), "file:3"], env=env, timeout=120, check=False
    )
    assert crashed.returncode == -9
    store = ReleaseStore(URI)
    assert store.versions() == [] and store.latest() is None  # objects were uploaded, but no manifest
    orphans = s3.find("pyramid-releases/nightly/objects")
    assert len(orphans) >= 3  # ... they are there, unlisted
    report = store.collect_garbage()  # the dead publisher's lease does not hold it back
    assert report.skipped is None and len(report.deleted) == len(orphans) and report.freed_bytes > 0
    s3.invalidate_cache()
    assert s3.find("pyramid-releases/nightly/objects") == [] and s3.find("pyramid-releases/nightly/leases") == []
    version = store.publish(home / "pyramid")  # the rerun completes
    assert store.versions() == [version]
    assert store.collect_garbage().deleted == []  # everything is referenced now
    PulledRelease(pull_release(URI, version, tmp_path / "pulled"))


def test_a_tampered_object_makes_pull_refuse_naming_it(home, tmp_path, s3):
    store = ReleaseStore(URI)
    version = store.publish(home / "pyramid")
    entry = store.manifest(version).files["datasets/human_video__human_video/meta/info.json"]
    key = store.object_path(entry.sha256)
    s3.pipe_file(key, s3.cat_file(key).replace(b'"fps": 20', b'"fps": 30'))
    with pytest.raises(ChecksumError, match="human_video__human_video/meta/info.json"):
        pull_release(URI, version, tmp_path / "pulled")
