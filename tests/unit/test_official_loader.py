"""benchmarks/official_loader.py: the parts that work without the official source."""
from __future__ import annotations

import dataclasses

import pytest

from benchmarks.official_loader import load_official, official_kwargs
from ptdit import PRESETS, config_from_reference


@pytest.mark.parametrize("changes", [{}, dict(num_layers=1, compress_ratios=(1, 4, 4), proxy_ratios=(1, 2, 2)),
                                     dict(shift_window=False, caption_channels=64, frame=8)])
def test_official_kwargs_round_trip(changes):
    config = dataclasses.replace(PRESETS["qihoo-t2i-1.1b"], **changes)
    assert config_from_reference(official_kwargs(config)) == config


def test_missing_official_source_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a MindSpeed-MM checkout.*pt_dit_diffusers.py"):
        load_official(str(tmp_path))
