"""A small CausalVAE (released layout, hidden size 8, 4 groups) with seeded random weights."""
from __future__ import annotations

import pytest
import torch

from ptdit.vae import CausalVAE, ReferenceCausalVAE
from ptdit.vae_config import CausalVAEConfig

TINY = CausalVAEConfig(hidden_size=8, norm_num_groups=4)


def tiny_vae(seed: int = 0, cls=CausalVAE, **kwargs) -> CausalVAE:
    torch.manual_seed(seed)
    return cls(TINY, **kwargs).eval()


def tiny_reference_vae(seed: int = 0, tiling=None) -> ReferenceCausalVAE:
    return tiny_vae(seed, ReferenceCausalVAE, tiling=tiling)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: intra-op threads cost more than they save, most of all on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
