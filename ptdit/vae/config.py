"""Architecture of the Open-Sora-Plan v1.2 CausalVAE and the released VAE's fixed factors.

:class:`CausalVAEConfig` describes the network (what the weights look like); the architecture can
be recovered from a state dict (:func:`infer_config`). :data:`SPATIAL_FACTOR`,
:data:`TEMPORAL_FACTOR` and :data:`LATENT_SCALE` are what hosts and tools assume of the released
layout (a config's own factors are :attr:`CausalVAEConfig.spatial_factor` / ``temporal_factor``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from ..config import fields_from_dict, fields_to_dict

LATENT_SCALE = 0.18215
"""The reference multiplies sampled latents by this in ``encode`` and divides by it in ``decode``."""
SPATIAL_FACTOR = 8
"""Pixels per latent along H and W of the released VAE."""
TEMPORAL_FACTOR = 4
"""Pixel frames per latent frame after the first one of the released VAE (1 + 4k frames)."""

RESNET_TYPES = ("ResnetBlock2D", "ResnetBlock3D")
DOWNSAMPLE_TYPES = ("", "Downsample", "Spatial2xTime2x3DDownsample")
UPSAMPLE_TYPES = ("", "SpatialUpsample2x", "Spatial2xTime2x3DUpsample")


@dataclass(frozen=True)
class CausalVAEConfig:
    """Shape of the network. Defaults are the released Qihoo-T2X / Open-Sora-Plan v1.2 VAE.

    ``norm_num_groups`` is not a reference argument (the reference hard-codes 32); the fixtures
    use 2 because their tiny channel counts are not divisible by 32.
    """

    hidden_size: int = 128
    hidden_size_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    z_channels: int = 4
    embed_dim: int = 4
    use_quant_layer: bool = True
    norm_num_groups: int = 32
    encoder_resnet_blocks: tuple[str, ...] = ("ResnetBlock2D", "ResnetBlock2D", "ResnetBlock3D", "ResnetBlock3D")
    encoder_spatial_downsample: tuple[str, ...] = (
        "Downsample", "Spatial2xTime2x3DDownsample", "Spatial2xTime2x3DDownsample", "")
    decoder_resnet_blocks: tuple[str, ...] = ("ResnetBlock3D",) * 4
    decoder_spatial_upsample: tuple[str, ...] = (
        "", "SpatialUpsample2x", "Spatial2xTime2x3DUpsample", "Spatial2xTime2x3DUpsample")

    def __post_init__(self):
        levels = len(self.hidden_size_mult)
        for name in ("encoder_resnet_blocks", "encoder_spatial_downsample",
                     "decoder_resnet_blocks", "decoder_spatial_upsample"):
            if len(getattr(self, name)) != levels:
                raise ValueError(f"{name} needs one entry per level ({levels}), got {getattr(self, name)!r}")
        _check_choices("encoder_resnet_blocks", self.encoder_resnet_blocks, RESNET_TYPES)
        _check_choices("decoder_resnet_blocks", self.decoder_resnet_blocks, RESNET_TYPES)
        _check_choices("encoder_spatial_downsample", self.encoder_spatial_downsample, DOWNSAMPLE_TYPES)
        _check_choices("decoder_spatial_upsample", self.decoder_spatial_upsample, UPSAMPLE_TYPES)
        if self.encoder_spatial_downsample[-1]:
            raise ValueError("the deepest encoder level cannot downsample (the reference feeds its input, "
                             "not its output, to the mid block)")
        if "ResnetBlock2D" in self.decoder_resnet_blocks:
            raise ValueError("ResnetBlock2D in the decoder is not supported (the released VAE has none)")
        for channels in self.level_channels:
            if channels % self.norm_num_groups:
                raise ValueError(f"norm_num_groups={self.norm_num_groups} does not divide {channels} channels; "
                                 f"use a group count that divides hidden_size={self.hidden_size}")
        if not self.use_quant_layer and self.embed_dim != self.z_channels:
            raise ValueError("without quant layers embed_dim must equal z_channels")

    @property
    def level_channels(self) -> tuple[int, ...]:
        """Channel count of every level, shallowest first (released: 128, 256, 512, 512)."""
        return tuple(self.hidden_size * m for m in self.hidden_size_mult)

    @property
    def spatial_factor(self) -> int:
        """Pixels per latent along H and W (:data:`SPATIAL_FACTOR` for the released layout)."""
        return 2 ** sum(bool(d) for d in self.encoder_spatial_downsample)

    @property
    def temporal_factor(self) -> int:
        """Pixel frames per latent frame after the first one (:data:`TEMPORAL_FACTOR` when released)."""
        return 2 ** self.encoder_spatial_downsample.count("Spatial2xTime2x3DDownsample")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (tuples as lists), as stored under the ``vae_config`` metadata key."""
        return fields_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CausalVAEConfig":
        return fields_from_dict(cls, data, "CausalVAE")

    @classmethod
    def released(cls, norm_num_groups: int = 32) -> "CausalVAEConfig":
        """The released VAE: hidden 128, multipliers (1, 2, 4, 4), 239,189,991 parameters."""
        return cls(norm_num_groups=norm_num_groups)


def infer_config(state_dict: Mapping[str, torch.Tensor], norm_num_groups: int = 32) -> CausalVAEConfig:
    """Recover the architecture from weight names and shapes (group count cannot be seen in weights)."""
    try:
        hidden = state_dict["encoder.conv_in.weight"].shape[0]
        z_channels = state_dict["decoder.conv_in.conv.weight"].shape[1]
    except KeyError as exc:
        raise ValueError(f"not a CausalVAE state dict: {exc.args[0]} is missing") from exc
    levels = 1 + max(int(m.group(1)) for k in state_dict if (m := re.match(r"encoder\.down\.(\d+)\.", k)))
    blocks = 1 + max(int(m.group(1)) for k in state_dict if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k)))
    mult, encoder_blocks, downsample, upsample = [], [], [], []
    for level in range(levels):
        prefix = f"encoder.down.{level}."
        conv = state_dict.get(prefix + "block.0.conv1.weight")
        if conv is None:
            conv = state_dict[prefix + "block.0.conv1.conv.weight"]
        mult.append(conv.shape[0] // hidden)
        encoder_blocks.append("ResnetBlock2D" if conv.ndim == 4 else "ResnetBlock3D")
        if prefix + "downsample.conv.weight" in state_dict:
            downsample.append("Downsample")
        elif prefix + "downsample.conv.conv.weight" in state_dict:
            downsample.append("Spatial2xTime2x3DDownsample")
        else:
            downsample.append("")
        up = state_dict.get(f"decoder.up.{level}.upsample.conv.conv.weight")
        upsample.append("" if up is None else
                        "SpatialUpsample2x" if up.shape[2] == 1 else "Spatial2xTime2x3DUpsample")
    quant = state_dict.get("post_quant_conv.conv.weight")
    return CausalVAEConfig(
        hidden_size=hidden, hidden_size_mult=tuple(mult), num_res_blocks=blocks, z_channels=z_channels,
        embed_dim=z_channels if quant is None else quant.shape[1], use_quant_layer=quant is not None,
        norm_num_groups=norm_num_groups, encoder_resnet_blocks=tuple(encoder_blocks),
        encoder_spatial_downsample=tuple(downsample), decoder_resnet_blocks=("ResnetBlock3D",) * levels,
        decoder_spatial_upsample=tuple(upsample))


def _check_choices(name: str, values, allowed) -> None:
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"{name}: unsupported entries {bad!r}; supported: {[a for a in allowed if a]!r}")

