"""Test-only probe of the ComfyUI core contracts the PT-DiT integration relies on.

Builds a MODEL without checkpoint detection (a ``supported_models_base.BASE`` subclass + a
``model_base.BaseModel`` subclass around a toy diffusion module), stashes an option on a cloned
MODEL, feeds hand-made CONDITIONING, and provides a 5D video VAE built the way the pack builds its
own (``nodes/core_vae.py``: core's constructor sets every attribute core's VAE methods read). The toy diffusion module records what
``diffusion_model.forward`` receives; ``PTDiTProbeReport`` returns those records as UI text.
Imported by ComfyUI only; nothing here is shipped.
"""
import dataclasses
import importlib.util
import json
from pathlib import Path

import torch

import comfy.conds
import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.supported_models_base

RECORDS = []  # one dict per diffusion_model.forward call


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



class PTDiTProbeModel:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"shift": ("FLOAT", {"default": 3.0, "min": 0.1, "max": 20.0})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "build"
    CATEGORY = "ptdit_testkit"

    def build(self, shift):
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


class PTDiTProbeSetOption:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "value": ("STRING", {"default": "x"})}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "apply"
    CATEGORY = "ptdit_testkit"

    def apply(self, model, value):
        m = model.clone()
        m.model_options["transformer_options"]["ptdit_probe"] = {"value": value}
        return (m,)


class PTDiTProbeConditioning:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"tokens": ("INT", {"default": 5, "min": 1, "max": 512}),
                             "with_mask": ("BOOLEAN", {"default": True})}}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "make"
    CATEGORY = "ptdit_testkit"

    def make(self, tokens, with_mask):
        extra = {"pooled_output": None}
        if with_mask:
            extra["attention_mask"] = torch.ones(1, tokens)
        return ([[torch.randn(1, tokens, 8, generator=torch.Generator().manual_seed(tokens)), extra]],)


class ProbeVideoAE(torch.nn.Module):
    """Causal 4x temporal / 8x spatial toy autoencoder: t_pix = 4 * (t_lat - 1) + 1."""

    def __init__(self):
        super().__init__()
        self.to_rgb = torch.nn.Conv3d(4, 3, 1)
        self.from_rgb = torch.nn.Conv3d(3, 4, 1)
        self.decode_calls = []

    def decode(self, z):
        self.decode_calls.append(list(z.shape))
        x = self.to_rgb(z)
        first, rest = x[:, :, :1], x[:, :, 1:]
        rest = rest.repeat_interleave(4, dim=2)
        x = torch.cat([first, rest], dim=2)
        return torch.nn.functional.interpolate(x, scale_factor=(1, 8, 8), mode="nearest")

    def encode(self, x):
        first, rest = x[:, :, :1], x[:, :, 1:]
        if rest.shape[2]:
            rest = rest[:, :, 3::4]
        x = torch.cat([first, rest], dim=2)
        x = torch.nn.functional.avg_pool3d(x, (1, 8, 8))
        return self.from_rgb(x)


def _core_vae_module():
    """The pack's ``nodes/core_vae.py`` (ComfyUI imports only), loaded by path: the probe VAE is
    set up exactly as the PT-DiT VAE is."""
    path = Path(__file__).resolve().parents[4] / "nodes" / "core_vae.py"
    spec = importlib.util.spec_from_file_location("ptdit_testkit_core_vae", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probe_vae():
    """A 5D video VAE (4x temporal, 8x spatial, 4 channels) built by comfy.sd.VAE's own constructor."""
    dtype_size = comfy.model_management.dtype_size
    return _core_vae_module().CausalVideoVAE(
        ProbeVideoAE(), latent_channels=4, temporal=4, spatial=8, working_dtypes=[torch.float32],
        memory_used_encode=lambda shape, dtype: 64 * shape[2] * shape[3] * shape[4] * dtype_size(dtype),
        memory_used_decode=lambda shape, dtype: 64 * shape[2] * shape[3] * shape[4] * 64 * dtype_size(dtype))


class PTDiTProbeVAE:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("VAE",)
    FUNCTION = "build"
    CATEGORY = "ptdit_testkit"

    def build(self):
        return (probe_vae(),)


class PTDiTProbeReport:
    """Output node: reports the recorded forward calls and the shapes of whatever it is given."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}, "optional": {"latent": ("LATENT",), "image": ("IMAGE",),
                                             "latent2": ("LATENT",)}}

    RETURN_TYPES = ()
    FUNCTION = "report"
    OUTPUT_NODE = True
    CATEGORY = "ptdit_testkit"

    def report(self, latent=None, image=None, latent2=None):
        info = {
            "records": list(RECORDS),
            "latent_shape": list(latent["samples"].shape) if latent is not None else None,
            "latent2_shape": list(latent2["samples"].shape) if latent2 is not None else None,
            "image_shape": list(image.shape) if image is not None else None,
        }
        return {"ui": {"text": [json.dumps(info)]}}


class PTDiTProbeModelOptions:
    """Output node: reports the PT-DiT window options a MODEL carries (what the Proxy Ratio node set)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ()
    FUNCTION = "report"
    OUTPUT_NODE = True
    CATEGORY = "ptdit_testkit"

    def report(self, model):
        options = model.model_options.get("transformer_options", {}).get("ptdit")
        info = dataclasses.asdict(options) if dataclasses.is_dataclass(options) else options
        return {"ui": {"text": [json.dumps(info)]}}


BLOCK_PATCH_CALLS = []  # (block, img shape, txt shape, vec shape) per call of a PTDiTProbeBlockPatch patch


class PTDiTProbeBlockPatch:
    """Sets a ``patches_replace["dit"][("block", i)]`` patch as block-patching extensions do: "original"
    runs the block through ``extra["original_block"]``, "skip" returns the block's input."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "block": ("INT", {"default": 0, "min": 0, "max": 99}),
                             "mode": (["original", "skip"],)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "apply"
    CATEGORY = "ptdit_testkit"

    def apply(self, model, block, mode):
        def patch(args, extra):
            BLOCK_PATCH_CALLS.append((block, *(list(args[k].shape) for k in ("img", "txt", "vec"))))
            return extra["original_block"](args) if mode == "original" else {"img": args["img"]}

        m = model.clone()
        m.set_model_patch_replace(patch, "dit", "block", block)
        return (m,)


class PTDiTProbeCompileStats:
    """Output node: torch.compile's counters in the server process (graphs compiled, graph breaks)
    and the block patch calls so far; wired after a sampler so that it runs last."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"latent": ("LATENT",)}}

    RETURN_TYPES = ()
    FUNCTION = "report"
    OUTPUT_NODE = True
    CATEGORY = "ptdit_testkit"

    def report(self, latent):
        from torch._dynamo.utils import counters

        info = {"graphs": counters["stats"]["unique_graphs"], "graph_breaks": sum(counters["graph_break"].values()),
                "block_patch_calls": list(BLOCK_PATCH_CALLS)}
        return {"ui": {"text": [json.dumps(info)]}}


NODE_CLASS_MAPPINGS = {
    "PTDiTProbeBlockPatch": PTDiTProbeBlockPatch,
    "PTDiTProbeCompileStats": PTDiTProbeCompileStats,
    "PTDiTProbeModel": PTDiTProbeModel,
    "PTDiTProbeModelOptions": PTDiTProbeModelOptions,
    "PTDiTProbeSetOption": PTDiTProbeSetOption,
    "PTDiTProbeConditioning": PTDiTProbeConditioning,
    "PTDiTProbeVAE": PTDiTProbeVAE,
    "PTDiTProbeReport": PTDiTProbeReport,
}
