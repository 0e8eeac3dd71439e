"""The inverse dynamics model on real robosuite video: labels of held-out episodes (actions never trained on)
hold an R2 floor, confidence falls where labels are wrong, and labelling runs on Ray into a dataset lerobot
loads, quarantining clips it cannot label."""

import json
from dataclasses import replace

import numpy as np
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from idm.config import IDMConfig
from idm.label import label_idm_actions, load_idm, save_idm
from idm.train import evaluate_idm, idm_labels, train_idm
from pipelines.learning.frame_pairs import read_training_clips, resize_frames
from pipelines.learning.labelled import video_datasets
from pipelines.learning.training import TrainConfig
from pipelines.lerobot.writer import write_dataset
from pipelines.runtime.parallel import RayConfig
from schemas.embodiment import get_embodiment
from tests.conftest import LABEL_IMAGE_SIZE as IMAGE_SIZE
from tests.conftest import build_episode

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

CONFIG = IDMConfig(embodiment="robosuite_panda", camera="agentview", action_dim=7, image_size=IMAGE_SIZE, frame_gap=4)
# Floor from runs of this setup on this machine kind (seeds 0 and 1): held-out R2 0.950 and 0.951 over the
# 7 action dims (2 held-out Lift episodes); the goal is 0.9, the floor leaves room for run-to-run noise.
R2_FLOOR = 0.9


@pytest.fixture(scope="module")
def trained(label_home):
    roots = [str(s.root) for s in video_datasets(label_home, "robosuite_panda")]
    return train_idm(roots, CONFIG, TrainConfig(steps=600, warmup=50))


def test_held_out_labels_hold_the_r2_floor(trained):
    evaluation = trained.evaluation
    assert evaluation.r2 >= R2_FLOOR, evaluation
    assert len(evaluation.r2_per_dim) == 7 and evaluation.held_out_frames > 0
    assert evaluation.confidence_error_correlation < 0, evaluation  # confident labels are the accurate ones


def test_r2_is_pooled_per_dataset_and_per_source_kind(trained, label_home):
    clips, _ = read_training_clips([str(label_home / "datasets/teleop/panda_lift")], IMAGE_SIZE, 4, "agentview")
    as_sim = [replace(clip, dataset="sim/panda_lift") for clip in clips[5:]]  # one task, two source kinds
    evaluation = evaluate_idm(trained.model, trained.normaliser, clips[:5] + as_sim)
    teleop_alone = evaluate_idm(trained.model, trained.normaliser, clips[:5])
    sim_alone = evaluate_idm(trained.model, trained.normaliser, as_sim)
    assert evaluation.r2_per_source == pytest.approx({"sim": sim_alone.r2, "teleop": teleop_alone.r2})
    assert evaluation.r2_per_dataset == pytest.approx(
        {"sim/panda_lift": sim_alone.r2, "teleop/panda_lift": teleop_alone.r2}
    )


def test_every_frame_is_labelled_with_the_covering_windows_averaged(trained):
    frames = np.random.default_rng(0).integers(0, 255, (10, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = idm_labels(trained.model, trained.normaliser, frames)
    assert labels.actions.shape == (10, 7) and labels.confidence.shape == (10,)
    assert ((labels.confidence > 0) & (labels.confidence <= 1)).all()


def _human_video(root, episodes):
    write_dataset(root, get_embodiment("human_video"), 20, episodes)
    return root


@pytest.mark.usefixtures("local_ray")
def test_labelling_on_ray_quarantines_short_clips_and_keeps_the_rest(trained, label_home, tmp_path):
    sha256 = save_idm(tmp_path / "idm", trained.model, trained.normaliser)
    clips = [
        build_episode(i, length=length, embodiment="human_video", size=IMAGE_SIZE)
        for i, length in enumerate((24, 3, 30))
    ]
    root = _human_video(tmp_path / "clips", clips)
    report = label_idm_actions(root, tmp_path / "labelled", tmp_path / "idm", ray=RayConfig(workers=2))
    assert report.episodes == 2
    (rejected,) = report.rejected
    assert rejected.episode_id == "synthetic/0001" and "3 frames, fewer than the frame gap 4" in rejected.reason
    item = LeRobotDataset("pyramid/idm", root=tmp_path / "labelled")[0]
    assert item["action"].shape == (7,) and 0 < float(item["idm.confidence"]) <= 1
    meta = json.loads((tmp_path / "labelled/meta/pyramid.json").read_text())
    assert meta["embodiment"] == "idm_robosuite_panda" and meta["provenance"]["model_checkpoints"] == {"idm": sha256}
    assert load_idm(tmp_path / "idm")[2] == sha256


def test_wide_clips_are_centre_cropped_and_labelled(trained, tmp_path):
    save_idm(tmp_path / "idm", trained.model, trained.normaliser)
    wide = [build_episode(i, length=20, embodiment="human_video", size=IMAGE_SIZE) for i in range(2)]
    for episode in wide:  # a 2:1 camera whose middle half is the square clip the model was trained on
        episode.frames = {
            "primary": np.concatenate(
                [
                    np.zeros_like(episode.frames["primary"][:, :, : IMAGE_SIZE // 2]),
                    episode.frames["primary"],
                    np.zeros_like(episode.frames["primary"][:, :, : IMAGE_SIZE // 2]),
                ],
                axis=2,
            )
        }
    root = _human_video(tmp_path / "clips", wide)
    report = label_idm_actions(root, tmp_path / "labelled", tmp_path / "idm")
    assert (report.episodes, len(report.rejected)) == (2, 0)


def test_resize_frames_keeps_the_centre_square_of_a_wide_or_tall_camera():
    frames = np.zeros((1, 4, 8, 3), np.uint8)
    frames[:, :, 2:6] = 200  # the centre 4x4 square of a 8x4 frame
    np.testing.assert_array_equal(resize_frames(frames, 4, "wide"), np.full((1, 4, 4, 3), 200, np.uint8))
    tall = frames.transpose(0, 2, 1, 3)
    assert (resize_frames(tall, 2, "tall") == 200).all()
    with pytest.raises(ValueError, match="gray: frames have shape"):
        resize_frames(np.zeros((1, 4, 4), np.uint8), 4, "gray")


def test_low_confidence_clips_are_quarantined_with_their_figure(trained, label_home, tmp_path):
    save_idm(tmp_path / "idm", trained.model, trained.normaliser)
    root = label_home / "datasets" / "human_video" / "standin"
    with pytest.raises(ValueError, match=r"no valid episode .*action: IDM confidence 0\.\d+ below 1\.0"):
        label_idm_actions(root, tmp_path / "labelled", tmp_path / "idm", min_confidence=1.0)
