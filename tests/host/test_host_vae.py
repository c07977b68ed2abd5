"""The CausalVAE inside a real ComfyUI through the stock VAE nodes, and the whole text-to-image
workflow: PT-DiT T5 Loader -> CLIP Text Encode -> PT-DiT T2I Sampler -> VAE Decode -> Save Image."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from tests.host.helpers import TINY_VAE, text_to_latent_prompt, write_ptdit, write_t5
from tests.unit.vae_tiny import write_vae_file

pytestmark = pytest.mark.host

VAE_FILE = "ptdit_tiny_vae.safetensors"


@pytest.fixture(scope="module")
def vae_file(comfy_host):
    write_vae_file(comfy_host.model_path("vae", VAE_FILE), TINY_VAE)
    return VAE_FILE


def _images(comfy_host, result, node_id):
    files = comfy_host.output_files(result, node_id=node_id)
    assert files, result.describe()
    return [Image.open(f) for f in files]


def expected_round_trip(tmp_path, color: int, frames: int, height: int, width: int) -> np.ndarray:
    """What VAEEncode -> VAE Decode should give for an EmptyImage clip, computed here with ptdit:
    (frames, height, width, 3) uint8."""
    rgb = torch.tensor([(color >> 16) & 255, (color >> 8) & 255, color & 255]) / 255.0
    pixels = rgb.view(1, 3, 1, 1, 1).expand(1, 3, frames, height, width) * 2 - 1
    vae = write_vae_file(tmp_path / "expected.safetensors", TINY_VAE)
    mean, _ = vae.encode(pixels)
    out = ((vae.decode(mean) + 1) / 2).clamp(0, 1)[0].permute(1, 2, 3, 0)
    return (out * 255).round().to(torch.uint8).numpy()


def pixel_errors(comfy_host, result, node_id, expected: np.ndarray) -> tuple[int, float]:
    """(max, mean) absolute 8-bit difference of the node's PNGs from the ``expected`` frames
    (ComfyUI's rounding of the last bit may differ)."""
    images = np.stack([np.asarray(im.convert("RGB")) for im in _images(comfy_host, result, node_id)])
    assert images.shape == expected.shape
    diff = np.abs(images.astype(int) - expected.astype(int))
    return int(diff.max()), float(diff.mean())


IMAGE = dict(width=128, height=96, batch_size=1, color=0x3366CC)  # VAE Decode (Tiled): 2 x 2 tiles of 64 px
CLIP = dict(width=32, height=32, batch_size=5, color=0xCC3333)


def test_stock_encode_decode_and_tiled_decode_of_image_and_clip(comfy_host, vae_file, tmp_path):
    prompt = {
        "vae": {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": vae_file, "tiling": "auto"}},
        "img": {"class_type": "EmptyImage", "inputs": IMAGE},
        "clip": {"class_type": "EmptyImage", "inputs": CLIP},
        "enc": {"class_type": "VAEEncode", "inputs": {"pixels": ["img", 0], "vae": ["vae", 0]}},
        "enc_clip": {"class_type": "VAEEncode", "inputs": {"pixels": ["clip", 0], "vae": ["vae", 0]}},
        "lat": {"class_type": "SaveLatent", "inputs": {"samples": ["enc_clip", 0], "filename_prefix": "vae_clip"}},
    }
    tiled = {"tile_size": 64, "overlap": 32, "temporal_size": 8, "temporal_overlap": 4}
    for name, source in (("img", "enc"), ("clip", "enc_clip")):
        prompt[f"dec_{name}"] = {"class_type": "VAEDecode", "inputs": {"samples": [source, 0], "vae": ["vae", 0]}}
        prompt[f"tiled_{name}"] = {"class_type": "VAEDecodeTiled",
                                   "inputs": {"samples": [source, 0], "vae": ["vae", 0], **tiled}}
        for node in (f"dec_{name}", f"tiled_{name}"):
            prompt[f"save_{node}"] = {"class_type": "SaveImage", "inputs": {"images": [node, 0], "filename_prefix": node}}
    result = comfy_host.run(prompt, timeout=300)
    image = expected_round_trip(tmp_path, IMAGE["color"], 1, IMAGE["height"], IMAGE["width"])
    clip = expected_round_trip(tmp_path, CLIP["color"], CLIP["batch_size"], CLIP["height"], CLIP["width"])
    errors = {node: pixel_errors(comfy_host, result, f"save_{node}", expected)
              for node, expected in (("dec_img", image), ("tiled_img", image), ("dec_clip", clip), ("tiled_clip", clip))}
    # VAE Decode (Tiled) uses the seam-free tiling: the same pixels as the untiled decode.
    assert all(worst <= 1 for worst, _ in errors.values()), errors
    latent = load_file(str(comfy_host.output_files(result, node_id="lat", kind="latents")[0]))["latent_tensor"]
    assert latent.shape == (1, 4, 2, 4, 4)  # 5 frames -> 1 + 1 latent frames


def encode_prompt(vae_name: str, frames: int) -> dict:
    """API prompt: PT-DiT VAE Loader -> VAE Encode of ``frames`` black 32x32 frames -> Save Latent."""
    return {
        "vae": {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": vae_name, "tiling": "auto"}},
        "img": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": frames, "color": 0}},
        "enc": {"class_type": "VAEEncode", "inputs": {"pixels": ["img", 0], "vae": ["vae", 0]}},
        "lat": {"class_type": "SaveLatent", "inputs": {"samples": ["enc", 0], "filename_prefix": "bad"}},
    }


def test_bad_frame_count_is_a_node_error(comfy_host, vae_file):
    result = comfy_host.run(encode_prompt(vae_file, frames=3), timeout=120, check=False)
    assert not result.ok and "1 + 4k" in result.error["exception_message"].replace("1+4k", "1 + 4k")


def _poison(weights):
    weights["decoder.conv_out.conv.weight"].view(-1)[0] = float("nan")


BAD_FILES = {
    "not_a_vae.safetensors": (lambda path: save_file({"pos_embed.proj.weight": torch.zeros(8, 4, 2, 2)}, str(path)),
                              "not_a_vae.safetensors cannot be loaded as the Open-Sora-Plan v1.2 CausalVAE"),
    "nan_vae.safetensors": (lambda path: write_vae_file(path, TINY_VAE, edit=_poison),
                            "weights hold NaN or infinite values (decoder.conv_out.conv.weight)"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_unusable_vae_file_is_a_node_error_naming_it(comfy_host, name):
    write, message = BAD_FILES[name]
    write(comfy_host.model_path("vae", name))
    result = comfy_host.run(encode_prompt(name, frames=1), timeout=120, check=False)
    assert not result.ok and message in result.error["exception_message"], result.describe()


def test_text_to_image_workflow_with_stock_text_encode_vae_decode_and_save(comfy_host, vae_file):
    encoder = comfy_host.model_path("text_encoders", "vae_test_t5/config.json").parent
    write_t5(encoder)
    write_ptdit(comfy_host.model_path("diffusion_models", "ptdit_vae_test.safetensors"))
    prompt = text_to_latent_prompt("vae_test_t5/", "ptdit_vae_test.safetensors", "a red circle on a blue background")
    prompt["6"] = {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": vae_file, "tiling": "auto"}}
    prompt["7"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["6", 0]}}
    prompt["8"] = {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "t2i_full"}}
    prompt["9"] = {"class_type": "PTDiTVAEPreviews", "inputs": {"model": ["4", 0], "vae": ["6", 0]}}
    prompt["5"]["inputs"]["model"] = ["9", 0]
    result = comfy_host.run(prompt, timeout=300)
    (image,) = _images(comfy_host, result, "8")
    assert image.size == (128, 128)
    # The VAE's preview factors were fitted and cached in the host's user folder, keyed by the file's hash.
    cache = json.loads((comfy_host.user_dir / "__ptdit" / "preview_factors.json").read_text())
    digest = hashlib.sha256(comfy_host.model_path("vae", vae_file).read_bytes()).hexdigest()
    entry = cache["vae"][digest]
    assert entry["file"] == vae_file and len(entry["factors"]) == 4 and len(entry["bias"]) == 3
