"""The PT-DiT LoRA Loader node: a LoRA in any trainer's spelling applied by core's own LoRA loader.

Core maps LoRA keys onto a model it has no table for in two spellings only (``diffusion_model.``,
kohya's ``lora_unet_``) and offers no hook for others, so the node renames PEFT / diffusers keys
(:func:`ptdit.lora.comfy_lora_keys`) and hands the LoRA to ``comfy.sd.load_lora_for_models``, as the
stock LoraLoaderModelOnly does.
"""
from __future__ import annotations

import logging
import os

import comfy.lora
import comfy.sd
import comfy.utils

from ..ptdit.lora import comfy_lora_keys, unloaded_keys
from .api import io
from .comfy_model import require_ptdit
from .model_folders import ModelFiles
from .schema import model_input, node_schema
from .validation import CheckedNode

LORA_FILES = ModelFiles(("loras",), "LoRA file")


def load_ptdit_lora(model, path: str, strength: float):
    """A clone of ``model`` (a PT-DiT MODEL) patched by core with the LoRA file at ``path``. Logs one
    warning naming the file and how many of its keys match no PT-DiT layer; ``ValueError`` when none
    does."""
    require_ptdit(model)
    name = os.path.basename(path)
    lora = comfy_lora_keys(comfy.utils.load_torch_file(path, safe_load=True))
    unloaded = unloaded_keys(lora, comfy.lora.model_lora_keys_unet(model.model, {}))
    if len(unloaded) == len(lora):
        raise ValueError(f"{name} is not a PT-DiT LoRA: none of its {len(lora)} keys matches a PT-DiT layer "
                         "(a LoRA for another model, or not a LoRA)")
    if unloaded:
        logging.warning("PT-DiT LoRA Loader: %s: %d of %d keys were not loaded (they match no PT-DiT layer)",
                        name, len(unloaded), len(lora))
    return comfy.sd.load_lora_for_models(model, None, lora, strength, 0)[0]


class PTDiTLoraLoader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTLoraLoader", "PT-DiT LoRA Loader", "loaders",
            "Applies a LoRA from models/loras to a PT-DiT model, in any trainer's key names: PEFT / diffusers "
            "(also behind transformer. or base_model.model.), kohya or ComfyUI.",
            inputs=[model_input(),
                    LORA_FILES.combo("lora_name", "The LoRA file, from models/loras."),
                    io.Float.Input("strength_model", default=1.0, min=-100.0, max=100.0, step=0.01,
                                   tooltip="How strongly to modify the diffusion model. This value can be "
                                           "negative; 0 returns the model unchanged.")],
            outputs=[io.Model.Output(tooltip="A copy of the model with the LoRA applied.")])

    @classmethod
    def execute(cls, model, lora_name: str, strength_model: float) -> io.NodeOutput:
        if strength_model == 0:  # as the stock LoraLoaderModelOnly: the file is not read
            return io.NodeOutput(model)
        return io.NodeOutput(load_ptdit_lora(model, LORA_FILES.path(lora_name), strength_model))
