"""The PT-DiT Model Loader node, and PT-DiT checkpoints built into ComfyUI MODELs.

:func:`load_ptdit_state_dict` builds a MODEL (a ModelPatcher around ``PTDiTBaseModel``) the way
core's ``comfy.sd.load_diffusion_model_state_dict`` builds one of core's models, which cannot
detect PT-DiT, and takes the same ``model_options``: ``dtype`` (weight storage; else ComfyUI's
choice for the device), ``custom_operations`` (the layer classes, e.g. a GGUF pack's),
``fp8_optimizations`` and ``load_device`` / ``offload_device``.
"""
from __future__ import annotations

import os
from typing import Optional

import comfy.model_management
import comfy.model_patcher
import comfy.utils

from ..ptdit import PTDiT
from ..ptdit.checkpoint import PICKLE_SUFFIXES, CheckpointError, pickle_failure
from ..ptdit.finite import check_finite_weights
from ..ptdit.loader import check_state_dict, find_state_dict, infer_config
from .api import io
from .comfy_model import PTDiTSupportedModel
from .model_folders import PTDIT_MODELS
from .options import weight_dtype_of
from .schema import node_schema, weight_dtype_input
from .validation import CheckedNode


def load_ptdit_state_dict(state_dict: dict, model_options: Optional[dict] = None, metadata: Optional[dict] = None,
                          name: str = "this PT-DiT model") -> comfy.model_patcher.ModelPatcher:
    """A MODEL from PT-DiT weights (any container or prefix) and their file's ``metadata``;
    ``ValueError`` naming ``name`` when they are not a PT-DiT model."""
    model_options = model_options or {}
    try:
        state_dict = find_state_dict(state_dict)
        config = infer_config(state_dict, metadata)
        check_state_dict(PTDiT(config, device="meta"), state_dict)
        check_finite_weights(state_dict)
    except (CheckpointError, ValueError) as exc:
        raise ValueError(f"{name} cannot be loaded as a PT-DiT model: {exc}") from exc

    mm = comfy.model_management
    model_config = PTDiTSupportedModel(config.to_dict(), name, model_options)
    load_device = model_options.get("load_device", mm.get_torch_device())
    offload_device = model_options.get("offload_device", mm.unet_offload_device())
    unet_dtype = model_options.get("dtype")
    if unet_dtype is None:
        unet_dtype = mm.unet_dtype(model_params=comfy.utils.calculate_parameters(state_dict),
                                   supported_dtypes=model_config.supported_inference_dtypes,
                                   weight_dtype=comfy.utils.weight_dtype(state_dict))
    manual_cast = mm.unet_manual_cast(unet_dtype, load_device, model_config.supported_inference_dtypes)
    model_config.set_inference_dtype(unet_dtype, manual_cast)
    model = model_config.get_model(state_dict, "").to(offload_device)
    model.load_model_weights(state_dict, "")
    return comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)


def load_ptdit_model(path: str, model_options: Optional[dict] = None) -> comfy.model_patcher.ModelPatcher:
    """Read ``path`` with ComfyUI's safe loader and build a MODEL (:func:`load_ptdit_state_dict`);
    ``ValueError`` names the file."""
    name = os.path.basename(path)
    try:
        raw, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
    except Exception as exc:  # unreadable file: ComfyUI's loader raises various types
        why = pickle_failure(path, exc) if path.lower().endswith(PICKLE_SUFFIXES) else \
            f"is not a readable checkpoint: {exc}"
        raise ValueError(f"{name} {why}") from exc
    return load_ptdit_state_dict(raw, model_options, metadata, name)


class PTDiTModelLoader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTModelLoader", "PT-DiT Model Loader", "loaders",
            "Loads a PT-DiT (Qihoo-T2X) transformer from models/ptdit or models/diffusion_models.",
            inputs=[PTDIT_MODELS.combo("model_name", "PT-DiT checkpoint (.safetensors, or a weights-only "
                                                     ".pt/.pth/.ckpt)."),
                    weight_dtype_input("weight_dtype", "Storage precision of the weights. 'default' picks what the "
                                                       "device supports; fp8 stores weights in 8 bits and computes "
                                                       "in bf16/fp16/fp32.")],
            outputs=[io.Model.Output(tooltip="The PT-DiT diffusion model.")])

    @classmethod
    def execute(cls, model_name: str, weight_dtype: str) -> io.NodeOutput:
        dtype = weight_dtype_of(weight_dtype)
        model_options = {} if dtype is None else {"dtype": dtype}
        return io.NodeOutput(load_ptdit_model(PTDIT_MODELS.path(model_name), model_options))
