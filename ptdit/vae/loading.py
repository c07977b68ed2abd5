"""Building a CausalVAE from a checkpoint.

Accepted files: ``.safetensors`` and weights-only pickles (``.pt``, ``.pth``, ``.ckpt``, ``.bin``).
Accepted layouts: a flat state dict, or one nested in ``model``, ``state_dict``,
``state_dict.gen_model`` or ``ema_state_dict`` (tried in that order, the order the official loader
uses for the first two), with wrapper prefixes such as ``module.`` or ``model.`` removed. Keys of
other sub-models stored alongside (``loss.*``, discriminators) are ignored; anything else that
does not match the architecture exactly is an error.
"""
from __future__ import annotations

import json
import os
from typing import Mapping

import torch
from torch import nn

from ..checkpoint import CheckpointError, check_keys, read_checkpoint, unwrap_state_dict
from ..finite import check_finite_weights
from .config import CausalVAEConfig, infer_config
from .model import CausalVAE

METADATA_KEY = "vae_config"  # JSON of CausalVAEConfig fields, written by our tools
ANCHOR_KEYS = ("encoder.conv_in.weight", "decoder.conv_out.conv.weight")
VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


def expected_shapes(config: CausalVAEConfig) -> dict[str, tuple[int, ...]]:
    """State-dict key -> shape for ``config`` (built on the meta device: nothing is allocated)."""
    return {k: tuple(v.shape) for k, v in CausalVAE(config, device="meta").state_dict().items()}


def vae_state_dict(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """The CausalVAE weights inside a loaded checkpoint object (containers and prefixes removed)."""
    tensors = unwrap_state_dict(checkpoint, ANCHOR_KEYS)
    return {k: v for k, v in tensors.items() if k.startswith(VAE_PARTS)}


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file safely and return its CausalVAE weights."""
    return _read_file(path)[0]


def _read_file(path) -> tuple[dict[str, torch.Tensor], CausalVAEConfig | None]:
    """(weights, config stored in the safetensors metadata key ``vae_config`` or None)."""
    checkpoint, metadata = read_checkpoint(path)
    state_dict = vae_state_dict(checkpoint)
    if not state_dict:
        raise CheckpointError(f"{os.fspath(path)!r} holds no CausalVAE weights (looked for keys like "
                              f"{ANCHOR_KEYS[0]!r}, possibly under model/state_dict/ema_state_dict)")
    return state_dict, config_from_metadata(metadata)


def config_from_metadata(metadata: Mapping[str, str] | None) -> CausalVAEConfig | None:
    """The architecture our tools store in the safetensors metadata key ``vae_config``, or None."""
    if not metadata or METADATA_KEY not in metadata:
        return None
    return CausalVAEConfig.from_dict(json.loads(metadata[METADATA_KEY]))


def load_causal_vae(source, config: CausalVAEConfig | None = None, *, norm_num_groups: int = 32,
                    dtype=None, device=None, operations=nn) -> CausalVAE:
    """A :class:`CausalVAE` with weights from ``source`` (a path, a checkpoint dict or a state dict).

    Without ``config`` the architecture comes from the file's ``vae_config`` metadata when present
    (JSON of :class:`CausalVAEConfig` fields), else from the weight shapes; the group count cannot
    be seen in weights and then comes from ``norm_num_groups`` (32 for the released VAE).
    """
    if isinstance(source, (str, os.PathLike)):
        state_dict, stored = _read_file(source)
        config = config or stored
    else:
        state_dict = vae_state_dict(source)
    if config is None:
        try:
            config = infer_config(state_dict, norm_num_groups)
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"cannot recognise a CausalVAE in these weights: {exc}") from exc
    return build_with_weights(CausalVAE, config, state_dict, dtype=dtype, device=device, operations=operations)


def build_with_weights(cls, config: CausalVAEConfig, state_dict: Mapping[str, torch.Tensor], *,
                       dtype=None, device=None, operations=nn, **kwargs) -> CausalVAE:
    """Instantiate ``cls`` on the meta device and adopt ``state_dict`` after a strict key/shape check."""
    model = cls(config, device="meta", operations=operations, **kwargs)
    check_keys({k: tuple(v.shape) for k, v in model.state_dict().items()}, state_dict,
               f"CausalVAE ({_describe(config)})")
    check_finite_weights(state_dict)
    target = torch.device(device) if device is not None else torch.device("cpu")
    tensors = {k: v.to(device=target, dtype=dtype or v.dtype) for k, v in state_dict.items()}
    model.load_state_dict(tensors, strict=True, assign=True)
    return model.eval()


def _describe(config: CausalVAEConfig) -> str:
    return (f"hidden_size={config.hidden_size}, hidden_size_mult={list(config.hidden_size_mult)}, "
            f"num_res_blocks={config.num_res_blocks}")
