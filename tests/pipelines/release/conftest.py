"""A small pyramid home (two teleop sets of one embodiment, an OXE set, human clips) and its built pyramid."""

import shutil

import numpy as np
import pytest

from pipelines.lerobot.writer import write_dataset
from pipelines.release.build import build_pyramid
from schemas.embodiment import get_embodiment
from tests.conftest import build_episode


def in_limits(episode):
    """Actions inside the embodiment's declared ranges (grippers binary), as a real teleop set has them."""
    spec = get_embodiment(episode.embodiment)
    if episode.action is not None:
        action = np.clip(episode.action * 0.3, -1, 1)
        for group in spec.action_groups:
            if group.binary:
                low, high = group.value_range or (0.0, 1.0)
                action[:, group.start : group.end] = np.where(action[:, group.start : group.end] > 0, high, low)
            elif group.value_range is not None:
                action[:, group.start : group.end] = np.clip(action[:, group.start : group.end], *group.value_range)
        episode.action = action.astype(np.float32)
    return episode


PUBLISH = (  # a publisher that dies like `kill -9` when it reaches step argv[3] ("" never)
    "import os, sys; from pathlib import Path; from pipelines.release.store import ReleaseStore; "
    "ReleaseStore(sys.argv[1]).publish(Path(sys.argv[2]), "
    "on_step=lambda step: os.kill(os.getpid(), 9) if step == sys.argv[3] else None)"
)


def write_home(home, make_episode, extra_stack_episodes: int = 0):
    panda, widowx, human = (get_embodiment(n) for n in ("robosuite_panda", "widowx", "human_video"))
    datasets = home / "datasets"
    write_dataset(datasets / "teleop/panda_lift", panda, 20, [in_limits(make_episode(i, 20 + i)) for i in range(3)])
    stack = [in_limits(make_episode(10 + i, 24)) for i in range(2 + extra_stack_episodes)]
    write_dataset(datasets / "teleop/panda_stack", panda, 20, stack)
    write_dataset(datasets / "oxe/bridge", widowx, 5, [in_limits(make_episode(20 + i, 9, "widowx")) for i in range(4)])
    write_dataset(
        datasets / "human_video/clips", human, 20, [make_episode(30 + i, 30, "human_video") for i in range(2)]
    )


def add_stack_episode(home):
    """New data arrives: ``panda_stack`` is re-ingested with one more episode."""
    write_home(home / "scratch", build_episode, extra_stack_episodes=1)
    shutil.rmtree(home / "datasets/teleop/panda_stack")
    shutil.move(home / "scratch/datasets/teleop/panda_stack", home / "datasets/teleop/panda_stack")


@pytest.fixture(scope="session")
def built_home(tmp_path_factory):
    """A home with its pyramid built once (real merge and real GX checks); copy it before changing it."""
    home = tmp_path_factory.mktemp("home")
    write_home(home, build_episode)
    build_pyramid(home)
    return home


@pytest.fixture
def home(built_home, tmp_path):
    copy = tmp_path / "home"
    shutil.copytree(built_home, copy)
    return copy
