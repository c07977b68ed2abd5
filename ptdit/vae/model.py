"""Open-Sora-Plan v1.2 CausalVAE (the VAE of Qihoo-T2X / PT-DiT) in plain PyTorch.

:class:`CausalVAE` works on *raw* latents (what the decoder consumes, no 0.18215 scale), untiled or
with the tiling the caller passes (:func:`ptdit.vae.memory.choose_tiling` picks one for a memory
budget). Pixels are (B, 3, T, H, W) in [-1, 1]; latents are (B, 4, t, H/8, W/8) with
T = 1 + 4(t - 1). The official conventions (scaled latents, official tiling) are
:class:`ptdit.reference.vae.ReferenceCausalVAE`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import (RESAMPLERS, RESNETS, AttnBlock3D, CausalConv3d, ResnetBlock3D, fold_frames, make_group_norm,
                     unfold_frames)
from .config import LATENT_SCALE, CausalVAEConfig
from .tiling import ExactTiling, LowMemoryTiling, Stage, TileCallback, exact_tiled, low_memory_tiled


def _apply(layer: nn.Module, h: torch.Tensor, frames: int) -> tuple[torch.Tensor, int]:
    """Run ``layer`` on h, switching between (B, C, T, H, W) and frame-folded (B*T, C, H, W) layouts."""
    if layer.framewise:
        if h.ndim == 5:
            frames, h = h.shape[2], fold_frames(h)
        return layer(h, frames), frames
    if h.ndim == 4:
        h = unfold_frames(h, frames)
    return layer(h), frames


def _mid_block(channels, groups, kw) -> nn.Module:
    mid = nn.Module()
    mid.block_1 = ResnetBlock3D(channels, channels, groups, **kw)
    mid.attn_1 = AttnBlock3D(channels, groups, **kw)
    mid.block_2 = ResnetBlock3D(channels, channels, groups, **kw)
    return mid


def _run_mid(mid: nn.Module, h: torch.Tensor) -> torch.Tensor:
    return mid.block_2(mid.attn_1(mid.block_1(h)))


class Encoder(nn.Module):
    """Pixels (B, 3, T, H, W) -> moments before quant_conv (B, 2*z_channels, (T-1)//4+1, H//8, W//8)."""

    def __init__(self, config: CausalVAEConfig, dtype=None, device=None, operations=nn):
        super().__init__()
        kw = dict(dtype=dtype, device=device, operations=operations)
        groups = config.norm_num_groups
        # Frame-wise 3x3 conv; it is a plain Conv2d in the state dict.
        self.conv_in = operations.Conv2d(3, config.hidden_size, 3, padding=1, dtype=dtype, device=device)
        self.down = nn.ModuleList()
        block_in = config.hidden_size
        for channels, resnet, downsample in zip(config.level_channels, config.encoder_resnet_blocks,
                                                config.encoder_spatial_downsample):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(config.num_res_blocks):
                level.block.append(RESNETS[resnet](block_in, channels, groups, **kw))
                block_in = channels
            if downsample:
                level.downsample = RESAMPLERS[downsample](block_in, **kw)
            self.down.append(level)
        self.mid = _mid_block(block_in, groups, kw)
        self.norm_out = make_group_norm(block_in, groups, **kw)
        self.conv_out = CausalConv3d(block_in, 2 * config.z_channels, 3, padding=1, **kw)
        self.spatial_factor = config.spatial_factor

    def forward_levels(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> deepest level features (B, C, t, h, w). Purely local apart from GroupNorm.

        Inputs smaller than the downsampling factor (which would not survive the strided convs) are
        edge-padded up to it.
        """
        x = pad_to_multiple(x, self.spatial_factor, minimum_only=True)
        frames = x.shape[2]
        h = self.conv_in(fold_frames(x))
        for level in self.down:
            for block in level.block:
                h, frames = _apply(block, h, frames)
            if hasattr(level, "downsample"):
                h, frames = _apply(level.downsample, h, frames)
        return unfold_frames(h, frames) if h.ndim == 4 else h

    def stages(self) -> list[Stage]:
        """The layers of :meth:`forward_levels` one by one, each on (B, C, T, H, W) tensors."""
        def on_frames(layer):  # a frame-wise block as a stage on (B, C, T, H, W)
            if not layer.framewise:
                return layer
            return lambda h: unfold_frames(layer(fold_frames(h), h.shape[2]), h.shape[2])

        stages = [Stage(lambda h: unfold_frames(self.conv_in(fold_frames(h)), h.shape[2]))]
        for level in self.down:
            stages += [Stage(on_frames(block)) for block in level.block]
            if hasattr(level, "downsample"):
                stages.append(Stage(on_frames(level.downsample), down=2))
        return stages

    def forward_head(self, h: torch.Tensor) -> torch.Tensor:
        """Deepest level features -> moments (B, 2*z_channels, t, h, w): mid block (with attention) and out."""
        return self.conv_out.after_norm(self.norm_out, _run_mid(self.mid, h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_levels(x))


class Decoder(nn.Module):
    """Latents after post_quant_conv (B, z_channels, t, h, w) -> pixels (B, 3, 4(t-1)+1, 8h, 8w)."""

    def __init__(self, config: CausalVAEConfig, dtype=None, device=None, operations=nn):
        super().__init__()
        kw = dict(dtype=dtype, device=device, operations=operations)
        groups = config.norm_num_groups
        block_in = config.level_channels[-1]
        self.conv_in = CausalConv3d(config.z_channels, block_in, 3, padding=1, **kw)
        self.mid = _mid_block(block_in, groups, kw)
        levels = []
        for channels, resnet, upsample in reversed(list(zip(
                config.level_channels, config.decoder_resnet_blocks, config.decoder_spatial_upsample))):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(config.num_res_blocks + 1):
                level.block.append(RESNETS[resnet](block_in, channels, groups, **kw))
                block_in = channels
            if upsample:
                level.upsample = RESAMPLERS[upsample](block_in, **kw)
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)  # up[0] is the shallowest level and runs last
        self.norm_out = make_group_norm(block_in, groups, **kw)
        self.conv_out = CausalConv3d(block_in, 3, 3, padding=1, **kw)

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        """(B, z_channels, t, h, w) -> (B, C, t, h, w): conv_in and the mid block (with attention)."""
        return _run_mid(self.mid, self.conv_in(z))

    def stages(self, lean: bool = False) -> list[Stage]:
        """The layers after the mid block, deepest level first, each on (B, C, T, H, W) tensors.

        ``lean``: the last upsampler and the block after it run as one stage. The upsampler's output
        (full-resolution features at the previous level's width) is then never stored: it is the
        largest tensor of a decode, twice the size of any level-0 block output for the released VAE.
        """
        stages = []
        for level in reversed(self.up):
            stages += [Stage(block) for block in level.block]
            if hasattr(level, "upsample"):
                stages.append(Stage(level.upsample, up=2))
        ups = [index for index, stage in enumerate(stages) if stage.up > 1]
        if lean and ups:
            up, block = stages[ups[-1]], stages[ups[-1] + 1]
            stages[ups[-1]:ups[-1] + 2] = [Stage(lambda h: block.run(up.run(h)), up=up.up)]
        return stages + [Stage(self._output)]

    def forward_levels(self, h: torch.Tensor) -> torch.Tensor:
        """(B, C, t, h, w) -> pixels. Purely local apart from GroupNorm."""
        for stage in self.stages():
            h = stage.run(h)
        return h

    def _output(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv_out.after_norm(self.norm_out, h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward_levels(self.forward_head(z))


class CausalVAE(nn.Module):
    """The CausalVAE on raw latents. Layers come from ``operations`` (``torch.nn`` by default).

    ``encode`` returns the posterior ``(mean, logvar)`` and ``decode`` takes raw latents; multiply
    a sample by :data:`LATENT_SCALE` (0.18215) to get the latents the diffusion model works with.
    """

    latent_scale = LATENT_SCALE

    def __init__(self, config: CausalVAEConfig | None = None, dtype=None, device=None, operations=nn):
        super().__init__()
        self.config = config = config or CausalVAEConfig.released()
        self.encoder = Encoder(config, dtype, device, operations)
        self.decoder = Decoder(config, dtype, device, operations)
        if config.use_quant_layer:
            kw = dict(dtype=dtype, device=device, operations=operations)
            self.quant_conv = CausalConv3d(2 * config.z_channels, 2 * config.embed_dim, 1, **kw)
            self.post_quant_conv = CausalConv3d(config.embed_dim, config.z_channels, 1, **kw)

    # ----------------------------------------------------------------- public API (raw latents)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, tiling=None, on_tile: TileCallback | None = None):
        """x: (B, 3, T, H, W) pixels in [-1, 1] with T = 1 + 4k -> (mean, logvar), each
        (B, 4, 1 + k, ceil(H/8), ceil(W/8)). H and W are edge-padded to multiples of 8.

        ``tiling``: None (untiled), :class:`ExactTiling` or :class:`LowMemoryTiling`
        (:func:`ptdit.vae.memory.choose_tiling` picks one for a memory budget);
        ``on_tile(done, total)`` is called after every tile run of the exact and low-memory schemes.
        """
        check_pixels(x, self.config)
        x = pad_to_multiple(x, self.config.spatial_factor)
        return split_moments(self.encode_moments(x, tiling, on_tile))

    @torch.no_grad()
    def decode(self, z: torch.Tensor, tiling=None, on_tile: TileCallback | None = None) -> torch.Tensor:
        """z: raw latents (B, 4, t, h, w) -> pixels (B, 3, 4(t-1)+1, 8h, 8w), roughly [-1, 1], unclamped.

        ``tiling`` and ``on_tile`` as in :meth:`encode`.
        """
        check_latents(z, self.config)
        return self.decode_raw(z, tiling, on_tile)

    # ----------------------------------------------------------------- building blocks

    def encode_moments(self, x: torch.Tensor, tiling=None, on_tile: TileCallback | None = None) -> torch.Tensor:
        """x: (B, 3, T, H, W) -> moments (B, 2*embed_dim, t, h, w) = quant_conv(encoder(x)), unclamped."""
        if tiling is None:
            return self._quant(self.encoder(x))
        if isinstance(tiling, ExactTiling):
            x = pad_to_multiple(x, self.config.spatial_factor, minimum_only=True)
            h = exact_tiled(x, self.encoder.stages(), tiling, tiling.tile * self.config.spatial_factor,
                            self._device(), on_tile).to(self._device())
        elif isinstance(tiling, LowMemoryTiling):
            h = low_memory_tiled(x, self.encoder.forward_levels, tiling, encode=True,
                                 spatial_factor=self.config.spatial_factor,
                                 temporal_factor=self.config.temporal_factor, on_tile=on_tile)
        else:
            raise ValueError(f"unknown tiling {tiling!r}")
        return self._quant(self.encoder.forward_head(h))

    def decode_raw(self, z: torch.Tensor, tiling=None, on_tile: TileCallback | None = None) -> torch.Tensor:
        """Raw latents (B, embed_dim, t, h, w) -> pixels, without input checks."""
        if tiling is None:
            return self.decoder(self._post_quant(z))
        h = self.decoder.forward_head(self._post_quant(z))
        if isinstance(tiling, ExactTiling):
            return exact_tiled(h, self.decoder.stages(tiling.lean), tiling, tiling.tile, self._device(), on_tile)
        if isinstance(tiling, LowMemoryTiling):
            return low_memory_tiled(h, self.decoder.forward_levels, tiling, encode=False,
                                    spatial_factor=self.config.spatial_factor,
                                    temporal_factor=self.config.temporal_factor, on_tile=on_tile)
        raise ValueError(f"unknown tiling {tiling!r}")

    def _device(self) -> torch.device:
        return self.decoder.conv_out.conv.weight.device

    def _quant(self, h):
        return self.quant_conv(h) if self.config.use_quant_layer else h

    def _post_quant(self, z):
        return self.post_quant_conv(z) if self.config.use_quant_layer else z


def split_moments(moments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2E, t, h, w) -> mean (B, E, ...), logvar clamped to [-30, 20] (B, E, ...)."""
    mean, logvar = moments.chunk(2, dim=1)
    return mean, logvar.clamp(-30.0, 20.0)


def check_pixels(x: torch.Tensor, config: CausalVAEConfig, require_causal_frames: bool = True) -> None:
    """Raise ValueError unless x is (B, 3, T, H, W) with T = 1 + 4k frames (when required)."""
    if x.ndim != 5 or x.shape[1] != 3:
        raise ValueError(f"expected pixels shaped (batch, 3, frames, height, width), got {tuple(x.shape)}")
    if min(x.shape) == 0:
        raise ValueError(f"empty pixel tensor {tuple(x.shape)}")
    step = config.temporal_factor
    frames = x.shape[2]
    if require_causal_frames and (frames - 1) % step:
        below = frames - (frames - 1) % step
        raise ValueError(f"the causal VAE encodes 1 + {step}k frames (1, {1 + step}, {1 + 2 * step}, ...); "
                         f"got {frames}: trim to {below} or pad to {below + step} frames")


def check_latents(z: torch.Tensor, config: CausalVAEConfig) -> None:
    """Raise ValueError unless z is (B, embed_dim, t, h, w)."""
    if z.ndim != 5 or z.shape[1] != config.embed_dim:
        raise ValueError(f"expected latents shaped (batch, {config.embed_dim}, frames, height, width), "
                         f"got {tuple(z.shape)}")
    if min(z.shape) == 0:
        raise ValueError(f"empty latent tensor {tuple(z.shape)}")


def pad_to_multiple(x: torch.Tensor, multiple: int, minimum_only: bool = False) -> torch.Tensor:
    """Edge-pad H and W at the bottom/right up to a multiple of ``multiple`` (or only up to
    ``multiple`` itself when ``minimum_only``, the smallest size the encoder can run on)."""
    height, width = x.shape[-2:]
    if minimum_only:
        pad_h, pad_w = max(0, multiple - height), max(0, multiple - width)
    else:
        pad_h, pad_w = -height % multiple, -width % multiple
    if not (pad_h or pad_w):
        return x
    return F.pad(x, (0, pad_w, 0, pad_h, 0, 0), mode="replicate")
