"""The NaN / inf checks of ptdit.finite: weights at load, the model's prediction per sampling step."""
from __future__ import annotations

import pytest
import torch

from ptdit.checkpoint import CheckpointError
from ptdit.finite import NonFiniteError, check_finite_weights, check_step, is_finite, nonfinite_names


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn])
def test_is_finite_finds_one_bad_value_in_any_float_dtype(dtype):
    x = torch.randn(3, 5, 7).to(dtype)
    assert is_finite(x)
    bad_values = (float("nan"),) if dtype == torch.float8_e4m3fn else (float("nan"), float("inf"), -float("inf"))
    for bad in bad_values:  # float8_e4m3fn has no infinity
        y = x.clone()
        y[2, 4, 6] = bad
        assert not is_finite(y), (dtype, bad)


def test_empty_tensors_are_finite():
    assert is_finite(torch.zeros(0, 4))


def test_nonfinite_names_skips_integer_tensors_and_keeps_order():
    tensors = {"a": torch.tensor([1.0, float("nan")]), "steps": torch.tensor([3]), "b": torch.ones(2),
               "c": torch.tensor([float("-inf")])}
    assert nonfinite_names(tensors) == ["a", "c"]
    with pytest.raises(CheckpointError, match=r"^2 of 4 weights hold NaN or infinite values \(a, c\)"):
        check_finite_weights(tensors)
    check_finite_weights({"b": torch.ones(2)})


def test_check_step_names_the_step_the_source_and_the_causes():
    check_step(torch.zeros(1, 4, 8, 8), 0, 30, "m.safetensors")
    bad = torch.zeros(1, 4, 8, 8)
    bad[0, 1, 2, 3] = float("nan")
    with pytest.raises(NonFiniteError, match=r"^m.safetensors produced NaN or infinite values at step 7 of 30; "
                                             r"likely causes: fp16 overflow"):
        check_step(bad, 6, 30, "m.safetensors")
