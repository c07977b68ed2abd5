"""Write the example workflows in ``workflows/`` (UI format, drag-and-drop into ComfyUI).

    python scripts/make_workflows.py            # starts a private ComfyUI to read /object_info

Each workflow is authored below as an API prompt and turned into the UI format with the node
definitions of a running ComfyUI (widget order, outputs), so the files always match the nodes.
File names are those of the real released weights (see README: where each file goes).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.workflow_api import prompt_to_workflow  # noqa: E402

TRANSFORMER = "qihoo_t2i_1.1b.safetensors"
TEXT_ENCODER = "t5xxl_fp16.safetensors"
VAE = "open_sora_plan_v1.2_vae.safetensors"
PROMPT = ("a cozy wooden cabin in a snowy pine forest at dusk, warm light in the windows, "
          "smoke from the chimney, highly detailed")
SAMPLING = {"seed": 42, "steps": 30, "cfg": 4.0, "sampler_name": "euler", "scheduler": "ptdit_rflow"}


def _text(positive: str) -> dict:
    return {
        "1": {"class_type": "PTDiTT5Loader", "inputs": {"text_encoder": TEXT_ENCODER, "tokenizer": "auto",
                                                          "device": "default", "dtype": "default",
                                                          "offload_when_idle": True}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 0], "text": positive}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 0], "text": ""}},
        "4": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": TRANSFORMER, "weight_dtype": "default"}},
        "5": {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": VAE, "tiling": "auto"}},
    }


def _ratio(model: list, mode: str, size: tuple[int, int, int], window=(1, 8, 8), proxy=None) -> dict:
    proxy = proxy or window
    return {"class_type": "PTDiTProxyRatio", "inputs": {
        "model": model, "mode": mode, "window_f": window[0], "window_h": window[1], "window_w": window[2],
        "proxy_f": proxy[0], "proxy_h": proxy[1], "proxy_w": proxy[2],
        "width": size[0], "height": size[1], "frames": size[2]}}


def _t2i(model: list, width: int, height: int, seed: int = 42) -> dict:
    return {"class_type": "PTDiTSamplerT2I", "inputs": {
        "model": model, "positive": ["2", 0], "negative": ["3", 0], "width": width, "height": height,
        "batch_size": 1, **SAMPLING, "seed": seed}}


def t2i_1024() -> dict:
    return {**_text(PROMPT),
            "6": {"class_type": "PTDiTWindowAttention", "inputs": {"model": ["4", 0], "window_attention": True,
                                                                   "shift_window": "checkpoint"}},
            "7": _ratio(["6", 0], "auto", (1024, 1024, 1)),
            "8": _t2i(["7", 0], 1024, 1024),
            "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["5", 0]}},
            "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "ptdit_t2i_1024"}}}


def t2i_2048_ratio16() -> dict:
    return {**_text(PROMPT),
            "6": _ratio(["4", 0], "manual", (2048, 2048, 1), window=(1, 16, 16)),
            "7": _t2i(["6", 0], 2048, 2048),
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["5", 0]}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ptdit_t2i_2048"}}}


def t2v() -> dict:
    return {**_text("a red kite flying over green hills on a windy day, the camera pans left"),
            "6": _ratio(["4", 0], "auto", (512, 512, 17)),
            "7": {"class_type": "PTDiTSamplerT2V", "inputs": {
                "model": ["6", 0], "positive": ["2", 0], "negative": ["3", 0], "width": 512, "height": 512,
                "frames": 17, "fps": 8.0, "batch_size": 1, **SAMPLING}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["5", 0]}},
            "9": {"class_type": "SaveAnimatedWEBP", "inputs": {
                "images": ["8", 0], "filename_prefix": "ptdit_t2v", "fps": ["7", 1], "lossless": False,
                "quality": 90, "method": "default"}}}


def t2mv() -> dict:
    return {**_text("a ceramic teapot with blue flowers, white background, turntable views"),
            "6": {"class_type": "PTDiTSamplerT2MV", "inputs": {
                "model": ["4", 0], "positive": ["2", 0], "negative": ["3", 0], "width": 512, "height": 512,
                "views": 24, "batch_size": 1, **SAMPLING}},
            "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 1], "vae": ["5", 0]}},
            "8": {"class_type": "PTDiTImageGrid", "inputs": {"images": ["7", 0], "columns": 6}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ptdit_t2mv"}}}


def ratio_sweep() -> dict:
    """Same prompt and seed at 1024 px with windows 4, 8 and 16, decoded side by side."""
    prompt = _text(PROMPT)
    decoded = []
    for i, side in enumerate((4, 8, 16)):
        ratio, sampler, decode = (str(6 + 3 * i + k) for k in range(3))
        prompt[ratio] = _ratio(["4", 0], "manual", (1024, 1024, 1), window=(1, side, side))
        prompt[sampler] = _t2i([ratio, 0], 1024, 1024)
        prompt[decode] = {"class_type": "VAEDecode", "inputs": {"samples": [sampler, 0], "vae": ["5", 0]}}
        decoded.append([decode, 0])
    prompt["15"] = {"class_type": "ImageBatch", "inputs": {"image1": decoded[0], "image2": decoded[1]}}
    prompt["16"] = {"class_type": "ImageBatch", "inputs": {"image1": ["15", 0], "image2": decoded[2]}}
    prompt["17"] = {"class_type": "PTDiTImageGrid", "inputs": {"images": ["16", 0], "columns": 3}}
    prompt["18"] = {"class_type": "SaveImage", "inputs": {"images": ["17", 0], "filename_prefix": "ptdit_ratio_sweep"}}
    return prompt


def stock_ksampler() -> dict:
    """The stock KSampler path: empty latents of the pack, ModelSamplingSD3 shift, stock text encode
    through the reference text rules; video and multi-view latents saved as latents."""
    prompt = _text(PROMPT)
    prompt["2"]["inputs"]["clip"] = ["6", 0]
    prompt["3"]["inputs"]["clip"] = ["6", 0]
    prompt["6"] = {"class_type": "PTDiTT5TextRules", "inputs": {"clip": ["1", 0]}}
    prompt["7"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["4", 0], "shift": 2.0}}
    latents = {"8": ("PTDiTEmptyImageLatent", {"resolution": "1024x1024 (1:1)", "width": 1024, "height": 1024}),
               "9": ("PTDiTEmptyVideoLatent", {"width": 512, "height": 512, "frames": 17}),
               "10": ("PTDiTEmptyMultiViewLatent", {"width": 256, "height": 256, "views": 8})}
    for offset, (latent_id, (kind, inputs)) in enumerate(latents.items()):
        sampler, out = str(11 + 2 * offset), str(12 + 2 * offset)
        prompt[latent_id] = {"class_type": kind, "inputs": {**inputs, "batch_size": 1}}
        prompt[sampler] = {"class_type": "KSampler", "inputs": {
            "model": ["7", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": [latent_id, 0],
            "seed": 42, "steps": 30, "cfg": 4.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}}
        if kind == "PTDiTEmptyImageLatent":
            decode = str(20)
            prompt[decode] = {"class_type": "VAEDecode", "inputs": {"samples": [sampler, 0], "vae": ["5", 0]}}
            prompt[out] = {"class_type": "SaveImage", "inputs": {"images": [decode, 0], "filename_prefix": "ptdit_ksampler"}}
        else:
            prompt[out] = {"class_type": "SaveLatent", "inputs": {"samples": [sampler, 0],
                                                                  "filename_prefix": f"ptdit_ksampler_{kind}"}}
    return prompt


WORKFLOWS = {
    "ptdit_t2i_1024": t2i_1024, "ptdit_t2i_2048_ratio16": t2i_2048_ratio16, "ptdit_t2v": t2v,
    "ptdit_t2mv": t2mv, "ptdit_ratio_sweep": ratio_sweep, "ptdit_stock_ksampler": stock_ksampler,
}


def write_all(object_info: dict, folder: Path = REPO / "workflows") -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for name, build in WORKFLOWS.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(prompt_to_workflow(build(), object_info), indent=1) + "\n")
        paths.append(path)
    return paths


def main() -> None:
    from scripts.comfy_host import ComfyHost, find_comfyui_dir

    comfy_dir = find_comfyui_dir()
    if comfy_dir is None:
        sys.exit("no ComfyUI found: run scripts/setup_comfyui.sh or set COMFYUI_PATH")
    with tempfile.TemporaryDirectory() as base, ComfyHost(comfy_dir, base_dir=base) as host:
        for path in write_all(host.object_info()):
            print(path)


if __name__ == "__main__":
    main()
