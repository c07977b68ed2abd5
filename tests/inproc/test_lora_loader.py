"""The PT-DiT LoRA Loader's count of keys not loaded (``ptdit.lora.unloaded_keys``) against core's own
loader, on whichever ComfyUI ``COMFYUI_PATH`` selects: for a LoRA holding every name core's weight
adapters read, each on a PT-DiT layer, and keys no layer takes, the pack counts exactly the keys core
logs as not loaded."""
from __future__ import annotations

import json
import logging

import torch
from safetensors.torch import save_file
from torch import nn

from ptdit import PTDiT, PTDiTConfig
from ptdit.lora import LAYER_SUFFIXES, unloaded_keys

CONFIG = PTDiTConfig(num_heads=2, head_dim=16, num_layers=1, caption_channels=32, compress_ratios=(1, 2, 2),
                     proxy_ratios=(1, 2, 2), sample_size=16)
# One layer each: what core reads together (tensors of the rank a check in core asks for).
MATRIX, OFT, BOFT = torch.ones(2, 2), torch.ones(1, 2, 2), torch.ones(1, 1, 2, 2)
GROUPS = [
    {".lora_up.weight": MATRIX, ".lora_down.weight": MATRIX, ".lora_mid.weight": MATRIX, ".alpha": torch.tensor(1.0),
     ".dora_scale": MATRIX, ".reshape_weight": torch.tensor([2, 2])},
    {"_lora.up.weight": MATRIX, "_lora.down.weight": MATRIX},
    {".lora_B.weight": MATRIX, ".lora_A.weight": MATRIX},
    {".lora.up.weight": MATRIX, ".lora.down.weight": MATRIX},
    {".lora_B": MATRIX, ".lora_A": MATRIX},
    {".lora_linear_layer.up.weight": MATRIX, ".lora_linear_layer.down.weight": MATRIX},
    {".lora_B.default.weight": MATRIX, ".lora_A.default.weight": MATRIX},
    {f".hada_{name}": MATRIX for name in ("w1_a", "w1_b", "w2_a", "w2_b", "t1", "t2")},
    {f".lokr_{name}": MATRIX for name in ("w1", "w2", "w1_a", "w1_b", "w2_a", "w2_b", "t2")},
    {f".{name}.weight": MATRIX for name in ("a1", "a2", "b1", "b2")},
    {".oft_blocks": OFT, ".rescale": MATRIX},
    {".oft_blocks": BOFT},
    {".w_norm": MATRIX, ".b_norm": MATRIX},
    {".diff": MATRIX, ".diff_b": MATRIX},
    {".set_weight": MATRIX},
]


def test_unloaded_keys_are_exactly_those_core_leaves_unread(comfy_inproc, tmp_path, caplog):
    import comfy.lora

    path = tmp_path / "tiny_ptdit.safetensors"
    save_file(PTDiT(CONFIG).state_dict(), str(path), metadata={"ptdit_config": json.dumps(CONFIG.to_dict())})
    model = comfy_inproc.pack("nodes.model_loader").load_ptdit_model(str(path))
    layers = [f"diffusion_model.{name}" for name, module in PTDiT(CONFIG, device="meta").named_modules()
              if isinstance(module, nn.Linear)]
    assert {suffix for group in GROUPS for suffix in group} == set(LAYER_SUFFIXES)
    lora = {layer + suffix: tensor for layer, group in zip(layers, GROUPS) for suffix, tensor in group.items()}
    unread = {f"{layers[-1]}.lora_magnitude_vector": MATRIX, "diffusion_model.no_such_layer.lora_A.weight": MATRIX,
              "lora_unet_no_such_layer.alpha": torch.tensor(1.0), "lora_te_text_layer.lora_up.weight": MATRIX}
    lora.update(unread)

    with caplog.at_level(logging.WARNING):
        patches = comfy.lora.load_lora(lora, comfy.lora.model_lora_keys_unet(model.model, {}))
    logged = [r.getMessage().removeprefix("lora key not loaded: ") for r in caplog.records
              if r.getMessage().startswith("lora key not loaded: ")]
    assert {f"{layer}.weight" for layer in layers[:len(GROUPS)]} <= set(patches)  # core patched every group's layer
    assert sorted(logged) == sorted(unread)
    assert unloaded_keys(lora, comfy.lora.model_lora_keys_unet(model.model, {})) == list(unread)
