"""Text-conditioning rules of the Qihoo-T2X reference, as plain functions (no ComfyUI, no tokenizer).

The reference (MindSpeed-MM ``QihooPipeline`` via ``MMEncoderMixin.encode_texts``) tokenises every
prompt with the T5 v1.1 tokenizer as ``tokenizer(text, padding="max_length", max_length=200,
truncation=True, add_special_tokens=True)``: the tokens of the text, then the end token ``</s>``,
cut to 200 in all (199 text tokens + ``</s>`` when the text is longer), then pad tokens up to 200
with an attention mask of 1 for real tokens and 0 for padding. The T5 encoder runs with that mask
and PT-DiT's text cross-attention masks the padding again. An empty prompt (the default negative)
is therefore ``</s>`` followed by 199 masked pad tokens.

Because padding is masked both in the encoder and in the cross-attention, the states of the real
tokens — and the model output — do not depend on how much padding follows them. This module states
the rules once so that the ComfyUI adapters and the tests share them:

* :func:`truncate_with_end` — the 200-token cut of an end-terminated token list;
* :func:`reference_layout` — the reference's padded ids and mask for a tokenised text;
* :func:`pad_text_conditioning` — what the model side does with any conditioning: a 0/1 mask,
  padding to 200 with masked zeros (so conditionings batch together as in the reference) and
  removal of surplus masked padding.
"""
from __future__ import annotations

from typing import Optional, Sequence, TypeVar

import torch

MAX_TOKENS = 200  # model_max_length of the released Qihoo-T2X text path
T5_PAD_ID = 0
T5_EOS_ID = 1

T = TypeVar("T")


def truncate_with_end(tokens: Sequence[T], max_tokens: int = MAX_TOKENS) -> list[T]:
    """Cut an end-terminated token sequence to ``max_tokens`` the way the reference tokenizer does.

    ``tokens`` must end with the end token (any item type: ids, ``(id, weight)`` pairs...). Up to
    ``max_tokens`` items it is returned unchanged; beyond that the first ``max_tokens - 1`` items
    are kept and the end token is appended, so the result is exactly ``max_tokens`` long.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1 (room for the end token), got {max_tokens}")
    tokens = list(tokens)
    if not tokens:
        raise ValueError("a tokenised prompt always holds at least the end token; got an empty list")
    if len(tokens) <= max_tokens:
        return tokens
    return tokens[: max_tokens - 1] + tokens[-1:]


def reference_layout(text_ids: Sequence[int], max_tokens: int = MAX_TOKENS, eos_id: int = T5_EOS_ID,
                     pad_id: int = T5_PAD_ID) -> tuple[list[int], list[int]]:
    """The reference's ``(input_ids, attention_mask)`` for the ids of a text *without* special tokens.

    ``input_ids`` = text ids cut to ``max_tokens - 1``, then ``eos_id``, then ``pad_id`` up to
    ``max_tokens``; the mask is 1 on the text ids and the end token, 0 on padding.
    """
    ids = truncate_with_end([*text_ids, eos_id], max_tokens)
    real = len(ids)
    return ids + [pad_id] * (max_tokens - real), [1] * real + [0] * (max_tokens - real)


def real_token_count(mask: torch.Tensor) -> list[int]:
    """Number of kept tokens per batch row of a (B, L) 0/1 mask."""
    return [int(n) for n in (mask != 0).sum(dim=1).tolist()]


def pad_text_conditioning(context: torch.Tensor, mask: Optional[torch.Tensor] = None,
                          length: int = MAX_TOKENS) -> tuple[torch.Tensor, torch.Tensor]:
    """Bring text states into the reference's layout: ``(context (B, L', D), mask (B, L') long)``.

    * ``mask`` (1 = keep) defaults to all ones. A mask shorter than the context is extended with
      ones: conditioning concatenated after the masked prompt (ComfyUI's ConditioningConcat keeps
      the first prompt's mask) consists of real tokens. Flattened ``(1, B·L)`` masks, as ComfyUI's
      text encoders return them, are reshaped to ``(B, L)``.
    * Trailing positions masked in every row are dropped, but never below ``length``.
    * Sequences shorter than ``length`` are padded with zeros that the mask excludes.

    Masked positions never reach the output of a masked cross-attention, so this changes nothing
    but the shapes; equal shapes let a positive and a negative prompt run in one batch as they do
    in the reference. Longer sequences are kept whole (the caller decides whether to warn).
    """
    if context.ndim != 3:
        raise ValueError(f"text conditioning must be (B, L, D), got shape {tuple(context.shape)}")
    b, n, _ = context.shape
    if mask is None:
        mask = torch.ones(b, n, dtype=torch.long, device=context.device)
    else:
        mask = mask.to(device=context.device)
        if mask.ndim == 1:
            mask = mask[None]
        if mask.ndim != 2:
            raise ValueError(f"text attention mask must be (B, L), got shape {tuple(mask.shape)}")
        if mask.shape[0] != b and mask.numel() == context.shape[0] * n:
            mask = mask.reshape(b, n)
        if mask.shape[0] != b or mask.shape[1] > n:
            raise ValueError(f"text attention mask of shape {tuple(mask.shape)} does not fit text states of shape "
                             f"{tuple(context.shape)}")
        mask = (mask != 0).long()
        if mask.shape[1] < n:
            mask = torch.cat([mask, mask.new_ones(b, n - mask.shape[1])], dim=1)
    kept = mask.any(dim=0).nonzero()
    last = int(kept[-1]) + 1 if kept.numel() else 0
    target = max(length, last)
    if target < n:
        context, mask = context[:, :target], mask[:, :target]
    elif target > n:
        context = torch.cat([context, context.new_zeros(b, target - n, context.shape[2])], dim=1)
        mask = torch.cat([mask, mask.new_zeros(b, target - n)], dim=1)
    return context, mask
