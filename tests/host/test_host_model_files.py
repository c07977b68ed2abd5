"""Model files made for core's models, on the PT-DiT nodes in a real ComfyUI: quantized checkpoints
(scaled fp8, per-layer fp8) through the PT-DiT Model Loader and core's quantized layers, and LoRAs in
the trainers' spellings through the stock LoRA loaders and the PT-DiT LoRA Loader.

A tiny PT-DiT is saved in fp32, with its Linear weights rounded to fp8 and stored back in fp32
("dequantized": what the fp8 file holds, in full precision), in the fp8 formats core reads, and with
a LoRA merged into its weights by hand. Each is sampled by the PT-DiT T2I Sampler (same seed,
conditioning and steps) and the latents compared.
"""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ptdit import PTDiT, PTDiTConfig
from ptdit.lora import comfy_lora_keys
from tests.host.helpers import comfy_t5_tokenizer, model_and_text_nodes, write_t5

pytestmark = pytest.mark.host

CAPTION = 24
CONFIG = PTDiTConfig(num_heads=2, head_dim=16, num_layers=2, caption_channels=CAPTION, compress_ratios=(1, 2, 2),
                     proxy_ratios=(1, 2, 2), sample_size=16)
METADATA = {"ptdit_config": json.dumps(CONFIG.to_dict())}
LINEARS = [name for name, module in PTDiT(CONFIG, device="meta").named_modules() if isinstance(module, nn.Linear)]
FP8_MAX = torch.finfo(torch.float8_e4m3fn).max
FP8_ROUNDING = 2.0 ** -4
FP8_LAYER = {"format": "float8_e4m3fn"}


def weights() -> dict:
    torch.manual_seed(0)
    return PTDiT(CONFIG).state_dict()


def to_fp8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-tensor scaled fp8: (fp8 weight, float32 scale) with weight ≈ fp8 · scale."""
    scale = weight.abs().max().float() / FP8_MAX
    return (weight / scale).to(torch.float8_e4m3fn), scale


def dequantized() -> dict:
    out = weights()
    for layer in LINEARS:
        stored, scale = to_fp8(out[f"{layer}.weight"])
        out[f"{layer}.weight"] = stored.float() * scale
    return out


def quantized(kind: str) -> tuple[dict, dict]:
    """(tensors, metadata) of an fp8 file: "scaled_fp8" (the ``scaled_fp8`` marker and
    ``.scale_weight``, what older core and many converters write), "quant_metadata"
    (``_quantization_metadata`` and ``.weight_scale``) or "comfy_quant" (per-layer ``.comfy_quant``)."""
    tensors, metadata = weights(), dict(METADATA)
    for layer in LINEARS:
        tensors[f"{layer}.weight"], scale = to_fp8(tensors[f"{layer}.weight"])
        if kind == "scaled_fp8":
            tensors[f"{layer}.scale_weight"] = scale
        else:
            tensors[f"{layer}.weight_scale"] = scale
        if kind == "comfy_quant":
            tensors[f"{layer}.comfy_quant"] = torch.tensor(list(json.dumps(FP8_LAYER).encode()), dtype=torch.uint8)
    if kind == "scaled_fp8":
        tensors["scaled_fp8"] = torch.empty(2, dtype=torch.float8_e4m3fn)  # 2 elements: no fp8 matmul
    if kind == "quant_metadata":
        metadata["_quantization_metadata"] = json.dumps({"format_version": "1.0",
                                                         "layers": {layer: FP8_LAYER for layer in LINEARS}})
    return tensors, metadata


LORA_LAYERS = [layer for layer in LINEARS if layer.startswith("transformer_blocks.")]  # every attention, FFN
LORA_RANK, LORA_ALPHA, LORA_STRENGTH = 2, 1.0, 0.8


def lora_factors() -> dict:
    """layer -> (down (rank, in), up (out, rank)) of a random LoRA on every block layer."""
    shapes = {layer: weights()[f"{layer}.weight"].shape for layer in LORA_LAYERS}
    torch.manual_seed(5)
    return {layer: (torch.randn(LORA_RANK, cols) * 0.3, torch.randn(rows, LORA_RANK) * 0.3)
            for layer, (rows, cols) in shapes.items()}


def merged() -> dict:
    """The base weights with the LoRA merged by hand: W + strength · alpha / rank · up @ down."""
    out = weights()
    for layer, (down, up) in lora_factors().items():
        out[f"{layer}.weight"] = out[f"{layer}.weight"] + LORA_STRENGTH * LORA_ALPHA / LORA_RANK * (up @ down)
    return out


# spelling -> (name of a layer in the file, names of its down / up matrices); an alpha is stored as
# "<name>.alpha" where the spelling has one (PEFT keeps alpha in its adapter config: alpha = rank).
LORA_SPELLINGS = {
    "comfyui": (lambda layer: f"diffusion_model.{layer}", ("lora_down.weight", "lora_up.weight"), True),
    "comfyui_peft_names": (lambda layer: f"diffusion_model.{layer}", ("lora_A.weight", "lora_B.weight"), True),
    "kohya": (lambda layer: "lora_unet_" + layer.replace(".", "_"), ("lora_down.weight", "lora_up.weight"), True),
    "peft": (lambda layer: layer, ("lora_A.weight", "lora_B.weight"), False),
    "peft_transformer": (lambda layer: f"transformer.{layer}", ("lora_A.weight", "lora_B.weight"), False),
    "peft_base_model": (lambda layer: f"base_model.model.{layer}", ("lora_A.weight", "lora_B.weight"), False),
    "diffusers_down_up": (lambda layer: f"transformer.{layer}", ("lora_down.weight", "lora_up.weight"), False),
}


# Keys of a LoRA that match no PT-DiT layer: a text encoder's (kohya), a block the tiny model lacks (PEFT).
FOREIGN_KEYS = {"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": torch.ones(LORA_RANK, 4),
                "lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight": torch.ones(4, LORA_RANK),
                "transformer.transformer_blocks.7.attn1.to_q.lora_A.weight": torch.ones(LORA_RANK, 4)}


def lora_file(spelling: str) -> dict:
    name, (down_name, up_name), has_alpha = LORA_SPELLINGS[spelling]
    tensors = {}
    for layer, (down, up) in lora_factors().items():
        tensors[f"{name(layer)}.{down_name}"], tensors[f"{name(layer)}.{up_name}"] = down, up
        if has_alpha:
            tensors[f"{name(layer)}.alpha"] = torch.tensor(LORA_ALPHA)
    if not has_alpha:  # the same LoRA at alpha = rank: scale the up matrices instead
        tensors = {k: v * LORA_ALPHA / LORA_RANK if k.endswith(up_name) else v for k, v in tensors.items()}
    return tensors


@pytest.fixture(scope="module")
def lora_files(comfy_host) -> dict:
    names = {}
    for spelling in LORA_SPELLINGS:
        names[spelling] = f"ptdit_{spelling}.safetensors"
        save_file(lora_file(spelling), str(comfy_host.model_path("loras", names[spelling])))
        names[f"{spelling}_converted"] = f"ptdit_{spelling}_converted.safetensors"
        save_file(comfy_lora_keys(lora_file(spelling)),
                  str(comfy_host.model_path("loras", names[f"{spelling}_converted"])))
    names["partial"], names["foreign"] = "ptdit_partial.safetensors", "not_ptdit.safetensors"
    save_file({**lora_file("kohya"), **FOREIGN_KEYS}, str(comfy_host.model_path("loras", names["partial"])))
    save_file(FOREIGN_KEYS, str(comfy_host.model_path("loras", names["foreign"])))
    return names


@pytest.fixture(scope="module")
def model_files(comfy_host) -> dict:
    files = {"fp32": (weights(), METADATA), "dequantized": (dequantized(), METADATA), "merged": (merged(), METADATA)}
    files.update({kind: quantized(kind) for kind in ("scaled_fp8", "quant_metadata", "comfy_quant")})
    names = {}
    for kind, (tensors, metadata) in files.items():
        names[kind] = f"mf_{kind}.safetensors"
        save_file(tensors, str(comfy_host.model_path("diffusion_models", names[kind])), metadata=metadata)
    return names


def sample_graph(model_name: str) -> dict:
    """PT-DiT Model Loader → PT-DiT T2I Sampler (64 px, 2 steps) → SaveLatent ("save")."""
    return {
        **model_and_text_nodes(model_name, CAPTION),
        "s": {"class_type": "PTDiTSamplerT2I",
              "inputs": {"model": ["load", 0], "positive": ["pos", 0], "negative": ["neg", 0], "width": 64,
                         "height": 64, "batch_size": 1, "seed": 3, "steps": 2, "cfg": 1.0, "sampler_name": "euler",
                         "scheduler": "ptdit_rflow"}},
        "save": {"class_type": "SaveLatent", "inputs": {"samples": ["s", 0], "filename_prefix": "ptdit_files"}},
    }


def sample(comfy_host, graph: dict) -> torch.Tensor:
    result = comfy_host.run(graph, timeout=300)
    files = comfy_host.output_files(result, node_id="save", kind="latents")
    assert files, result.describe()
    return load_file(str(files[-1]))["latent_tensor"]


def converts_old_quants(comfy_host) -> bool:
    """Whether the host's loader converts quantized files to per-layer ``comfy_quant`` (0.33+)."""
    return "def convert_old_quants" in (comfy_host.comfy_dir / "comfy" / "utils.py").read_text()


def with_lora(graph: dict, lora_name: str, loader: str = "LoraLoaderModelOnly") -> dict:
    """``graph`` with a LoRA loader (a stock one or PTDiTLoraLoader) between the model loader and the
    sampler."""
    graph["lora"] = {"class_type": loader, "inputs": {"model": ["load", 0], "lora_name": lora_name,
                                                      "strength_model": LORA_STRENGTH}}
    if loader == "LoraLoader":  # with a CLIP: a tiny T5 through the PT-DiT T5 Loader
        graph["t5"] = {"class_type": "PTDiTT5Loader",
                       "inputs": {"text_encoder": "lora_t5/text_encoder/", "tokenizer": "auto", "device": "default",
                                  "dtype": "default", "offload_when_idle": True}}
        graph["lora"]["inputs"].update(clip=["t5", 0], strength_clip=1.0)
    graph["s"]["inputs"]["model"] = ["lora", 0]
    return graph


@pytest.fixture(scope="module")
def t5_folder(comfy_host):
    """models/text_encoders/lora_t5/{text_encoder,tokenizer}/: a tiny T5 for LoraLoader's CLIP input."""
    encoder = comfy_host.model_path("text_encoders", "lora_t5/text_encoder/config.json").parent
    write_t5(encoder, width=CAPTION)
    shutil.copytree(comfy_t5_tokenizer(comfy_host), encoder.parent / "tokenizer", dirs_exist_ok=True)


@pytest.fixture(scope="module")
def references(comfy_host, model_files) -> dict:
    return {kind: sample(comfy_host, sample_graph(model_files[kind])) for kind in ("fp32", "dequantized", "merged")}


@pytest.mark.parametrize("spelling", ["comfyui", "comfyui_peft_names", "kohya", "peft_converted",
                                      "peft_transformer_converted", "diffusers_down_up_converted"])
def test_stock_lora_loader_applies_a_ptdit_lora_like_merged_weights(comfy_host, model_files, lora_files, references,
                                                                   spelling):
    """ComfyUI's and kohya's spellings load as they are; PEFT / diffusers files after ``python -m
    ptdit.lora``. The LoRA reaches every block layer: the latents equal the hand-merged model's."""
    out = sample(comfy_host, with_lora(sample_graph(model_files["fp32"]), lora_files[spelling]))
    merged, plain = references["merged"], references["fp32"]
    assert (out - merged).abs().max() <= 1e-5 * merged.abs().max()
    assert (merged - plain).abs().max() > 0.1 * plain.abs().max()  # the LoRA changes the result


def test_lora_loader_with_a_clip_applies_the_model_part(comfy_host, model_files, lora_files, references, t5_folder):
    out = sample(comfy_host, with_lora(sample_graph(model_files["fp32"]), lora_files["kohya"], "LoraLoader"))
    assert (out - references["merged"]).abs().max() <= 1e-5 * references["merged"].abs().max()


@pytest.mark.parametrize("spelling", ["peft", "peft_transformer"])
def test_lora_matching_no_ptdit_layer_is_logged_key_by_key(comfy_host, model_files, lora_files, references, spelling):
    """Core maps no PEFT key onto a model without a LoRA table: its loader logs every key it did not
    load ("lora key not loaded: ...") and the model samples as without the LoRA."""
    offset = comfy_host.log_end()
    out = sample(comfy_host, with_lora(sample_graph(model_files["fp32"]), lora_files[spelling]))
    log = comfy_host.log_text(offset)
    keys = lora_file(spelling)
    missed = [key for key in keys if f"lora key not loaded: {key}" in log]
    assert len(missed) == len(keys), log[-3000:]
    assert torch.equal(out, references["fp32"])


@pytest.mark.parametrize("spelling", ["comfyui", "comfyui_peft_names", "kohya", "peft", "peft_transformer",
                                      "peft_base_model", "diffusers_down_up"])
def test_ptdit_lora_loader_applies_every_spelling_like_merged_weights(comfy_host, model_files, lora_files, references,
                                                                      spelling):
    """The PT-DiT LoRA Loader reads the trainers' files as they are, PEFT / diffusers included: the
    LoRA reaches every block layer, the latents equal the hand-merged model's, and no key is
    reported as not loaded (each file name appears in the log only if the loader warns about it)."""
    out = sample(comfy_host, with_lora(sample_graph(model_files["fp32"]), lora_files[spelling], "PTDiTLoraLoader"))
    assert (out - references["merged"]).abs().max() <= 1e-5 * references["merged"].abs().max()
    assert f"PT-DiT LoRA Loader: {lora_files[spelling]}" not in comfy_host.log_text()


def test_ptdit_lora_loader_warns_once_with_the_file_and_the_count_of_keys_not_loaded(comfy_host, model_files,
                                                                                     lora_files, references):
    out = sample(comfy_host, with_lora(sample_graph(model_files["fp32"]), lora_files["partial"], "PTDiTLoraLoader"))
    log = comfy_host.log_text()  # the file name is this test's own
    warnings = [line for line in log.splitlines() if f"PT-DiT LoRA Loader: {lora_files['partial']}" in line]
    total = len(lora_file("kohya")) + len(FOREIGN_KEYS)
    assert len(warnings) == 1, log[-3000:]
    assert f"{lora_files['partial']}: {len(FOREIGN_KEYS)} of {total} keys were not loaded" in warnings[0], warnings
    assert (out - references["merged"]).abs().max() <= 1e-5 * references["merged"].abs().max()


def test_ptdit_lora_loader_refuses_a_lora_matching_no_ptdit_layer(comfy_host, model_files, lora_files):
    graph = with_lora(sample_graph(model_files["fp32"]), lora_files["foreign"], "PTDiTLoraLoader")
    result = comfy_host.wait(comfy_host.queue_prompt(graph), timeout=300)
    assert not result.ok and result.error["node_id"] == "lora", result.describe()
    message = result.error["exception_message"]
    assert f"{lora_files['foreign']} is not a PT-DiT LoRA" in message and f"none of its {len(FOREIGN_KEYS)} keys" \
        in message, message


def test_ptdit_lora_loader_at_strength_0_returns_the_model_unchanged(comfy_host, model_files, lora_files, references):
    """As the stock LoraLoaderModelOnly: strength 0 reads no file (a foreign LoRA is no error)."""
    graph = with_lora(sample_graph(model_files["fp32"]), lora_files["foreign"], "PTDiTLoraLoader")
    graph["lora"]["inputs"]["strength_model"] = 0.0
    assert torch.equal(sample(comfy_host, graph), references["fp32"])


@pytest.mark.parametrize("kind", ["scaled_fp8", "quant_metadata"])
def test_fp8_files_sample_like_their_weights_in_full_precision(comfy_host, model_files, references, kind):
    """Core's quantized layers apply the file's scales: the latents equal those of the dequantized
    weights in fp32, and differ from the fp32 model's by fp8 rounding only."""
    out = sample(comfy_host, sample_graph(model_files[kind]))
    plain, exact = references["fp32"], references["dequantized"]
    assert (out - exact).abs().max() <= 1e-4 * exact.abs().max()
    # fp8 e4m3 keeps 3 mantissa bits: a weight is rounded by at most 2^-4 of itself.
    assert (out - plain).norm() <= FP8_ROUNDING * plain.norm()
    assert (exact - plain).abs().max() > 1e-3 * plain.abs().max()  # fp8 rounding shows: the test can tell


def test_comfy_quant_file_where_the_host_reads_it(comfy_host, model_files, references):
    """Per-layer ``.comfy_quant`` entries are core's format from 0.33 on; 0.3.75 refuses the file
    naming the entries it does not know."""
    graph = sample_graph(model_files["comfy_quant"])
    if converts_old_quants(comfy_host):
        out = sample(comfy_host, graph)
        assert (out - references["dequantized"]).abs().max() <= 1e-4 * references["dequantized"].abs().max()
        return
    result = comfy_host.wait(comfy_host.queue_prompt(graph), timeout=300)
    assert not result.ok and result.error["node_id"] == "load", result.describe()
    message = result.error["exception_message"]
    assert model_files["comfy_quant"] in message and ".comfy_quant" in message and "unknown" in message


def test_loaded_model_can_be_loaded_again_as_core_models_are(comfy_host, model_files):
    """0.33+: the MODEL carries core's reload factory (``cached_patcher_init``), which builds the same
    weights again without dynamic VRAM (what TorchCompileModel's clone and multi-GPU copies need)."""
    graph = {"load": sample_graph(model_files["scaled_fp8"])["load"],
             "report": {"class_type": "PTDiTProbeReload", "inputs": {"model": ["load", 0]}}}
    report = json.loads(comfy_host.run(graph, timeout=300).outputs["report"]["text"][0])
    if not converts_old_quants(comfy_host):  # 0.3.75 has no reload factory
        assert report == {"patcher": "ModelPatcher", "factory": "absent"}
        return
    assert report["factory"] == "set" and report["reloaded_patcher"] == "ModelPatcher", report
    assert report["same_keys"] and report["max_difference"] == 0, report
