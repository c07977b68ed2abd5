"""Test-only nodes that feed the PT-DiT pack what its host tests need (never shipped).

* ``PTDiTTestConditioning`` — random text states plus a T5-style mask, as CONDITIONING.
* ``PTDiTTestReferenceSampling`` — runs the pack's sampler on a golden fixture's noise and text
  through ComfyUI's own sampling path and reports the error against the official output.
"""
import json
import sys

import torch
from safetensors.torch import load_file

PACK_LINK = "ComfyUI-PTDiT"  # the folder name tests/host links the pack under


def pack_module(submodule: str):
    """A submodule of the loaded pack (ComfyUI registers packs under a path-derived name)."""
    for name, module in list(sys.modules.items()):
        if name.endswith(PACK_LINK + "." + submodule):
            return module
    raise LookupError(f"the PT-DiT pack ({PACK_LINK}) is not loaded")


class PTDiTTestConditioning:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31}),
            "tokens": ("INT", {"default": 6, "min": 1, "max": 300}),
            "kept": ("INT", {"default": 4, "min": 0, "max": 300}),
            "channels": ("INT", {"default": 24, "min": 1, "max": 8192}),
        }}

    RETURN_TYPES = ("CONDITIONING",)
    FUNCTION = "run"
    CATEGORY = "ptdit_testkit"

    def run(self, seed, tokens, kept, channels):
        g = torch.Generator().manual_seed(seed)
        states = torch.randn(1, tokens, channels, generator=g)
        mask = (torch.arange(tokens) < kept).long()[None]
        return ([[states, {"attention_mask": mask}]],)


class PTDiTTestReferenceSampling:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "fixture": ("STRING", {"default": ""})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "ptdit_testkit"

    def run(self, model, fixture):
        samplers = pack_module("nodes.samplers")
        latents = pack_module("nodes.comfy_model")
        t = load_file(fixture)
        with open(fixture[: -len(".safetensors")] + ".json") as f:
            sidecar = json.load(f)
        request, sampler = sidecar["request"], sidecar["sampler"]
        ctx, mask = t["input.encoder_hidden_states"], t["input.encoder_attention_mask"]
        positive = [[ctx[:1], {"attention_mask": mask[:1]}]]
        negative = [[ctx[1:], {"attention_mask": mask[1:]}]]
        noise = t["input.z"][:, :, 0]
        out = samplers.run_sampler(model, positive, negative, torch.zeros_like(noise), seed=0,
                                   steps=sampler["num_inference_steps"], cfg=sampler["cfg_scale"],
                                   sampler_name="euler", scheduler=samplers.OFFICIAL_SCHEDULER,
                                   height=request["height"], width=request["width"],
                                   frames=request["num_frames"], noise=noise)
        # ComfyUI LATENTs are unscaled VAE latents; the transformer works on latents x 0.18215.
        internal = out * latents.PTDiTLatentFormat.scale_factor
        error = (internal - t["output"][:, :, 0]).abs().max().item()
        report = {"max_abs_error": error, "max_abs_output": t["output"].abs().max().item()}
        return {"ui": {"text": [json.dumps(report)]}, "result": ({"samples": out},)}


NODE_CLASS_MAPPINGS = {
    "PTDiTTestConditioning": PTDiTTestConditioning,
    "PTDiTTestReferenceSampling": PTDiTTestReferenceSampling,
}
