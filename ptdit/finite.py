"""NaN / infinity checks: of checkpoint weights when loading, of the model's output while sampling.

Both reduce each tensor to a scalar on its own device (``torch.aminmax``: NaN propagates, an
infinity shows as the min or max), so a check costs one pass over the data and one scalar read.
"""
from __future__ import annotations

from typing import Mapping

import torch

from .checkpoint import CheckpointError, summarise

SAMPLING_CAUSES = ("fp16 overflow (load the model with weight_dtype bf16 or fp32), a broken checkpoint, or "
                   "non-finite conditioning")


class NonFiniteError(ValueError):
    """Sampling produced NaN or infinite values (the saved image would be black)."""


def is_finite(tensor: torch.Tensor) -> bool:
    """Whether a floating-point tensor of any shape holds no NaN and no ±inf (one reduction)."""
    if tensor.numel() == 0:
        return True
    if tensor.element_size() == 1:  # float8: no reductions implemented
        tensor = tensor.to(torch.float16)
    low, high = torch.aminmax(tensor)
    return bool(torch.isfinite(torch.stack([low, high])).all())


def nonfinite_names(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors that hold a NaN or an infinity, in order."""
    return [name for name, t in tensors.items() if t.is_floating_point() and not is_finite(t)]


def check_finite_weights(state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`CheckpointError` naming the weights with NaN / inf values."""
    bad = nonfinite_names(state_dict)
    if bad:
        raise CheckpointError(f"{len(bad)} of {len(state_dict)} weights hold NaN or infinite values "
                              f"({summarise(bad)}); the file is broken: download or convert it again")


def check_step(denoised: torch.Tensor, step: int, steps: int, source: str) -> None:
    """Raise :class:`NonFiniteError` when the model's prediction ``denoised`` (any shape) of the
    0-based ``step`` holds NaN / inf."""
    if not is_finite(denoised):
        raise NonFiniteError(f"{source} produced NaN or infinite values at step {step + 1} of {steps}; "
                             f"likely causes: {SAMPLING_CAUSES}")
