"""Loading, text encoding and sampling for the tiny demo models (shared by training and tests).

Files in ``demo_models/``, laid out as ComfyUI model folders (the pack registers them):

* ``vae/ptdit_demo_vae.safetensors`` — a tiny CausalVAE of the released architecture; metadata
  ``vae_config`` = JSON of :class:`ptdit.vae.config.CausalVAEConfig` (the group count is not
  visible in the weights).
* ``text_encoders/ptdit_demo_t5/`` — a tiny T5 v1.1-style encoder in transformers layout (``config.json``,
  ``model.safetensors``); its tokenizer is ComfyUI's bundled T5 tokenizer (see :func:`tokenizer_folder`).
* ``ptdit/ptdit_demo_<task>.safetensors`` — PT-DiT weights with metadata ``ptdit_config``.

Latent convention as in the official pipeline: the DiT works on VAE latents x 0.18215.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ptdit import PTDiT, WindowSettings
from ptdit.flow import euler_sample, guided_velocity, rflow_timesteps, shift_ratio
from ptdit.loader import load_ptdit
from ptdit.text.t5_files import has_tokenizer
from ptdit.vae.config import LATENT_SCALE, CausalVAEConfig
from ptdit.vae.loading import load_causal_vae
from ptdit.vae.model import CausalVAE, split_moments

MODELS_DIR = Path(__file__).resolve().parents[2] / "demo_models"
VAE_NAME = "ptdit_demo_vae.safetensors"  # names as the ComfyUI loaders list them
T5_NAME = "ptdit_demo_t5"
VAE_FILE = f"vae/{VAE_NAME}"  # paths under MODELS_DIR
T5_DIR = f"text_encoders/{T5_NAME}"

COMFY_T5_TOKENIZER = "comfy/text_encoders/t5_tokenizer"  # inside a ComfyUI checkout
SIZE = 64  # pixels per side of the training data
T2V_FRAMES = 5  # 1 + 4k pixel frames per T2V clip (2 latent frames)
T2MV_VIEWS = 4  # orbit views per T2MV sample (one latent frame each)
# Guidance scale the demo models are sampled with (the released model's is 4). These tiny models
# over-shoot at 4: at seed 1234, one sample per prompt, T2V reads 0.80 at CFG 4 and 1.0 at 2, T2I
# 0.965 and 0.993; T2MV reads 1.0 at both (demo_models/README.md, "Guidance").
CFG = 2.0
DEMO_VAE = CausalVAEConfig(hidden_size=8, hidden_size_mult=(1, 2, 4, 4), num_res_blocks=1, norm_num_groups=4)


def official_shift(size: int, frames: int = 1) -> float:
    """The official RFlow timestep shift at ``size`` px (the value ModelSamplingSD3 needs to match it)."""
    return float(shift_ratio(size, size, frames))


def dit_name(task: str) -> str:
    return f"ptdit_demo_{task}.safetensors"


def dit_file(task: str) -> str:
    return f"ptdit/{dit_name(task)}"


# ------------------------------------------------------------------------------------ pixels

def to_pixels(batch: np.ndarray) -> torch.Tensor:
    """(B, T, H, W, 3) float in [0, 1] -> VAE input (B, 3, T, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 4, 1, 2, 3).float() * 2 - 1


def from_pixels(x: torch.Tensor) -> np.ndarray:
    """VAE output (B, 3, T, H, W) in about [-1, 1] -> (B, T, H, W, 3) float32 clipped to [0, 1]."""
    return ((x.detach().float().permute(0, 2, 3, 4, 1).numpy() + 1) / 2).clip(0, 1)


# ------------------------------------------------------------------------------------ VAE

def read_metadata(path: Path, key: str):
    """JSON value stored under ``key`` in a safetensors file's metadata."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()[key])


def load_vae(path: Path) -> CausalVAE:
    """The demo CausalVAE (float32, eval); its config comes from the file's ``vae_config`` metadata."""
    return load_causal_vae(str(path), dtype=torch.float32)


@torch.no_grad()
def encode_latents(vae: CausalVAE, pixels: np.ndarray, batch: int = 32) -> torch.Tensor:
    """(N, T, H, W, 3) in [0, 1] -> DiT latents: posterior mean x 0.18215, (N, 4, t, H/8, W/8)."""
    out = []
    for i in range(0, len(pixels), batch):
        mean, _ = split_moments(vae.encode_moments(to_pixels(pixels[i:i + batch])))
        out.append(mean * LATENT_SCALE)
    return torch.cat(out)


@torch.no_grad()
def decode_latents(vae: CausalVAE, latents: torch.Tensor) -> np.ndarray:
    """DiT latents (N, 4, t, h, w) -> (N, T, 8h, 8w, 3) in [0, 1]."""
    return from_pixels(vae.decode_raw(latents / LATENT_SCALE))


# ------------------------------------------------------------------------------------ text

def tokenizer_folder(encoder_folder: Path) -> Path:
    """Where the demo encoder's tokenizer is, as the node pack's T5 loader finds it with ``auto``: the
    encoder folder if it holds tokenizer files, else ComfyUI's bundled T5 tokenizer (the demo
    folder ships none; it uses that one rather than a 2.4 MB copy)."""
    if has_tokenizer(encoder_folder):
        return encoder_folder
    from tests.harness.hosts import find_comfyui_dir

    comfy = find_comfyui_dir()
    bundled = comfy / COMFY_T5_TOKENIZER if comfy else None
    if bundled is None or not has_tokenizer(bundled):
        raise FileNotFoundError(f"{encoder_folder} has no tokenizer and no ComfyUI with its T5 tokenizer was found "
                                "(run scripts/setup_comfyui.sh or set COMFYUI_PATH)")
    return bundled


class TextEncoder:
    """Tokenizer + T5 encoder of a transformers folder; prompts -> (states, mask).

    Tokenisation follows the reference: prompt tokens + ``</s>``, padding masked (here padded to
    the longest prompt of the call, which gives the same states because padding is masked).
    """

    def __init__(self, folder: Path):
        from transformers import AutoTokenizer, T5EncoderModel

        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder(folder)))
        self.model = T5EncoderModel.from_pretrained(str(folder), torch_dtype=torch.float32).eval()

    @property
    def width(self) -> int:
        return self.model.config.d_model

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> states (B, L, d_model) float32 and mask (B, L) int64 (1 = real token)."""
        tokens = self.tokenizer(list(prompts), padding="longest", return_tensors="pt")
        states = self.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
        return states.float(), tokens.attention_mask


# ------------------------------------------------------------------------------------ sampling

@torch.no_grad()
def generate(dit: PTDiT, text: TextEncoder, prompts: Sequence[str], latent_shape: tuple[int, ...],
             pixel_size: int, frames: int = 1, steps: int = 20, cfg: float = CFG, seed: int = 0,
             window: WindowSettings | None = None) -> torch.Tensor:
    """Sample DiT latents with the official RFlow Euler schedule and CFG (empty negative prompt).

    ``latent_shape`` = (C, h, w) for images or (C, t, h, w) for clips/views; returns
    (B, *latent_shape). ``frames`` is the pixel frame count that enters the schedule's shift;
    ``window`` overrides the checkpoint's window and proxy ratios.
    """
    states, mask = text([*prompts, *[""] * len(prompts)])
    noise = torch.randn((len(prompts), *latent_shape), generator=torch.Generator().manual_seed(seed))
    timesteps = rflow_timesteps(steps, pixel_size, pixel_size, frames)
    return euler_sample(lambda z, t: guided_velocity(dit, z, t, states, mask, cfg, window=window), noise, timesteps)


def load_dit(path: Path) -> PTDiT:
    return load_ptdit(str(path), dtype=torch.float32)
