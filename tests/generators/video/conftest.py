import pytest
import torch

from generators.video.config import VideoModelConfig
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
