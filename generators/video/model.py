"""The in-house image-to-video model: a diffusers pipeline whose parts are diffusers' own.

A Latte video transformer (spatial attention within a frame, temporal attention across frames, cross-attention
to the instruction's MiniLM token embeddings, AdaLN-single on the flow time) denoises a clip in pixel space,
8x8 patches, conditioned on the first frame, which is concatenated on the channels of every frame (CogVideoX-I2V
style). What it denoises is the clip minus its first frame: a robot scene is mostly still, so the residual is
mostly zero and the model spends its small capacity on what moves. The transformer predicts that clean residual
(x-prediction), not the flow's velocity: a 128-wide token cannot carry an 8x8x3 patch of noise through to its
output, a mostly-zero residual it can; the velocity follows from it in closed form. It is trained by flow
matching and sampled with diffusers' ``FlowMatchEulerDiscreteScheduler``.

Generation code never calls the model directly: it loads a pipeline folder with ``load_video_pipeline`` and calls
it with the arguments every diffusers image-to-video pipeline takes (``image``, ``prompt``, ``num_frames``,
``height``, ``width``, ``num_inference_steps``, ``guidance_scale``, ``generator``, ``output_type="np"``). So a
fine-tuned CogVideoX-I2V or Wan-I2V folder on a GPU machine replaces this one through one config value.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler, LatteTransformer3DModel
from diffusers.utils import BaseOutput
from diffusers.utils import logging as diffusers_logging
from diffusers.utils.torch_utils import randn_tensor
from transformers.utils import logging as transformers_logging

from generators.video.config import VideoModelConfig
from pipelines.learning.language import language_encoder
from pipelines.runtime.atomic import atomic_directory

__all__ = [
    "EVALUATION_FILE",
    "PyramidVideoPipeline",
    "VideoPipelineOutput",
    "build_pipeline",
    "load_video_pipeline",
    "pipeline_hash",
    "save_video_pipeline",
]

EVALUATION_FILE = "evaluation.json"


@dataclass
class VideoPipelineOutput(BaseOutput):
    """``frames``: (B, F, H, W, 3) float in [0, 1] for ``output_type="np"``, as diffusers' video pipelines return."""

    frames: np.ndarray


class PyramidVideoPipeline(DiffusionPipeline):
    """First frame + instruction -> a clip, by flow matching in pixel space."""

    def __init__(
        self, transformer: LatteTransformer3DModel, scheduler: FlowMatchEulerDiscreteScheduler, language_model: str = ""
    ):
        super().__init__()
        self.register_modules(transformer=transformer, scheduler=scheduler)
        self.register_to_config(language_model=language_model)

    @property
    def frames(self) -> int:
        return self.transformer.config.video_length

    @property
    def image_size(self) -> int:
        return self.transformer.config.sample_size

    def encode_prompt(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, mask = language_encoder(self.config.language_model).tokens(prompts)
        return tokens.to(self.device, self.transformer.dtype), mask.to(self.device)

    def condition(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) first frames in [-1, 1] -> (B, 3, F, S, S), the frame repeated on every step."""
        return images[:, :, None].expand(-1, -1, self.frames, -1, -1)

    def denoise(
        self, noisy: torch.Tensor, first: torch.Tensor, sigma: torch.Tensor, text: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """The clean residual (clip minus its first frame ``first`` (B, 3, S, S)) predicted from the noisy one
        ``(1 - sigma) * residual + sigma * noise`` at noise levels ``sigma`` (B,) in [0, 1]."""
        hidden = torch.cat([noisy, self.condition(first)], dim=1)
        # Latte's spatial blocks see batch * frames sequences but do not repeat the text mask to match
        frame_mask = mask.repeat_interleave(noisy.shape[2], dim=0)
        return self.transformer(
            hidden, timestep=sigma * 1000, encoder_hidden_states=text, encoder_attention_mask=frame_mask
        ).sample

    def _first_frames(self, image: Any, height: int, width: int) -> torch.Tensor:
        images = image if isinstance(image, list) else [image]
        arrays = [np.asarray(i.convert("RGB") if isinstance(i, PIL.Image.Image) else i) for i in images]
        for array in arrays:
            if array.shape != (height, width, 3):
                raise ValueError(f"first frame of shape {array.shape}; this model takes ({height}, {width}, 3) RGB")
        pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1
        return pixels.to(self.device, self.transformer.dtype)

    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        prompt: str | list[str],
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        num_inference_steps: int = 10,
        guidance_scale: float = 1.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: str = "np",
    ) -> VideoPipelineOutput:
        """Clips for a batch of first frames (PIL images or uint8 arrays) and prompts; ``guidance_scale`` > 1 adds
        classifier-free guidance (the model was trained with 10% of instructions dropped)."""
        height, width, num_frames = height or self.image_size, width or self.image_size, num_frames or self.frames
        if (height, width, num_frames) != (self.image_size, self.image_size, self.frames):
            raise ValueError(
                f"this model generates {self.frames} frames of {self.image_size}x{self.image_size}, "
                f"asked for {num_frames} of {width}x{height}"
            )
        if output_type != "np":
            raise ValueError(f"output_type {output_type!r}: this pipeline returns numpy frames ('np')")
        first = self._first_frames(image, height, width)
        prompts = [prompt] * len(first) if isinstance(prompt, str) else list(prompt)
        text, mask = self.encode_prompt(prompts)
        shape = (len(first), 3, num_frames, height, width)
        sample = randn_tensor(shape, generator=generator, device=self.device, dtype=self.transformer.dtype)
        self.scheduler.set_timesteps(num_inference_steps, device=self.device)
        for timestep in self.progress_bar(self.scheduler.timesteps):
            sigma = (timestep / 1000).expand(len(first))
            residual = self.denoise(sample, first, sigma, text, mask)
            if guidance_scale > 1:
                unconditioned = self.denoise(sample, first, sigma, torch.zeros_like(text), mask)
                residual = unconditioned + guidance_scale * (residual - unconditioned)
            velocity = (sample - residual) / sigma[:, None, None, None, None]  # noise - residual
            sample = self.scheduler.step(velocity, timestep, sample).prev_sample
        clip = self.condition(first) + sample
        frames = ((clip.float().clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 4, 1).cpu().numpy()
        return VideoPipelineOutput(frames=frames)


def build_pipeline(config: VideoModelConfig) -> PyramidVideoPipeline:
    """A freshly initialised pipeline of ``config``'s size."""
    transformer = LatteTransformer3DModel(
        num_attention_heads=config.heads,
        attention_head_dim=config.dim // config.heads,
        in_channels=6,  # the noisy clip and the first frame
        out_channels=3,
        num_layers=config.layers,
        cross_attention_dim=config.dim,
        sample_size=config.image_size,
        patch_size=config.patch_size,
        activation_fn="gelu-approximate",
        norm_type="ada_norm_single",
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        caption_channels=language_encoder(config.language_model).dim,
        video_length=config.frames,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    pipeline = PyramidVideoPipeline(transformer, scheduler, config.language_model)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def save_video_pipeline(folder: Path | str, pipeline: PyramidVideoPipeline, evaluation: dict | None = None) -> str:
    """``save_pretrained`` into ``folder`` (replaced atomically), with the held-out evaluation; returns the hash."""
    with atomic_directory(Path(folder), replace=True) as staging:
        pipeline.save_pretrained(staging)
        (staging / EVALUATION_FILE).write_text(json.dumps(evaluation or {}, indent=2))
    return pipeline_hash(folder)


def pipeline_hash(folder: Path | str) -> str:
    """Content hash of a pipeline folder (every file's path and bytes): what lineage names a video model by."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != EVALUATION_FILE):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_video_pipeline(folder: Path | str, device: str = "cpu") -> DiffusionPipeline:
    """The diffusers pipeline saved in ``folder``: this package's, or any diffusers image-to-video pipeline
    (CogVideoXImageToVideoPipeline, WanImageToVideoPipeline, ...) saved with ``save_pretrained``."""
    index = Path(folder) / "model_index.json"
    if not index.is_file():
        raise FileNotFoundError(
            f"{folder}: no diffusers pipeline (model_index.json); train the video model first "
            "(the video_model asset) or point video_model at a saved pipeline folder"
        )
    name = json.loads(index.read_text())["_class_name"]
    diffusers_logging.disable_progress_bar()  # "Loading pipeline components" of a local folder is noise, in workers too
    transformers_logging.disable_progress_bar()  # and "Loading weights" of their text and image encoders
    if name == PyramidVideoPipeline.__name__:
        pipeline = PyramidVideoPipeline.from_pretrained(str(folder), low_cpu_mem_usage=False)
    else:  # diffusers' defaults: a model keeping fp32 modules (Wan's) refuses low_cpu_mem_usage=False
        pipeline = DiffusionPipeline.from_pretrained(str(folder), low_cpu_mem_usage=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)
