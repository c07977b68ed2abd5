"""The paper's complexity figures and the exact multiply-add count of our forward."""
from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ptdit import WindowSettings
from ptdit.complexity import attention_ratio, latent_grid, self_attention_flops
from tests.unit.tiny import tiny_inputs, tiny_model


@pytest.mark.parametrize("pixels, ratio, paper_percent", [(256, 2, 34.3), (512, 4, 9.7), (1024, 8, 4.7)])
def test_paper_attention_complexity(pixels, ratio, paper_percent):
    window = WindowSettings((1, ratio, ratio), (1, ratio, ratio))
    percent = 100 * attention_ratio(latent_grid(pixels, pixels), window)
    assert math.floor(percent * 10) / 10 == paper_percent  # the paper truncates to one decimal


def test_local_attention_switches_lower_the_ratio():
    grid = latent_grid(1024, 1024)
    full = attention_ratio(grid, WindowSettings((1, 8, 8), (1, 8, 8)))
    no_shift = attention_ratio(grid, WindowSettings((1, 8, 8), (1, 8, 8), shift_window=False))
    none = attention_ratio(grid, WindowSettings((1, 8, 8), (1, 8, 8), False, False))
    assert full > no_shift > none > 0


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    """Scores and weighted sum: 2 products of B·H·S·S2·d multiply-adds each."""
    b, h, s, d = query_shape
    return 2 * 2 * b * h * s * key_shape[2] * d


# The CPU flash kernel is not in torch's flop registry; count it like the math path would.
_SDPA_FLOPS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops}


@pytest.mark.parametrize("shape, window", [
    ((1, 4, 20, 28), WindowSettings((1, 4, 4), (1, 2, 2))),  # padded grid, several proxies
    ((1, 4, 4, 16, 16), WindowSettings((2, 4, 4), (2, 4, 4), shift_window=False)),
])
def test_self_attention_flops_are_the_models_token_products(shape, window):
    """What benchmarks/scaling.py reports: the attention kernels' FLOPs less the text cross-attention,
    of the model."""
    model = tiny_model()
    _, t, ctx, mask = tiny_inputs(batch=1)
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_SDPA_FLOPS) as counter:
        model(torch.randn(shape), t, ctx, mask, window=window)
    kernels = counter.get_flop_counts()["Global"][torch.ops.aten._scaled_dot_product_flash_attention_for_cpu]
    frames = shape[2] if len(shape) == 5 else 1
    grid = (frames, shape[-2] // 2, shape[-1] // 2)
    padded = math.prod(window.padded(grid))
    dim, layers = model.config.hidden_size, model.config.num_layers
    text = 4 * dim * layers * padded * int(mask.bool().any(0).sum())  # the text tokens it attends to
    assert kernels - text == self_attention_flops(grid, dim, layers, window)
    assert self_attention_flops(grid, dim, layers) == 4 * dim * layers * math.prod(grid) ** 2
