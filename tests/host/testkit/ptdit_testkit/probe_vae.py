"""A 5D video VAE (4x temporal, 8x spatial, 4 channels) built the way the pack builds its own
(``nodes/core_vae.py``: core's constructor sets every attribute core's VAE methods read)."""
import torch

import comfy.model_management

from .kit import TestkitNode, pack_module


class ProbeVideoAE(torch.nn.Module):
    """Causal 4x temporal / 8x spatial toy autoencoder: t_pix = 4 * (t_lat - 1) + 1."""

    def __init__(self):
        super().__init__()
        self.to_rgb = torch.nn.Conv3d(4, 3, 1)
        self.from_rgb = torch.nn.Conv3d(3, 4, 1)
        self.decode_calls = []

    def decode(self, z):
        self.decode_calls.append(list(z.shape))
        x = self.to_rgb(z)
        first, rest = x[:, :, :1], x[:, :, 1:]
        rest = rest.repeat_interleave(4, dim=2)
        x = torch.cat([first, rest], dim=2)
        return torch.nn.functional.interpolate(x, scale_factor=(1, 8, 8), mode="nearest")

    def encode(self, x):
        first, rest = x[:, :, :1], x[:, :, 1:]
        if rest.shape[2]:
            rest = rest[:, :, 3::4]
        x = torch.cat([first, rest], dim=2)
        x = torch.nn.functional.avg_pool3d(x, (1, 8, 8))
        return self.from_rgb(x)


def probe_vae():
    """A 5D video VAE (4x temporal, 8x spatial, 4 channels) built by comfy.sd.VAE's own constructor."""
    dtype_size = comfy.model_management.dtype_size
    return pack_module("nodes.core_vae").CausalVideoVAE(
        ProbeVideoAE(), latent_channels=4, temporal=4, spatial=8, working_dtypes=[torch.float32],
        memory_used_encode=lambda shape, dtype: 64 * shape[2] * shape[3] * shape[4] * dtype_size(dtype),
        memory_used_decode=lambda shape, dtype: 64 * shape[2] * shape[3] * shape[4] * 64 * dtype_size(dtype))


class PTDiTProbeVAE(TestkitNode):
    """The probe VAE."""

    RETURN_TYPES = ("VAE",)

    def run(self):
        return (probe_vae(),)
