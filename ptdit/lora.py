"""PT-DiT LoRA files in the spelling ComfyUI's stock LoRA loaders read.

    python -m ptdit.lora IN.safetensors OUT.safetensors

ComfyUI's LoRA loaders (LoraLoaderModelOnly, LoraLoader) find the layers of a model they have no
table for under two spellings: ``diffusion_model.<layer>`` and kohya's ``lora_unet_<layer, dots as
underscores>``; core offers no hook for others. PEFT / diffusers trainers (MindSpeed-MM, the
diffusers scripts) write ``<layer>.lora_A.weight`` (or ``lora_down``) with no prefix or behind
``transformer.`` / ``base_model.model.``. This rewrites such a file to the ``diffusion_model.``
spelling, tensors and metadata unchanged; keys already in a spelling ComfyUI reads are kept.
"""
from __future__ import annotations

import argparse
import sys
from typing import Mapping

import torch

COMFY_PREFIXES = ("diffusion_model.", "lora_unet_", "lora_te")  # what ComfyUI maps (lora_te: text encoders)
PEFT_PREFIXES = ("base_model.model.", "transformer.")  # what PEFT / diffusers trainers put in front


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
