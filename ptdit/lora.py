"""PT-DiT LoRA files in the spelling ComfyUI's LoRA loader reads.

    python -m ptdit.lora IN.safetensors OUT.safetensors

ComfyUI's LoRA loader (``comfy.lora``) finds the layers of a model it has no table for under two
spellings: ``diffusion_model.<layer>`` and kohya's ``lora_unet_<layer, dots as underscores>``; core
offers no hook for others. PEFT / diffusers trainers (MindSpeed-MM, the diffusers scripts) write
``<layer>.lora_A.weight`` (or ``lora_down``) with no prefix or behind ``transformer.`` /
``base_model.model.``. :func:`comfy_lora_keys` rewrites such keys to the ``diffusion_model.``
spelling (the PT-DiT LoRA Loader node does it on loading, the command once into a file, tensors and
metadata unchanged); keys already in a spelling ComfyUI reads are kept. :func:`unloaded_keys` tells
which keys of a LoRA ComfyUI's loader would leave unread.
"""
from __future__ import annotations

import argparse
import sys
from typing import Container, Iterable, Mapping

import torch

COMFY_PREFIXES = ("diffusion_model.", "lora_unet_", "lora_te")  # what ComfyUI maps (lora_te: text encoders)
PEFT_PREFIXES = ("base_model.model.", "transformer.")  # what PEFT / diffusers trainers put in front
# What ComfyUI's loader (comfy.lora.load_lora and its weight adapters, 0.3.75 and 0.33) reads after a
# layer's name: alpha, DoRA scale, LoRA in its seven spellings, LoHa, LoKr, GLoRA, OFT / BOFT, and
# whole-weight or bias differences and replacements.
LAYER_SUFFIXES = (
    ".alpha", ".dora_scale", ".reshape_weight",
    ".lora_up.weight", ".lora_down.weight", ".lora_mid.weight", "_lora.up.weight", "_lora.down.weight",
    ".lora_B.weight", ".lora_A.weight", ".lora.up.weight", ".lora.down.weight", ".lora_B", ".lora_A",
    ".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight",
    ".lora_B.default.weight", ".lora_A.default.weight",
    ".hada_w1_a", ".hada_w1_b", ".hada_w2_a", ".hada_w2_b", ".hada_t1", ".hada_t2",
    ".lokr_w1", ".lokr_w2", ".lokr_w1_a", ".lokr_w1_b", ".lokr_w2_a", ".lokr_w2_b", ".lokr_t2",
    ".a1.weight", ".a2.weight", ".b1.weight", ".b2.weight", ".oft_blocks", ".rescale",
    ".w_norm", ".b_norm", ".diff", ".diff_b", ".set_weight",
)


def comfy_lora_keys(lora: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``lora`` with every PEFT / diffusers key (bare, ``transformer.``, ``base_model.model.``) as
    ``diffusion_model.<key>``; keys in ComfyUI's spellings are kept."""
    out = {}
    for key, tensor in lora.items():
        if not key.startswith(COMFY_PREFIXES):
            prefix = next((p for p in PEFT_PREFIXES if key.startswith(p)), "")
            key = COMFY_PREFIXES[0] + key[len(prefix):]
        out[key] = tensor
    return out


def unloaded_keys(keys: Iterable[str], layers: Container[str]) -> list[str]:
    """The ``keys`` ComfyUI's loader leaves unread: those that are not a name in ``layers`` (core's
    key map, ``comfy.lora.model_lora_keys_unet``) followed by one of :data:`LAYER_SUFFIXES`. (A layer
    carrying two LoRA spellings at once counts as read, although core takes only one of them.)"""
    return [key for key in keys
            if not any(key.endswith(suffix) and key[:-len(suffix)] in layers for suffix in LAYER_SUFFIXES)]


def main(argv: list[str] | None = None) -> int:
    from safetensors import safe_open
    from safetensors.torch import save_file

    parser = argparse.ArgumentParser(prog="python -m ptdit.lora", description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="the LoRA as its trainer wrote it (.safetensors)")
    parser.add_argument("dst", help="where to write the LoRA for ComfyUI's loaders (.safetensors)")
    args = parser.parse_args(argv)
    with safe_open(args.src, framework="pt") as f:
        lora, metadata = {k: f.get_tensor(k) for k in f.keys()}, f.metadata()
    converted = comfy_lora_keys(lora)
    save_file(converted, args.dst, metadata=metadata)
    renamed = sum(a != b for a, b in zip(lora, converted))
    print(f"wrote {args.dst}: {renamed} of {len(lora)} keys renamed to the diffusion_model. spelling")
    return 0


if __name__ == "__main__":
    sys.exit(main())
