"""A MODEL built without checkpoint detection: a ``supported_models_base.BASE`` subclass and a
``model_base.BaseModel`` subclass around a toy diffusion module that records what
``diffusion_model.forward`` receives (``RECORDS``) and predicts zero velocity; nodes that set a
transformer option or a block patch on it (``BLOCK_PATCH_CALLS``)."""
import torch

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models_base

from .kit import TestkitNode

RECORDS = []  # one dict per diffusion_model.forward call
BLOCK_PATCH_CALLS = []  # (block, img shape, txt shape, vec shape) per call of a PTDiTProbeBlockPatch patch


class ProbeLatentFormat(comfy.latent_formats.LatentFormat):
    latent_channels = 4
    latent_dimensions = 3
    scale_factor = 1.0
    latent_rgb_factors = [[0.3, 0.2, 0.1], [0.1, 0.3, 0.2], [0.2, 0.1, 0.3], [0.0, 0.0, 0.0]]
    latent_rgb_factors_bias = [0.0, 0.0, 0.0]


class ProbeDiT(torch.nn.Module):
    """Receives exactly what BaseModel._apply_model passes; predicts zero velocity."""

    def __init__(self, in_channels=4, context_dim=8, dtype=None, device=None,
                 operations=None, **kwargs):
        super().__init__()
        self.dtype = dtype  # BaseModel.get_dtype() reads diffusion_model.dtype
        self.operations_name = f"{operations.__module__}.{operations.__name__}" if operations else None
        self.unknown_kwargs = sorted(kwargs)
        self.proj = operations.Linear(context_dim, in_channels, dtype=dtype, device=device)

    def forward(self, x, timesteps, context=None, control=None, transformer_options={}, **kwargs):
        RECORDS.append({
            "x_shape": list(x.shape),
            "x_dtype": str(x.dtype),
            "timesteps": [round(float(t), 4) for t in timesteps],
            "context_shape": list(context.shape) if context is not None else None,
            "kwargs": {k: (list(v.shape) if torch.is_tensor(v) else repr(v)) for k, v in kwargs.items()},
            "transformer_options_keys": sorted(transformer_options.keys()),
            "probe_option": transformer_options.get("ptdit_probe"),
            "cond_or_uncond": transformer_options.get("cond_or_uncond"),
            "sigmas": [round(float(s), 4) for s in transformer_options.get("sigmas", [])],
            "operations": self.operations_name,
            "unknown_init_kwargs": self.unknown_kwargs,
            "proj_weight_dtype": str(self.proj.weight.dtype),
        })
        bias = self.proj(context.mean(dim=1)).mean() * 0.0  # exercise a comfy.ops layer
        return torch.zeros_like(x) + bias


class ProbeModel(comfy.model_base.BaseModel):
    def __init__(self, model_config, model_type=comfy.model_base.ModelType.FLOW, device=None):
        super().__init__(model_config, model_type, device=device, unet_model=ProbeDiT)

    def extra_conds(self, **kwargs):
        out = super().extra_conds(**kwargs)
        cross_attn = kwargs.get("cross_attn", None)
        if cross_attn is not None:
            out["c_crossattn"] = comfy.conds.CONDRegular(cross_attn)
        mask = kwargs.get("attention_mask", None)
        if mask is not None:
            out["attention_mask"] = comfy.conds.CONDRegular(mask)
        return out


class ProbeConfig(comfy.supported_models_base.BASE):
    unet_config = {"image_model": "ptdit_probe"}  # never in supported_models.models: no detection
    unet_extra_config = {}
    sampling_settings = {"shift": 3.0, "multiplier": 1000}
    latent_format = ProbeLatentFormat
    memory_usage_factor = 1.0
    supported_inference_dtypes = [torch.bfloat16, torch.float32]
    vae_key_prefix = ["vae."]
    text_encoder_key_prefix = ["text_encoders."]

    def get_model(self, state_dict, prefix="", device=None):
        return ProbeModel(self, device=device)


class PTDiTProbeModel(TestkitNode):
    """The probe MODEL with the flow ``shift``; clears ``RECORDS``."""

    REQUIRED = {"shift": ("FLOAT", {"default": 3.0, "min": 0.1, "max": 20.0})}
    RETURN_TYPES = ("MODEL",)

    def run(self, shift):
        RECORDS.clear()
        config = ProbeConfig({"in_channels": 4, "context_dim": 8})
        config.sampling_settings["shift"] = shift
        load_device = comfy.model_management.get_torch_device()
        offload_device = comfy.model_management.unet_offload_device()
        weight_dtype = torch.float32
        manual_cast = comfy.model_management.unet_manual_cast(weight_dtype, load_device,
                                                              config.supported_inference_dtypes)
        config.set_inference_dtype(weight_dtype, manual_cast)
        model = config.get_model({})
        model = model.to(offload_device)
        sd = {"proj.weight": torch.zeros(4, 8), "proj.bias": torch.zeros(4)}
        model.load_model_weights(sd, "")
        return (comfy.model_patcher.ModelPatcher(model, load_device=load_device,
                                                 offload_device=offload_device),)


class PTDiTProbeSetOption(TestkitNode):
    """A clone of the MODEL with ``transformer_options["ptdit_probe"] = {"value": value}``."""

    REQUIRED = {"model": ("MODEL",), "value": ("STRING", {"default": "x"})}
    RETURN_TYPES = ("MODEL",)

    def run(self, model, value):
        m = model.clone()
        m.model_options["transformer_options"]["ptdit_probe"] = {"value": value}
        return (m,)


class PTDiTProbeBlockPatch(TestkitNode):
    """Sets a ``patches_replace["dit"][("block", i)]`` patch as block-patching extensions do: "original"
    runs the block through ``extra["original_block"]``, "skip" returns the block's input."""

    REQUIRED = {"model": ("MODEL",), "block": ("INT", {"default": 0, "min": 0, "max": 99}),
                "mode": (["original", "skip"],)}
    RETURN_TYPES = ("MODEL",)

    def run(self, model, block, mode):
        def patch(args, extra):
            BLOCK_PATCH_CALLS.append((block, *(list(args[k].shape) for k in ("img", "txt", "vec"))))
            return extra["original_block"](args) if mode == "original" else {"img": args["img"]}

        m = model.clone()
        m.set_model_patch_replace(patch, "dit", "block", block)
        return (m,)
