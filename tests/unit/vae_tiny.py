"""A small CausalVAE (released layout, hidden size 8, 4 groups) with seeded random weights."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from ptdit.reference.vae import ReferenceCausalVAE
from ptdit.vae.config import CausalVAEConfig
from ptdit.vae.loading import METADATA_KEY
from ptdit.vae.model import CausalVAE

TINY = CausalVAEConfig(hidden_size=8, norm_num_groups=4)


def tiny_vae(seed: int = 0, cls=CausalVAE, **kwargs) -> CausalVAE:
    torch.manual_seed(seed)
    return cls(TINY, **kwargs).eval()


def write_vae_file(path, config: CausalVAEConfig = TINY, seed: int = 0, edit=None) -> CausalVAE:
    """Save a seeded random CausalVAE as .safetensors with its config in the metadata; ``edit``
    may change the state dict first. Returns the model (weights as saved unless edited)."""
    torch.manual_seed(seed)
    vae = CausalVAE(config).eval()
    weights = vae.state_dict()
    if edit is not None:
        edit(weights)
    save_file(weights, str(path), metadata={METADATA_KEY: json.dumps(config.to_dict())})
    return vae


def tiny_reference_vae(seed: int = 0, tiling=None) -> ReferenceCausalVAE:
    return tiny_vae(seed, ReferenceCausalVAE, tiling=tiling)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: intra-op threads cost more than they save, most of all on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
