"""Fuzzing the readers: byte flips, truncations and length fields in the parquet, mp4, TFRecord, HDF5 and JSON
files of small copies of real datasets. Every case must end in episodes (valid, or refused by the episode
contract), quarantined items naming their file, or a refusal of the whole source as an ``InputError``: never
another exception, never a hang, and a write never leaves its destination."""

from __future__ import annotations

import os
import random
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines.ingest.config import SourceConfig
from pipelines.ingest.runner import _read_unit
from pipelines.ingest.sources import ingest_source, source_plan
from pipelines.lerobot.groot_export import export_groot
from pipelines.lerobot.writer import write_dataset
from pipelines.rlds.tfrecord import read_records, write_records
from pipelines.robomimic import RobomimicDemo, write_robomimic
from schemas.embodiment import get_embodiment
from schemas.episode import Episode, EpisodeError, RejectedEpisode, validate_episode
from schemas.errors import InputError
from tests.conftest import BRIDGE_SHARD, GR00T_DEMO, build_episode, scene_frames

CASES_PER_FILE_KIND = 60
SECONDS_PER_CASE = 20


@contextmanager
def deadline(seconds: int, case: str) -> Iterator[None]:
    def expired(*_: object) -> None:
        raise TimeoutError(f"{case}: still reading after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, tuple[SourceConfig, list[str]]]:
    """Small datasets in every format, each with the files a case may damage."""
    root = tmp_path_factory.mktemp("pristine")
    episodes = [build_episode(i, length=8, size=16) for i in range(3)]
    write_dataset(root / "v3", get_embodiment("robosuite_panda"), 20, episodes)
    export_groot(root / "v3", root / "v2")
    demos = [
        RobomimicDemo(
            instruction="lift",
            states=e.state,
            actions=e.action,
            obs={
                "agentview_image": e.frames["agentview"],
                "robot0_eye_in_hand_image": scene_frames(8, 16, 16, i),
                "robot0_joint_pos": e.state[:, :7],
                "robot0_eef_pos": e.state[:, 7:10],
                "robot0_eef_quat": e.state[:, 10:14],
                "robot0_gripper_qpos": e.state[:, 14:16],
            },
        )
        for i, e in enumerate(episodes)
    ]
    write_robomimic(root / "demos.hdf5", "Lift", demos, fps=20)
    bridge = root / "bridge" / "bridge_dataset" / "1.0.0"  # the real shard's first three records
    bridge.mkdir(parents=True)
    for name in ("dataset_info.json", "features.json"):
        shutil.copy(BRIDGE_SHARD / name, bridge / name)
    info = (bridge / "dataset_info.json").read_text().replace('"25"', '"3"')
    (bridge / "dataset_info.json").write_text(info)
    shard = next(BRIDGE_SHARD.glob("*.tfrecord-*"))
    records = [record.data for record, _ in zip(read_records(shard), range(3), strict=False)]
    write_records(bridge / shard.name, records)
    gr00t = root / "gr00t"
    shutil.copytree(GR00T_DEMO, gr00t)

    def files(folder: Path, *suffixes: str) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.suffix in suffixes)

    return {
        "v3": (
            SourceConfig(name="v3", path=root / "v3", format="lerobot"),
            files(root / "v3", ".parquet", ".mp4", ".json"),
        ),
        "v2": (
            SourceConfig(name="v2", path=root / "v2", format="lerobot"),
            files(root / "v2", ".parquet", ".mp4", ".json", ".jsonl"),
        ),
        "robomimic": (
            SourceConfig(name="demos", path=root / "demos.hdf5", format="robomimic", embodiment="robosuite_panda"),
            [""],
        ),
        "rlds": (
            SourceConfig(name="bridge", path=bridge, format="rlds"),
            files(bridge, ".json", ".tfrecord-00000-of-00001"),
        ),
        "gr00t_metadata": (SourceConfig(name="gr00t", path=gr00t, format="lerobot"), files(gr00t, ".json", ".jsonl")),
    }


def damaged(raw: bytes, rng: random.Random) -> bytes:
    """One of: a few flipped bytes, a truncation, a zeroed window, a huge little-endian length, a deleted run."""
    data = bytearray(raw)
    if not data:
        return b"\xff"
    kind = rng.choice(["flip", "truncate", "zero", "length", "delete"])
    at = rng.randrange(len(data))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del data[at:]
    elif kind == "zero":
        data[at : at + rng.randint(1, 64)] = bytes(len(data[at : at + 64]))
    elif kind == "length":
        data[at : at + 8] = rng.choice([2**62, 2**31 - 1, 2**32 + 7]).to_bytes(8, "little")[: len(data[at : at + 8])]
    else:
        del data[at : at + rng.randint(1, 256)]
    return bytes(data)


def broken_copy(source: SourceConfig, relative: str, rng: random.Random, where: Path) -> SourceConfig:
    """A copy of ``source`` (hard links, but the damaged file) with ``relative`` damaged."""
    if source.path.is_file():
        copy = where / source.path.name
        copy.write_bytes(damaged(source.path.read_bytes(), rng))
    else:
        copy = where / source.path.name
        shutil.copytree(source.path, copy, copy_function=os.link)
        target = copy / relative
        raw = target.read_bytes()
        target.unlink()
        target.write_bytes(damaged(raw, rng))
    return source.model_copy(update={"path": copy})


def read_all(source: SourceConfig) -> str:
    """Everything the writer would receive for ``source``: 'refused', or the items' kinds."""
    try:
        plan = source_plan(source)
    except InputError:
        return "refused"
    outcomes = []
    for unit in plan.units:
        for item in _read_unit(plan.read, unit, plan.trim_idle, plan.embodiment):
            if isinstance(item, RejectedEpisode):
                assert item.episode_id and item.reason, item
                outcomes.append("quarantined")
                continue
            assert isinstance(item, Episode), item
            try:
                validate_episode(item, plan.embodiment, frames=bool(item.frames))
                outcomes.append("episode")
            except EpisodeError:
                outcomes.append("quarantined")
    return ",".join(sorted(set(outcomes))) or "empty"


@pytest.mark.parametrize("fixture", ["v3", "v2", "robomimic", "rlds", "gr00t_metadata"])
def test_damaged_files_end_in_episodes_quarantines_or_a_refusal(pristine, fixture, tmp_path):
    source, files = pristine[fixture]
    rng = random.Random(fixture)
    outcomes: dict[str, int] = {}
    for case in range(CASES_PER_FILE_KIND):
        relative = rng.choice(files)
        where = tmp_path / f"case{case}"
        where.mkdir()
        copy = broken_copy(source, relative, rng, where)
        with deadline(SECONDS_PER_CASE, f"{fixture} case {case} ({relative})"):
            outcome = read_all(copy)  # any other exception fails the test here
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        shutil.rmtree(where)
    assert sum(outcomes.values()) == CASES_PER_FILE_KIND
    assert set(outcomes) != {"episode"}, outcomes  # the damage was noticed somewhere


def test_a_damaged_source_written_stays_inside_its_destination(pristine, tmp_path):
    rng = random.Random(7)
    for case in range(12):
        fixture = ["v3", "v2", "robomimic", "rlds"][case % 4]
        source, files = pristine[fixture]
        where = tmp_path / f"case{case}"
        where.mkdir()
        copy = broken_copy(source, rng.choice(files), rng, where)
        destination = where / "out"
        before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(destination)}
        try:
            with deadline(60, f"write case {case}"):
                report = ingest_source(copy, destination)
            assert report.root == destination and (destination / "meta" / "info.json").is_file()
        except InputError:
            assert not destination.exists()
        after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(destination)}
        assert after == before, f"case {case} wrote outside its destination: {sorted(map(str, after - before))}"
