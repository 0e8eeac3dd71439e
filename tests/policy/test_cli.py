"""`pyramid train`, `pyramid serve` and `pyramid eval` as a user runs them, each in its own process, on a
release published to a local store."""

import os
import socket
import subprocess
import sys

import pytest

from pipelines.release.store import ReleaseStore
from policy.server import PolicyClient

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "assets.cli", *args], capture_output=True, text=True, check=True, env=env
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_train_serve_and_eval_from_the_command_line(policy_release, tmp_path):
    store = tmp_path / "store"
    version = ReleaseStore(str(store)).publish(policy_release)
    env = {**os.environ, "PYRAMID_HOME": str(tmp_path / "home")}
    trained = run_cli(
        "train",
        "--store",
        str(store),
        "--pretrain-steps",
        "6",
        "--post-train-steps",
        "4",
        "--hidden",
        "32",
        "--batch-size",
        "4",
        env=env,
    )
    run = tmp_path / "home" / "policies" / version / "all"
    assert (run / "pretrain/checkpoint/model.safetensors").is_file() and (
        run / "post_train/trainer/trainer.json"
    ).is_file()
    assert (run / "loss.png").read_bytes()[:4] == b"\x89PNG" and "post_train" in trained.stdout

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "assets.cli", "serve", "--policy", str(run / "post_train"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        client = PolicyClient(port=port, timeout_ms=120_000)
        assert client.ping()["release"] == version
        client.close()
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0  # SIGTERM stops the server cleanly

    evaluated = run_cli(
        "eval", "--policy", str(run / "post_train"), "--episodes", "2", "--max-steps", "8", "--workers", "0", env=env
    )
    assert "Lift" in evaluated.stdout and "success rate [Wilson 95%]" in evaluated.stdout
    assert sorted(p.name.split("_")[1] for p in (run / "post_train" / "videos").iterdir()) == ["1000000", "1000001"]
