"""Per-episode ingest on a real local Ray, and on a cluster started with `ray start --head`."""

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipelines.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from pipelines.lerobot.reader import LeRobotSource
from pipelines.parallel import RayConfig, ray_map
from tests.conftest import GR00T_DEMO

RAY = str(Path(sys.executable).with_name("ray"))


def square(x: int) -> int:
    return x * x


def test_ray_map_returns_results_in_input_order():
    assert list(ray_map(square, [(i,) for i in range(7)], RayConfig(workers=2))) == [i * i for i in range(7)]


def test_ingest_on_local_ray_writes_the_same_episodes_as_in_process(tmp_path):
    source = SourceConfig(name="gr00t", path=GR00T_DEMO, format="lerobot")
    serial = ingest_source(source, tmp_path / "serial")
    parallel = ingest_source(source, tmp_path / "ray", ray=RayConfig(workers=2))
    assert (parallel.episodes, parallel.frames) == (serial.episodes, serial.frames) == (5, 2096)
    for a, b in zip(LeRobotSource(tmp_path / "serial"), LeRobotSource(tmp_path / "ray"), strict=True):
        assert a.episode_id == b.episode_id
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_array_equal(a.frames["ego_view"], b.frames["ego_view"])


@pytest.fixture
def ray_cluster():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = [
        RAY,
        "start",
        "--head",
        "--port",
        str(port),
        "--num-cpus",
        "2",
        "--include-dashboard=false",
        "--disable-usage-stats",
    ]
    subprocess.run(start, check=True, capture_output=True, timeout=180)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def test_ingest_joins_a_running_ray_cluster_by_address(tmp_path, ray_cluster):
    source = SourceConfig(name="gr00t", path=GR00T_DEMO, format="lerobot")
    report = ingest_source(source, tmp_path / "out", ray=RayConfig(workers=2, address=ray_cluster))
    assert (report.episodes, report.frames, report.rejected) == (5, 2096, [])
