"""Text-conditioning rules: the reference's prompt cleaning (ptdit.text.captions) on a table of prompts,
the 200-token cut, the reference layout (ptdit.text.tokens), and mask invariance of the model when padding
is added, removed or filled with garbage."""
from __future__ import annotations

import pytest
import torch

from ptdit.text.captions import clean_prompt, html_text
from ptdit.text.tokens import (MAX_TOKENS, T5_EOS_ID, T5_PAD_ID, pad_text_conditioning, real_token_count,
                        reference_layout, truncate_with_end)
from scripts.demo import data as demo_data
from tests.unit.tiny import tiny_inputs, tiny_model

torch.set_grad_enabled(False)

CLEANING = [  # (prompt, what the reference pipeline hands the tokenizer)
    ("A Red Fox, jumping over a FROZEN lake!", "a red fox, jumping over a frozen lake!"),
    ("see https://example.com/x?y=1 now", "see now"),
    ("visit www.shop.org today", "visit today"),
    ("photos from example.com/cats", "photos from"),
    ("<p>a <b>bold</b> cat</p>", "a bold cat"),
    ("x < y", "x < y"),
    ("@user42 a dog", "a dog"),
    ("a dog (on grass) [hd] {4k} | * ~", "a dog on grass hd 4k"),
    ("photo \u2014 dusk \u2013 \u201cquoted\u201d", 'photo - dusk - "quoted"'),
    ("wow... great", "wow great"),
    ("a   b\n\nc\td", "a b c d"),
    ('"a lighthouse"', "a lighthouse"),
    ("- start and end,", "start and end"),
    ("img_2024_05_01_final.png of a cat", "of a cat"),
    ("a-b-c-d-e", "a b c d e"),
    ("a well-known dog", "a well-known dog"),
    ("free shipping on a red hat", "on a red hat"),
    ("size 1920x1080 wallpaper", "size wallpaper"),
    ("size 1920\u04451080 and 640\u00d7480", "size and"),  # Cyrillic ha and the multiplication sign
    ("red,blue", "red, blue"),
    ("pi is 3.14", "pi is 3.14"),
    ("a+b%20c", "a b c"),
    ("fish &amp; chips", "fish chips"),
    ("cat \u5c71 dog", "cat dog"),
    ("#1 best cat #123456 12345678", "best cat"),
    ("ip 192.168.0.1 here", "ip here"),
    ("a jc6640 code", "a code"),
    ("page 3 of the book", "of the book"),
    ("click for more cats", "cats"),
    ("<person> on a beach", "person on a beach"),
    ("", ""),
    ("   ", ""),
]


@pytest.mark.parametrize("prompt, expected", CLEANING, ids=[f"cleaning{i}" for i in range(len(CLEANING))])
def test_prompt_cleaning_table(prompt, expected):
    assert clean_prompt(prompt) == expected


@pytest.mark.parametrize("prompt, _", CLEANING, ids=[f"idempotent{i}" for i in range(len(CLEANING))])
def test_cleaning_a_cleaned_prompt_changes_nothing(prompt, _):
    once = clean_prompt(prompt)
    assert clean_prompt(once) == once


def test_demo_training_prompts_are_left_unchanged():
    """The demo models were trained on plain lower-case prompts: cleaning must not alter any of them."""
    prompts = ([demo_data.t2i_prompt(label) for label in demo_data.t2i_labels()]
               + [demo_data.t2v_prompt(label) for label in demo_data.t2v_labels()]
               + [demo_data.t2mv_prompt(label) for label in demo_data.t2mv_labels()])
    assert len(prompts) > 144
    assert [p for p in prompts if clean_prompt(p) != p] == []


def test_html_is_read_with_the_standard_parser():
    assert html_text("<div class='x'>fish &amp; <i>chips</i></div><br/>") == "fish & chips"



def test_short_sequences_are_not_cut():
    tokens = [5, 6, 7, T5_EOS_ID]
    assert truncate_with_end(tokens) == tokens
    exact = list(range(2, 2 + MAX_TOKENS - 1)) + [T5_EOS_ID]
    assert truncate_with_end(exact) == exact


def test_long_sequences_keep_199_tokens_and_the_end_token():
    tokens = list(range(2, 352)) + [T5_EOS_ID]  # 350 text tokens
    cut = truncate_with_end(tokens)
    assert len(cut) == MAX_TOKENS
    assert cut[:-1] == list(range(2, 2 + MAX_TOKENS - 1))
    assert cut[-1] == T5_EOS_ID


def test_cut_keeps_weighted_items_whole():
    tokens = [(t, 1.2, 1) for t in range(10, 310)] + [(T5_EOS_ID, 1.0, 0)]
    cut = truncate_with_end(tokens, 5)
    assert cut == [(10, 1.2, 1), (11, 1.2, 1), (12, 1.2, 1), (13, 1.2, 1), (T5_EOS_ID, 1.0, 0)]


@pytest.mark.parametrize("tokens, max_tokens", [([], 200), ([1], 0)])
def test_cut_rejects_impossible_requests(tokens, max_tokens):
    with pytest.raises(ValueError):
        truncate_with_end(tokens, max_tokens)


def test_reference_layout_pads_and_masks():
    ids, mask = reference_layout([9, 8, 7], max_tokens=6)
    assert ids == [9, 8, 7, T5_EOS_ID, T5_PAD_ID, T5_PAD_ID]
    assert mask == [1, 1, 1, 1, 0, 0]
    empty_ids, empty_mask = reference_layout([])
    assert empty_ids == [T5_EOS_ID] + [T5_PAD_ID] * (MAX_TOKENS - 1)
    assert empty_mask == [1] + [0] * (MAX_TOKENS - 1)
    long_ids, long_mask = reference_layout(list(range(2, 400)))
    assert len(long_ids) == MAX_TOKENS and long_ids[-1] == T5_EOS_ID and sum(long_mask) == MAX_TOKENS


def test_padding_to_the_reference_length():
    ctx = torch.randn(1, 8, 24)
    padded, mask = pad_text_conditioning(ctx)
    assert padded.shape == (1, MAX_TOKENS, 24) and mask.shape == (1, MAX_TOKENS) and mask.dtype == torch.long
    assert torch.equal(padded[:, :8], ctx) and not padded[:, 8:].any()
    assert real_token_count(mask) == [8] and mask[0, :8].all()


def test_surplus_masked_padding_is_dropped_but_real_tokens_are_kept():
    ctx = torch.randn(2, 256, 24)  # e.g. Mochi's T5: padded to 256 with a mask
    mask = torch.zeros(2, 256, dtype=torch.long)
    mask[0, :12] = 1
    mask[1, :3] = 1
    out, out_mask = pad_text_conditioning(ctx, mask)
    assert out.shape[1] == MAX_TOKENS and torch.equal(out, ctx[:, :MAX_TOKENS])
    assert real_token_count(out_mask) == [12, 3]
    long = torch.randn(1, 300, 24)  # over-long prompt without mask: kept whole
    out, out_mask = pad_text_conditioning(long)
    assert out.shape[1] == 300 and real_token_count(out_mask) == [300]


def test_short_masks_are_extended_with_real_tokens():
    """ConditioningConcat appends tokens but keeps the first prompt's (shorter) mask."""
    ctx = torch.randn(1, 10, 24)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0]])
    _, out_mask = pad_text_conditioning(ctx, mask)
    assert out_mask[0, :10].tolist() == [1, 1, 1, 0, 0, 0, 1, 1, 1, 1]


def test_flattened_and_float_masks_are_accepted():
    ctx = torch.randn(2, 4, 24)
    _, out_mask = pad_text_conditioning(ctx, torch.tensor([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]))
    assert real_token_count(out_mask) == [2, 1]


@pytest.mark.parametrize("ctx, mask", [
    (torch.randn(8, 24), None),
    (torch.randn(1, 4, 24), torch.ones(1, 5)),
    (torch.randn(2, 4, 24), torch.ones(3, 4)),
])
def test_malformed_conditioning_is_rejected(ctx, mask):
    with pytest.raises(ValueError):
        pad_text_conditioning(ctx, mask)


@pytest.mark.parametrize("extra", [1, 7, 193])
def test_model_output_does_not_depend_on_padding_length_or_content(extra):
    """Mask invariance: adding any number of masked positions, filled with large garbage, leaves the
    output as it is without them; the same text unmasked changes it (the test can fail)."""
    model = tiny_model()
    x, t, ctx, _ = tiny_inputs(batch=1, text_len=9)
    plain = model(x, t, ctx, None)
    garbage = torch.randn(1, extra, ctx.shape[2], generator=torch.Generator().manual_seed(extra)) * 1e3
    longer = torch.cat([ctx, garbage], dim=1)
    mask = torch.cat([torch.ones(1, 9), torch.zeros(1, extra)], dim=1)
    torch.testing.assert_close(model(x, t, longer, mask), plain, atol=1e-5, rtol=0)
    assert (model(x, t, longer, None) - plain).abs().max() > 1e-2


def test_padded_batch_equals_separate_unpadded_prompts():
    """A positive and a negative of different lengths, padded to 200 and run as one batch (as ComfyUI
    does once the shapes agree), give what each gives alone without padding."""
    model = tiny_model()
    x, t, _, _ = tiny_inputs(batch=2)
    g = torch.Generator().manual_seed(3)
    pos, neg = torch.randn(1, 17, 24, generator=g), torch.randn(1, 1, 24, generator=g)
    (pos_p, pos_m), (neg_p, neg_m) = pad_text_conditioning(pos), pad_text_conditioning(neg)
    batched = model(x, t, torch.cat([pos_p, neg_p]), torch.cat([pos_m, neg_m]))
    torch.testing.assert_close(batched[:1], model(x[:1], t[:1], pos, None), atol=1e-5, rtol=0)
    torch.testing.assert_close(batched[1:], model(x[1:], t[1:], neg, None), atol=1e-5, rtol=0)
