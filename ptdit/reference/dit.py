"""PT-DiT built from the official ``PTDiTDiffuser`` constructor kwargs, for parity checks."""
from __future__ import annotations

from ..config import config_from_reference
from ..loader import load_weights
from ..model import PTDiT


def from_reference_config(config: dict, state_dict: dict | None = None) -> PTDiT:
    """Build a float32 :class:`PTDiT` from official ``PTDiTDiffuser(**config)`` kwargs.

    ``state_dict`` uses the official parameter names; it is loaded strictly (``pos_embed.pos_embed``
    may be absent). The result is called as ``model(x, timestep, context, context_mask)``.
    """
    model = PTDiT(config_from_reference(config))
    if state_dict is not None:
        load_weights(model, state_dict)
    return model.eval()
