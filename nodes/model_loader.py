"""The PT-DiT Model Loader node, and PT-DiT checkpoints built into ComfyUI MODELs.

:func:`load_ptdit_state_dict` builds a MODEL (a ModelPatcher around ``PTDiTBaseModel``) the way
core's ``comfy.sd.load_diffusion_model_state_dict`` builds one of core's models, which cannot
detect PT-DiT, and takes the same ``model_options``: ``dtype`` (weight storage; else ComfyUI's
choice for the device), ``custom_operations`` (the layer classes, e.g. a GGUF pack's),
``fp8_optimizations`` and ``load_device`` / ``offload_device``. Quantized files (scaled fp8, core's
per-layer ``comfy_quant`` formats) go through core's own conversion and quantized layers
(:func:`core_quantization`), and the MODEL is core's patcher (dynamic VRAM on 0.33+ where enabled).
"""
from __future__ import annotations

import os
from typing import Optional

import torch

import comfy.model_detection
import comfy.model_management
import comfy.model_patcher
import comfy.utils

from ..ptdit import PTDiT
from ..ptdit.checkpoint import CheckpointError, read_failure
from ..ptdit.finite import check_finite_weights
from ..ptdit.loader import check_state_dict, find_state_dict, infer_config
from .api import io
from .comfy_model import PTDiTSupportedModel
from .model_folders import PTDIT_MODELS
from .options import weight_dtype_of
from .schema import node_schema, weight_dtype_input
from .validation import CheckedNode


def core_quantization(state_dict: dict, metadata: Optional[dict], model_options: dict) -> tuple[dict, dict, tuple]:
    """What core's diffusion-model loader of this host does with a quantized file: the state dict it
    loads, the model-config fields it sets (None for a plain file) and the names core's quantized
    layers read beside a weight (``<layer>.<name>``).

    0.33+: ``comfy.utils.convert_old_quants`` turns a scaled-fp8 file (``scaled_fp8``, ``.scale_weight``)
    or ``_quantization_metadata`` into per-layer ``.comfy_quant`` entries, which select core's
    mixed-precision layers (``quant_config``). 0.3.75: ``scaled_fp8`` selects core's scaled-fp8 layers
    (fp8 matrix multiplication unless it has 2 elements), ``_quantization_metadata`` the mixed-precision
    ones (``layer_quant_config``).
    """
    metadata = dict(metadata or {})
    if hasattr(comfy.utils, "convert_old_quants"):
        if model_options.get("custom_operations") is None:
            state_dict, metadata = comfy.utils.convert_old_quants(state_dict, "", metadata=metadata)
        return (state_dict, {"quant_config": comfy.utils.detect_layer_quantization(state_dict, "")},
                ("comfy_quant", "weight_scale", "weight_scale_2", "input_scale", "pre_quant_scale"))
    fields = {"layer_quant_config": comfy.model_detection.detect_layer_quantization(metadata)}
    marker = state_dict.pop("scaled_fp8", None)
    if marker is not None:
        fields["scaled_fp8"] = torch.float8_e4m3fn if marker.dtype == torch.float32 else marker.dtype
        fields["optimizations"] = {"fp8": model_options.get("fp8_optimizations", False) or marker.nelement() != 2}
    return state_dict, fields, ("scale_weight", "scale_input", "weight_scale", "input_scale")


def load_ptdit_state_dict(state_dict: dict, model_options: Optional[dict] = None, metadata: Optional[dict] = None,
                          name: str = "this PT-DiT model", disable_dynamic: bool = False
                          ) -> comfy.model_patcher.ModelPatcher:
    """A MODEL from PT-DiT weights (any container or prefix, plain or quantized) and their file's
    ``metadata``; ``ValueError`` naming ``name`` when they are not a PT-DiT model. The patcher is
    core's (``CoreModelPatcher``: the dynamic-VRAM one where the host enables it) unless
    ``disable_dynamic``."""
    model_options = model_options or {}
    try:
        state_dict = find_state_dict(state_dict)
        state_dict, quantization, scales = core_quantization(state_dict, metadata, model_options)
        config = infer_config(state_dict, metadata)
        check_state_dict(PTDiT(config, device="meta"), state_dict, scales)
        check_finite_weights(state_dict)
    except (CheckpointError, ValueError) as exc:
        raise ValueError(f"{name} cannot be loaded as a PT-DiT model: {exc}") from exc

    mm = comfy.model_management
    model_config = PTDiTSupportedModel(config.to_dict(), name, model_options)
    for field, value in quantization.items():  # as core's model detection sets them
        setattr(model_config, field, value)
    quantized = quantization.get("quant_config") or quantization.get("layer_quant_config")
    load_device = model_options.get("load_device", mm.get_torch_device())
    offload_device = model_options.get("offload_device", mm.unet_offload_device())
    unet_dtype = model_options.get("dtype")
    if unet_dtype is None:
        stored = None if quantization.get("quant_config") or quantization.get("scaled_fp8") else \
            comfy.utils.weight_dtype(state_dict)
        unet_dtype = mm.unet_dtype(model_params=comfy.utils.calculate_parameters(state_dict),
                                   supported_dtypes=model_config.supported_inference_dtypes, weight_dtype=stored)
    manual_cast = mm.unet_manual_cast(None if quantized else unet_dtype, load_device,
                                      model_config.supported_inference_dtypes)
    model_config.set_inference_dtype(unet_dtype, manual_cast)
    model = model_config.get_model(state_dict, "")
    patcher_class = comfy.model_patcher.ModelPatcher
    if not disable_dynamic:  # 0.33+: the dynamic-VRAM patcher when the host enables it
        patcher_class = getattr(comfy.model_patcher, "CoreModelPatcher", patcher_class)
    patcher = patcher_class(model, load_device=load_device, offload_device=offload_device)
    if not mm.is_device_cpu(offload_device):
        model.to(offload_device)
    is_dynamic = getattr(patcher, "is_dynamic", None)  # 0.33+
    if is_dynamic is None:
        model.load_model_weights(state_dict, "")
    else:  # a dynamic patcher takes the weights as read; it places them itself
        model.load_model_weights(state_dict, "", assign=is_dynamic())
    return patcher


def load_ptdit_model(path: str, model_options: Optional[dict] = None,
                     disable_dynamic: bool = False) -> comfy.model_patcher.ModelPatcher:
    """Read ``path`` with ComfyUI's safe loader and build a MODEL (:func:`load_ptdit_state_dict`);
    ``ValueError`` names the file. On 0.33+ the MODEL can be loaded again from the file
    (``cached_patcher_init``, which core's clones without dynamic VRAM and multi-GPU copies call)."""
    name = os.path.basename(path)
    try:
        raw, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
    except Exception as exc:  # unreadable file: ComfyUI's loader raises various types
        raise ValueError(f"{name} {read_failure(path, exc)}") from exc
    patcher = load_ptdit_state_dict(raw, model_options, metadata, name, disable_dynamic)
    if hasattr(patcher, "cached_patcher_init"):  # the factory core's own loaders register
        patcher.cached_patcher_init = (load_ptdit_model, (path, model_options))
    return patcher


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
