"""Load PT-DiT weights: find the state dict in a file, infer the config, check keys strictly."""
from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Iterable, Mapping, Optional

import torch
from torch import nn

from .checkpoint import CheckpointError, check_keys, read_checkpoint, unwrap_state_dict
from .config import PRESETS, PTDiTConfig, config_from_reference
from .finite import check_finite_weights
from .model import PTDiT

ANCHORS = ("pos_embed.proj.weight", "adaln_single.linear.weight", "proj_out.weight")
OPTIONAL_KEYS = ("pos_embed.pos_embed",)  # a fixed sin-cos table; recomputed when absent
METADATA_KEY = "ptdit_config"  # our own format: JSON of PTDiTConfig.to_dict()
REFERENCE_METADATA_KEY = "config"  # official constructor kwargs (reference fixtures)


def find_state_dict(obj: Mapping) -> dict[str, torch.Tensor]:
    """The PT-DiT tensors inside a loaded checkpoint object (containers and prefixes removed)."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"the file holds a {type(obj).__name__}, not a dict of tensors")
    state_dict = unwrap_state_dict(obj, ANCHORS)
    if not any(a in state_dict for a in ANCHORS):
        sample = ", ".join(list(state_dict)[:5])
        raise CheckpointError(f"this is not a PT-DiT checkpoint: none of {', '.join(ANCHORS)} was found "
                              f"(first names in the file: {sample})")
    return state_dict


def _heads_for(hidden: int) -> int:
    for preset in PRESETS.values():
        if preset.hidden_size == hidden:
            return preset.num_heads
    raise CheckpointError(f"cannot tell the number of attention heads of a {hidden}-wide PT-DiT from its "
                          "weights; convert it with `python -m ptdit.convert --num-heads N` so the config is "
                          "stored in the file")


def config_from_metadata(metadata: Mapping[str, str]) -> Optional[PTDiTConfig]:
    """The config stored under ``ptdit_config`` (else the reference's ``config``) as JSON, or None when
    the metadata holds neither; a :class:`CheckpointError` names the field when it is not JSON or not a
    valid config."""
    if METADATA_KEY not in metadata and REFERENCE_METADATA_KEY not in metadata:
        return None
    key = METADATA_KEY if METADATA_KEY in metadata else REFERENCE_METADATA_KEY
    try:
        fields = json.loads(metadata[key])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"the {key!r} metadata field is not valid JSON ({exc})") from None
    if not isinstance(fields, dict):
        raise CheckpointError(f"the {key!r} metadata field must be a JSON object of config fields, "
                              f"got {type(fields).__name__}")
    try:
        return PTDiTConfig.from_dict(fields) if key == METADATA_KEY else config_from_reference(fields)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the {key!r} metadata field is not a valid PT-DiT config: {exc}") from None


def infer_config(state_dict: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]] = None,
                 num_heads: Optional[int] = None) -> PTDiTConfig:
    """Config from safetensors metadata when present, otherwise from tensor shapes.

    Shapes give width, depth, channels, caption width, patch size, shifted-window presence, bias and
    norm-affine flags and the native grid. Head count and window ratios are not visible in shapes:
    they come from metadata, else from the released preset of the same width; ``num_heads``
    overrides the head count either way.
    """
    proj = state_dict["pos_embed.proj.weight"]
    hidden, in_channels, patch = proj.shape[0], proj.shape[1], proj.shape[2]
    if num_heads is not None and (num_heads < 1 or hidden % num_heads):
        raise ValueError(f"num_heads={num_heads} must divide the hidden width {hidden}")
    config = config_from_metadata(metadata or {})
    if config is not None:
        if num_heads is not None:
            config = dataclasses.replace(config, num_heads=num_heads, head_dim=hidden // num_heads)
        return config
    depth = 1 + max((int(m.group(1)) for k in state_dict
                     if (m := re.match(r"transformer_blocks\.(\d+)\.", k))), default=-1)
    if depth < 1:
        raise CheckpointError("the checkpoint has no transformer_blocks.* weights")
    heads = num_heads or _heads_for(hidden)
    fields = dict(
        num_heads=heads, head_dim=hidden // heads, num_layers=depth, in_channels=in_channels,
        out_channels=state_dict["proj_out.weight"].shape[0] // patch ** 2,
        caption_channels=state_dict["caption_projection.linear_1.weight"].shape[1], patch_size=patch,
        shift_window="transformer_blocks.0.attn3.to_q.weight" in state_dict,
        attention_bias="transformer_blocks.0.attn1.to_q.bias" in state_dict,
        norm_elementwise_affine="transformer_blocks.0.norm1.weight" in state_dict,
    )
    table = state_dict.get("pos_embed.pos_embed")
    if table is not None:
        side = round(table.shape[2] ** 0.5)
        fields.update(frame=table.shape[1], sample_size=side * patch)
    return PTDiTConfig(**fields)


def check_state_dict(model: PTDiT, state_dict: Mapping[str, torch.Tensor], layer_extras: Iterable[str] = ()) -> None:
    """Raise :class:`CheckpointError` listing missing/unexpected/misshapen weights for ``model``.

    ``layer_extras``: names a layer with a ``weight`` may also hold (``<layer>.<name>``), e.g. the
    quantization scales a host's layers read; they are neither required nor checked.
    """
    expected = {k: v.shape for k, v in model.state_dict().items()}
    extras = set(layer_extras)
    weights = {k: v for k, v in state_dict.items()
               if not (k.rpartition(".")[2] in extras and k.rpartition(".")[0] + ".weight" in expected)}
    check_keys(expected, weights, "PT-DiT model with this configuration", optional=OPTIONAL_KEYS)


def load_weights(model: PTDiT, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Strictly load official-named weights into ``model`` (readable error on any mismatch)."""
    check_state_dict(model, state_dict)
    check_finite_weights(state_dict)
    model.load_state_dict(dict(state_dict), strict=False, assign=model.scale_shift_table.is_meta)
    if model.pos_embed.pos_embed.is_meta:  # file without the fixed table: compute it
        model.pos_embed.reset_table(dtype=model.pos_embed.proj.weight.dtype)


def load_ptdit(path: str | os.PathLike, dtype: Optional[torch.dtype] = None, device=None,
               operations=nn, config: Optional[PTDiTConfig] = None) -> PTDiT:
    """Read a PT-DiT checkpoint (.safetensors or weights-only .pt/.pth/.ckpt) into a model.

    ``config`` skips inference (for files whose head count no metadata or preset tells).
    """
    obj, metadata = read_checkpoint(path)
    state_dict = find_state_dict(obj)
    config = config or infer_config(state_dict, metadata)
    model = PTDiT(config, dtype=dtype, device="meta", operations=operations)
    load_weights(model, state_dict)
    model.to(device=device or "cpu", dtype=dtype)
    return model.eval()
