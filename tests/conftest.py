"""Shared test fixtures: the real fixtures in ../shared/fixtures and a synthetic episode factory."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from schemas.settings import use_process_defaults

use_process_defaults()  # before anything imports mujoco
# Each pytest-xdist worker's share of the cores for torch and BLAS (read when torch is imported): two workers
# with every core's threads each would oversubscribe the machine, and OpenMP's spinning threads then crawl.
os.environ.setdefault(
    "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
)

from pipelines.lerobot.video import scheduling_kept
from schemas.embodiment import get_embodiment
from schemas.episode import Episode, exact_timestamps

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
GR00T_DEMO = FIXTURES / "lerobot_v2" / "robot_sim.PickNPlace"
BRIDGE_SHARD = FIXTURES / "rlds" / "bridge_dataset" / "1.0.0"


@pytest.hookimpl(tryfirst=True)  # before xdist's worker hook, which reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist (``--dist loadgroup``): a module's tests run in one worker, so its module fixtures
    are built once, and every test that uses the label models' home (built once per worker, ~1 min) runs in the
    same worker."""
    for item in items:
        group = "label_home" if "label_home" in item.fixturenames else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """Items that reach xdist's scheduler without their group (a pytest that xdist's ``loadgroup`` no longer works
    with) would build every module fixture once per worker and the label models' home on each: refuse to run so."""
    if node.config.getvalue("dist") == "loadgroup" and ids and not any("@" in nodeid for nodeid in ids):
        pytest.exit(
            "tests reached pytest-xdist without their --dist loadgroup groups (pytest 9.2 drops them: "
            "pytest-xdist#1386): reinstall from requirements.lock (make setup), which pins pytest<9.2",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(autouse=True)
def scheduling_restored() -> Iterator[None]:
    """The worker's CPU scheduling policy, put back after every test: lerobot's own encoder (SVT-AV1, as root)
    makes the thread that runs it SCHED_FIFO 99, and every process the worker starts later (Ray, Chromium) would
    inherit that and could take whole cores from the rest of the run. pyramid's encoders keep it themselves."""
    with scheduling_kept():
        yield


def scene_frames(length: int, height: int, width: int, seed: int) -> np.ndarray:
    """Camera-like frames: a smooth background and a moving square, so codecs behave as on real video."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width * 200, yy / height * 180, np.full_like(xx, 60 + 40 * rng.random())], axis=-1)
    frames = np.repeat(base[None], length, axis=0)
    size = max(4, height // 6)
    for t in range(length):
        top = int((height - size) * (0.5 + 0.4 * np.sin(t / 7 + seed)))
        left = int((width - size) * (0.5 + 0.4 * np.cos(t / 9 + seed)))
        frames[t, top : top + size, left : left + size] = (200, 70, 60)
    # soft edges, as optics give a real camera (a pixel-sharp saturated edge is 4:2:0 chroma's worst case)
    blurred = sum(np.roll(frames, (dy, dx), axis=(1, 2)) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9
    return blurred.astype(np.uint8)


EpisodeFactory = Callable[..., Episode]


def build_episode(
    index: int = 0, length: int = 24, embodiment: str = "robosuite_panda", size: int = 64, **overrides
) -> Episode:
    """A valid episode of a registered embodiment; keyword overrides replace fields."""
    spec = get_embodiment(embodiment)
    rng = np.random.default_rng(1000 + index)
    episode = Episode(
        episode_id=f"synthetic/{index:04d}",
        embodiment=spec.name,
        fps=spec.fps,
        instruction=f"pick the cube number {index % 3}",
        frames={c: scene_frames(length, size, size, seed=index * 10 + k) for k, c in enumerate(spec.cameras)},
        state=rng.normal(size=(length, spec.state_dim)).astype(np.float32) if spec.has_state else None,
        action=rng.normal(size=(length, spec.action_dim)).astype(np.float32) if spec.has_actions else None,
        timestamps=exact_timestamps(length, spec.fps),
    )
    for name, value in overrides.items():
        setattr(episode, name, value)
    return episode


@pytest.fixture
def make_episode() -> EpisodeFactory:
    return build_episode


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


RAY_WORKERS = 2


@pytest.fixture(scope="session")
def _ray_session():
    """Shuts down, at the end of the session, the local Ray that ``ensure_local_ray`` started."""
    yield
    import ray

    ray.shutdown()


def ensure_local_ray() -> None:
    """A running local Ray with ``RAY_WORKERS`` CPUs, shared by the tests that use Ray: the pipelines run their
    tasks on a Ray that is already up (as on a cluster) instead of starting and stopping one each time (~10 s)."""
    import ray

    from pipelines.runtime.parallel import start_local_ray

    if not ray.is_initialized():
        start_local_ray(RAY_WORKERS)


@pytest.fixture
def local_ray(_ray_session) -> None:
    """``ensure_local_ray`` for one test (started again when an earlier test shut it down)."""
    ensure_local_ray()


LABEL_IMAGE_SIZE = 32


@pytest.fixture(scope="session")
def label_home(tmp_path_factory, _ray_session):
    """A small pyramid home for the label models: 10 scripted Panda Lift demos (real robosuite physics and
    rendering, 32x32) ingested as a teleop dataset, and 3 action-less stand-in clips from the same camera
    ingested as a human-video dataset."""
    from generators.scripted_teleop import ExpertConfig, record_stand_in_videos, record_teleop_set
    from pipelines.ingest.config import SourceConfig
    from pipelines.ingest.sources import ingest_source
    from pipelines.runtime.parallel import RayConfig

    home = tmp_path_factory.mktemp("label_home")
    raw = home / "raw"
    raw.mkdir()
    ensure_local_ray()
    record_teleop_set(
        "Lift",
        10,
        raw / "panda_lift.hdf5",
        ExpertConfig(image_size=LABEL_IMAGE_SIZE),
        ray=RayConfig(workers=RAY_WORKERS),
    )
    teleop = SourceConfig(
        name="panda_lift", path=raw / "panda_lift.hdf5", format="robomimic", embodiment="robosuite_panda"
    )
    ingest_source(teleop, home / "datasets" / "teleop" / "panda_lift")
    record_stand_in_videos(
        ["Lift"], 3, raw / "videos", camera="agentview", size=LABEL_IMAGE_SIZE, ray=RayConfig(workers=RAY_WORKERS)
    )
    ingest_source(
        SourceConfig(name="standin", path=raw / "videos", format="video_folder"),
        home / "datasets" / "human_video" / "standin",
    )
    return home


@pytest.fixture(scope="session")
def instruction_home(label_home, tmp_path_factory):
    """label_home's teleop Lift demos and 8 scripted Stack demos (32x32, real robosuite): two instructions, what an
    instruction matcher needs to learn which one a clip follows."""
    import shutil

    from generators.scripted_teleop import ExpertConfig, record_teleop_set
    from pipelines.ingest.config import SourceConfig
    from pipelines.ingest.sources import ingest_source
    from pipelines.runtime.parallel import RayConfig

    home = tmp_path_factory.mktemp("instruction_home")
    shutil.copytree(label_home / "datasets" / "teleop" / "panda_lift", home / "datasets" / "teleop" / "panda_lift")
    ensure_local_ray()
    raw = home / "raw" / "panda_stack.hdf5"
    raw.parent.mkdir()
    record_teleop_set("Stack", 8, raw, ExpertConfig(image_size=LABEL_IMAGE_SIZE), ray=RayConfig(workers=RAY_WORKERS))
    stack = SourceConfig(name="panda_stack", path=raw, format="robomimic", embodiment="robosuite_panda")
    ingest_source(stack, home / "datasets" / "teleop" / "panda_stack")
    return home


POLICY_CONFIG = {"image_size": 32, "hidden": 32, "heads": 2, "vl_layers": 1, "dit_layers": 2}  # a tiny policy
POLICY_TRAINING = {"steps": 40, "batch_size": 8, "log_every": 10, "warmup": 5}


@pytest.fixture(scope="session")
def policy_release(label_home, tmp_path_factory):
    """label_home's 10 Lift demos built into a pyramid (real merge, real GX checks): a release to train on."""
    import shutil

    from pipelines.release.build import build_pyramid

    home = tmp_path_factory.mktemp("policy_home")
    shutil.copytree(label_home / "datasets" / "teleop" / "panda_lift", home / "datasets" / "teleop" / "panda_lift")
    build_pyramid(home)
    return home / "pyramid"


@pytest.fixture(scope="session")
def tiny_policy(policy_release, tmp_path_factory):
    """A tiny policy trained for a few steps on ``policy_release``: its run folder."""
    from pipelines.learning.training import TrainConfig
    from policy.config import PolicyConfig
    from policy.train import train_policy

    out = tmp_path_factory.mktemp("tiny_policy")
    train_policy(
        policy_release, out, PolicyConfig(**POLICY_CONFIG), TrainConfig(**POLICY_TRAINING), log=lambda message: None
    )
    return out
