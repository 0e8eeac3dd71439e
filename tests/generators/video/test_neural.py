"""Neural trajectories: generated clips labelled by the IDM and the latent action model into a dataset lerobot
loads, under the neural pseudo-embodiment, with lineage from the teleop frame to both label models; each filter
rejects with its reason and figure, and nothing else is lost; missing label models fail before any work."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from generators.video.config import GenerationConfig, NeuralFilters
from generators.video.generate import generate_clips
from generators.video.neural import frame_jump, label_neural_trajectories, motion, multiplier_outcome
from idm.config import IDMConfig
from idm.label import save_idm
from idm.model import InverseDynamicsModel
from idm.train import ActionNormaliser
from latent_actions.config import LatentActionConfig
from latent_actions.label import save_latent_action_model
from latent_actions.model import LatentActionModel
from pipelines.learning.checkpoints import MissingCheckpointError
from pipelines.lerobot import layout
from pipelines.lerobot.reader import LeRobotSource
from pipelines.lerobot.writer import WriteReport
from pipelines.runtime.parallel import RayConfig
from schemas.episode import RejectedEpisode
from tests.conftest import LABEL_IMAGE_SIZE
from tests.generators.video.conftest import untrained_matcher

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

KEEP_ALL = NeuralFilters(
    min_first_frame_psnr_db=0.0,
    min_motion=0.0,
    min_idm_confidence=0.0,
    max_frame_jump=float("inf"),
    instruction_match=False,
)


@pytest.fixture(scope="module")
def clips(untrained_video_model, label_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("neural") / "clips"
    config = GenerationConfig(multiplier=0.3, oversample=1.0, windows=3, sampling_steps=2)
    generate_clips([label_home / "datasets/teleop/panda_lift"], root, untrained_video_model, config)
    return root


@pytest.fixture(scope="module")
def label_models(tmp_path_factory):
    """Untrained label models of the clips' size: what is tested is the labelling path, not the labels' quality."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("label_models")
    idm = InverseDynamicsModel(
        IDMConfig(
            embodiment="robosuite_panda", camera="agentview", action_dim=7, image_size=LABEL_IMAGE_SIZE, frame_gap=4
        )
    )
    idm_sha256 = save_idm(folder / "idm", idm.eval(), ActionNormaliser(np.zeros(7, np.float32), np.ones(7, np.float32)))
    latent = LatentActionModel(LatentActionConfig(image_size=LABEL_IMAGE_SIZE, patch_size=8, frame_gap=8))
    latent_sha256 = save_latent_action_model(folder / "latent", latent.eval())
    return folder / "idm", folder / "latent", idm_sha256, latent_sha256


@pytest.mark.usefixtures("local_ray")
def test_clips_are_labelled_into_a_neural_dataset_with_lineage(clips, label_models, tmp_path):
    idm, latent, idm_sha256, latent_sha256 = label_models
    generated = LeRobotSource(clips)
    report = label_neural_trajectories(clips, tmp_path / "neural", idm, latent, KEEP_ALL, ray=RayConfig(workers=2))
    assert report.episodes == len(generated) and not report.rejected

    meta = json.loads((tmp_path / "neural" / layout.PYRAMID_META_PATH).read_text())
    assert meta["embodiment"] == "neural_robosuite_panda"
    assert meta["provenance"]["model_checkpoints"] == {"idm": idm_sha256, "latent_actions": latent_sha256}
    dataset = LeRobotDataset("pyramid/neural", root=tmp_path / "neural")
    item = dataset[0]
    assert item["action"].shape == (7,) and 0 < float(item["idm.confidence"]) <= 1
    assert item["latent_action.latent"].shape == (32,) and item["latent_action.codes"].shape == (4,)
    assert item["observation.images.primary"].shape == (3, LABEL_IMAGE_SIZE, LABEL_IMAGE_SIZE)

    source_notes = generated.read_episode(0).notes
    notes = meta["episodes"][0]["notes"]
    for key in ("source_dataset", "source_episode", "source_frame", "prompt", "seed", "video_model_sha256"):
        assert notes[key] == source_notes[key]
    assert notes["instruction_generated"] is True and notes["model_sha256"] == idm_sha256
    assert notes["latent_action_model_sha256"] == latent_sha256


def test_the_filters_reject_with_reasons_and_keep_the_rest(clips, label_models, tmp_path):
    idm, latent, _, _ = label_models
    generated = LeRobotSource(clips)
    fidelity = sorted(generated.read_episode(i).notes["first_frame_psnr_db"] for i in generated.episode_indices)
    threshold = float(np.median(fidelity))
    report = label_neural_trajectories(
        clips, tmp_path / "neural", idm, latent, replace(KEEP_ALL, min_first_frame_psnr_db=threshold)
    )
    below = [f for f in fidelity if f < threshold]
    assert len(report.rejected) == len(below) > 0 and report.episodes == len(fidelity) - len(below)
    assert all(r.field == "first_frame" and f"below {threshold}" in r.reason for r in report.rejected)


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        (replace(KEEP_ALL, min_first_frame_psnr_db=99.0), r"first_frame: first-frame PSNR \d+\.\d dB below 99\.0"),
        (replace(KEEP_ALL, min_motion=1e6), r"motion: motion \d+\.\d\d below 1000000\.0"),
        (replace(KEEP_ALL, min_idm_confidence=1.0), r"idm_confidence: IDM confidence 0\.\d+ below 1\.0"),
        (replace(KEEP_ALL, max_frame_jump=1.0), r"temporal: frame jump \d+\.\dx the median change, above 1\.0"),
    ],
)
def test_each_filter_names_its_reason_and_figure(clips, label_models, tmp_path, filters, reason):
    idm, latent, _, _ = label_models
    with pytest.raises(ValueError, match=f"no valid episode .*{reason}"):
        label_neural_trajectories(clips, tmp_path / "neural", idm, latent, filters)
    assert not (tmp_path / "neural").exists()


def clip_of_a_square(positions: list[int], pop_at: int | None = None) -> np.ndarray:
    """An 8x8 bright square at each step's column on a plain 32x32 background; from ``pop_at`` on, a 12x12 object too."""
    frames = np.full((len(positions), 32, 32, 3), 100, np.uint8)
    for step, column in enumerate(positions):
        frames[step, 10:18, column : column + 8] = 200
        if pop_at is not None and step >= pop_at:
            frames[step, 18:30, 2:14] = 0
    return frames


def test_a_pop_or_a_teleport_stands_out_of_steady_motion():
    steady = list(range(2, 22))  # one pixel a step
    assert frame_jump(clip_of_a_square(steady)) == pytest.approx(1.0)
    limit = NeuralFilters().max_frame_jump
    teleported = [2 + t if t < 10 else 21 + (t - 10) for t in range(14)]  # 10 pixels at once, midway
    assert frame_jump(clip_of_a_square(teleported)) > limit
    assert frame_jump(clip_of_a_square(steady, pop_at=11)) > limit
    assert frame_jump(np.zeros((29, 8, 8, 3), np.uint8)) == 0  # a still clip has nothing to jump


def test_motion_measures_change_over_the_gap():
    still = np.zeros((10, 8, 8, 3), np.uint8)
    moving = np.stack([np.full((8, 8, 3), 10 * t, np.uint8) for t in range(10)])
    assert motion(still, 4) == 0 and motion(moving, 4) == pytest.approx(40.0)


def test_missing_label_models_fail_before_any_work(clips, label_models, tmp_path):
    idm, latent, _, _ = label_models
    with pytest.raises(MissingCheckpointError, match="train the model first"):
        label_neural_trajectories(clips, tmp_path / "neural", tmp_path / "no_idm", latent)
    with pytest.raises(MissingCheckpointError):
        label_neural_trajectories(clips, tmp_path / "neural", idm, tmp_path / "no_latent")
    assert not (tmp_path / "neural").exists()


def test_the_instruction_filter_rejects_below_the_matchers_threshold_and_records_the_match(
    clips, label_models, tmp_path
):
    idm, latent, _, _ = label_models
    filters = replace(KEEP_ALL, instruction_match=True)
    untrained_matcher(tmp_path / "strict", threshold=1.01)  # no match reaches it
    with pytest.raises(
        ValueError, match=r"instruction: instruction match 0\.\d{3} with '.+' below the matcher's 1\.010"
    ):
        label_neural_trajectories(
            clips, tmp_path / "none", idm, latent, filters, matcher_checkpoint=tmp_path / "strict"
        )

    sha256 = untrained_matcher(tmp_path / "lenient", threshold=0.0)
    report = label_neural_trajectories(
        clips, tmp_path / "neural", idm, latent, filters, matcher_checkpoint=tmp_path / "lenient"
    )
    assert report.episodes == len(LeRobotSource(clips)) and not report.rejected
    meta = json.loads((tmp_path / "neural" / layout.PYRAMID_META_PATH).read_text())
    assert meta["provenance"]["model_checkpoints"]["instruction_matcher"] == sha256
    assert all(0 < episode["notes"]["instruction_match"] <= 1 for episode in meta["episodes"])


def test_the_instruction_filter_without_a_matcher_fails_before_any_work(clips, label_models, tmp_path):
    idm, latent, _, _ = label_models
    with pytest.raises(ValueError, match="no instruction matcher was given.*instruction_match to false"):
        label_neural_trajectories(clips, tmp_path / "neural", idm, latent, replace(KEEP_ALL, instruction_match=True))
    assert not (tmp_path / "neural").exists()


def test_the_kept_share_is_counted_apart_for_original_and_counterfactual_instructions(clips):
    episodes = json.loads((clips / layout.PYRAMID_META_PATH).read_text())["episodes"]
    counterfactual = [e["episode_id"] for e in episodes if e["notes"]["counterfactual"]]
    original = [e["episode_id"] for e in episodes if not e["notes"]["counterfactual"]]
    assert counterfactual and original  # the vocabulary gives both kinds
    rejected = [RejectedEpisode(episode_id, "instruction", "test") for episode_id in counterfactual[1:]]
    report = WriteReport(clips, len(episodes) - len(rejected), 100, 20, rejected)
    outcome = multiplier_outcome(clips, report)
    assert outcome.kept_share == {"original": 1.0, "counterfactual": round(1 / len(counterfactual), 4)}
    assert outcome.rejections == {"instruction": len(counterfactual) - 1}
