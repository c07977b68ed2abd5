"""Rectified-flow sampling exactly as the official Qihoo-T2X pipeline runs it (RFlow).

Conventions: diffusion time t in [0, T] (T = 1000), x_t = (1 - t/T)·x0 + (t/T)·noise, and the
model predicts the velocity v = x0 - noise (first ``in_channels`` output channels). Sampling walks
t from T towards 0 with Euler steps z <- z + v·(t_i - t_{i+1})/T; the last step goes to t = 0.

The schedule is shifted by a resolution/length dependent ratio r:
``t' = r·t / (1 + (r - 1)·t)`` (t as a fraction of T), r = sqrt(H·W / 512²) · sqrt(floor(F/17)·5)
(the temporal factor is 1 for a single frame), with H, W the requested size in pixels. This is
the same map as ComfyUI's flow ``shift`` with shift = r.

One deliberate deviation: for clips of 2..16 frames the official temporal factor is
sqrt(floor(F/17)·5) = 0, which makes every timestep 0 (no denoising at all). The temporal factor is
therefore clamped to at least 1; results for 1 frame and for 17 or more frames are unchanged.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

NUM_TRAIN_TIMESTEPS = 1000
BASE_RESOLUTION = 512 * 512


def shift_ratio(height: float, width: float, num_frames: int = 1,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Resolution/length shift r as a 0-d tensor, computed in ``dtype`` like the official pipeline
    (which passes its size tensors in the pipeline dtype, bf16 for the released model)."""
    h = torch.tensor([height], dtype=dtype)
    w = torch.tensor([width], dtype=dtype)
    ratio_space = (h * w / BASE_RESOLUTION).sqrt()
    if num_frames == 1:
        frames = torch.ones(1, dtype=dtype)
    else:
        frames = torch.div(torch.tensor([num_frames], dtype=dtype), 17, rounding_mode="floor") * 5
    ratio_time = frames.sqrt().clamp(min=1)
    return (ratio_space * ratio_time)[0]


def shift_timesteps(t: torch.Tensor, ratio: torch.Tensor | float,
                    num_train: int = NUM_TRAIN_TIMESTEPS) -> torch.Tensor:
    """Apply the shift to raw timesteps ``t`` (any shape, in [0, num_train]); float32 like the reference."""
    tau = t / num_train
    return ratio * tau / (1 + (ratio - 1) * tau) * num_train


def rflow_timesteps(num_steps: int, height: float, width: float, num_frames: int = 1,
                    kwargs_dtype: torch.dtype = torch.float32,
                    num_train: int = NUM_TRAIN_TIMESTEPS) -> torch.Tensor:
    """(num_steps,) float32 shifted timesteps the model is evaluated at, first = num_train."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be at least 1, got {num_steps}")
    raw = torch.tensor([(1.0 - i / num_steps) * num_train for i in range(num_steps)], dtype=torch.float32)
    return shift_timesteps(raw, shift_ratio(height, width, num_frames, kwargs_dtype), num_train).float()


def guided_velocity(model: Callable[..., torch.Tensor], z: torch.Tensor, t: torch.Tensor,
                    context: torch.Tensor, context_mask: Optional[torch.Tensor], cfg_scale: float,
                    **model_kwargs) -> torch.Tensor:
    """Classifier-free guidance in one batched call.

    ``context`` / ``context_mask`` hold [conditional; unconditional] rows (2B). Returns
    v_u + cfg·(v_c - v_u) over the first ``z.shape[1]`` output channels, shape of ``z``.
    """
    b = z.shape[0]
    out = model(torch.cat([z, z]), t.reshape(1).expand(2 * b).to(z.device), context, context_mask, **model_kwargs)
    v_cond, v_uncond = out[:, : z.shape[1]].chunk(2)
    return v_uncond + cfg_scale * (v_cond - v_uncond)


def euler_sample(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z: torch.Tensor,
                 timesteps: torch.Tensor, num_train: int = NUM_TRAIN_TIMESTEPS,
                 callback: Optional[Callable[[int, torch.Tensor], None]] = None) -> torch.Tensor:
    """Integrate from noise ``z`` along ``timesteps`` (descending, float32); returns the final latents.

    ``velocity(z, t)`` gives the (guided) velocity at scalar tensor time ``t``; ``callback(i, z)`` is
    called after each step (progress, previews, interruption).
    """
    for i in range(len(timesteps)):
        t = timesteps[i]
        dt = (t - timesteps[i + 1] if i + 1 < len(timesteps) else t) / num_train
        z = z + velocity(z, t) * dt.to(z.device)
        if callback is not None:
            callback(i, z)
    return z
