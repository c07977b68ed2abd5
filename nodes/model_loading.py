"""Turn a PT-DiT checkpoint file into a ComfyUI MODEL (a ModelPatcher around PTDiTBaseModel)."""
from __future__ import annotations

import os

import comfy.model_management
import comfy.model_patcher
import comfy.utils

from ..ptdit import PTDiT
from ..ptdit.checkpoint import PICKLE_SUFFIXES, CheckpointError, pickle_failure
from ..ptdit.finite import check_finite_weights
from ..ptdit.loader import check_state_dict, find_state_dict, infer_config
from .comfy_model import PTDiTSupportedModel
from .options import weight_dtype_of


def load_ptdit_model(path: str, weight_dtype: str = "default") -> comfy.model_patcher.ModelPatcher:
    """Read ``path`` with ComfyUI's safe loader and build a MODEL; ``ValueError`` names the file."""
    name = os.path.basename(path)
    unet_dtype = weight_dtype_of(weight_dtype)
    try:
        raw, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
    except Exception as exc:  # unreadable file: ComfyUI's loader raises various types
        why = pickle_failure(path, exc) if path.lower().endswith(PICKLE_SUFFIXES) else \
            f"is not a readable checkpoint: {exc}"
        raise ValueError(f"{name} {why}") from exc
    try:
        state_dict = find_state_dict(raw)
        config = infer_config(state_dict, metadata)
        check_state_dict(PTDiT(config, device="meta"), state_dict)
        check_finite_weights(state_dict)
    except (CheckpointError, ValueError) as exc:
        raise ValueError(f"{name} cannot be loaded as a PT-DiT model: {exc}") from exc

    model_config = PTDiTSupportedModel({"image_model": "ptdit", "ptdit_config": config.to_dict()})
    load_device = comfy.model_management.get_torch_device()
    offload_device = comfy.model_management.unet_offload_device()
    if unet_dtype is None:
        unet_dtype = comfy.model_management.unet_dtype(
            model_params=comfy.utils.calculate_parameters(state_dict),
            supported_dtypes=model_config.supported_inference_dtypes,
            weight_dtype=comfy.utils.weight_dtype(state_dict))
    manual_cast = comfy.model_management.unet_manual_cast(unet_dtype, load_device,
                                                          model_config.supported_inference_dtypes)
    model_config.set_inference_dtype(unet_dtype, manual_cast)
    model = model_config.get_model(state_dict, "").to(offload_device)
    model.ptdit_source = name
    model.load_model_weights(state_dict, "")
    return comfy.model_patcher.ModelPatcher(model, load_device=load_device, offload_device=offload_device)
