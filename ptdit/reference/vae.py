"""The CausalVAE with the official conventions, built from the official constructor kwargs.

:class:`ReferenceCausalVAE` takes latents scaled by 0.18215 in ``decode``, accepts sizes as the
official ``CausalVAE`` does and tiles as configured (:class:`ReferenceTiling`);
:func:`vae_from_reference_config` builds it from ``CausalVAE(**kwargs)`` arguments. Only the parity
tests, benchmarks and scripts use this module; the runtime uses :class:`ptdit.vae.model.CausalVAE`.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..vae.config import LATENT_SCALE, CausalVAEConfig
from ..vae.loading import build_with_weights, load_state_dict_file, vae_state_dict
from ..vae.model import CausalVAE, check_latents, check_pixels, split_moments
from ..vae.tiling import TileCallback
from .tiling import ReferenceTiling, reference_tiled

AUTO = "auto"


class ReferenceCausalVAE(CausalVAE):
    """The official conventions: ``decode`` takes latents scaled by 0.18215; tiling as configured.

    Apart from not crashing where the reference does (tiling enabled on inputs below the tile
    size runs untiled; inputs under 8 px are edge-padded), results match the official
    ``CausalVAE`` up to float rounding. Frame counts and sizes are accepted as the reference
    accepts them. ``tiling="auto"`` means the configured reference tiling.
    """

    def __init__(self, config: CausalVAEConfig | None = None, tiling: ReferenceTiling | None = None,
                 dtype=None, device=None, operations=nn):
        super().__init__(config, dtype, device, operations)
        self.reference_tiling = tiling

    @torch.no_grad()
    def encode(self, x: torch.Tensor, tiling=AUTO, on_tile: TileCallback | None = None):
        """x: (B, 3, T, H, W) -> posterior (mean, logvar), (B, 4, (T-1)//4+1, H//8, W//8) each."""
        check_pixels(x, self.config, require_causal_frames=False)
        return split_moments(self.encode_moments(x, self.reference_tiling if tiling == AUTO else tiling, on_tile))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, tiling=AUTO, on_tile: TileCallback | None = None) -> torch.Tensor:
        """z: latents scaled by 0.18215, (B, 4, t, h, w) -> pixels (B, 3, 4(t-1)+1, 8h, 8w)."""
        check_latents(z, self.config)
        return self.decode_raw(z / LATENT_SCALE, self.reference_tiling if tiling == AUTO else tiling, on_tile)

    def encode_moments(self, x: torch.Tensor, tiling=None, on_tile: TileCallback | None = None) -> torch.Tensor:
        """As :meth:`CausalVAE.encode_moments`, with :class:`ReferenceTiling` run by :func:`reference_tiled`."""
        if isinstance(tiling, ReferenceTiling):
            return reference_tiled(x, super().encode_moments, tiling, encode=True)
        return super().encode_moments(x, tiling, on_tile)

    def decode_raw(self, z: torch.Tensor, tiling=None, on_tile: TileCallback | None = None) -> torch.Tensor:
        """As :meth:`CausalVAE.decode_raw`, with :class:`ReferenceTiling` run by :func:`reference_tiled`."""
        if isinstance(tiling, ReferenceTiling):
            return reference_tiled(z, super().decode_raw, tiling, encode=False)
        return super().decode_raw(z, tiling, on_tile)

    @staticmethod
    def sample(mean: torch.Tensor, logvar: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """What the reference ``encode`` returns: (mean + exp(logvar / 2) * noise) * 0.18215."""
        if noise is None:
            noise = torch.randn_like(mean)
        return (mean + torch.exp(0.5 * logvar) * noise) * LATENT_SCALE


# Reference kwargs that do not change the computation.
_IGNORED_KWARGS = {"from_pretrained", "resolution", "vae_scale_factor", "tile_latent_min_size",
                   "model_id", "dtype", "output_dtype", "attn_resolutions", "dropout", "double_z",
                   "q_conv", "encoder_conv_in", "encoder_conv_out", "encoder_attention",
                   "encoder_temporal_downsample", "encoder_mid_resnet", "decoder_conv_in",
                   "decoder_conv_out", "decoder_attention", "decoder_temporal_upsample",
                   "decoder_mid_resnet", "use_tiling", "tile_sample_min_size",
                   "tile_sample_min_size_t", "tile_latent_min_size_t", "tile_overlap_factor"}

# The only values this implementation knows for the reference's layer-type kwargs.
_FIXED_KWARGS = {"attn_resolutions": [], "double_z": True, "q_conv": "CausalConv3d",
                 "encoder_conv_in": "Conv2d", "encoder_conv_out": "CausalConv3d",
                 "encoder_attention": "AttnBlock3D", "encoder_mid_resnet": "ResnetBlock3D",
                 "decoder_conv_in": "CausalConv3d", "decoder_conv_out": "CausalConv3d",
                 "decoder_attention": "AttnBlock3D", "decoder_mid_resnet": "ResnetBlock3D"}


def configs_from_reference_kwargs(kwargs: Mapping) -> tuple[CausalVAEConfig, ReferenceTiling | None]:
    """Translate ``CausalVAE(**kwargs)`` (plus the fixtures' ``norm_num_groups``) into our configs.

    Returns ``(config, tiling)``; ``tiling`` is None when ``use_tiling`` is false (or absent, the
    reference default). Unsupported layer types raise :class:`ValueError` naming the key.
    """
    kwargs = dict(kwargs)
    for key, value in _FIXED_KWARGS.items():
        if key in kwargs and _normalise(kwargs[key]) != _normalise(value):
            raise ValueError(f"unsupported CausalVAE setting {key}={kwargs[key]!r} (only {value!r} is implemented)")
    if kwargs.get("dropout", 0.0):
        raise ValueError("dropout must be 0 for inference")
    for key in ("encoder_temporal_downsample", "decoder_temporal_upsample"):
        if any(kwargs.get(key, ())):
            raise ValueError(f"unsupported CausalVAE setting {key}={kwargs[key]!r} (separate temporal "
                             "resamplers are not implemented)")
    known = set(CausalVAEConfig.__dataclass_fields__) | _IGNORED_KWARGS
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"unknown CausalVAE constructor argument(s): {', '.join(unknown)}")
    config = CausalVAEConfig.from_dict({k: v for k, v in kwargs.items() if k in CausalVAEConfig.__dataclass_fields__})
    if not kwargs.get("use_tiling", False):
        return config, None
    defaults = ReferenceTiling.__dataclass_fields__
    tiling = ReferenceTiling(
        **{k: kwargs.get(k, defaults[k].default) for k in
           ("tile_sample_min_size", "tile_sample_min_size_t", "tile_latent_min_size_t", "tile_overlap_factor")},
        num_levels=len(config.hidden_size_mult))
    return config, tiling


def _normalise(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def vae_from_reference_config(config: Mapping, state_dict: Mapping[str, torch.Tensor] | None = None
                              ) -> ReferenceCausalVAE:
    """Build the VAE from the official ``CausalVAE`` kwargs (plus the fixtures' ``norm_num_groups``).

    Weights come from ``state_dict`` (reference key names; a ``model.``-style prefix or container is
    tolerated), else from ``config["from_pretrained"]`` when set, else random init. The module's
    ``encode(x)`` returns the posterior ``(mean, logvar)``; ``decode(z)`` takes latents scaled by
    0.18215; both tile like the reference when ``use_tiling`` is set.
    """
    arch, tiling = configs_from_reference_kwargs(config)
    if state_dict is None and config.get("from_pretrained"):
        state_dict = load_state_dict_file(config["from_pretrained"])
    if state_dict is None:
        return ReferenceCausalVAE(arch, tiling).eval()
    return build_with_weights(ReferenceCausalVAE, arch, vae_state_dict(state_dict), tiling=tiling)
