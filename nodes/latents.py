"""Empty latents for PT-DiT images, videos (1+4k frames) and multi-view clips."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

import comfy.model_management

from ..ptdit.complexity import SIZE_STEP
from ..ptdit.vae.config import SPATIAL_FACTOR, TEMPORAL_FACTOR
from .api import io
from .schema import node_schema
from .validation import CheckedNode

# Aspect buckets around 1024², the released model's training resolution (multiples of 64 px).
IMAGE_PRESETS = {
    "1024x1024 (1:1)": (1024, 1024), "1152x896 (9:7)": (1152, 896), "896x1152 (7:9)": (896, 1152),
    "1216x832 (3:2)": (1216, 832), "832x1216 (2:3)": (832, 1216), "1344x768 (16:9)": (1344, 768),
    "768x1344 (9:16)": (768, 1344), "512x512 (1:1)": (512, 512), "2048x2048 (1:1)": (2048, 2048),
    "custom": None,
}


def latent_frames(frames: int) -> int:
    """Latent frames of a 1+4k-frame clip (CausalVAE: first frame alone, then 4 per latent)."""
    if frames < 1 or (frames - 1) % TEMPORAL_FACTOR:
        valid = ", ".join(str(1 + TEMPORAL_FACTOR * k) for k in range(6))
        raise ValueError(f"frames must be 1 + {TEMPORAL_FACTOR}k for the causal VAE ({valid}, …), got {frames}")
    return 1 + (frames - 1) // TEMPORAL_FACTOR


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
    shape = [batch, 4, height // SPATIAL_FACTOR, width // SPATIAL_FACTOR]
    if frames is not None:
        shape.insert(2, frames)
    return torch.zeros(shape, device=comfy.model_management.intermediate_device())


def size_inputs(default: int = 1024, optional: bool = False,
                tooltips: tuple[str, str] = (f"Width in pixels (multiple of {SIZE_STEP}).",
                                             f"Height in pixels (multiple of {SIZE_STEP}).")) -> list:
    return [io.Int.Input(name, default=default, min=SIZE_STEP, max=4096, step=SIZE_STEP, optional=optional,
                         tooltip=tooltip) for name, tooltip in zip(("width", "height"), tooltips)]


def batch_input() -> io.Int.Input:
    return io.Int.Input("batch_size", default=1, min=1, max=64, tooltip="How many samples to generate at once.")


def frames_input(default: int = 17, optional: bool = False,
                 tooltip: str = "Video length in frames; must be 1 + 4k for the causal VAE (1, 5, 9, 13, 17, …)."
                 ) -> io.Int.Input:
    return io.Int.Input("frames", default=default, min=1, max=257, step=TEMPORAL_FACTOR, optional=optional,
                        tooltip=tooltip)


def views_input(default: int = 24) -> io.Int.Input:
    return io.Int.Input("views", default=default, min=1, max=64,
                        tooltip="Number of views around the orbit; they are generated jointly as one clip.")


def one_frame_per_view(views: int) -> int:
    """Latent frames of a multi-view clip: one per view."""
    return views


@dataclass(frozen=True)
class ClipLength:
    """The length input of a clip node and what it means. ``name``: the input (None for an image:
    no length input); ``make_input``: builds it; ``to_latent``: its value in latent frames. The
    flow shift counts the input's own value (video frames, views)."""

    name: Optional[str] = None
    make_input: Optional[Callable[[], io.Int.Input]] = None
    to_latent: Optional[Callable[[int], int]] = None

    def inputs(self) -> list:
        return [] if self.name is None else [self.make_input()]

    def frames(self, values: dict) -> int:
        """The length the flow shift counts, from a node's input ``values``; 1 for an image."""
        return 1 if self.name is None else values[self.name]

    def latent_frames(self, values: dict) -> Optional[int]:
        """Latent frames from a node's input ``values``; None for an image latent (B, 4, h, w)."""
        return None if self.name is None else self.to_latent(values[self.name])


IMAGE = ClipLength()
VIDEO = ClipLength("frames", frames_input, latent_frames)
MULTI_VIEW = ClipLength("views", views_input, one_frame_per_view)


class EmptyLatentNode(CheckedNode):
    """Base of the empty-latent nodes: the schema (:meth:`shape_inputs`, then ``batch_size``) and the
    zeros. A subclass gives its names, its ``default_size`` and its ``length``."""

    node_id = display_name = description = latent_tooltip = ""
    default_size = 512
    length = IMAGE

    @classmethod
    def shape_inputs(cls) -> list:
        """The inputs before ``batch_size``: width, height and the length input."""
        return [*size_inputs(cls.default_size), *cls.length.inputs()]

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(cls.node_id, cls.display_name, "latent", cls.description,
                           inputs=[*cls.shape_inputs(), batch_input()],
                           outputs=[io.Latent.Output(tooltip=cls.latent_tooltip)])

    @classmethod
    def execute(cls, width, height, batch_size, resolution="custom", **length) -> io.NodeOutput:
        width, height = image_size(resolution, width, height)
        return io.NodeOutput({"samples": empty_latent(batch_size, width, height, cls.length.latent_frames(length))})


class PTDiTEmptyImageLatent(EmptyLatentNode):
    node_id, display_name = "PTDiTEmptyImageLatent", "PT-DiT Empty Image Latent"
    description = "An empty 4-channel latent for the CausalVAE (8x spatial compression)."
    latent_tooltip = "(B, 4, H/8, W/8) zeros."

    @classmethod
    def shape_inputs(cls) -> list:
        return [io.Combo.Input("resolution", options=list(IMAGE_PRESETS), default="1024x1024 (1:1)",
                               tooltip="Training resolutions of the released model; 'custom' uses width/height."),
                *size_inputs()]


class PTDiTEmptyVideoLatent(EmptyLatentNode):
    node_id, display_name = "PTDiTEmptyVideoLatent", "PT-DiT Empty Video Latent"
    description = "An empty video latent: 1+4k frames become 1+k latent frames."
    latent_tooltip = "(B, 4, 1+k, H/8, W/8) zeros."
    length = VIDEO


class PTDiTEmptyMultiViewLatent(EmptyLatentNode):
    node_id, display_name = "PTDiTEmptyMultiViewLatent", "PT-DiT Empty Multi-View Latent"
    description = "An empty multi-view latent: one latent frame per view, sampled jointly as a 3-D clip."
    latent_tooltip = "(B, 4, views, H/8, W/8) zeros."
    length = MULTI_VIEW
