"""The CausalVAE inside a real ComfyUI through the stock VAE nodes, and the whole text-to-image
workflow: PT-DiT T5 Loader -> CLIP Text Encode -> PT-DiT T2I Sampler -> VAE Decode -> Save Image."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from tests.host.helpers import text_to_latent_prompt, write_ptdit, write_t5, write_vae

pytestmark = pytest.mark.host

VAE_FILE = "ptdit_tiny_vae.safetensors"


@pytest.fixture(scope="module")
def vae_file(comfy_host):
    write_vae(comfy_host.model_path("vae", VAE_FILE))
    return VAE_FILE


def _images(comfy_host, result, node_id):
    files = comfy_host.output_files(result, node_id=node_id)
    assert files, result.describe()
    return [Image.open(f) for f in files]


def test_stock_encode_decode_image_and_clip(comfy_host, vae_file):
    prompt = {
        "vae": {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": vae_file, "tiling": "auto"}},
        "img": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": 0x3366CC}},
        "clip": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 5, "color": 0xCC3333}},
        "enc": {"class_type": "VAEEncode", "inputs": {"pixels": ["img", 0], "vae": ["vae", 0]}},
        "enc_clip": {"class_type": "VAEEncode", "inputs": {"pixels": ["clip", 0], "vae": ["vae", 0]}},
        "lat": {"class_type": "SaveLatent", "inputs": {"samples": ["enc_clip", 0], "filename_prefix": "vae_clip"}},
        "dec": {"class_type": "VAEDecode", "inputs": {"samples": ["enc", 0], "vae": ["vae", 0]}},
        "dec_clip": {"class_type": "VAEDecodeTiled", "inputs": {
            "samples": ["enc_clip", 0], "vae": ["vae", 0], "tile_size": 64, "overlap": 32,
            "temporal_size": 8, "temporal_overlap": 4}},
        "save": {"class_type": "SaveImage", "inputs": {"images": ["dec", 0], "filename_prefix": "vae_img"}},
        "save_clip": {"class_type": "SaveImage", "inputs": {"images": ["dec_clip", 0], "filename_prefix": "vae_clip"}},
    }
    result = comfy_host.run(prompt, timeout=300)
    assert [im.size for im in _images(comfy_host, result, "save")] == [(64, 48)]
    assert [im.size for im in _images(comfy_host, result, "save_clip")] == [(32, 32)] * 5
    latent = load_file(str(comfy_host.output_files(result, node_id="lat", kind="latents")[0]))["latent_tensor"]
    assert latent.shape == (1, 4, 2, 4, 4)  # 5 frames -> 1 + 1 latent frames


def test_bad_frame_count_is_a_node_error(comfy_host, vae_file):
    result = comfy_host.run({
        "vae": {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": vae_file, "tiling": "auto"}},
        "clip": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 3, "color": 0}},
        "enc": {"class_type": "VAEEncode", "inputs": {"pixels": ["clip", 0], "vae": ["vae", 0]}},
        "lat": {"class_type": "SaveLatent", "inputs": {"samples": ["enc", 0], "filename_prefix": "bad"}},
    }, timeout=120, check=False)
    assert not result.ok and "1 + 4k" in result.error["exception_message"].replace("1+4k", "1 + 4k")


def test_non_vae_file_is_a_node_error(comfy_host):
    save_file({"pos_embed.proj.weight": torch.zeros(8, 4, 2, 2)}, str(comfy_host.model_path("vae", "not_a_vae.safetensors")))
    result = comfy_host.run({
        "vae": {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": "not_a_vae.safetensors", "tiling": "auto"}},
        "img": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 1, "color": 0}},
        "enc": {"class_type": "VAEEncode", "inputs": {"pixels": ["img", 0], "vae": ["vae", 0]}},
        "lat": {"class_type": "SaveLatent", "inputs": {"samples": ["enc", 0], "filename_prefix": "bad"}},
    }, timeout=120, check=False)
    assert not result.ok and "cannot be loaded as the Open-Sora-Plan v1.2 CausalVAE" in result.error["exception_message"]


def test_text_to_image_workflow_with_stock_text_encode_vae_decode_and_save(comfy_host, vae_file):
    encoder = comfy_host.model_path("text_encoders", "vae_test_t5/config.json").parent
    write_t5(encoder)
    write_ptdit(comfy_host.model_path("diffusion_models", "ptdit_vae_test.safetensors"))
    prompt = text_to_latent_prompt("vae_test_t5/", "ptdit_vae_test.safetensors", "a red circle on a blue background")
    prompt["6"] = {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": vae_file, "tiling": "auto"}}
    prompt["7"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["6", 0]}}
    prompt["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "t2i_full"}}
    result = comfy_host.run(prompt, timeout=300)
    (image,) = _images(comfy_host, result, "8")
    assert image.size == (128, 128)
