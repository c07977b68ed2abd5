"""Nodes that clone a MODEL and change how PT-DiT groups tokens: Proxy Ratio and Window Attention."""
from __future__ import annotations

from ..ptdit.complexity import latent_grid
from .api import io
from .latents import frames_input, image_size, latent_frames, size_inputs
from .options import TRANSFORMER_OPTIONS_KEY, WindowOptions
from .schema import model_input, node_schema
from .trained_ratio import UI_KEY, model_report
from .validation import CheckedNode, InputError

RATIO_CHOICES = [1, 2, 4, 8, 16, 32]
RATIO_MAX = 64


def current_options(model) -> WindowOptions:
    return model.model_options.get("transformer_options", {}).get(TRANSFORMER_OPTIONS_KEY) or WindowOptions()


def with_options(model, options: WindowOptions):
    patched = model.clone()
    transformer_options = dict(patched.model_options.get("transformer_options", {}))
    transformer_options[TRANSFORMER_OPTIONS_KEY] = options
    patched.model_options["transformer_options"] = transformer_options
    return patched


def _ratio_inputs(prefix: str, what: str) -> list:
    return [io.Int.Input(f"{prefix}_{axis}", default=default, min=1, max=RATIO_MAX,
                         tooltip=f"{what} along {name} in tokens (used when mode is 'manual').")
            for axis, name, default in (("f", "frames", 1), ("h", "rows", 8), ("w", "columns", 8))]


def _preview_inputs() -> list:
    note = (" Preview only: sizes the widget's read-out and checks manual ratios; the model applies the "
            "ratio to whatever latent it samples.")
    return [*size_inputs(1024, optional=True, tooltips=("Target width in pixels." + note,
                                                         "Target height in pixels." + note)),
            frames_input(1, optional=True, tooltip="Target length in frames, 1 + 4k (1 for images; multi-view: "
                                                   "1 + 4·(views - 1))." + note)]


def preview_grid(width, height, frames) -> tuple[int, int, int] | None:
    """Token grid (latent frames, rows, columns) of the preview size; None when a part is not given."""
    if width is None or height is None or frames is None:
        return None
    width, height = image_size("custom", width, height)
    return latent_grid(height, width, latent_frames(frames))


class PTDiTProxyRatio(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTProxyRatio", "PT-DiT Proxy Ratio", "model",
            "Chooses the window (compression) ratio (p_f, p_h, p_w) and the proxy ratio. Smaller windows cost less "
            "attention; the released model was trained with (1, 8, 8).",
            inputs=[model_input(),
                    io.Combo.Input("mode", options=["auto", "checkpoint", "manual"], default="auto",
                                   tooltip="auto: the paper's table by resolution (256: 2, 512: 4, 1024: 8, 2048: 16; "
                                           "p_f=4 for video). checkpoint: the ratio the weights were trained with. "
                                           "manual: the values below."),
                    *_ratio_inputs("window", "Window size"),
                    *_ratio_inputs("proxy", "Proxy ratio (window / proxy = proxy tokens per window)"),
                    *_preview_inputs()],
            outputs=[io.Model.Output(tooltip="A copy of the model using these ratios.")])

    @classmethod
    def validate_inputs(cls, **values):
        """Re-checks what the widget offers (a hand-edited workflow or an API prompt may hold anything):
        the ranges and choices (:class:`CheckedNode`), then the manual ratios against the preview size."""
        super().validate_inputs(**values)
        mode = values.get("mode")
        window = tuple(values.get(f"window_{axis}") for axis in "fhw")
        proxy = tuple(values.get(f"proxy_{axis}") for axis in "fhw")
        if mode is None or None in window + proxy:
            return True  # linked from another node: checked against the latent when sampling
        manual = mode == "manual"
        try:
            options = WindowOptions(mode, window if manual else None, proxy if manual else None)
            grid = preview_grid(values.get("width"), values.get("height"), values.get("frames"))
            if grid is not None:
                options.check_tiling(grid, RATIO_MAX)
        except ValueError as e:
            raise InputError(str(e)) from None
        return True

    @classmethod
    def execute(cls, model, mode, window_f, window_h, window_w, proxy_f, proxy_h, proxy_w,
                width=None, height=None, frames=None) -> io.NodeOutput:
        options = current_options(model).replace(
            mode=mode,
            window=(window_f, window_h, window_w) if mode == "manual" else None,
            proxy=(proxy_f, proxy_h, proxy_w) if mode == "manual" else None)
        trained = model_report(model)  # the widget's checkpoint read-out learns it from this run
        return io.NodeOutput(with_options(model, options), ui={UI_KEY: [trained]} if trained else None)


class PTDiTWindowAttention(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTWindowAttention", "PT-DiT Window Attention", "model",
            "Switches the Texture Complement Module's window and shifted-window attention.",
            inputs=[model_input(),
                    io.Boolean.Input("window_attention", default=True,
                                     tooltip="Local attention inside each window (adds texture detail)."),
                    io.Combo.Input("shift_window", options=["checkpoint", "on", "off"], default="checkpoint",
                                   tooltip="Attention across window borders on half-shifted windows. 'on' needs a "
                                           "checkpoint trained with it.")],
            outputs=[io.Model.Output(tooltip="A copy of the model with these switches.")])

    @classmethod
    def execute(cls, model, window_attention, shift_window) -> io.NodeOutput:
        shift = {"checkpoint": None, "on": True, "off": False}[shift_window]
        options = current_options(model).replace(window_attention=window_attention, shift_window=shift)
        return io.NodeOutput(with_options(model, options))
