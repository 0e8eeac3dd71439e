"""A user's embodiment survives across processes: inferred by one `pyramid ingest` (its episodes read on Ray
workers), used by a Dagster run, then carried inside the release, so `export-groot` and `pyramid train` work on a
machine that never had its file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipelines.release.store import ReleaseStore
from tests.conftest import REPO_ROOT
from tests.pipelines.ingest.user_datasets import PANDA_8, record_lerobot

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


def run(*command: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600, check=False)
    assert done.returncode == 0 or not check, (
        f"{command}: {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return done


def test_a_user_embodiment_is_used_by_every_process_and_travels_with_its_release(tmp_path):
    home = tmp_path / "home"
    sources = tmp_path / "no_sources.yaml"
    sources.write_text("{}\n")
    env = {
        **os.environ,
        "PYRAMID_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "PYRAMID_SOURCES": str(sources),
        "COLUMNS": "200",
        "PYRAMID_RAY_IN_PROCESS_SECONDS": "0",  # Ray's workers read the episodes, however few
    }
    env.pop("PYRAMID_EMBODIMENT_PATH", None)
    recording = record_lerobot(tmp_path / "panda_lab", PANDA_8)
    pyramid = (sys.executable, "-m", "assets.cli")

    ingested = run(*pyramid, "ingest", str(recording), "--embodiment", "auto", "--workers", "2", env=env)
    assert "embodiment panda_lab (inferred, written to" in ingested.stdout.replace("\n", " ")
    assert (home / "embodiments" / "panda_lab.yaml").is_file()

    # a Dagster run in its own process finds the embodiment by name (unchanged inputs: the dataset is kept)
    run(
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "assets.definitions",
        "--select",
        "teleop_datasets",
        "--partition",
        "panda_lab",
        env=env,
    )
    meta = json.loads((home / "datasets/teleop/panda_lab/meta/pyramid.json").read_text())
    assert meta["embodiment"] == "panda_lab" and meta["provenance"]["embodiment_inferred"]["known"] is False

    run(*pyramid, "build", env=env)
    store = tmp_path / "store"
    run(*pyramid, "publish", "--store", str(store), env=env)
    (home / "embodiments" / "panda_lab.yaml").unlink()  # a trainer's machine: the release alone
    version = ReleaseStore(str(store)).latest()

    in_store = run(
        *pyramid, "export-groot", str(store / "releases" / version), str(tmp_path / "x"), env=env, check=False
    )
    assert in_store.returncode == 3 and "pull it (pyramid pull STORE" in in_store.stderr  # objects, not files
    run(*pyramid, "pull", str(store), "--version", version, "--dest", str(tmp_path / "pulled"), env=env)
    exported = run(*pyramid, "export-groot", str(tmp_path / "pulled" / version), str(tmp_path / "groot"), env=env)
    assert "teleop__panda_lab" in exported.stdout
    modality = json.loads((tmp_path / "groot/teleop__panda_lab/meta/modality.json").read_text())
    assert list(modality["video"]) == ["front", "wrist"] and modality["action"]["gripper"]["binary"] is True

    trained = run(
        *pyramid,
        "train",
        "--store",
        str(store),
        "--pretrain-steps",
        "4",
        "--post-train-steps",
        "0",
        "--target",
        "panda_lab",
        "--hidden",
        "32",
        "--batch-size",
        "4",
        env=env,
    )
    assert "policy" in trained.stdout
    config = json.loads(next((home / "policies" / version).rglob("checkpoint/config.json")).read_text())
    assert config["config"]["embodiments"]["panda_lab"]["cameras"] == ["front", "wrist"]
