"""Generation from teleop first frames: K new instructions per episode so the generated hours reach the
multiplier, lineage on every clip, the same clips on Ray as in one process, a dataset lerobot loads, and an
unreadable source episode quarantined while the rest are generated."""

import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from generators.video.config import GenerationConfig
from generators.video.generate import generate_clips
from generators.video.model import load_video_pipeline
from pipelines.lerobot import layout
from pipelines.lerobot.reader import LeRobotSource
from pipelines.runtime.parallel import RayConfig
from tests.conftest import LABEL_IMAGE_SIZE
from tests.generators.video import third_party
from tests.generators.video.conftest import untrained_matcher

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

CONFIG = GenerationConfig(multiplier=0.3, oversample=1.0, windows=2, sampling_steps=2)


@pytest.fixture(scope="module")
def model(untrained_video_model):
    return untrained_video_model


@pytest.fixture(scope="module")
def teleop(label_home):
    return label_home / "datasets" / "teleop" / "panda_lift"


@pytest.mark.usefixtures("local_ray")
def test_generation_reaches_the_multiplier_with_lineage_on_every_clip(model, teleop, tmp_path):
    report = generate_clips([teleop], tmp_path / "clips", model, CONFIG, ray=RayConfig(workers=2))
    source = LeRobotSource(teleop)
    lengths = {source.episode_id(i): len(source.read_episode_metadata(i).timestamps) for i in source.episode_indices}
    expected = sum(math.ceil(0.3 * length / 7) for length in lengths.values())
    assert report.requested_clips == report.written.episodes == expected and not report.written.rejected
    assert report.written.frames == 7 * expected
    assert report.teleop_hours == pytest.approx(sum(lengths.values()) / 20 / 3600)
    assert report.multiplier >= 0.3

    meta = json.loads((tmp_path / "clips" / layout.PYRAMID_META_PATH).read_text())
    assert meta["embodiment"] == "generated_video" and meta["provenance"]["video_model_sha256"] == report.model_sha256
    clips = LeRobotSource(tmp_path / "clips")
    originals = {source.read_episode_metadata(i).instruction for i in source.episode_indices}
    seeds = set()
    for index in clips.episode_indices:
        episode = clips.read_episode(index)
        notes = episode.notes
        assert notes["source_episode"] in lengths and notes["source_frame"] == 0 and notes["instruction_generated"]
        assert episode.instruction == notes["prompt"] and episode.instruction not in originals
        assert notes["video_model_sha256"] == report.model_sha256 and np.isfinite(notes["first_frame_psnr_db"])
        assert episode.frames["primary"].shape == (7, LABEL_IMAGE_SIZE, LABEL_IMAGE_SIZE, 3)
        seeds.add(notes["seed"])
    assert len(seeds) == expected  # every clip its own noise
    assert len(LeRobotDataset("pyramid/generated", root=tmp_path / "clips")) == 7 * expected

    generate_clips([teleop], tmp_path / "here", model, CONFIG)  # the same clips in this process
    here = json.loads((tmp_path / "here" / layout.PYRAMID_META_PATH).read_text())["episodes"]
    assert [e["notes"] for e in here] == [e["notes"] for e in meta["episodes"]]  # incl. first-frame PSNR, pre-encoding


def test_an_unreadable_source_episode_is_quarantined_and_the_rest_generated(model, teleop, tmp_path):
    broken = tmp_path / "teleop"
    shutil.copytree(teleop, broken)
    (data,) = sorted(broken.glob("data/*/*.parquet"))
    table = pq.read_table(data)
    action = table.column("action").to_pylist()
    episode_1 = pc.equal(table.column("episode_index"), 1).to_pylist()
    action = [[float("nan")] * len(a) if bad else a for a, bad in zip(action, episode_1, strict=True)]
    pq.write_table(table.set_column(table.column_names.index("action"), "action", [action]), data)

    report = generate_clips([broken], tmp_path / "clips", model, CONFIG)
    (rejected,) = report.written.rejected
    assert rejected.field == "source" and "action" in rejected.reason and rejected.episode_id.endswith("1")
    assert report.written.episodes > 0 and report.teleop_hours > 0


def test_best_of_keeps_per_prompt_the_candidate_the_matcher_matches_best(model, teleop, tmp_path):
    sha256 = untrained_matcher(tmp_path / "matcher", threshold=0.5)
    best_of = replace(CONFIG, best_of=3)
    report = generate_clips([teleop], tmp_path / "best", model, best_of, matcher_checkpoint=tmp_path / "matcher")
    single = generate_clips([teleop], tmp_path / "single", model, CONFIG)
    assert report.written.episodes == single.written.episodes == report.requested_clips  # one clip per prompt
    meta = json.loads((tmp_path / "best" / layout.PYRAMID_META_PATH).read_text())
    assert meta["provenance"]["best_of"] == 3 and meta["provenance"]["instruction_matcher_sha256"] == sha256
    single_meta = json.loads((tmp_path / "single" / layout.PYRAMID_META_PATH).read_text())
    assert [e["notes"]["prompt"] for e in meta["episodes"]] == [e["notes"]["prompt"] for e in single_meta["episodes"]]
    chosen = []
    for episode in meta["episodes"]:
        matches, candidate = episode["notes"]["candidate_matches"], episode["notes"]["seed"] % 3
        assert len(matches) == 3 and episode["notes"]["best_of"] == 3
        assert matches[candidate] == max(matches)  # the seed recorded is the kept candidate's
        chosen.append(candidate)
    assert len(set(chosen)) > 1  # candidates differ, so the best is not always the first
    assert "candidate_matches" not in single_meta["episodes"][0]["notes"]


def test_best_of_without_a_matcher_fails_before_any_work(model, teleop, tmp_path):
    with pytest.raises(ValueError, match="best_of 3 picks each clip's candidate with the instruction matcher"):
        generate_clips([teleop], tmp_path / "clips", model, replace(CONFIG, best_of=3))
    assert not (tmp_path / "clips").exists()
    with pytest.raises(ValueError, match="best_of must be at least 1"):
        replace(CONFIG, best_of=0)


def test_a_missing_model_fails_before_any_work(teleop, tmp_path):
    with pytest.raises(FileNotFoundError, match="no diffusers pipeline"):
        generate_clips([teleop], tmp_path / "clips", tmp_path / "no_model", CONFIG)
    assert not (tmp_path / "clips").exists()


@pytest.mark.parametrize("pipeline_class", sorted(third_party.BUILDERS))
def test_a_real_diffusers_image_to_video_class_generates_a_dataset_lerobot_loads(pipeline_class, teleop, tmp_path):
    folder = third_party.build(pipeline_class, tmp_path / "model")
    config = GenerationConfig(multiplier=0.1, oversample=1.0, windows=2, sampling_steps=2)
    report = generate_clips([teleop], tmp_path / "clips", folder, config)
    assert type(load_video_pipeline(folder)).__name__ == pipeline_class
    assert report.written.episodes >= 1 and not report.written.rejected
    frames = 1 + 2 * (9 - 1)  # two 9-frame windows (the 4k+1 and 8k+1 rules), chained on their shared frame
    assert report.written.frames == frames * report.written.episodes
    meta = json.loads((tmp_path / "clips" / layout.PYRAMID_META_PATH).read_text())
    assert meta["provenance"]["video_model_sha256"] == report.model_sha256
    assert len(LeRobotDataset("pyramid/generated", root=tmp_path / "clips")) == report.written.frames
