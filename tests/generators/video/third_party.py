"""diffusers' own image-to-video pipeline classes, built tiny from their configs with random weights and their real
text and image encoder classes made small (nothing downloads), saved with ``save_pretrained``: what a user's
pipeline folder holds, at a size a test can run."""

from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKLCogVideoX,
    AutoencoderKLLTXVideo,
    AutoencoderKLWan,
    CogVideoXDDIMScheduler,
    CogVideoXImageToVideoPipeline,
    CogVideoXTransformer3DModel,
    FlowMatchEulerDiscreteScheduler,
    LTXImageToVideoPipeline,
    LTXVideoTransformer3DModel,
    WanImageToVideoPipeline,
    WanTransformer3DModel,
)
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    CLIPVisionModel,
    PreTrainedTokenizerFast,
    T5Config,
    T5EncoderModel,
    UMT5Config,
    UMT5EncoderModel,
)

WORDS = "pick place lift push stack put move open close the a to of on in up red green blue cube block can bowl"


def word_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer over the instructions' words (T5's own would have to be downloaded)."""
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{word: i + 3 for i, word in enumerate(WORDS.split())}}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def wan_image_to_video(folder: Path) -> None:
    """Wan 2.1 I2V: UMT5 text encoder, CLIP image encoder, the Wan VAE and 3D transformer (a 4k+1 frame rule)."""
    tokenizer = word_tokenizer()
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=32, num_layers=1, num_heads=4)
    )
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1)
    transformer = WanTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=36,  # noise latents + the first frame's latents and mask
        text_dim=32,
        ffn_dim=32,
        num_layers=2,
        rope_max_seq_len=32,
        image_dim=4,
    )
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=4, num_hidden_layers=2, num_attention_heads=2, image_size=32, intermediate_size=16, patch_size=1
        )
    )
    WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        image_processor=CLIPImageProcessor(crop_size=32, size=32),
        image_encoder=image_encoder,
        transformer=transformer,
    ).save_pretrained(folder)


def t5_encoder(tokenizer: PreTrainedTokenizerFast) -> T5EncoderModel:
    return T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=32, num_layers=1, num_heads=4))


def cogvideox_image_to_video(folder: Path) -> None:
    """CogVideoX I2V: T5, the CogVideoX VAE and transformer with 3D rotary positions (an 8k+1 frame rule)."""
    tokenizer = word_tokenizer()
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,  # the 3D rotary embedding splits it in even parts
        in_channels=8,  # noise latents + the first frame's latents
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=32,
        num_layers=1,
        sample_width=8,
        sample_height=8,
        sample_frames=9,
        max_text_seq_length=16,
        use_rotary_positional_embeddings=True,
    )
    vae = AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
    )
    CogVideoXImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=t5_encoder(tokenizer),
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDDIMScheduler(),
    ).save_pretrained(folder)


def ltx_image_to_video(folder: Path) -> None:
    """LTX-Video I2V: T5, the LTX VAE (4x spatial, 4x temporal here) and transformer (an 8k+1 frame rule)."""
    tokenizer = word_tokenizer()
    vae = AutoencoderKLLTXVideo(
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    LTXImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=t5_encoder(tokenizer),
        vae=vae,
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    ).save_pretrained(folder)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "WanImageToVideoPipeline": wan_image_to_video,
    "CogVideoXImageToVideoPipeline": cogvideox_image_to_video,
    "LTXImageToVideoPipeline": ltx_image_to_video,
}


def build(name: str, folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    BUILDERS[name](folder)
    return folder
