"""What a T5 text-encoder checkpoint is, read from files without building anything (no ComfyUI).

PT-DiT conditions on the last hidden states of the T5 v1.1 XXL *encoder*. Users hold it as

* a Hugging Face folder (the Qihoo-T2X release's ``text_encoder/``): ``config.json`` plus
  ``model.safetensors``, sharded ``model-0000i-of-0000n.safetensors`` with
  ``model.safetensors.index.json``, or ``pytorch_model.bin`` (optionally sharded), next to a
  ``tokenizer/`` folder;
* one safetensors file in ComfyUI's layout (``t5xxl_fp16.safetensors`` of Flux/SD3/PixArt), whose
  size is then read from the tensor shapes.

:class:`T5Spec` is the architecture; :func:`spec_from_hf_config` / :func:`spec_from_state_dict` read
it, :func:`normalize_state_dict` brings weights to the encoder's names, :func:`check_weights`
compares weights with a spec and :func:`check_tokenizer` a tokenizer with the embedding table.
Every problem raises :class:`T5FormatError` naming the files involved.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

import torch

from ..checkpoint import strip_prefixes

CONFIG_NAME = "config.json"
WEIGHT_INDEX_NAMES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
WEIGHT_NAMES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer_config.json")
ANCHOR = "encoder.block.0.layer.0.SelfAttention.q.weight"
# What ComfyUI's T5 implementation (comfy/text_encoders/t5.py) computes: fixed relative-position
# buckets and layer-norm epsilon, tanh-GELU (gated, v1.1) or ReLU (original T5) feed-forward.
SUPPORTED_ACTIVATIONS = {"gelu_new": "gelu_pytorch_tanh", "gelu_pytorch_tanh": "gelu_pytorch_tanh",
                         "gelu_fast": "gelu_pytorch_tanh", "relu": "relu"}
FIXED = {"relative_attention_num_buckets": 32, "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-6}


class T5FormatError(ValueError):
    """Files that are not (or do not fit) a T5 encoder; the message names them."""


@dataclass(frozen=True)
class T5Spec:
    """Architecture of a T5 encoder (the fields of ComfyUI's T5 config)."""

    d_model: int
    d_kv: int
    d_ff: int
    num_heads: int
    num_layers: int
    vocab_size: int
    is_gated_act: bool = True
    dense_act_fn: str = "gelu_pytorch_tanh"
    model_type: str = "t5"

    def comfy_config(self) -> dict:
        """The config dict ComfyUI's ``comfy.text_encoders.t5.T5`` is built from."""
        return asdict(self)

    def describe(self) -> str:
        kind = "v1.1 (gated-GELU)" if self.is_gated_act else "original (ReLU)"
        return (f"T5 {kind} encoder, width {self.d_model}, {self.num_layers} layers, {self.num_heads} heads, "
                f"vocabulary {self.vocab_size}")


def _int(config: Mapping, key: str, source: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise T5FormatError(f"{source}: '{key}' must be a positive integer, got {value!r}")
    return value


def spec_from_hf_config(config: Mapping, source: str = CONFIG_NAME) -> T5Spec:
    """Read a transformers ``T5Config`` dict (``config.json``); ``source`` names the file in errors."""
    model_type = config.get("model_type")
    if model_type != "t5":
        arch = ", ".join(config.get("architectures") or []) or "unknown architecture"
        raise T5FormatError(f"{source} describes a {model_type!r} model ({arch}), not a T5 encoder "
                            "(model_type 't5', e.g. T5EncoderModel of google/t5-v1_1-xxl)")
    for key, value in FIXED.items():
        if key in config and config[key] != value:
            raise T5FormatError(f"{source}: {key}={config[key]!r} is not supported (ComfyUI's T5 uses {value})")
    proj = config.get("feed_forward_proj", "relu")
    parts = str(proj).split("-")
    gated = len(parts) == 2 and parts[0] == "gated"
    if len(parts) > 2 or (len(parts) == 2 and not gated):
        raise T5FormatError(f"{source}: feed_forward_proj={proj!r} is not a T5 feed-forward")
    act = "gelu_new" if proj == "gated-gelu" else parts[-1]  # transformers' own alias
    if act not in SUPPORTED_ACTIVATIONS:
        raise T5FormatError(f"{source}: activation {act!r} (feed_forward_proj={proj!r}) is not supported; "
                            f"expected one of {', '.join(sorted(SUPPORTED_ACTIVATIONS))}")
    return T5Spec(d_model=_int(config, "d_model", source), d_kv=_int(config, "d_kv", source),
                  d_ff=_int(config, "d_ff", source), num_heads=_int(config, "num_heads", source),
                  num_layers=_int(config, "num_layers", source), vocab_size=_int(config, "vocab_size", source),
                  is_gated_act=gated, dense_act_fn=SUPPORTED_ACTIVATIONS[act])


def normalize_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Encoder weights under the names ``shared.weight`` / ``encoder.*`` (plus ``scaled_fp8`` markers).

    Strips a wrapper prefix (``text_encoders.t5xxl.transformer.`` of ComfyUI's CLIPSave, ``model.``,
    ...), takes ``encoder.embed_tokens.weight`` for a missing ``shared.weight`` (the two are tied in
    transformers) and drops decoder / LM-head weights of full seq2seq files.
    """
    out = {k: v for k, v in strip_prefixes(state_dict, (ANCHOR,)).items()
           if not k.startswith(("decoder.", "lm_head."))}
    if "shared.weight" not in out and "encoder.embed_tokens.weight" in out:
        out["shared.weight"] = out["encoder.embed_tokens.weight"]
    out.pop("encoder.embed_tokens.weight", None)
    return out


def _block_count(state_dict: Mapping[str, torch.Tensor]) -> int:
    ids = {int(m.group(1)) for k in state_dict if (m := re.match(r"encoder\.block\.(\d+)\.", k))}
    return max(ids) + 1 if ids else 0


def _first_keys(state_dict: Mapping, n: int = 6) -> str:
    return ", ".join(list(state_dict)[:n]) or "(no tensors)"


def spec_from_state_dict(state_dict: Mapping[str, torch.Tensor], source: str) -> T5Spec:
    """Infer the architecture from (normalised) weight shapes; gated encoders are taken as T5 v1.1
    (tanh-GELU), ungated ones as the original T5 (ReLU)."""
    if ANCHOR not in state_dict or "shared.weight" not in state_dict:
        raise T5FormatError(f"{source} holds no T5 encoder weights: expected 'shared.weight' and '{ANCHOR}', "
                            f"found {_first_keys(state_dict)}")
    shared = state_dict["shared.weight"]
    rel = state_dict.get("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
    if rel is None or rel.ndim != 2:
        raise T5FormatError(f"{source} has no relative attention bias in block 0, so it is not a T5 encoder")
    if rel.shape[0] != FIXED["relative_attention_num_buckets"]:
        raise T5FormatError(f"{source}: {rel.shape[0]} relative-position buckets are not supported (expected 32)")
    heads = rel.shape[1]
    q = state_dict[ANCHOR]
    ff = "encoder.block.0.layer.1.DenseReluDense."
    gated = ff + "wi_0.weight" in state_dict
    wi = state_dict.get(ff + ("wi_0.weight" if gated else "wi.weight"))
    if wi is None:
        raise T5FormatError(f"{source} has no feed-forward weights in block 0 ({ff}wi_0/wi_1 or {ff}wi)")
    if q.shape[0] % heads:
        raise T5FormatError(f"{source}: attention width {q.shape[0]} is not a multiple of {heads} heads")
    return T5Spec(d_model=shared.shape[1], d_kv=q.shape[0] // heads, d_ff=wi.shape[0], num_heads=heads,
                  num_layers=_block_count(state_dict), vocab_size=shared.shape[0], is_gated_act=gated,
                  dense_act_fn="gelu_pytorch_tanh" if gated else "relu")


def expected_shapes(spec: T5Spec) -> dict[str, tuple[int, ...]]:
    """Shape of every encoder weight of ``spec``."""
    inner = spec.d_kv * spec.num_heads
    shapes = {"shared.weight": (spec.vocab_size, spec.d_model), "encoder.final_layer_norm.weight": (spec.d_model,)}
    ff = ("wi_0", "wi_1") if spec.is_gated_act else ("wi",)
    for i in range(spec.num_layers):
        b = f"encoder.block.{i}.layer."
        for name in "qkv":
            shapes[f"{b}0.SelfAttention.{name}.weight"] = (inner, spec.d_model)
        shapes[f"{b}0.SelfAttention.o.weight"] = (spec.d_model, inner)
        shapes[f"{b}0.layer_norm.weight"] = (spec.d_model,)
        for name in ff:
            shapes[f"{b}1.DenseReluDense.{name}.weight"] = (spec.d_ff, spec.d_model)
        shapes[f"{b}1.DenseReluDense.wo.weight"] = (spec.d_model, spec.d_ff)
        shapes[f"{b}1.layer_norm.weight"] = (spec.d_model,)
    shapes["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] = (32, spec.num_heads)
    return shapes


def check_weights(spec: T5Spec, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise when weights are missing or misshapen for ``spec`` (extra fp8 scale tensors are fine)."""
    expected = expected_shapes(spec)
    missing = [k for k in expected if k not in state_dict]
    wrong = [f"{k}: {tuple(state_dict[k].shape)} instead of {s}" for k, s in expected.items()
             if k in state_dict and tuple(state_dict[k].shape) != s]
    if missing or wrong:
        lines = []
        if missing:
            lines.append(f"missing {len(missing)} weights, e.g. {', '.join(missing[:4])}")
        if wrong:
            lines.append(f"misshapen weights: {'; '.join(wrong[:4])}")
        raise T5FormatError(f"{source} does not match the {spec.describe()}: " + "; ".join(lines))


def check_tokenizer(vocab_rows: int, tokenizer_size: int, eos_id: Optional[int], empty_ids: Sequence[int],
                    tokenizer_source: str, encoder_source: str) -> None:
    """A tokenizer fits an encoder when all its ids index the embedding table and it ends every text
    with an end token and nothing else (T5: ``""`` gives ``[</s>]``)."""
    if eos_id is None or list(empty_ids) != [eos_id]:
        raise T5FormatError(f"tokenizer {tokenizer_source} is not a T5 tokenizer: an empty text must tokenise to "
                            f"just the end token </s>, got ids {list(empty_ids)} (end token id {eos_id})")
    if tokenizer_size > vocab_rows:
        raise T5FormatError(f"tokenizer {tokenizer_source} has {tokenizer_size} tokens but encoder {encoder_source} "
                            f"has an embedding table of {vocab_rows} rows (shared.weight); the two do not belong "
                            "together — use the tokenizer released with this encoder")


# ----------------------------------------------------------------------------------- folders

def is_encoder_folder(folder: os.PathLike) -> bool:
    """A folder that looks like a transformers model folder (config plus weights)."""
    folder = Path(folder)
    return (folder / CONFIG_NAME).is_file() and bool(weight_files(folder, strict=False))


def has_tokenizer(folder: os.PathLike) -> bool:
    folder = Path(folder)
    return any((folder / name).is_file() for name in TOKENIZER_FILES[:2])


def weight_files(folder: os.PathLike, strict: bool = True) -> list[Path]:
    """Weight files of a transformers folder: the shards of an index, or the single file."""
    folder = Path(folder)
    for index_name in WEIGHT_INDEX_NAMES:
        index = folder / index_name
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                if not strict:
                    return []
                raise T5FormatError(f"{index} is not a readable weight index ({exc})") from exc
            shards = [folder / name for name in dict.fromkeys(weight_map.values())]
            absent = [p.name for p in shards if not p.is_file()]
            if absent and strict:
                raise T5FormatError(f"{index} lists shards that are not in {folder}: {', '.join(absent)}")
            return shards
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return [folder / name]
    if strict:
        found = ", ".join(sorted(p.name for p in folder.iterdir())) if folder.is_dir() else "(not a folder)"
        raise T5FormatError(f"{folder} holds no encoder weights: expected model.safetensors, sharded "
                            "model-*.safetensors with model.safetensors.index.json, or pytorch_model.bin; "
                            f"found {found}")
    return []


def read_folder_config(folder: os.PathLike) -> T5Spec:
    """The :class:`T5Spec` of a transformers folder, with errors naming ``config.json``."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        found = ", ".join(sorted(p.name for p in Path(folder).iterdir())) if Path(folder).is_dir() else "nothing"
        raise T5FormatError(f"{folder} is not a T5 encoder folder: it has no {CONFIG_NAME} (found {found})")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise T5FormatError(f"{path} is not readable JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise T5FormatError(f"{path} does not hold a config object")
    return spec_from_hf_config(config, str(path))
