"""Layers of the Open-Sora-Plan v1.2 CausalVAE.

Activations are (B, C, T, H, W). Modules with ``framewise = True`` instead take frames folded into
the batch, (B*T, C, H, W), plus ``frames`` = T; their GroupNorms use per-frame statistics.

Every module takes ``dtype``, ``device`` and ``operations`` (a namespace with ``Conv2d``, ``Conv3d``
and ``GroupNorm``, ``torch.nn`` by default) so that a host can substitute weight-casting layers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .norm import group_norm

NORM_EPS = 1e-6
QUERY_CHUNK = 4096  # attention queries per call: bounds the H*W x H*W score memory of math kernels


def make_group_norm(channels: int, groups: int, dtype=None, device=None, operations=nn) -> nn.Module:
    return operations.GroupNorm(groups, channels, eps=NORM_EPS, affine=True, dtype=dtype, device=device)


def fold_frames(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T, H, W) -> (B*T, C, H, W)."""
    return x.transpose(1, 2).flatten(0, 1)


def unfold_frames(x: torch.Tensor, frames: int) -> torch.Tensor:
    """(B*T, C, H, W) -> (B, C, T, H, W), contiguous."""
    return x.unflatten(0, (-1, frames)).transpose(1, 2).contiguous()


class CausalConv3d(nn.Module):
    """3-D conv whose time axis is padded in front with ``kt - 1`` copies of frame 0.

    x: (B, Cin, T, H, W) -> (B, Cout, (T - 1) // st + 1, H', W'); H and W are zero-padded by
    ``padding``. Weights live in ``self.conv`` (state-dict keys ``<name>.conv.weight/bias``).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dtype=None, device=None, operations=nn):
        super().__init__()
        kernel = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
        self.time_pad = kernel[0] - 1
        self.conv = operations.Conv3d(in_channels, out_channels, kernel, stride=stride,
                                      padding=(0, padding, padding), dtype=dtype, device=device)

    def forward(self, x: torch.Tensor, padded: bool = False) -> torch.Tensor:
        """``padded``: x already starts with the ``kt - 1`` causal padding frames."""
        if padded:
            return self.conv(x)
        if self._single_frame(x):
            return self._single_frame_conv(x)
        if self.time_pad:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
        return self.conv(x)

    def after_norm(self, norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """self(silu(norm(x))), with the causal padding written by the normalisation (no extra copy)."""
        if self._single_frame(x) or not self.time_pad:
            return self(F.silu(group_norm(norm, x), inplace=True))
        return self(F.silu(group_norm(norm, x, time_pad=self.time_pad), inplace=True), padded=True)

    def _single_frame(self, x: torch.Tensor) -> bool:
        weight = self.conv.weight
        return x.shape[2] == 1 and weight.dtype == x.dtype and weight.device == x.device

    def _single_frame_conv(self, x: torch.Tensor) -> torch.Tensor:
        # A single frame padded with copies of itself: the kt time taps all see the same frame,
        # so this is a 2-D conv with the kernel summed over time (kt times fewer FLOPs).
        conv = self.conv
        out = F.conv2d(x[:, :, 0], conv.weight.sum(2), conv.bias, conv.stride[1:], conv.padding[1:])
        return out.unsqueeze(2)


class ResnetBlock3D(nn.Module):
    """GN-SiLU-conv twice plus shortcut; causal 3x3x3 convs, clip-wide norms. (B, Cin, T, H, W) -> (B, Cout, T, H, W)."""

    framewise = False

    def __init__(self, in_channels, out_channels, groups, dtype=None, device=None, operations=nn):
        super().__init__()
        kw = dict(dtype=dtype, device=device, operations=operations)
        self.norm1 = make_group_norm(in_channels, groups, **kw)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3, padding=1, **kw)
        self.norm2 = make_group_norm(out_channels, groups, **kw)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3, padding=1, **kw)
        if in_channels != out_channels:
            self.nin_shortcut = CausalConv3d(in_channels, out_channels, 1, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1.after_norm(self.norm1, x)
        h = self.conv2.after_norm(self.norm2, h)
        return h.add_(self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x)


class ResnetBlock2D(nn.Module):
    """Frame-wise residual block: (B*T, Cin, H, W) -> (B*T, Cout, H, W), per-frame norms."""

    framewise = True

    def __init__(self, in_channels, out_channels, groups, dtype=None, device=None, operations=nn):
        super().__init__()
        kw = dict(dtype=dtype, device=device)
        self.norm1 = make_group_norm(in_channels, groups, operations=operations, **kw)
        self.conv1 = operations.Conv2d(in_channels, out_channels, 3, padding=1, **kw)
        self.norm2 = make_group_norm(out_channels, groups, operations=operations, **kw)
        self.conv2 = operations.Conv2d(out_channels, out_channels, 3, padding=1, **kw)
        if in_channels != out_channels:
            self.nin_shortcut = operations.Conv2d(in_channels, out_channels, 1, **kw)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        h = self.conv1(F.silu(group_norm(self.norm1, x, frames), inplace=True))
        h = self.conv2(F.silu(group_norm(self.norm2, h, frames), inplace=True))
        return h.add_(self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x)


class AttnBlock3D(nn.Module):
    """Single-head self-attention over the H*W positions of each frame separately, plus residual.

    x: (B, C, T, H, W) -> same shape. The norm before q/k/v pools over the whole clip.
    """

    framewise = False

    def __init__(self, channels, groups, dtype=None, device=None, operations=nn):
        super().__init__()
        kw = dict(dtype=dtype, device=device, operations=operations)
        self.norm = make_group_norm(channels, groups, **kw)
        self.q = CausalConv3d(channels, channels, 1, **kw)
        self.k = CausalConv3d(channels, channels, 1, **kw)
        self.v = CausalConv3d(channels, channels, 1, **kw)
        self.proj_out = CausalConv3d(channels, channels, 1, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = group_norm(self.norm, x)
        b, c, t, h, w = x.shape

        def tokens(a):  # (B, C, T, H, W) -> (B*T, 1 head, H*W, C)
            return a.permute(0, 2, 3, 4, 1).reshape(b * t, 1, h * w, c)

        q, k, v = tokens(self.q(y)), tokens(self.k(y)), tokens(self.v(y))
        del y
        chunks = [F.scaled_dot_product_attention(q[:, :, i:i + QUERY_CHUNK], k, v)
                  for i in range(0, h * w, QUERY_CHUNK)]
        out = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=2)
        del chunks
        del q, k, v
        out = out.reshape(b, t, h, w, c).permute(0, 4, 1, 2, 3)
        return self.proj_out(out).add_(x)


class Downsample(nn.Module):
    """Frame-wise 2x spatial downsample: zero-pad 1 right/bottom, 3x3 conv stride 2.

    (B*T, C, H, W) -> (B*T, C, H // 2, W // 2). Key ``downsample.conv.weight``.
    """

    framewise = True

    def __init__(self, channels, dtype=None, device=None, operations=nn):
        super().__init__()
        self.conv = operations.Conv2d(channels, channels, 3, stride=2, dtype=dtype, device=device)

    def forward(self, x: torch.Tensor, frames: int) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Spatial2xTime2x3DDownsample(nn.Module):
    """Causal 3x3x3 conv with stride 2 in T, H, W after zero-padding 1 right/bottom.

    (B, C, T, H, W) -> (B, C, (T - 1) // 2 + 1, H // 2, W // 2).
    """

    framewise = False

    def __init__(self, channels, dtype=None, device=None, operations=nn):
        super().__init__()
        self.conv = CausalConv3d(channels, channels, 3, stride=2, dtype=dtype, device=device, operations=operations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class SpatialUpsample2x(nn.Module):
    """Nearest 2x in H and W, then a 1x3x3 conv. (B, C, T, H, W) -> (B, C, T, 2H, 2W)."""

    framewise = False

    def __init__(self, channels, dtype=None, device=None, operations=nn):
        super().__init__()
        self.conv = CausalConv3d(channels, channels, (1, 3, 3), padding=1,
                                 dtype=dtype, device=device, operations=operations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest"))


class Spatial2xTime2x3DUpsample(nn.Module):
    """Linear 2x in H and W (frame 0) or T, H and W (frames 1...), then a causal 3x3x3 conv.

    (B, C, T, H, W) -> (B, C, 2T - 1, 2H, 2W). Frame 0 is never mixed into the time interpolation.
    """

    framewise = False

    def __init__(self, channels, dtype=None, device=None, operations=nn):
        super().__init__()
        self.conv = CausalConv3d(channels, channels, 3, padding=1, dtype=dtype, device=device, operations=operations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = F.interpolate(x[:, :, :1], scale_factor=(1, 2, 2), mode="trilinear")
        if x.shape[2] == 1:
            return self.conv(first)
        rest = F.interpolate(x[:, :, 1:], scale_factor=(2, 2, 2), mode="trilinear")
        # one concatenation that already holds the conv's causal padding (repeats of frame 0)
        padding = first.expand(-1, -1, self.conv.time_pad, -1, -1)
        return self.conv(torch.cat([padding, first, rest], dim=2), padded=True)


RESAMPLERS = {cls.__name__: cls for cls in (Downsample, Spatial2xTime2x3DDownsample,
                                            SpatialUpsample2x, Spatial2xTime2x3DUpsample)}
RESNETS = {cls.__name__: cls for cls in (ResnetBlock2D, ResnetBlock3D)}
