"""Model configuration, the released preset, and the runtime window settings.

``PTDiTConfig`` describes the weights (what a checkpoint fixes). ``WindowSettings`` describes how
tokens are grouped at run time (window/proxy ratios, which local attentions run); it can change
from call to call without rebuilding the model.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

Ratios = tuple[int, int, int]


def _ratios(name: str, value) -> Ratios:
    try:
        ratios = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be three positive integers (frames, rows, columns), got {value!r}") from None
    if len(ratios) != 3 or any(r < 1 for r in ratios) or any(r != v for r, v in zip(ratios, value)):
        raise ValueError(f"{name} must be three positive integers (frames, rows, columns), got {value!r}")
    return ratios


def fields_to_dict(config) -> dict[str, Any]:
    """A config dataclass as JSON-ready fields (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def fields_from_dict(cls, data: Mapping[str, Any], what: str):
    """The inverse of :func:`fields_to_dict`; unknown keys are an error naming ``what``."""
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ValueError(f"unknown {what} config keys: {', '.join(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(frozen=True)
class PTDiTConfig:
    """Architecture hyper-parameters of a PT-DiT transformer.

    Hidden width is ``num_heads * head_dim``. ``compress_ratios`` / ``proxy_ratios`` are the
    training-time window and proxy ratios (frames, rows, columns in tokens); they are the default
    :class:`WindowSettings`. ``sample_size`` and ``frame`` only size the stored positional-embedding
    buffer (``pos_embed.pos_embed``) of the native grid.
    """

    num_heads: int = 16
    head_dim: int = 72
    num_layers: int = 28
    in_channels: int = 4
    out_channels: int = 8
    caption_channels: int = 4096
    patch_size: int = 2
    compress_ratios: Ratios = (1, 8, 8)
    proxy_ratios: Ratios = (1, 8, 8)
    shift_window: bool = True
    attention_bias: bool = True
    norm_elementwise_affine: bool = False
    norm_eps: float = 1e-6
    sample_size: int = 32
    frame: int = 1

    def __post_init__(self):
        for name in ("num_heads", "head_dim", "num_layers", "in_channels", "out_channels",
                     "caption_channels", "patch_size", "sample_size", "frame"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"PTDiTConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % 16:
            raise ValueError(
                f"hidden size num_heads*head_dim = {self.hidden_size} must be divisible by 16 "
                "(the 3-D sin-cos positional embedding splits it 2:3:3 into sine/cosine halves)"
            )
        object.__setattr__(self, "compress_ratios", _ratios("compress_ratios", self.compress_ratios))
        object.__setattr__(self, "proxy_ratios", _ratios("proxy_ratios", self.proxy_ratios))

    @property
    def hidden_size(self) -> int:
        return self.num_heads * self.head_dim

    def default_window(self) -> "WindowSettings":
        return WindowSettings(self.compress_ratios, self.proxy_ratios, True, self.shift_window)

    def trained_window(self, grid: tuple[int, int, int], **switches) -> "WindowSettings":
        """The training-time window and proxy ratios, each side clamped to a smaller token grid
        (F, H, W); a proxy side that no longer divides its clamped window becomes the whole window."""
        window = tuple(min(c, g) for c, g in zip(self.compress_ratios, grid))
        proxy = tuple(p if w % p == 0 else w for p, w in zip(self.proxy_ratios, window))
        return WindowSettings(window, proxy, **switches)

    def to_dict(self) -> dict[str, Any]:
        return fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "PTDiTConfig":
        return fields_from_dict(cls, data, "PT-DiT")


PRESETS: dict[str, PTDiTConfig] = {
    # Qihoo-T2I 1.1B, MindSpeed-MM examples/qihoo_t2x/inference_model_image.json.
    "qihoo-t2i-1.1b": PTDiTConfig(),
}

# Reference constructor arguments that have no effect on the math (README §5.10) or that only the
# reference's model factory reads.
_IGNORED_REFERENCE_KEYS = {
    "dropout", "norm_num_groups", "num_embeds_ada_norm", "upcast_attention", "attention_type",
    "dtype", "model_id", "from_pretrained",
}
_REQUIRED_REFERENCE_VALUES = {
    "activation_fn": "gelu-approximate",
    "norm_type": "ada_norm_single",
}


def config_from_reference(kwargs: Mapping[str, Any]) -> PTDiTConfig:
    """Map the official ``PTDiTDiffuser(**kwargs)`` constructor arguments to a :class:`PTDiTConfig`."""
    kwargs = dict(kwargs)
    for key, required in _REQUIRED_REFERENCE_VALUES.items():
        if kwargs.pop(key, required) != required:
            raise ValueError(f"reference config {key}={kwargs.get(key)!r} is not supported (only {required!r})")
    if kwargs.get("sample_size") == 128:
        raise ValueError("reference sample_size 128 enables resolution/aspect conditioning, which no "
                         "released PT-DiT uses and this implementation does not provide")
    heads, head_dim = kwargs.pop("num_heads", 16), kwargs.pop("head_dim", 72)
    cross_dim = kwargs.pop("cross_attention_dim", heads * head_dim)
    if cross_dim != heads * head_dim:
        raise ValueError(f"cross_attention_dim {cross_dim} must equal num_heads*head_dim {heads * head_dim}")
    renamed = {"proxy_compress_ratios": "proxy_ratios"}
    fields = {}
    for key, value in kwargs.items():
        if key in _IGNORED_REFERENCE_KEYS:
            continue
        fields[renamed.get(key, key)] = value
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(PTDiTConfig)})
    if unknown:
        raise ValueError(f"unknown reference config keys: {', '.join(unknown)}")
    return PTDiTConfig(num_heads=heads, head_dim=head_dim,
                       **{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})


@dataclass(frozen=True)
class WindowSettings:
    """How tokens are grouped at run time.

    ``window`` = window size (p_f, p_h, p_w) in tokens (the paper's compression ratio, stored in
    checkpoints as ``compress_ratios``); ``proxy`` = (p_f, p_h, p_w) proxy ratio:
    each window yields (p_h_window / p_h) x (p_w_window / p_w) proxy tokens, each averaging one
    residue class of rows/columns over the whole window (all of its frames), exactly as the
    reference does; ``proxy[0]`` must therefore equal ``window[0]``.
    ``window_attention`` / ``shift_window`` switch the Texture Complement Module's two local
    attentions on or off.
    """

    window: Ratios
    proxy: Ratios
    window_attention: bool = True
    shift_window: bool = True

    def __post_init__(self):
        object.__setattr__(self, "window", _ratios("window (compression) ratios (p_f, p_h, p_w)", self.window))
        object.__setattr__(self, "proxy", _ratios("proxy ratios (p_f, p_h, p_w)", self.proxy))
        cf, ch, cw = self.window
        pf, ph, pw = self.proxy
        if pf != cf:
            raise ValueError(f"proxy ratio p_f={pf} must equal the window's p_f={cf}: every proxy token "
                             "averages all frames of its window")
        for axis, window, proxy in (("p_h", ch, ph), ("p_w", cw, pw)):
            if window % proxy:
                allowed = [d for d in range(1, window + 1) if window % d == 0]
                raise ValueError(f"proxy ratio {axis}={proxy} must divide the window's {axis}={window}; "
                                 f"allowed: {allowed}")

    @property
    def proxies_per_window(self) -> tuple[int, int]:
        """(rows, columns) of proxy tokens per window."""
        return self.window[1] // self.proxy[1], self.window[2] // self.proxy[2]

    @property
    def window_tokens(self) -> int:
        """Tokens per window, p_f * p_h * p_w."""
        return self.window[0] * self.window[1] * self.window[2]

    def padded(self, grid: tuple[int, int, int]) -> tuple[int, int, int]:
        """A token grid (F, H, W) rounded up to whole windows on every axis."""
        return tuple(-(-g // c) * c for g, c in zip(grid, self.window))

    @classmethod
    def paper_default(cls, grid: tuple[int, int, int], **switches) -> "WindowSettings":
        """The paper's ratio for a token grid: window side = grid side / 8 rounded to a power of two
        (256 px -> 2, 512 -> 4, 1024 -> 8, 2048 -> 16; latent /8, patch 2), one proxy per window,
        p_f = 4 for video (clamped to the frame count)."""
        frames, rows, cols = grid
        side = max(1.0, (rows * cols) ** 0.5 / 8)
        ratio = min(2 ** round(math.log2(side)), rows, cols)
        pf = 1 if frames == 1 else min(4, frames)
        window = (pf, ratio, ratio)
        return cls(window, window, **switches)

    def check_grid(self, grid: tuple[int, int, int]) -> None:
        """Validate against a token grid (frames, rows, columns); windows may not exceed it."""
        for axis, size, window in zip(("p_f", "p_h", "p_w"), grid, self.window):
            if window > size:
                noun = {"p_f": "latent frames", "p_h": "token rows", "p_w": "token columns"}[axis]
                raise ValueError(f"window ratio {axis}={window} is larger than the {size} {noun} of this "
                                 f"latent; allowed: 1..{size}")
