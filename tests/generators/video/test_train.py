"""The in-house video model on real robosuite teleop video: trained here, it predicts the continuation of
held-out episodes (never trained on) better than copying their first frame, and its figures survive a
save_pretrained / from_pretrained round trip because scoring goes through the generation path."""

import pytest

from generators.video.config import GenerationConfig, VideoModelConfig
from generators.video.model import load_video_pipeline, save_video_pipeline
from generators.video.train import evaluate_video_model, train_video_model
from pipelines.learning.frame_pairs import read_training_clips, split_by_episode
from pipelines.learning.training import TrainConfig
from tests.conftest import LABEL_IMAGE_SIZE

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

CONFIG = VideoModelConfig(image_size=LABEL_IMAGE_SIZE, frames=6, patch_size=8, dim=96, heads=4, layers=2)
TRAINING = TrainConfig(steps=600, batch_size=8, warmup=30, learning_rate=2e-3)
GENERATION = GenerationConfig(sampling_steps=4)
# Ceiling from runs of this setup on this machine kind (seeds 0 and 1, 2 held-out Lift episodes, 6 windows):
# predicted / copy-first-frame MSE 0.871 and 0.832, sampled / copy 0.752 and 0.873. At 0.95 both must beat the
# baseline by 5%, with room for run-to-run noise.
MSE_RATIO_CEILING = 0.95


@pytest.fixture(scope="module")
def trained(label_home):
    return train_video_model([label_home / "datasets/teleop/panda_lift"], CONFIG, TRAINING, GENERATION)


def test_held_out_prediction_beats_copying_the_first_frame(trained):
    evaluation = trained.evaluation
    assert evaluation.episodes == 2 and evaluation.windows >= 4
    assert evaluation.mse <= MSE_RATIO_CEILING * evaluation.copy_first_frame_mse, evaluation
    assert evaluation.sample_mse <= MSE_RATIO_CEILING * evaluation.copy_first_frame_mse, evaluation
    assert evaluation.beats_copy_baseline and evaluation.first_frame_psnr_db > 30
    assert trained.history[-1]["loss"] < 0.5 * trained.history[0]["loss"]


def test_a_saved_model_scores_the_same_after_loading(trained, label_home, tmp_path):
    save_video_pipeline(tmp_path / "model", trained.pipeline, trained.evaluation.to_dict())
    clips, _ = read_training_clips([label_home / "datasets/teleop/panda_lift"], LABEL_IMAGE_SIZE, CONFIG.frames - 1)
    _, held_out = split_by_episode(clips, 0.2, TRAINING.seed)
    again, samples = evaluate_video_model(load_video_pipeline(tmp_path / "model"), held_out, GENERATION, TRAINING.seed)
    assert again == trained.evaluation
    assert [s.shape for s in samples.values()] == [(CONFIG.frames, LABEL_IMAGE_SIZE, LABEL_IMAGE_SIZE, 3)] * 3
