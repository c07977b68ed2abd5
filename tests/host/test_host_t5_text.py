"""T5 text conditioning inside a real ComfyUI: PT-DiT T5 Loader → stock CLIP Text Encode → PT-DiT T2I
Sampler, with a tiny random T5 (transformers format, release layout) and a tiny PT-DiT.

The workflow stops at the stock SaveLatent node: no PT-DiT VAE loader exists on this branch yet.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from ptdit import PTDiT, PTDiTConfig

pytestmark = pytest.mark.host
transformers = pytest.importorskip("transformers")

WIDTH = 32
T5_SIZE = dict(d_model=WIDTH, d_kv=8, d_ff=48, num_layers=2, num_heads=4)


def comfy_t5_tokenizer(comfy_host) -> Path:
    return comfy_host.comfy_dir / "comfy" / "text_encoders" / "t5_tokenizer"


def write_t5(folder: Path, width: int = WIDTH, seed: int = 0) -> None:
    config = transformers.T5Config(vocab_size=32128, feed_forward_proj="gated-gelu", dropout_rate=0.0,
                                   **{**T5_SIZE, "d_model": width})
    torch.manual_seed(seed)
    transformers.T5EncoderModel(config).half().save_pretrained(folder)


def write_ptdit(path: Path, caption_channels: int = WIDTH) -> None:
    config = PTDiTConfig(num_heads=2, head_dim=16, num_layers=1, caption_channels=caption_channels,
                         compress_ratios=(1, 2, 2), proxy_ratios=(1, 2, 2), sample_size=16)
    torch.manual_seed(1)
    save_file(PTDiT(config).state_dict(), str(path), metadata={"ptdit_config": json.dumps(config.to_dict())})


@pytest.fixture(scope="module")
def tiny_files(comfy_host):
    """models/text_encoders/qihoo_tiny/{text_encoder,tokenizer}/ (the release layout), a 48-wide T5
    and a tiny PT-DiT with 32-wide captions in models/diffusion_models."""
    release = comfy_host.model_path("text_encoders", "qihoo_tiny/text_encoder/config.json").parent
    write_t5(release)
    shutil.copytree(comfy_t5_tokenizer(comfy_host), release.parent / "tokenizer", dirs_exist_ok=True)
    write_t5(comfy_host.model_path("text_encoders", "wide_t5/config.json").parent, width=48)
    write_ptdit(comfy_host.model_path("diffusion_models", "ptdit_tiny_t5.safetensors"))
    return {"encoder": "qihoo_tiny/text_encoder/", "wide": "wide_t5/", "model": "ptdit_tiny_t5.safetensors"}


def text_to_latent_prompt(encoder: str, model: str, positive: str, negative: str = "", prefix: str = "t5_flow"):
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


def saved_latent(comfy_host, result) -> torch.Tensor:
    files = comfy_host.output_files(result, node_id="6", kind="latents")
    assert len(files) == 1 and files[0].is_file(), result.outputs
    return load_file(str(files[0]))["latent_tensor"]


def combo_options(spec) -> list:
    """Options of a combo input as object_info reports it (V1 list or V3 ``COMBO`` + options)."""
    return spec[0] if isinstance(spec[0], list) else spec[1]["options"]


def test_loader_lists_release_folders_and_tokenizers(comfy_host, tiny_files):
    inputs = comfy_host.object_info("PTDiTT5Loader")["input"]["required"]
    encoders = combo_options(inputs["text_encoder"])
    assert tiny_files["encoder"] in encoders and tiny_files["wide"] in encoders
    assert not any(e.startswith("qihoo_tiny/text_encoder/") and e != tiny_files["encoder"] for e in encoders)
    tokenizers = combo_options(inputs["tokenizer"])
    assert tokenizers[0] == "auto" and "qihoo_tiny/tokenizer/" in tokenizers


def test_text_to_sampler_to_saved_latent(comfy_host, tiny_files):
    result = comfy_host.run(text_to_latent_prompt(tiny_files["encoder"], tiny_files["model"],
                                                  "a lighthouse on a cliff at dusk"), timeout=300)
    latent = saved_latent(comfy_host, result)
    assert latent.shape == (1, 4, 16, 16) and torch.isfinite(latent).all()
    assert "PT-DiT T5 loader: qihoo_tiny/text_encoder/" in comfy_host.current_log()
    # The prompt reaches the model: another prompt, same seed, gives another latent.
    other = comfy_host.run(text_to_latent_prompt(tiny_files["encoder"], tiny_files["model"],
                                                 "a bowl of ramen, top view", prefix="t5_flow_other"), timeout=300)
    assert (saved_latent(comfy_host, other) - latent).abs().max() > 1e-3


def test_encoder_width_mismatch_is_a_clear_node_error(comfy_host, tiny_files):
    result = comfy_host.run(text_to_latent_prompt(tiny_files["wide"], tiny_files["model"], "a cat", prefix="t5_bad"),
                            timeout=300, check=False)
    assert not result.ok and result.error, result.describe()
    message = result.error["exception_message"]
    assert result.error["node_type"] == "PTDiTSamplerT2I"
    assert "ptdit_tiny_t5.safetensors expects T5 text states of shape (1, tokens, 32)" in message, message
    assert re.search(r"wide_t5/ \(T5 v1.1 \(gated-GELU\) encoder, width 48.*produced \(1, \d+, 48\)", message), message


def test_folder_that_is_not_a_t5_encoder_fails_in_the_loader(comfy_host, tiny_files):
    folder = comfy_host.model_path("text_encoders", "not_t5/config.json").parent
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    save_file({"embeddings.word_embeddings.weight": torch.zeros(4, 4)}, str(folder / "model.safetensors"))
    result = comfy_host.run(text_to_latent_prompt("not_t5/", tiny_files["model"], "a cat", prefix="t5_bad2"),
                            timeout=300, check=False)
    assert not result.ok and result.error["node_type"] == "PTDiTT5Loader", result.describe()
    assert "not_t5/config.json describes a 'bert' model (BertModel), not a T5 encoder" in \
        result.error["exception_message"]
