"""Helpers the host tests share (no tests here): tiny random model files in the formats the loaders
read, the text-to-latent API prompt, and readers of the pack's node list and of ``object_info``."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file

from ptdit import PTDiT, PTDiTConfig
from ptdit.vae.config import CausalVAEConfig

REPO = Path(__file__).resolve().parents[2]
WIDTH = 32  # T5 width = the tiny PT-DiT's caption width
T5_SIZE = dict(d_model=WIDTH, d_kv=8, d_ff=48, num_layers=2, num_heads=4)
TINY_VAE = CausalVAEConfig(hidden_size=8, num_res_blocks=1, norm_num_groups=4)


def comfy_t5_tokenizer(comfy_host) -> Path:
    """ComfyUI's bundled T5 v1.1 tokenizer folder of the host."""
    return comfy_host.comfy_dir / "comfy" / "text_encoders" / "t5_tokenizer"


def write_t5(folder: Path, width: int = WIDTH, seed: int = 0) -> None:
    """A tiny random T5 v1.1 encoder (full 32128-row vocabulary) saved in fp16 as a transformers folder."""
    config = transformers.T5Config(vocab_size=32128, feed_forward_proj="gated-gelu", dropout_rate=0.0,
                                   **{**T5_SIZE, "d_model": width})
    torch.manual_seed(seed)
    transformers.T5EncoderModel(config).half().save_pretrained(folder)


def write_ptdit(path: Path, caption_channels: int = WIDTH) -> None:
    """A tiny PT-DiT checkpoint with its config in the metadata."""
    config = PTDiTConfig(num_heads=2, head_dim=16, num_layers=1, caption_channels=caption_channels,
                         compress_ratios=(1, 2, 2), proxy_ratios=(1, 2, 2), sample_size=16)
    torch.manual_seed(1)
    save_file(PTDiT(config).state_dict(), str(path), metadata={"ptdit_config": json.dumps(config.to_dict())})


def text_to_latent_prompt(encoder: str, model: str, positive: str, negative: str = "", prefix: str = "t5_flow"):
    """API prompt: PT-DiT T5 Loader -> CLIP Text Encode (positive, negative) -> PT-DiT T2I Sampler ->
    SaveLatent (node "6"). The loader's inputs are those of workflows saved before ``clean_prompts``."""
    return {
        "1": {"class_type": "PTDiTT5Loader",
              "inputs": {"text_encoder": encoder, "tokenizer": "auto", "device": "default", "dtype": "default",
                         "offload_when_idle": True}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 0], "text": positive}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 0], "text": negative}},
        "4": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": model, "weight_dtype": "default"}},
        "5": {"class_type": "PTDiTSamplerT2I",
              "inputs": {"model": ["4", 0], "positive": ["2", 0], "negative": ["3", 0], "width": 128, "height": 128,
                         "batch_size": 1, "seed": 7, "steps": 2, "cfg": 4.0, "sampler_name": "euler",
                         "scheduler": "ptdit_rflow"}},
        "6": {"class_type": "SaveLatent", "inputs": {"samples": ["5", 0], "filename_prefix": prefix}},
    }


def model_and_text_nodes(model_name: str, channels: int) -> dict:
    """API nodes "load" (PT-DiT Model Loader of ``model_name``), "pos" and "neg" (hand-made
    conditioning ``channels`` wide, 4 and 1 of 6 tokens kept) for a sampler."""
    return {
        "load": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": model_name, "weight_dtype": "default"}},
        "pos": {"class_type": "PTDiTTestConditioning",
                "inputs": {"seed": 1, "tokens": 6, "kept": 4, "channels": channels}},
        "neg": {"class_type": "PTDiTTestConditioning",
                "inputs": {"seed": 2, "tokens": 6, "kept": 1, "channels": channels}},
    }


def combo_options(spec) -> list:
    """Options of a combo input as object_info reports it (V1 list or V3 ``COMBO`` + options)."""
    return spec[0] if isinstance(spec[0], list) else spec[1]["options"]


def pack_nodes() -> set:
    """The node types of the pack: the class names in its ``NODES`` list (each registers under its
    class name), read without importing ComfyUI."""
    tree = ast.parse((REPO / "__init__.py").read_text())
    listed = next(node.value for node in tree.body
                  if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["NODES"])
    return {name.id for name in listed.elts}


def read_video(path: Path):
    """(frames (T, H, W, 3) float in [0, 1], frame rate, container name) of a saved video, decoded
    with PyAV (the hosts' requirements install it)."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return np.stack(frames).astype(np.float32) / 255, float(stream.average_rate), container.format.name
