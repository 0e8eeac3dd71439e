"""The release commands as a data engineer and a trainer type them: publish, releases, diff, pull."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, build_episode
from tests.pipelines.release.conftest import write_home

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


def pyramid(*args: str, home, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYRAMID_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "assets.cli", *args],
        capture_output=True,
        text=True,
        check=check,
        env=env,
        cwd=REPO_ROOT,
    )


def test_publish_list_diff_and_pull_from_the_command_line(home, tmp_path):
    store = str(tmp_path / "store")
    assert "published" in pyramid("publish", "--store", store, home=home).stdout
    write_home(tmp_path / "newer", build_episode, extra_stack_episodes=1)
    newer = tmp_path / "newer"
    assert "teleop__robosuite_panda" in pyramid("build", home=newer).stdout
    pyramid("publish", "--store", store, home=newer)
    listing = pyramid("releases", "--store", store, home=home).stdout
    versions = [line.split()[1] for line in listing.splitlines() if line.strip().startswith("│ 2")]
    assert len(versions) == 2 and "(latest)" in listing
    diff = pyramid("diff", versions[0], versions[1], "--store", store, home=home).stdout
    assert "added 1 episodes in teleop__robosuite_panda" in diff
    pulled = pyramid(
        "pull", store, "--version", "latest", "--dest", str(tmp_path / "pulled"), "--embodiments", "widowx", home=home
    )
    assert "pulled and verified" in pulled.stdout
    assert [p.name for p in (tmp_path / "pulled").glob("*/datasets/*")] == ["oxe__widowx"]
    missing = pyramid(
        "pull", store, "--version", "20000101-000000000000", "--dest", str(tmp_path / "x"), home=home, check=False
    )
    assert missing.returncode != 0 and "no release '20000101-000000000000'" in missing.stderr
    assert "deleted 0 unreferenced objects" in pyramid("gc", "--store", store, home=home).stdout
    pruned = pyramid("publish", "--store", store, "--keep", "1", home=newer).stdout
    assert f"retention: deleted {versions[0]}" in pruned and "deleted 0 unreferenced objects" not in pruned
