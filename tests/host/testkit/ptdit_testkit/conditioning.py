"""Hand-made CONDITIONING: random text states (B=1, tokens, channels) with an attention mask."""
import torch

from .kit import TestkitNode


class PTDiTTestConditioning(TestkitNode):
    """Random states (1, tokens, channels) and a T5-style mask (1, tokens): the first ``kept`` are 1."""

    REQUIRED = {
        "seed": ("INT", {"default": 0, "min": 0, "max": 2 ** 31}),
        "tokens": ("INT", {"default": 6, "min": 1, "max": 300}),
        "kept": ("INT", {"default": 4, "min": 0, "max": 300}),
        "channels": ("INT", {"default": 24, "min": 1, "max": 8192}),
    }
    RETURN_TYPES = ("CONDITIONING",)

    def run(self, seed, tokens, kept, channels):
        states = torch.randn(1, tokens, channels, generator=torch.Generator().manual_seed(seed))
        mask = (torch.arange(tokens) < kept).long()[None]
        return ([[states, {"attention_mask": mask}]],)


class PTDiTProbeConditioning(TestkitNode):
    """States (1, tokens, 8) for the probe model (seeded by ``tokens``), with an all-ones mask or none."""

    REQUIRED = {"tokens": ("INT", {"default": 5, "min": 1, "max": 512}),
                "with_mask": ("BOOLEAN", {"default": True})}
    RETURN_TYPES = ("CONDITIONING",)

    def run(self, tokens, with_mask):
        extra = {"pooled_output": None}
        if with_mask:
            extra["attention_mask"] = torch.ones(1, tokens)
        return ([[torch.randn(1, tokens, 8, generator=torch.Generator().manual_seed(tokens)), extra]],)
