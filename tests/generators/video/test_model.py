"""The in-house video pipeline: diffusers' own parts, saved and loaded in diffusers' format with a content hash,
called with the arguments every diffusers image-to-video pipeline takes, seeded; a third-party pipeline folder
loads through the same function, and what a pipeline cannot do is a clear error."""

import json

import numpy as np
import pytest
import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

from generators.video.config import GenerationConfig, VideoModelConfig
from generators.video.generate import generate_windows, run_pipeline
from generators.video.model import (
    PyramidVideoPipeline,
    build_pipeline,
    load_video_pipeline,
    pipeline_hash,
    save_video_pipeline,
)

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

TINY = VideoModelConfig(image_size=16, frames=4, patch_size=4, dim=32, heads=2, layers=1)


@pytest.fixture(scope="module")
def pipeline():
    torch.manual_seed(0)
    return build_pipeline(TINY)


def first_frames(count: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(count, 16, 16, 3), dtype=np.uint8)


def test_save_pretrained_round_trip_gives_the_same_clips_and_hash(pipeline, tmp_path):
    sha256 = save_video_pipeline(tmp_path / "model", pipeline, {"mse": 0.1})
    index = json.loads((tmp_path / "model/model_index.json").read_text())
    assert index["_class_name"] == "PyramidVideoPipeline"
    assert index["transformer"] == ["diffusers", "LatteTransformer3DModel"]
    assert index["scheduler"] == ["diffusers", "FlowMatchEulerDiscreteScheduler"]
    loaded = load_video_pipeline(tmp_path / "model")
    assert isinstance(loaded, PyramidVideoPipeline) and pipeline_hash(tmp_path / "model") == sha256
    frames, prompts = first_frames(2), ["lift the red cube", "push the can"]
    before = run_pipeline(pipeline, frames, prompts, [1, 2], 16, 4, steps=3, guidance_scale=1.0)
    after = run_pipeline(loaded, frames, prompts, [1, 2], 16, 4, steps=3, guidance_scale=1.0)
    assert before.shape == (2, 4, 16, 16, 3) and before.dtype == np.uint8
    np.testing.assert_array_equal(before, after)
    other_seed = run_pipeline(loaded, frames, prompts, [3, 2], 16, 4, steps=3, guidance_scale=1.0)
    assert not np.array_equal(other_seed[0], before[0]) and np.array_equal(other_seed[1], before[1])


def test_guidance_and_the_prompt_change_the_clip(pipeline):
    frames = first_frames(1)
    plain = run_pipeline(pipeline, frames, ["lift the red cube"], [0], 16, 4, steps=2, guidance_scale=1.0)
    guided = run_pipeline(pipeline, frames, ["lift the red cube"], [0], 16, 4, steps=2, guidance_scale=3.0)
    other = run_pipeline(pipeline, frames, ["push the can to the left"], [0], 16, 4, steps=2, guidance_scale=1.0)
    assert not np.array_equal(plain, guided) and not np.array_equal(plain, other)


def test_windows_chain_from_the_last_generated_frame(pipeline):
    config = GenerationConfig(sampling_steps=2)
    clips = generate_windows(pipeline, first_frames(2), ["lift the red cube"] * 2, [0, 1], 3, config)
    assert clips.shape == (2, 1 + 3 * 3, 16, 16, 3)
    one_window = generate_windows(pipeline, first_frames(2), ["lift the red cube"] * 2, [0, 1], 1, config)
    np.testing.assert_array_equal(clips[:, :4], one_window)  # the first window is the same; later ones follow on


def test_the_pipeline_refuses_sizes_it_was_not_built_for(pipeline):
    with pytest.raises(ValueError, match="generates 4 frames of 16x16, asked for 8 of 16x16"):
        run_pipeline(pipeline, first_frames(1), ["lift"], [0], 16, 8, steps=1, guidance_scale=1.0)
    with pytest.raises(ValueError, match=r"first frame of shape \(8, 8, 3\)"):
        pipeline(image=[np.zeros((8, 8, 3), np.uint8)], prompt="lift", num_inference_steps=1)


def test_a_third_party_pipeline_folder_loads_through_diffusers_and_must_be_image_to_video(tmp_path):
    unet = UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler()).save_pretrained(tmp_path / "ddpm")
    loaded = load_video_pipeline(tmp_path / "ddpm")
    assert type(loaded) is DDPMPipeline
    with pytest.raises(
        ValueError, match="DDPMPipeline is not an image-to-video pipeline: .*unexpected keyword argument"
    ):
        generate_windows(loaded, first_frames(1), ["lift"], [0], 1, GenerationConfig())


def test_a_pipeline_returning_the_wrong_shape_is_a_clear_error():
    class StillPipeline:  # stands for a third-party pipeline that ignores num_frames (called with one image)
        def __call__(self, image, num_frames, height, width, **kwargs):
            return type("Output", (), {"frames": np.zeros((1, 1, height, width, 3))})()

    with pytest.raises(
        ValueError, match=r"StillPipeline returned frames of shape \(1, 1, 16, 16, 3\), expected \(1, 4"
    ):
        run_pipeline(StillPipeline(), first_frames(1), ["lift"], [0], 16, 4, steps=1, guidance_scale=1.0)


def test_a_missing_pipeline_folder_says_how_to_make_one(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="no diffusers pipeline .model_index.json.; train the video model first"
    ):
        load_video_pipeline(tmp_path / "nothing")
