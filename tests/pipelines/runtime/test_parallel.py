"""Per-episode ingest on a real local Ray, and on a cluster started with `ray start --head`."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import ray

from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from pipelines.lerobot.reader import LeRobotSource
from pipelines.runtime.parallel import RayConfig, ray_call, ray_map
from tests.conftest import GR00T_DEMO, psnr

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

RAY = str(Path(sys.executable).with_name("ray"))


def square(x: int) -> int:
    return x * x


@pytest.mark.usefixtures("local_ray")
def test_ray_map_returns_results_in_input_order():
    assert list(ray_map(square, [(i,) for i in range(7)], RayConfig(workers=2))) == [i * i for i in range(7)]


def pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_a_small_map_runs_in_this_process_and_starts_no_ray(monkeypatch):
    """A local Ray takes seconds to start, more than a small source's whole ingest: work that ends within
    ``in_process_seconds`` (by default) runs here, and no Ray is started for it."""
    monkeypatch.delenv("PYRAMID_RAY_IN_PROCESS_SECONDS", raising=False)
    ray.shutdown()
    assert list(ray_map(pid_after, [(0.0,)] * 5, RayConfig(workers=2))) == [os.getpid()] * 5
    assert not ray.is_initialized()


def pid_and_threads_after(seconds: float) -> tuple[int, int]:
    import torch

    time.sleep(seconds)
    return os.getpid(), torch.get_num_threads()


def test_a_map_that_outlasts_its_in_process_budget_sends_the_rest_to_ray():
    """Each task on Ray gets one torch thread (it holds one CPU); those run here keep this process's threads."""
    import torch

    ray.shutdown()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        results = list(ray_map(pid_and_threads_after, [(0.3,)] * 6, RayConfig(workers=2, in_process_seconds=0.5)))
    finally:
        torch.set_num_threads(threads)
    assert results[:2] == [(os.getpid(), 2)] * 2  # 0.6 s of work had passed the budget: the rest went to Ray
    assert all(pid != os.getpid() and threads == 1 for pid, threads in results[2:])
    assert not ray.is_initialized()  # started for the map, and stopped after it


def sleep_then_mark(seconds: float, marker: str) -> str:
    time.sleep(seconds)
    Path(marker).touch()
    return marker


@pytest.mark.usefixtures("local_ray")
def test_a_ray_map_closed_early_cancels_the_tasks_still_submitted(tmp_path):
    """The caller had enough (e.g. demos succeeded): the tasks submitted ahead stop instead of holding the workers,
    so the next tasks start at once rather than after the abandoned ones' 60 s."""
    markers = [str(tmp_path / f"task-{i}") for i in range(4)]
    results = ray_map(
        sleep_then_mark, [(0.1 if i == 0 else 60.0, m) for i, m in enumerate(markers)], RayConfig(workers=2)
    )
    assert next(results) == markers[0]
    results.close()
    started = time.monotonic()
    assert list(ray_map(square, [(2,), (3,)], RayConfig(workers=2))) == [4, 9]
    assert time.monotonic() - started < 30  # the workers were freed, not held to the end of the 60 s
    assert [Path(m).exists() for m in markers] == [True, False, False, False]


def report_until_acknowledged(steps: int, acknowledged: str, on_log: Callable[[dict], None]) -> bool:
    """Reports, then waits (up to 120 s) for the caller to acknowledge what it got; True when it did while this
    task still ran."""
    for step in range(steps):
        on_log({"step": step, "loss": 1 / (step + 1)})
    deadline = time.monotonic() + 120
    while not Path(acknowledged).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return Path(acknowledged).exists()


@pytest.mark.usefixtures("local_ray")
def test_ray_call_passes_on_what_the_task_reports_while_it_runs(tmp_path):
    """The task waits for what it reported to arrive here: logs passed on only once it ended would never come."""
    acknowledged = tmp_path / "acknowledged"
    arrivals = []

    def on_log(entry: dict) -> None:
        arrivals.append(entry)
        acknowledged.touch()

    assert ray_call(report_until_acknowledged, (3, str(acknowledged)), RayConfig(workers=2), on_log=on_log) is True
    assert arrivals == [{"step": s, "loss": 1 / (s + 1)} for s in range(3)]
    acknowledged.unlink()
    assert ray_call(report_until_acknowledged, (3, str(acknowledged)), None, on_log=on_log) is True
    assert arrivals[3:] == arrivals[:3]


@pytest.mark.usefixtures("local_ray")
def test_ingest_on_local_ray_writes_the_same_episodes_as_in_process(tmp_path):
    """Workers encode each episode as its own mp4 and the writer appends the packets: same rows, same
    stats, and video as faithful to the source as the writer's own encoder (x264's rate control starts
    afresh per episode, so pixels may differ by a few levels)."""
    source = SourceConfig(name="gr00t", path=GR00T_DEMO, format="lerobot")
    serial = ingest_source(source, tmp_path / "serial")
    parallel = ingest_source(source, tmp_path / "ray", ray=RayConfig(workers=2))
    assert (parallel.episodes, parallel.frames) == (serial.episodes, serial.frames) == (5, 2096)
    originals = LeRobotSource(GR00T_DEMO)
    for a, b, original in zip(
        LeRobotSource(tmp_path / "serial"), LeRobotSource(tmp_path / "ray"), originals, strict=True
    ):
        assert a.episode_id == b.episode_id
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_array_equal(a.state, b.state)
        serial_psnr = psnr(a.frames["ego_view"], original.frames["ego_view"])
        ray_psnr = psnr(b.frames["ego_view"], original.frames["ego_view"])
        assert ray_psnr > 35 and abs(ray_psnr - serial_psnr) < 0.5, (a.episode_id, serial_psnr, ray_psnr)
    serial_stats = json.loads((tmp_path / "serial/meta/stats.json").read_text())
    ray_stats = json.loads((tmp_path / "ray/meta/stats.json").read_text())
    assert serial_stats["action"] == ray_stats["action"]
    np.testing.assert_allclose(
        serial_stats["observation.images.ego_view"]["mean"], ray_stats["observation.images.ego_view"]["mean"]
    )


def process_and_threads() -> tuple[int, int]:
    import torch

    return os.getpid(), torch.get_num_threads()


def test_ray_call_runs_one_task_holding_the_workers_cpus():
    """Model training runs this way: in another process whose torch threads are the CPUs it holds, on a local
    Ray started for the call when none is running, and stopped after it."""
    ray.shutdown()
    pid, threads = ray_call(process_and_threads, (), RayConfig(workers=2))
    assert pid != os.getpid() and threads == 2 and not ray.is_initialized()
    assert ray_call(process_and_threads, (), None)[0] == os.getpid()  # no Ray: in this process


@pytest.mark.usefixtures("local_ray")
def test_a_training_after_one_cpu_tasks_gets_the_threads_of_the_cpus_it_holds():
    """Ray may run a training in a worker process that served one-CPU tasks before: torch must not keep their
    single thread."""
    assert {threads for _, threads in ray_map(pid_and_threads_after, [(0.0,)] * 8, RayConfig(workers=2))} == {1}
    assert ray_call(process_and_threads, (), RayConfig(workers=2))[1] == 2


@pytest.mark.usefixtures("local_ray")
def test_a_local_ray_listens_for_token_holders_only():
    """Ray's servers listen on every interface: the local Ray pyramid starts refuses a driver without its token."""
    address = ray.get_runtime_context().gcs_address
    assert os.environ["RAY_AUTH_MODE"] == "token"
    join = "import sys, ray; ray.init(address=sys.argv[1], log_to_driver=False); print(ray.cluster_resources()['CPU'])"
    for token in ("the right one", "a guess"):
        env = {**os.environ, "RAY_AUTH_TOKEN": os.environ["RAY_AUTH_TOKEN"] if token == "the right one" else "0" * 64}
        joined = subprocess.run(
            [sys.executable, "-c", join, address], capture_output=True, text=True, env=env, timeout=180, check=False
        )
        assert (joined.returncode == 0) is (token == "the right one"), joined.stderr[-1000:]


@pytest.fixture
def ray_cluster():
    """A cluster started as a user starts one: a head (`ray start --head`) with no CPUs of its own and one worker
    node joined to it separately (`ray start --address`), so every task must run on the worker node. Each runs in
    the foreground (`--block`) in its own process group, so stopping it stops its processes only, not every Ray on
    the machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray.shutdown()  # the pipeline under test must connect to this cluster, not reuse the tests' local Ray
    common = ["--block", "--disable-usage-stats"]
    head_command = [RAY, "start", "--head", "--port", str(port), "--num-cpus", "0", "--include-dashboard=false"]
    nodes = [start_node([*head_command, *common])]
    try:
        deadline = time.monotonic() + 180
        while not port_open(port):
            assert nodes[0].poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(1)
        nodes.append(start_node([RAY, "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "2", *common]))
        yield f"127.0.0.1:{port}"
    finally:
        for node in reversed(nodes):
            os.killpg(node.pid, signal.SIGTERM)
            try:
                node.wait(timeout=10)
            except subprocess.TimeoutExpired:  # an orderly shutdown can take half a minute; this one is disposable
                os.killpg(node.pid, signal.SIGKILL)


def start_node(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_ingest_runs_on_the_worker_node_of_a_cluster_joined_by_address(tmp_path, ray_cluster):
    source = SourceConfig(name="gr00t", path=GR00T_DEMO, format="lerobot")
    report = ingest_source(source, tmp_path / "out", ray=RayConfig(workers=2, address=ray_cluster))
    assert (report.episodes, report.frames, report.rejected) == (5, 2096, [])


def test_starting_a_local_ray_prints_nothing():
    """Ray's "Started a local Ray instance" info line is not progress: the demo, which keeps info logs for
    Dagster's run log, printed it. (In a fresh process: Ray's handler keeps the stderr it found at import.)"""
    start = (
        "from pipelines.runtime.parallel import RayConfig, ray_session\nwith ray_session(RayConfig(workers=1)): pass"
    )
    started = subprocess.run([sys.executable, "-c", start], capture_output=True, text=True, timeout=180, check=True)
    assert "Ray" not in started.stdout + started.stderr, started.stderr[-1000:]
