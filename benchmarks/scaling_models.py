"""The models benchmarks/scaling.py compares, built at one shape with seeded random weights.

ComfyUI is imported from the host under test (``COMFYUI_PATH`` or the bundled ``.comfyui``) the way
its ``main.py`` does, with its own command-line arguments; the pack's ComfyUI adapters are imported as
the package ``ptdit_pack`` (the pack's root ``__init__`` is not run).
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch

from tests.harness.hosts import find_comfyui_dir

PACK = "ptdit_pack"
REPO = str(Path(__file__).resolve().parents[1])


@dataclass(frozen=True)
class Shape:
    """Width (``num_heads`` x ``head_dim``), depth and text conditioning shared by every model."""
    num_heads: int
    head_dim: int
    blocks: int
    caption_channels: int
    text_tokens: int

    @property
    def width(self) -> int:
        return self.num_heads * self.head_dim

    def describe(self) -> str:
        return (f"width {self.width} ({self.num_heads} x {self.head_dim}), depth {self.blocks}, caption "
                f"{self.caption_channels}, {self.text_tokens} text tokens, batch 1, random weights")


def import_comfy(argv: list[str]) -> types.SimpleNamespace:
    """ComfyUI's modules from the host under test, parsing ``argv`` as its command line."""
    comfy_dir = find_comfyui_dir()
    if comfy_dir is None:
        sys.exit("no ComfyUI found: set COMFYUI_PATH or run scripts/setup_comfyui.sh")
    if str(comfy_dir) not in sys.path:
        sys.path.append(str(comfy_dir))  # after the repo root: ``nodes`` stays the pack's
    import comfy.options

    comfy.options.enable_args_parsing()
    saved, sys.argv = sys.argv, [sys.argv[0], *argv]
    try:
        import comfy.cli_args  # noqa: F401  (parses sys.argv once)
        import comfy.ldm.modules.attention as attention
        import comfy.ops
        from comfy.ldm.pixart.pixartms import PixArtMS
    finally:
        sys.argv = saved
    if PACK not in sys.modules:
        package = types.ModuleType(PACK)
        package.__path__ = [REPO]
        sys.modules[PACK] = package
    version = importlib.import_module("comfyui_version").__version__
    return types.SimpleNamespace(dir=comfy_dir, version=version, ops=comfy.ops.disable_weight_init,
                                 attention=attention.optimized_attention.__name__, PixArtMS=PixArtMS,
                                 comfy_model=importlib.import_module(f"{PACK}.nodes.comfy_model"),
                                 ptdit=importlib.import_module(f"{PACK}.ptdit"),
                                 options=importlib.import_module(f"{PACK}.nodes.options"))


@torch.no_grad()
def seeded_init(model: torch.nn.Module, seed: int) -> None:
    """Deterministic random weights (ComfyUI's ops leave them uninitialised): N(0, 1/fan_in) for
    matrices and kernels, N(0, 0.02²) for vectors, in parameter-name order."""
    gen = torch.Generator().manual_seed(seed)
    for _, param in sorted(model.named_parameters()):
        std = (param[0].numel() ** -0.5) if param.ndim > 1 else 0.02
        param.copy_(torch.randn(param.shape, generator=gen) * std)


class Models:
    """PT-DiT as ComfyUI runs it, the same PT-DiT in pure PyTorch (``ptdit.PTDiT``: torch layers,
    SDPA, folded projections) on the same weights, ComfyUI's PixArt and optionally the official PT-DiT."""

    def __init__(self, comfy: types.SimpleNamespace, shape: Shape, device: torch.device, dtype: torch.dtype,
                 official_src: Optional[str] = None):
        self.shape, self.device, self.dtype = shape, device, dtype
        self.comfy_dir, self.comfy_version, self.comfy_attention = comfy.dir, comfy.version, comfy.attention
        self._options = comfy.options
        kw = dict(dtype=dtype, device=device, operations=comfy.ops)
        config = comfy.ptdit.PTDiTConfig(num_heads=shape.num_heads, head_dim=shape.head_dim,
                                        num_layers=shape.blocks, caption_channels=shape.caption_channels)
        self.config = config
        self.ptdit = comfy.comfy_model.ComfyPTDiT(config.to_dict(), **kw).eval()
        self.pixart = comfy.PixArtMS(hidden_size=shape.width, num_heads=shape.num_heads, depth=shape.blocks,
                                     caption_channels=shape.caption_channels, model_max_length=shape.text_tokens,
                                     micro_condition=False, **kw).eval()
        for seed, model in enumerate((self.ptdit, self.pixart)):
            seeded_init(model, seed)
        self.ptdit_torch = comfy.ptdit.PTDiT(config, dtype=dtype, device=device, init_weights=False).eval()
        self.ptdit_torch.load_state_dict(self.ptdit.state_dict())
        self._official_module = None
        self.official_attention = None
        if official_src:
            from benchmarks.official_loader import load_official

            with contextlib.redirect_stdout(sys.stderr):
                self._official_module = load_official(official_src)
            self.official_attention = "diffusers AttnProcessor2_0 (torch SDPA)"

    def _official(self, window, grid) -> Optional[torch.nn.Module]:
        """The official model with ``window`` on PT-DiT's weights; None where the grid is not whole windows
        (the official code does not pad)."""
        if self._official_module is None or any(g % c for g, c in zip(grid, window.window)):
            return None
        import dataclasses

        from benchmarks.official_loader import build_official

        config = dataclasses.replace(self.config, compress_ratios=window.window, proxy_ratios=window.proxy)
        return build_official(self._official_module, config, self.ptdit.state_dict())

    def forwards(self, latent: tuple[int, int, int], window) -> dict[str, Callable[[], torch.Tensor]]:
        """A no-grad whole-forward callable per model for a latent (F, H, W); each returns its output.

        PT-DiT gets x (1, 4, [F,] H, W); PixArt, for a clip, the F frames stacked: (1, 4, F*H, W)."""
        frames, h, w = latent
        gen = torch.Generator().manual_seed(0)
        shape = (1, 4, frames, h, w) if frames > 1 else (1, 4, h, w)
        x = torch.randn(shape, generator=gen).to(self.device, self.dtype)
        text = torch.randn(1, self.shape.text_tokens, self.shape.caption_channels, generator=gen)
        text = text.to(self.device, self.dtype)
        t = torch.full((1,), 500.0, device=self.device)
        options = {"ptdit": self._options.WindowOptions(mode="auto")}
        runs = {"ptdit": lambda: self.ptdit(x, t, text, transformer_options=options),
                "ptdit_torch": lambda: self.ptdit_torch(x, t, text, window=window),
                "pixart": lambda: self.pixart(x.reshape(1, 4, frames * h, w), t, text)}
        official = self._official(window, (frames, h // 2, w // 2))
        if official is not None:
            x5 = x if frames > 1 else x[:, :, None]
            runs["official"] = lambda: official(x5, timestep=t, encoder_hidden_states=text)
        return {name: self._timed(run) for name, run in runs.items()}

    def _timed(self, run: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        def call() -> torch.Tensor:
            with torch.no_grad():
                out = run()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return out
        return call
