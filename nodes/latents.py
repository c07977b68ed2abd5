"""Empty latents for PT-DiT images, videos (1+4k frames) and multi-view clips."""
from __future__ import annotations

import torch

import comfy.model_management

from .api import io
from .comfy_model import VAE_SPATIAL, VAE_TEMPORAL
from .validation import CheckedNode

# Aspect buckets around 1024², the released model's training resolution (multiples of 64 px).
IMAGE_PRESETS = {
    "1024x1024 (1:1)": (1024, 1024), "1152x896 (9:7)": (1152, 896), "896x1152 (7:9)": (896, 1152),
    "1216x832 (3:2)": (1216, 832), "832x1216 (2:3)": (832, 1216), "1344x768 (16:9)": (1344, 768),
    "768x1344 (9:16)": (768, 1344), "512x512 (1:1)": (512, 512), "2048x2048 (1:1)": (2048, 2048),
    "custom": None,
}
SIZE_STEP = VAE_SPATIAL * 2  # VAE factor x patch size


def latent_frames(frames: int) -> int:
    """Latent frames of a 1+4k-frame clip (CausalVAE: first frame alone, then 4 per latent)."""
    if frames < 1 or (frames - 1) % VAE_TEMPORAL:
        valid = ", ".join(str(1 + VAE_TEMPORAL * k) for k in range(6))
        raise ValueError(f"frames must be 1 + 4k for the causal VAE ({valid}, …), got {frames}")
    return 1 + (frames - 1) // VAE_TEMPORAL


def image_size(preset: str, width: int, height: int) -> tuple[int, int]:
    size = IMAGE_PRESETS.get(preset, "unknown")
    if size == "unknown":
        raise ValueError(f"unknown resolution preset {preset!r}; choose one of {', '.join(IMAGE_PRESETS)}")
    width, height = size or (width, height)
    if width % SIZE_STEP or height % SIZE_STEP:
        raise ValueError(f"width and height must be multiples of {SIZE_STEP} px, got {width}x{height}")
    return width, height


def empty_latent(batch: int, width: int, height: int, frames: int | None = None) -> torch.Tensor:
    """(B, 4, h, w) for images, (B, 4, frames, h, w) otherwise (frames in latent units)."""
    shape = [batch, 4, height // VAE_SPATIAL, width // VAE_SPATIAL]
    if frames is not None:
        shape.insert(2, frames)
    return torch.zeros(shape, device=comfy.model_management.intermediate_device())


def size_inputs(default: int = 1024, optional: bool = False,
                tooltips: tuple[str, str] = ("Width in pixels (multiple of 16).",
                                             "Height in pixels (multiple of 16).")) -> list:
    return [io.Int.Input(name, default=default, min=SIZE_STEP, max=4096, step=SIZE_STEP, optional=optional,
                         tooltip=tooltip) for name, tooltip in zip(("width", "height"), tooltips)]


def batch_input() -> io.Int.Input:
    return io.Int.Input("batch_size", default=1, min=1, max=64, tooltip="How many samples to generate at once.")


def frames_input(default: int = 17, optional: bool = False,
                 tooltip: str = "Video length in frames; must be 1 + 4k for the causal VAE (1, 5, 9, 13, 17, …)."
                 ) -> io.Int.Input:
    return io.Int.Input("frames", default=default, min=1, max=257, step=VAE_TEMPORAL, optional=optional,
                        tooltip=tooltip)


def views_input(default: int = 24) -> io.Int.Input:
    return io.Int.Input("views", default=default, min=1, max=64,
                        tooltip="Number of views around the orbit; they are generated jointly as one clip.")


class PTDiTEmptyImageLatent(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PTDiTEmptyImageLatent", display_name="PT-DiT Empty Image Latent", category="PT-DiT/latent",
            description="An empty 4-channel latent for the CausalVAE (8x spatial compression).",
            inputs=[io.Combo.Input("resolution", options=list(IMAGE_PRESETS), default="1024x1024 (1:1)",
                                   tooltip="Training resolutions of the released model; 'custom' uses width/height."),
                    *size_inputs(), batch_input()],
            outputs=[io.Latent.Output(tooltip="(B, 4, H/8, W/8) zeros.")])

    @classmethod
    def execute(cls, resolution, width, height, batch_size) -> io.NodeOutput:
        width, height = image_size(resolution, width, height)
        return io.NodeOutput({"samples": empty_latent(batch_size, width, height)})


class PTDiTEmptyVideoLatent(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PTDiTEmptyVideoLatent", display_name="PT-DiT Empty Video Latent", category="PT-DiT/latent",
            description="An empty video latent: 1+4k frames become 1+k latent frames.",
            inputs=[*size_inputs(512), frames_input(), batch_input()],
            outputs=[io.Latent.Output(tooltip="(B, 4, 1+k, H/8, W/8) zeros.")])

    @classmethod
    def execute(cls, width, height, frames, batch_size) -> io.NodeOutput:
        width, height = image_size("custom", width, height)
        return io.NodeOutput({"samples": empty_latent(batch_size, width, height, latent_frames(frames))})


class PTDiTEmptyMultiViewLatent(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PTDiTEmptyMultiViewLatent", display_name="PT-DiT Empty Multi-View Latent",
            category="PT-DiT/latent",
            description="An empty multi-view latent: one latent frame per view, sampled jointly as a 3-D clip.",
            inputs=[*size_inputs(512), views_input(), batch_input()],
            outputs=[io.Latent.Output(tooltip="(B, 4, views, H/8, W/8) zeros.")])

    @classmethod
    def execute(cls, width, height, views, batch_size) -> io.NodeOutput:
        width, height = image_size("custom", width, height)
        return io.NodeOutput({"samples": empty_latent(batch_size, width, height, views)})
