"""The models benchmarks/scaling.py compares, built at one shape with seeded random weights.

ComfyUI is imported from the host under test (``COMFYUI_PATH`` or the bundled ``.comfyui``) the way
its ``main.py`` does, with its own command-line arguments; the pack's ComfyUI adapters are imported as
the package ``ptdit_pack`` (the pack's root ``__init__`` is not run).
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import safetensors.torch
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
        import comfy.model_management
        import comfy.supported_models
    finally:
        sys.argv = saved
    if PACK not in sys.modules:
        package = types.ModuleType(PACK)
        package.__path__ = [REPO]
        sys.modules[PACK] = package
    version = importlib.import_module("comfyui_version").__version__
    return types.SimpleNamespace(dir=comfy_dir, version=version, attention=attention.optimized_attention.__name__,
                                 model_management=comfy.model_management,
                                 PixArtSigma=comfy.supported_models.PixArtSigma,
                                 model_loader=importlib.import_module(f"{PACK}.nodes.model_loader"),
                                 ptdit=importlib.import_module(f"{PACK}.ptdit"),
                                 options=importlib.import_module(f"{PACK}.nodes.options"))


@torch.no_grad()
def seeded_init(model: torch.nn.Module, seed: int) -> None:
    """Deterministic random weights: N(0, 1/fan_in) for matrices and kernels, N(0, 0.02²) for vectors
    (biases included, so that every bias path is exercised), in parameter-name order."""
    gen = torch.Generator().manual_seed(seed)
    for _, param in sorted(model.named_parameters()):
        std = (param[0].numel() ** -0.5) if param.ndim > 1 else 0.02
        param.copy_(torch.randn(param.shape, generator=gen) * std)


class Models:
    """PT-DiT as artists run it (the MODEL the PT-DiT Model Loader builds from a ``.safetensors`` file,
    called through ``BaseModel.apply_model`` with the conditioning its ``extra_conds`` builds), ComfyUI's
    PixArt through its own BaseModel, and optionally the official PT-DiT on PT-DiT's weights."""

    def __init__(self, comfy: types.SimpleNamespace, shape: Shape, device: torch.device, dtype: torch.dtype,
                 workdir: str, official_src: Optional[str] = None):
        self.shape, self.device, self.dtype = shape, device, dtype
        self.comfy_dir, self.comfy_version, self.comfy_attention = comfy.dir, comfy.version, comfy.attention
        self._options = comfy.options
        config = comfy.ptdit.PTDiTConfig(num_heads=shape.num_heads, head_dim=shape.head_dim,
                                        num_layers=shape.blocks, caption_channels=shape.caption_channels)
        self.config = config
        plain = comfy.ptdit.PTDiT(config, init_weights=False)
        seeded_init(plain, 0)
        self.state_dict = plain.state_dict()
        path = os.path.join(workdir, "ptdit_bench.safetensors")
        safetensors.torch.save_file(self.state_dict, path, metadata={"ptdit_config": json.dumps(config.to_dict())})
        options = {"dtype": dtype, "load_device": device, "offload_device": device}
        self.ptdit = comfy.model_loader.load_ptdit_model(path, options)
        pixart_config = comfy.PixArtSigma(dict(image_model="pixart_sigma", hidden_size=shape.width,
                                               num_heads=shape.num_heads, depth=shape.blocks,
                                               caption_channels=shape.caption_channels,
                                               model_max_length=shape.text_tokens, micro_condition=False))
        pixart_config.set_inference_dtype(dtype, None)
        self.pixart = pixart_config.get_model({}, device=device)
        seeded_init(self.pixart, 1)
        comfy.model_management.load_models_gpu([self.ptdit])
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
        state_dict = {k: v.to(self.device, self.dtype) for k, v in self.state_dict.items()}
        return build_official(self._official_module, config, state_dict)

    def forwards(self, latent: tuple[int, int, int], window) -> dict[str, Callable[[], torch.Tensor]]:
        """A no-grad whole-forward callable per model for a latent (F, H, W), each returning the velocity
        ``x0 - noise`` in PT-DiT's sign (the official model's first channels) as float32.

        Every model gets the same noisy latent at sigma 0.5 (t = 500) and the same text: ``text_tokens``
        T5 states of which the first two thirds are valid (PT-DiT: the mask through its ``extra_conds``,
        padded to 200 as the sampler pads it; the official model: the same mask; PixArt: the valid tokens).
        PixArt gets a clip's F frames stacked into one tall image (same token count)."""
        frames, h, w = latent
        gen = torch.Generator().manual_seed(0)
        shape = (1, 4, frames, h, w) if frames > 1 else (1, 4, h, w)
        x = torch.randn(shape, generator=gen).to(self.device, self.dtype)
        tokens = self.shape.text_tokens
        text = torch.randn(1, tokens, self.shape.caption_channels, generator=gen).to(self.device, self.dtype)
        mask = torch.zeros(1, tokens, dtype=torch.long, device=self.device)
        mask[:, : 2 * tokens // 3] = 1
        sigma = torch.full((1,), 0.5, device=self.device)
        ptdit = self.ptdit.model
        conds = {k: v.process_cond(1).cond.to(self.device)
                 for k, v in ptdit.extra_conds(cross_attn=text, attention_mask=mask).items()}
        options = {"ptdit": self._options.WindowOptions(mode="auto")}
        pixart_text = text[:, : 2 * tokens // 3]

        def velocity(model, latent_in, **kwargs) -> torch.Tensor:  # apply_model returns the denoised x0
            denoised = model.apply_model(latent_in, sigma, **kwargs)
            return ((denoised - latent_in) / sigma.view(-1, *[1] * (latent_in.ndim - 1))).float()

        runs = {"ptdit": lambda: velocity(ptdit, x, transformer_options=options, **conds),
                "pixart": lambda: self.pixart.apply_model(x.reshape(1, 4, frames * h, w), sigma,
                                                          c_crossattn=pixart_text)}
        official = self._official(window, (frames, h // 2, w // 2))
        if official is not None:
            x5 = x if frames > 1 else x[:, :, None]
            t = sigma * 1000

            def official_run():
                out = official(x5, timestep=t, encoder_hidden_states=text, encoder_attention_mask=mask)
                out = out[0] if isinstance(out, tuple) else getattr(out, "sample", out)
                out = out[:, :4].float()
                return out if frames > 1 else out[:, :, 0]
            runs["official"] = official_run
        return {name: self._timed(run) for name, run in runs.items()}

    def _timed(self, run: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        def call() -> torch.Tensor:
            with torch.no_grad():
                out = run()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return out
        return call
