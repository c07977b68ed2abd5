"""Import the official PT-DiT (MindSpeed-MM ``PTDiTDiffuser``) from a user-provided checkout.

Nothing of the official code ships with this project. ``load_official(src)`` takes a directory that
contains ``mindspeed_mm/models/predictor/dits/pt_dit_diffusers.py`` and
``mindspeed_mm/models/common/embeddings/pos_patch_encoding.py`` (a MindSpeed-MM checkout, or just those
two files) and imports them with small stubs in place of what the model maths never uses:

* ``torch_npu`` -> an empty module;
* ``mindspeed_mm.models.common.embeddings`` -> a stub package exposing only ``PatchEmbed2D_3DsincosPE``
  from ``pos_patch_encoding.py`` (the real package pulls in many unrelated modules).

The interpreter needs torch, einops, numpy and diffusers 0.30.3 (the version MindSpeed-MM pinned while
it shipped Qihoo-T2X). Run it in eval mode under ``torch.no_grad()``: the constructor turns gradient
checkpointing on, which only the training path uses.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import types
import warnings

import torch

FILES = {
    "mindspeed_mm.models.common.embeddings.pos_patch_encoding":
        "mindspeed_mm/models/common/embeddings/pos_patch_encoding.py",
    "mindspeed_mm.models.predictor.dits.pt_dit_diffusers": "mindspeed_mm/models/predictor/dits/pt_dit_diffusers.py",
}
DIFFUSERS_VERSION = "0.30.3"


def _package(name: str) -> types.ModuleType:
    module = sys.modules.get(name)
    if module is None:
        module = sys.modules[name] = types.ModuleType(name)
        module.__path__ = []  # a package, so that submodules can be registered under it
    return module


def _import_file(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def check_source(src: str) -> dict[str, str]:
    """Module name -> file path of the two official files under ``src``; a clear error if absent."""
    paths = {name: os.path.join(src, rel) for name, rel in FILES.items()}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"--official-src {src!r} is not a MindSpeed-MM checkout: missing {', '.join(missing)}")
    return paths


def load_official(src: str) -> types.ModuleType:
    """The official ``pt_dit_diffusers`` module (``PTDiTDiffuser``, ``ProxyTokensTransformerBlock``)."""
    paths = check_source(src)
    try:
        import diffusers
    except ImportError:
        raise ImportError(f"the official model needs diffusers=={DIFFUSERS_VERSION} (+ einops) in this interpreter "
                          f"({sys.executable})") from None
    if diffusers.__version__ != DIFFUSERS_VERSION:
        warnings.warn(f"diffusers {diffusers.__version__} found; the official PT-DiT was run with {DIFFUSERS_VERSION}")
    sys.modules.setdefault("torch_npu", types.ModuleType("torch_npu"))
    for name in ("mindspeed_mm", "mindspeed_mm.models", "mindspeed_mm.models.common",
                 "mindspeed_mm.models.predictor", "mindspeed_mm.models.predictor.dits"):
        _package(name)
    embeddings = _package("mindspeed_mm.models.common.embeddings")
    pos = _import_file("mindspeed_mm.models.common.embeddings.pos_patch_encoding",
                       paths["mindspeed_mm.models.common.embeddings.pos_patch_encoding"])
    embeddings.PatchEmbed2D_3DsincosPE = pos.PatchEmbed2D_3DsincosPE
    return _import_file("mindspeed_mm.models.predictor.dits.pt_dit_diffusers",
                        paths["mindspeed_mm.models.predictor.dits.pt_dit_diffusers"])


def official_kwargs(config) -> dict:
    """``PTDiTDiffuser(**kwargs)`` for one of our ``PTDiTConfig`` (inverse of ``ptdit.config_from_reference``)."""
    return dict(
        num_heads=config.num_heads, head_dim=config.head_dim, num_layers=config.num_layers,
        in_channels=config.in_channels, out_channels=config.out_channels, caption_channels=config.caption_channels,
        cross_attention_dim=config.hidden_size, attention_bias=config.attention_bias, patch_size=config.patch_size,
        sample_size=config.sample_size, frame=config.frame, activation_fn="gelu-approximate",
        norm_type="ada_norm_single", norm_elementwise_affine=config.norm_elementwise_affine,
        norm_eps=config.norm_eps, shift_window=config.shift_window, dropout=0.0,
        compress_ratios=list(config.compress_ratios), proxy_compress_ratios=list(config.proxy_ratios),
    )


def build_official(module: types.ModuleType, config, state_dict: dict):
    """An official ``PTDiTDiffuser`` for ``config`` holding ``state_dict`` (official names = ours), eval mode."""
    # Built on the meta device (no random init, no second copy of the weights), then given ours.
    with torch.device("meta"), contextlib.redirect_stdout(io.StringIO()):  # it prints its compress ratios
        model = module.PTDiTDiffuser(**official_kwargs(config))
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.eval()


def block_arguments(model, grid: tuple[int, int, int], text, modulation, text_bias=None) -> dict:
    """Keyword arguments ``PTDiTDiffuser.forward`` passes to each block, for a token grid (F, H, W).

    ``text`` (B, L, D) is the projected caption, ``modulation`` (B, 6, D) the adaLN-single output and
    ``text_bias`` None or the additive (B, 1, L) text-mask bias. The shifted-window mask is the model's
    own (``get_shift_window_attention_mask``), tiled over the batch and scaled as its forward does.
    """
    f, h, w = grid
    batch = text.shape[0]
    ratios = model.compress_ratios
    windows = (f // ratios[0]) * (h // ratios[1]) * (w // ratios[2])
    model.get_shift_window_attention_mask(f, h, w, ratios, text.dtype, text.device)
    mask = model.shift_window_attention_mask.unsqueeze(0).repeat(batch, 1, 1, 1)
    mask = mask.reshape(batch * windows, model.compress_scale, model.compress_scale) * 10000.0
    return dict(attention_mask=None, encoder_hidden_states=text, encoder_attention_mask=text_bias,
                timestep=modulation.reshape(batch, -1), shift_window_attention_mask=mask,
                compress_ratios=ratios, proxy_compress_ratios=model.proxy_compress_ratios,
                cross_attention_kwargs=None, num_frames=f, height=h, width=w)
