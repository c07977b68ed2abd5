"""Write the example workflows in ``workflows/`` (UI format, drag-and-drop into ComfyUI).

    python scripts/make_workflows.py            # starts a private ComfyUI to read /object_info

Each file also gets a Markdown Note saying which model files it loads and where each goes, the
``models`` entries (name, download URL, model folder) the frontend's missing-models dialog offers,
and a thumbnail ``<name>.jpg`` for the Templates browser (scripts/thumbnails.py): the saved output of
a run on that ComfyUI for workflows whose models all ship in ``demo_models/``, else a view of the graph.
The subgraph blueprints in ``subgraphs/`` (BLUEPRINTS) are written from the same node definitions.

Each workflow is authored below as an API prompt and turned into the UI format with the node
definitions of a running ComfyUI (widget order, outputs), so the files always match the nodes.
File names are those of the real released weights (see README: where each file goes); the
``ptdit_demo_*`` versions use the tiny demo models that the pack registers from ``demo_models/``.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.demo import data as demo_data  # noqa: E402
from scripts.demo import runtime as demo  # noqa: E402
from scripts.workflow_api import prompt_to_blueprint, prompt_to_workflow  # noqa: E402

TRANSFORMER = "qihoo_t2i_1.1b.safetensors"
TEXT_ENCODER = "t5xxl_fp16.safetensors"
VAE = "open_sora_plan_v1.2_vae.ckpt"  # the released vae/checkpoint.ckpt under a telling name
PROMPT = ("a cozy wooden cabin in a snowy pine forest at dusk, warm light in the windows, "
          "smoke from the chimney, highly detailed")
SAMPLING = {"seed": 42, "steps": 30, "cfg": 4.0, "sampler_name": "euler", "scheduler": "ptdit_rflow", "denoise": 1.0}


# The tiny demo models the pack registers from demo_models/ (64 px; see demo_models/README.md).
DEMO_TEXT_ENCODER = demo.T5_NAME + "/"
DEMO_VAE = demo.VAE_NAME
DEMO_SAMPLING = {**SAMPLING, "steps": 20, "cfg": demo.CFG}
DEMO_ZOOM = 4  # demo outputs are 64 px: saved enlarged (nearest neighbour) so they can be seen


def _text(positive: str, transformer: str = TRANSFORMER, text_encoder: str = TEXT_ENCODER, vae: str = VAE) -> dict:
    return {
        "1": {"class_type": "PTDiTT5Loader", "inputs": {"text_encoder": text_encoder, "tokenizer": "auto",
                                                          "device": "default", "dtype": "default",
                                                          "offload_when_idle": True, "clean_prompts": True}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 0], "text": positive}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 0], "text": ""}},
        "4": {"class_type": "PTDiTModelLoader", "inputs": {"model_name": transformer, "weight_dtype": "default"}},
        "5": {"class_type": "PTDiTVAELoader", "inputs": {"vae_name": vae, "tiling": "auto", "memory_limit_gb": 0.0}},
    }


def _demo_text(positive: str, task: str) -> dict:
    return _text(positive, demo.dit_name(task), DEMO_TEXT_ENCODER, DEMO_VAE)


def _zoom(images: list) -> dict:
    return {"class_type": "ImageScaleBy", "inputs": {"image": images, "upscale_method": "nearest-exact",
                                                      "scale_by": float(DEMO_ZOOM)}}


def _ratio(model: list, mode: str, size: tuple[int, int, int], window=(1, 8, 8), proxy=None) -> dict:
    proxy = proxy or window
    return {"class_type": "PTDiTProxyRatio", "inputs": {
        "model": model, "mode": mode, "window_f": window[0], "window_h": window[1], "window_w": window[2],
        "proxy_f": proxy[0], "proxy_h": proxy[1], "proxy_w": proxy[2],
        "width": size[0], "height": size[1], "frames": size[2]}}


def _t2i(model: list, width: int, height: int, seed: int = 42, batch_size: int = 1, sampling: dict = SAMPLING) -> dict:
    return {"class_type": "PTDiTSamplerT2I", "inputs": {
        "model": model, "positive": ["2", 0], "negative": ["3", 0], "width": width, "height": height,
        "batch_size": batch_size, **sampling, "seed": seed}}


def _video(images: list, fps: list, prefix: str, first_id: int) -> dict:
    """Core's native video: Create Video at the T2V sampler's fps -> Save Video (mp4, H.264), as nodes
    ``first_id`` and ``first_id + 1``. 0.33 nests the codec under the format (``format.codec``);
    the positional widget values [prefix, "mp4", "h264"] read the same on both hosts."""
    create, save = str(first_id), str(first_id + 1)
    return {create: {"class_type": "CreateVideo", "inputs": {"images": images, "fps": fps}},
            save: {"class_type": "SaveVideo", "inputs": {"video": [create, 0], "filename_prefix": prefix,
                                                         "format": "mp4", "codec": "h264"}}}


def _vae_previews() -> dict:
    """PT-DiT VAE Previews of the loaded model ("4") and VAE ("5"): previews in that VAE's colours."""
    return {"class_type": "PTDiTVAEPreviews", "inputs": {"model": ["4", 0], "vae": ["5", 0]}}


def t2i_1024() -> dict:
    return {**_text(PROMPT),
            "11": _vae_previews(),
            "6": {"class_type": "PTDiTWindowAttention", "inputs": {"model": ["11", 0], "window_attention": True,
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
            **_video(["8", 0], ["7", 1], "ptdit_t2v", first_id=9)}


def t2mv() -> dict:
    return {**_text("a ceramic teapot with blue flowers, white background, turntable views"),
            "6": {"class_type": "PTDiTSamplerT2MV", "inputs": {
                "model": ["4", 0], "positive": ["2", 0], "negative": ["3", 0], "width": 512, "height": 512,
                "views": 24, "batch_size": 1, **SAMPLING}},
            "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 1], "vae": ["5", 0]}},
            "8": {"class_type": "PTDiTImageGrid", "inputs": {"images": ["7", 0], "columns": 6}},
            "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "ptdit_t2mv"}}}


def _sweep(prompt: dict, size: int, sides: tuple[int, int, int], sampling: dict) -> tuple[dict, list]:
    """Add three T2I samplers (same prompt and seed) with square windows ``sides`` at ``size`` px and
    their decodes stitched side by side (nodes 6-16; core's Stitch Images, as the Batch Images node is
    deprecated in current ComfyUI); returns the prompt and the stitched output."""
    decoded = []
    for i, side in enumerate(sides):
        ratio, sampler, decode = (str(6 + 3 * i + k) for k in range(3))
        prompt[ratio] = _ratio(["4", 0], "manual", (size, size, 1), window=(1, side, side))
        prompt[sampler] = _t2i([ratio, 0], size, size, sampling=sampling)
        prompt[decode] = {"class_type": "VAEDecode", "inputs": {"samples": [sampler, 0], "vae": ["5", 0]}}
        decoded.append([decode, 0])
    stitch = {"direction": "right", "match_image_size": True, "spacing_width": 0, "spacing_color": "white"}
    prompt["15"] = {"class_type": "ImageStitch", "inputs": {"image1": decoded[0], "image2": decoded[1], **stitch}}
    prompt["16"] = {"class_type": "ImageStitch", "inputs": {"image1": ["15", 0], "image2": decoded[2], **stitch}}
    return prompt, ["16", 0]


def ratio_sweep() -> dict:
    """Same prompt and seed at 1024 px with windows 4, 8 and 16, decoded side by side."""
    prompt, grid = _sweep(_text(PROMPT), 1024, (4, 8, 16), SAMPLING)
    prompt["18"] = {"class_type": "SaveImage", "inputs": {"images": grid, "filename_prefix": "ptdit_ratio_sweep"}}
    return prompt


def stock_ksampler() -> dict:
    """The stock KSampler path: empty latents of the pack, ModelSamplingSD3 shift, stock text encode
    through the reference text rules; video and multi-view latents saved as latents."""
    prompt = _text(PROMPT)
    prompt["2"]["inputs"]["clip"] = ["6", 0]
    prompt["3"]["inputs"]["clip"] = ["6", 0]
    prompt["6"] = {"class_type": "PTDiTT5TextRules", "inputs": {"clip": ["1", 0], "clean_prompts": True}}
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


# ------------------------------------------------------------------------------ demo versions

# What the demo workflows ask for (their prompts follow the training data's wording; the host
# tests read the outputs back with the synthetic-data detectors and compare with these labels).
DEMO_T2I_LABEL = dict(colour="red", shape="circle", background="blue", position="top left")
DEMO_RATIO4_LABEL = dict(colour="green", shape="triangle", background="yellow", position="bottom right")
DEMO_T2V_LABEL = dict(colour="yellow", shape="square", background="blue", direction="right")
DEMO_T2MV_LABEL = dict(colour="green", shape="pyramid")
DEMO_T2I_PROMPT = demo_data.t2i_prompt(DEMO_T2I_LABEL)
DEMO_BATCH = 4  # images per demo T2I prompt, saved as one row


def demo_t2i() -> dict:
    """The demo's main job: four 64 px samples of one prompt, one PNG (enlarged 4x)."""
    return {**_demo_text(DEMO_T2I_PROMPT, "t2i"),
            "13": _vae_previews(),
            "6": {"class_type": "PTDiTWindowAttention", "inputs": {"model": ["13", 0], "window_attention": True,
                                                                   "shift_window": "checkpoint"}},
            "7": _ratio(["6", 0], "checkpoint", (64, 64, 1), window=(1, 2, 2)),
            "8": _t2i(["7", 0], 64, 64, batch_size=DEMO_BATCH, sampling=DEMO_SAMPLING),
            "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["5", 0]}},
            "10": {"class_type": "PTDiTImageGrid", "inputs": {"images": ["9", 0], "columns": DEMO_BATCH}},
            "11": _zoom(["10", 0]),
            "12": {"class_type": "SaveImage", "inputs": {"images": ["11", 0], "filename_prefix": "ptdit_demo_t2i"}}}


def demo_t2i_ratio4() -> dict:
    """Twice the training size with twice the window (the demo analogue of 2048 px at ratio 16)."""
    return {**_demo_text(demo_data.t2i_prompt(DEMO_RATIO4_LABEL), "t2i"),
            "6": _ratio(["4", 0], "manual", (128, 128, 1), window=(1, 4, 4)),
            "7": _t2i(["6", 0], 128, 128, sampling=DEMO_SAMPLING),
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["5", 0]}},
            "9": _zoom(["8", 0]),
            "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "ptdit_demo_t2i_ratio4"}}}


def demo_t2v() -> dict:
    frames = demo.T2V_FRAMES
    return {**_demo_text(demo_data.t2v_prompt(DEMO_T2V_LABEL), "t2v"),
            "6": _ratio(["4", 0], "checkpoint", (64, 64, frames), window=(2, 2, 2)),
            "7": {"class_type": "PTDiTSamplerT2V", "inputs": {
                "model": ["6", 0], "positive": ["2", 0], "negative": ["3", 0], "width": 64, "height": 64,
                "frames": frames, "fps": 4.0, "batch_size": 1, **DEMO_SAMPLING}},
            "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["5", 0]}},
            "9": _zoom(["8", 0]),
            **_video(["9", 0], ["7", 1], "ptdit_demo_t2v", first_id=10),
            "12": {"class_type": "PTDiTImageGrid", "inputs": {"images": ["9", 0], "columns": frames}},
            "13": {"class_type": "SaveImage", "inputs": {"images": ["12", 0], "filename_prefix": "ptdit_demo_t2v_frames"}}}


def demo_t2mv() -> dict:
    views = demo.T2MV_VIEWS
    return {**_demo_text(demo_data.t2mv_prompt(DEMO_T2MV_LABEL), "t2mv"),
            "6": {"class_type": "PTDiTSamplerT2MV", "inputs": {
                "model": ["4", 0], "positive": ["2", 0], "negative": ["3", 0], "width": 64, "height": 64,
                "views": views, "batch_size": 1, **DEMO_SAMPLING}},
            "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 1], "vae": ["5", 0]}},
            "8": {"class_type": "PTDiTImageGrid", "inputs": {"images": ["7", 0], "columns": views}},
            "9": _zoom(["8", 0]),
            "10": {"class_type": "SaveImage", "inputs": {"images": ["9", 0], "filename_prefix": "ptdit_demo_t2mv"}}}


def demo_ratio_sweep() -> dict:
    """Same prompt and seed at 64 px with windows 1, 2 (training) and 4 (one window), side by side."""
    prompt, grid = _sweep(_demo_text(DEMO_T2I_PROMPT, "t2i"), 64, (1, 2, 4), DEMO_SAMPLING)
    prompt["18"] = _zoom(grid)
    prompt["19"] = {"class_type": "SaveImage", "inputs": {"images": ["18", 0], "filename_prefix": "ptdit_demo_ratio_sweep"}}
    return prompt


def demo_stock_ksampler() -> dict:
    """The stock path with the demo T2I model: pack latent, ModelSamplingSD3 with the official shift for
    64 px, stock KSampler on the 'simple' schedule, text through the reference text rules."""
    prompt = _demo_text(DEMO_T2I_PROMPT, "t2i")
    prompt["2"]["inputs"]["clip"] = ["6", 0]
    prompt["3"]["inputs"]["clip"] = ["6", 0]
    prompt["6"] = {"class_type": "PTDiTT5TextRules", "inputs": {"clip": ["1", 0], "clean_prompts": True}}
    prompt["7"] = {"class_type": "ModelSamplingSD3", "inputs": {"model": ["4", 0], "shift": demo.official_shift(64)}}
    prompt["8"] = {"class_type": "PTDiTEmptyImageLatent", "inputs": {"resolution": "custom", "width": 64, "height": 64,
                                                                    "batch_size": DEMO_BATCH}}
    prompt["9"] = {"class_type": "KSampler", "inputs": {
        "model": ["7", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["8", 0],
        "seed": 42, "steps": 20, "cfg": demo.CFG, "sampler_name": "euler", "scheduler": "simple", "denoise": 1.0}}
    prompt["10"] = {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["5", 0]}}
    prompt["11"] = {"class_type": "PTDiTImageGrid", "inputs": {"images": ["10", 0], "columns": DEMO_BATCH}}
    prompt["12"] = _zoom(["11", 0])
    prompt["13"] = {"class_type": "SaveImage", "inputs": {"images": ["12", 0], "filename_prefix": "ptdit_demo_ksampler"}}
    return prompt


DEMO_IMG2IMG_LABEL = dict(DEMO_T2I_LABEL, shape="square")  # the re-draw changes the shape only
DEMO_DENOISE = 0.6


def demo_img2img() -> dict:
    """Image-to-image: a demo T2I picture, encoded with the PT-DiT VAE and re-drawn at denoise 0.6 with
    a prompt that changes its shape; the picture and the re-draw side by side."""
    prompt = {**_demo_text(DEMO_T2I_PROMPT, "t2i"),
              "6": _t2i(["4", 0], 64, 64, sampling=DEMO_SAMPLING),
              "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["5", 0]}},
              "8": {"class_type": "VAEEncode", "inputs": {"pixels": ["7", 0], "vae": ["5", 0]}},
              "9": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 0],
                                                               "text": demo_data.t2i_prompt(DEMO_IMG2IMG_LABEL)}},
              "10": _t2i(["4", 0], 64, 64, seed=7, sampling=DEMO_SAMPLING),
              "11": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["5", 0]}},
              "12": {"class_type": "ImageStitch", "inputs": {
                  "image1": ["7", 0], "image2": ["11", 0], "direction": "right", "match_image_size": True,
                  "spacing_width": 0, "spacing_color": "white"}},
              "13": _zoom(["12", 0]),
              "14": {"class_type": "SaveImage", "inputs": {"images": ["13", 0], "filename_prefix": "ptdit_demo_img2img"}}}
    prompt["10"]["inputs"].update(positive=["9", 0], latent_image=["8", 0], denoise=DEMO_DENOISE)
    return prompt


WORKFLOWS = {
    "ptdit_t2i_1024": t2i_1024, "ptdit_t2i_2048_ratio16": t2i_2048_ratio16, "ptdit_t2v": t2v,
    "ptdit_t2mv": t2mv, "ptdit_ratio_sweep": ratio_sweep, "ptdit_stock_ksampler": stock_ksampler,
    "ptdit_demo_t2i": demo_t2i, "ptdit_demo_t2i_ratio4": demo_t2i_ratio4, "ptdit_demo_t2v": demo_t2v,
    "ptdit_demo_t2mv": demo_t2mv, "ptdit_demo_ratio_sweep": demo_ratio_sweep,
    "ptdit_demo_stock_ksampler": demo_stock_ksampler, "ptdit_demo_img2img": demo_img2img,
}
DEMO_VERSIONS = {  # real-model workflow -> its demo version
    "ptdit_t2i_1024": "ptdit_demo_t2i", "ptdit_t2i_2048_ratio16": "ptdit_demo_t2i_ratio4",
    "ptdit_t2v": "ptdit_demo_t2v", "ptdit_t2mv": "ptdit_demo_t2mv",
    "ptdit_ratio_sweep": "ptdit_demo_ratio_sweep", "ptdit_stock_ksampler": "ptdit_demo_stock_ksampler",
}
DEMO_ONLY = ("ptdit_demo_img2img",)  # demo workflows without a real-model version
DEMO_WORKFLOWS = (*DEMO_VERSIONS.values(), *DEMO_ONLY)


# ------------------------------------------------------------------------------ blueprints

def blueprint_t2i() -> dict:
    """PT-DiT Text to Image as one node: loaders, Window Attention, Proxy Ratio (checkpoint), T2I
    sampler and VAE Decode; the prompt is its input, the image its output. It loads the demo T2I
    model at 64 px so that it runs anywhere; pick your files in the loaders inside."""
    return {**_demo_text(DEMO_T2I_PROMPT, "t2i"),
            "6": {"class_type": "PTDiTWindowAttention", "inputs": {"model": ["4", 0], "window_attention": True,
                                                                   "shift_window": "checkpoint"}},
            "7": _ratio(["6", 0], "checkpoint", (64, 64, 1), window=(1, 2, 2)),
            "8": _t2i(["7", 0], 64, 64, sampling=DEMO_SAMPLING),
            "9": {"class_type": "VAEDecode", "inputs": {"samples": ["8", 0], "vae": ["5", 0]}}}


# name -> (build, exposed inputs {label: (node, widget)}, output, description); subgraphs/<name>.json
BLUEPRINTS = {
    "PT-DiT Text to Image": (blueprint_t2i, {"prompt": ("2", "text")}, ["9", 0],
                             "PT-DiT text to image (loaders, window attention, proxy ratio from the checkpoint, "
                             "T2I sampler, VAE decode). Loads the pack's demo model; choose your files inside."),
}
BLUEPRINT_IDS = {"PT-DiT Text to Image": "6a0d1c52-7e3b-4f0e-9b7a-5d2f3c4e0000"}


def write_blueprints(object_info: dict, folder: Path = REPO / "subgraphs") -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for name, (build, inputs, output, description) in BLUEPRINTS.items():
        path = folder / f"{name}.json"
        blueprint = prompt_to_blueprint(build(), object_info, name, inputs, output, "PT-DiT", description,
                                        BLUEPRINT_IDS[name])
        path.write_text(json.dumps(blueprint, indent=1) + "\n")
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------ what each file needs

# Which input of which loader names a model file, and the ComfyUI model folder it is listed from.
LOADERS = {"PTDiTModelLoader": ("model_name", "diffusion_models"), "PTDiTT5Loader": ("text_encoder", "text_encoders"),
           "PTDiTVAELoader": ("vae_name", "vae")}
DEMO_FOLDERS = {"PTDiTModelLoader": "ptdit", "PTDiTT5Loader": "text_encoders", "PTDiTVAELoader": "vae"}
HF = "https://huggingface.co/"
RELEASE_PAGE = HF + "qihoo360/Qihoo-T2X/tree/main/resources/pretrain_models/qihoo_t2i"
CONVERT = f"python -m ptdit.convert <released .pt> models/diffusion_models/{TRANSFORMER} --dtype bf16"
# Public download locations of the real-weight files (the workflow's `models` entries, which the
# frontend's missing-models dialog offers): name -> (URL, what it is, conversion command or None).
SOURCES = {
    TRANSFORMER: (RELEASE_PAGE, "the Qihoo-T2X release (a `.pt` in that folder), **converted first**", CONVERT),
    TEXT_ENCODER: (HF + "comfyanonymous/flux_text_encoders/resolve/main/t5xxl_fp16.safetensors",
                   "the T5-XXL encoder used by Flux / SD3", None),
    VAE: (HF + "LanguageBind/Open-Sora-Plan-v1.2.0/resolve/main/vae/checkpoint.ckpt",
          "the Open-Sora-Plan v1.2 CausalVAE (`vae/checkpoint.ckpt`), saved under this name", None),
}


def model_files(prompt: dict) -> list[tuple[str, str, str]]:
    """(loader class, file name, model folder) of every model file the prompt's loaders name, in order."""
    found = []
    for node in prompt.values():
        if node["class_type"] in LOADERS:
            name, folder = LOADERS[node["class_type"]]
            entry = (node["class_type"], node["inputs"][name], folder)
            if entry not in found:
                found.append(entry)
    return found


def shipped(loader: str, name: str) -> bool:
    """Whether a loader's file is one of the demo models in demo_models/ (nothing to download)."""
    return (REPO / "demo_models" / DEMO_FOLDERS[loader] / name.rstrip("/")).exists()


def models_entries(prompt: dict) -> list[dict]:
    """The workflow's ``models`` list: {name, url, directory} of each file with a public location."""
    return [{"name": name, "url": SOURCES[name][0], "directory": folder}
            for loader, name, folder in model_files(prompt) if not shipped(loader, name)]


def note_text(title: str, prompt: dict) -> str:
    """Markdown for the workflow's note: each model file, the folder it goes in and where it comes from."""
    lines = [f"## {title}", "", "Model files this workflow loads:", ""]
    for loader, name, folder in model_files(prompt):
        if shipped(loader, name):
            lines.append(f"* `{name}`: a tiny demo model that ships with the pack "
                         f"(`demo_models/{DEMO_FOLDERS[loader]}/`); nothing to download.")
        else:
            url, what, convert = SOURCES[name]
            lines.append(f"* `{name}` in `ComfyUI/models/{folder}/`: {what}, from {url}"
                         + (f"; then run in this pack's folder: `{convert}`" if convert else ""))
    lines += ["", "Details: the pack's README (Model files, Workflows)."]
    return "\n".join(lines)


def with_note_and_models(workflow: dict, title: str, prompt: dict) -> dict:
    """Add a Markdown Note (above the graph) and the ``models`` entries to a UI workflow."""
    note_id = workflow["last_node_id"] + 1
    workflow["nodes"].append({
        "id": note_id, "type": "MarkdownNote", "pos": [60, -360], "size": [760, 330], "flags": {},
        "order": len(workflow["nodes"]), "mode": 0, "inputs": [], "outputs": [],
        "properties": {}, "widgets_values": [note_text(title, prompt)], "color": "#432", "bgcolor": "#653"})
    workflow["last_node_id"] = note_id
    workflow["models"] = models_entries(prompt)
    return workflow


def write_all(object_info: dict, folder: Path = REPO / "workflows") -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for name, build in WORKFLOWS.items():
        path = folder / f"{name}.json"
        prompt = build()
        workflow = with_note_and_models(prompt_to_workflow(prompt, object_info), name, prompt)
        path.write_text(json.dumps(workflow, indent=1) + "\n")
        paths.append(path)
    return paths


def main() -> None:
    from scripts.thumbnails import write_thumbnails
    from tests.harness.hosts import find_comfyui_dir
    from tests.harness.server import ComfyHost

    comfy_dir = find_comfyui_dir()
    if comfy_dir is None:
        sys.exit("no ComfyUI found: run scripts/setup_comfyui.sh or set COMFYUI_PATH")
    with tempfile.TemporaryDirectory() as base, ComfyHost(comfy_dir, base_dir=base) as host:
        for path in write_all(host.object_info()) + write_blueprints(host.object_info()):
            print(path)
        for path in write_thumbnails(host):
            print(path)


if __name__ == "__main__":
    main()
