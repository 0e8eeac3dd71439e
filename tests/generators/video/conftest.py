import pytest
import torch

from generators.video.config import InstructionMatcherConfig, VideoModelConfig
from generators.video.instruction_match import InstructionMatcher, MatcherEvaluation, TrainedMatcher, save_matcher
from generators.video.model import build_pipeline, save_video_pipeline
from tests.conftest import LABEL_IMAGE_SIZE

TINY_VIDEO = VideoModelConfig(image_size=LABEL_IMAGE_SIZE, frames=4, patch_size=8, dim=32, heads=2, layers=1)


@pytest.fixture(scope="session")
def untrained_video_model(tmp_path_factory):
    """A tiny untrained pipeline folder: generation's and labelling's bookkeeping do not depend on what it learned."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("video") / "model"
    save_video_pipeline(folder, build_pipeline(TINY_VIDEO))
    return folder


def untrained_matcher(folder, threshold: float) -> str:
    """A matcher of random weights whose measured threshold is ``threshold``: the paths that use it, not its quality."""
    torch.manual_seed(0)
    model = InstructionMatcher(InstructionMatcherConfig(image_size=LABEL_IMAGE_SIZE), text_dim=384).eval()
    evaluation = MatcherEvaluation(0.5, 0.5, threshold, 0.9, 0.5, windows=1, instructions=2)
    known = ["lift the red cube", "stack the red cube on the green cube"]
    return save_matcher(folder, TrainedMatcher(model, known, evaluation, [], clips=2, skipped={}))
