"""Options the nodes share: the weight-storage dtypes of every loader, and the per-MODEL PT-DiT
window options stored in ``model_options["transformer_options"]["ptdit"]``.

The Proxy Ratio and Window Attention nodes clone a MODEL and set the window options; the diffusion
model resolves them against the actual latent at every call (so one MODEL serves any resolution).
Kept free of ComfyUI imports so it can be unit-tested alone.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch

from ..ptdit import PTDiTConfig, WindowSettings
from ..ptdit.checkpoint import DTYPES

TRANSFORMER_OPTIONS_KEY = "ptdit"
# Weight storage a loader offers; None = ComfyUI's choice for the device.
WEIGHT_DTYPES = {"default": None, **DTYPES}


def weight_dtype_of(choice: str, input_name: str = "weight_dtype") -> Optional[torch.dtype]:
    """The torch dtype of a loader's weight-dtype choice (None = ComfyUI's choice); ``ValueError``
    naming the input and the choices for anything else."""
    if choice not in WEIGHT_DTYPES:
        raise ValueError(f"{input_name} must be one of {', '.join(WEIGHT_DTYPES)}, got {choice!r}")
    return WEIGHT_DTYPES[choice]
MODES = ("checkpoint", "auto", "manual")


@dataclass(frozen=True)
class WindowOptions:
    """``mode``: "checkpoint" (the ratios the weights were trained with, clamped to small latents),
    "auto" (the paper's table by resolution; p_f = 4 for video) or "manual" (``window`` and
    ``proxy`` as given, validated against the latent). ``shift_window`` None = checkpoint's."""

    mode: str = "checkpoint"
    window: Optional[tuple[int, int, int]] = None
    proxy: Optional[tuple[int, int, int]] = None
    window_attention: bool = True
    shift_window: Optional[bool] = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"ratio mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "manual":
            # Validates the ratios themselves now; the fit to a latent is checked when sampling.
            WindowSettings(self.window, self.proxy or self.window)

    def resolve(self, config: PTDiTConfig, grid: tuple[int, int, int]) -> WindowSettings:
        """Concrete :class:`WindowSettings` for a token grid (frames, rows, columns)."""
        switches = dict(window_attention=self.window_attention,
                        shift_window=config.shift_window if self.shift_window is None else self.shift_window)
        if self.mode == "auto":
            return WindowSettings.paper_default(grid, **switches)
        if self.mode == "manual":
            return WindowSettings(self.window, self.proxy or self.window, **switches)
        return config.trained_window(grid, **switches)

    def replace(self, **changes) -> "WindowOptions":
        return dataclasses.replace(self, **changes)

    def check_tiling(self, grid: tuple[int, int, int], largest: int) -> None:
        """Manual ratios against a preview token grid (frames, rows, columns): every window side must
        divide the grid, as the Proxy Ratio widget offers (``largest`` = the inputs' maximum).
        Raises ``ValueError`` naming the input, the value and the allowed values; other modes pass."""
        if self.mode != "manual":
            return
        axes = (("window_f", "latent frames"), ("window_h", "token rows"), ("window_w", "token columns"))
        for (name, noun), size, side in zip(axes, grid, self.window):
            if size % side:
                allowed = [d for d in range(1, min(size, largest) + 1) if size % d == 0]
                raise ValueError(f"{name}={side} does not divide the {size} {noun} of the preview size "
                                 f"(windows must tile the latent); allowed: {allowed}")
