"""``ptdit.lora``: PEFT / diffusers LoRA keys rewritten to ComfyUI's ``diffusion_model.`` spelling
(``python -m ptdit.lora``: tensors and metadata unchanged), ComfyUI's own spellings kept, and the keys
no layer name explains counted as unloaded (the loaders are tested with such files in
tests/host/test_host_model_files.py, the count against core's loader in tests/inproc/test_lora_loader.py)."""
from __future__ import annotations

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ptdit.lora import comfy_lora_keys, main, unloaded_keys

LAYER = "transformer_blocks.0.attn1.to_q"


def test_peft_and_diffusers_prefixes_become_diffusion_model():
    a, b = torch.ones(2, 8), torch.zeros(8, 2)
    for prefix in ("", "transformer.", "base_model.model."):
        lora = {f"{prefix}{LAYER}.lora_A.weight": a, f"{prefix}{LAYER}.lora_B.weight": b}
        assert comfy_lora_keys(lora) == {f"diffusion_model.{LAYER}.lora_A.weight": a,
                                         f"diffusion_model.{LAYER}.lora_B.weight": b}


def test_comfyui_kohya_and_text_encoder_keys_are_kept():
    lora = {f"diffusion_model.{LAYER}.lora_up.weight": torch.ones(1),
            "lora_unet_transformer_blocks_0_attn1_to_q.alpha": torch.ones(()),
            "lora_te_encoder_block_0_layer_0_SelfAttention_q.lora_down.weight": torch.ones(1)}
    assert comfy_lora_keys(lora) == lora


def test_command_writes_the_converted_file_with_its_metadata(tmp_path, capsys):
    src, dst = tmp_path / "peft.safetensors", tmp_path / "comfy.safetensors"
    save_file({f"transformer.{LAYER}.lora_A.weight": torch.arange(4.0).reshape(2, 2),
               f"diffusion_model.{LAYER}.alpha": torch.tensor(2.0)}, str(src), metadata={"ss_network_dim": "2"})
    assert main([str(src), str(dst)]) == 0
    with safe_open(str(dst), framework="pt") as f:
        assert f.metadata() == {"ss_network_dim": "2"}
        assert sorted(f.keys()) == [f"diffusion_model.{LAYER}.alpha", f"diffusion_model.{LAYER}.lora_A.weight"]
        assert torch.equal(f.get_tensor(f"diffusion_model.{LAYER}.lora_A.weight"), torch.arange(4.0).reshape(2, 2))
    assert "1 of 2 keys renamed" in capsys.readouterr().out


def test_unloaded_keys_are_those_no_layer_name_and_suffix_explain():
    layers = {f"diffusion_model.{LAYER}", "lora_unet_transformer_blocks_0_attn1_to_q"}
    read = [f"diffusion_model.{LAYER}.lora_A.weight", f"diffusion_model.{LAYER}.alpha",
            f"diffusion_model.{LAYER}_lora.up.weight", "lora_unet_transformer_blocks_0_attn1_to_q.lora_down.weight"]
    unread = [f"diffusion_model.{LAYER}.lora_magnitude_vector",  # PEFT's DoRA name: core reads dora_scale
              "diffusion_model.transformer_blocks.9.attn1.to_q.lora_A.weight",  # no such layer
              "lora_te_encoder_block_0_layer_0_SelfAttention_q.lora_up.weight"]  # a text encoder's
    assert unloaded_keys(read + unread, layers) == unread
