"""T5 text conditioning, checked against the reference text path with a tiny random T5.

The *reference* here is what MindSpeed-MM's Qihoo pipeline does, rebuilt from transformers alone:
the prompt cleaned (``ptdit.text.captions``, tested on its own in tests/unit/test_text_rules.py), then
``tokenizer(text, padding="max_length", max_length=200, truncation=True)``, ``T5EncoderModel`` in
fp32 (loaded from fp16 files, like the released encoder) with the attention mask, and PT-DiT fed
the 200 states with that mask. The prompts compared with the stock paths (which do not clean) are
ones that cleaning leaves as they are. Three ComfyUI paths are compared with it, all through ComfyUI's own
classes and the PT-DiT MODEL's ``extra_conds`` + ``apply_model``:

* **native** — ComfyUI's stock text-encoder loading (``comfy.sd.load_text_encoder_state_dicts``,
  what CLIPLoader calls) for the types pixart / sd3 / mochi, with the encoder size passed through
  ``model_options["t5xxl_model_config"]`` (ComfyUI's own per-encoder config override) and
  detection pointed at T5-XXL (it keys on 24 blocks of width 4096, which a tiny model cannot have);
* **native + PT-DiT T5 Text Rules** — the same CLIP after our CLIP->CLIP node;
* **loader** — the PT-DiT T5 Loader on the transformers folder.

Prompts are encoded with ComfyUI's CLIPTextEncode node class.
"""
from __future__ import annotations

import copy
import json
import logging
import shutil
from types import SimpleNamespace

import pytest
import torch
import transformers
from safetensors.torch import save_file

from ptdit import PTDiT, PTDiTConfig
from ptdit.text.captions import clean_prompt
from ptdit.text.tokens import MAX_TOKENS

torch.set_grad_enabled(False)

WIDTH = 32
T5_SIZE = dict(d_model=WIDTH, d_kv=8, d_ff=48, num_layers=2, num_heads=4)  # vocabulary: T5 v1.1's 32128
SHORT = "a red fox jumping over a frozen lake, photorealistic"
EMPTY = ""
LONG = " ".join(f"word{i}" for i in range(160))  # 324 T5 tokens
UNTIDY = "Line one.\nLine two — with [brackets], digits 1024 & CAPS! https://example.com/x"
STATE_TOL = dict(atol=2e-5, rtol=1e-5)   # fp32 encoders: transformers vs ComfyUI T5 code
OUTPUT_TOL = dict(atol=2e-5, rtol=1e-5)  # the PT-DiT output (denoised latent) built on those states


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def te(comfy_inproc):
    return comfy_inproc.pack("nodes.text_encoders")


@pytest.fixture(scope="session")
def t5(tmp_path_factory, te):
    """A tiny random T5 v1.1 encoder saved in fp16 as a transformers folder, the tokenizer beside it
    (ComfyUI's bundled T5 v1.1 tokenizer files), and the reference encoder read back in fp32."""
    root = tmp_path_factory.mktemp("t5")
    config = transformers.T5Config(vocab_size=32128, feed_forward_proj="gated-gelu", dropout_rate=0.0, **T5_SIZE)
    torch.manual_seed(0)
    transformers.T5EncoderModel(config).half().save_pretrained(root / "text_encoder")
    shutil.copytree(te.COMFY_T5_TOKENIZER, root / "tokenizer")
    reference = transformers.T5EncoderModel.from_pretrained(root / "text_encoder", dtype=torch.float32).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(root / "tokenizer")
    return SimpleNamespace(root=root, encoder=root / "text_encoder", tokenizer_dir=root / "tokenizer",
                           reference=reference, tokenizer=tokenizer)


def reference_tokens(t5, text, clean=True):
    text = clean_prompt(text) if clean else text
    enc = t5.tokenizer([text], padding="max_length", max_length=MAX_TOKENS, truncation=True,
                       return_attention_mask=True, add_special_tokens=True, return_tensors="pt")
    return enc.input_ids, enc.attention_mask


def reference_conditioning(t5, text):
    ids, mask = reference_tokens(t5, text)
    states = t5.reference(ids, attention_mask=mask).last_hidden_state
    return [[states, {"attention_mask": mask}]]


@pytest.fixture(scope="session")
def stock_clip(comfy_inproc, t5):
    """``stock_clip(type)``: the CLIP that CLIPLoader(type) builds, at the tiny size."""
    import comfy.sd
    import comfy.utils

    cache = {}

    def build(clip_type):
        if clip_type not in cache:
            sd = comfy.utils.load_torch_file(str(t5.encoder / "model.safetensors"), safe_load=True)
            detect = comfy.sd.detect_te_model
            comfy.sd.detect_te_model = lambda _sd: comfy.sd.TEModel.T5_XXL
            try:
                cache[clip_type] = comfy.sd.load_text_encoder_state_dicts(
                    [sd], clip_type=getattr(comfy.sd.CLIPType, clip_type.upper()),
                    model_options={"t5xxl_model_config": dict(T5_SIZE)})
            finally:
                comfy.sd.detect_te_model = detect
        return cache[clip_type]

    return build


@pytest.fixture(scope="session")
def loader_clip(te, t5):
    return te.load_t5_text_encoder(str(t5.encoder), str(t5.tokenizer_dir), offload_when_idle=False)


@pytest.fixture(scope="session")
def ptdit_model(comfy_inproc, tmp_path_factory):
    """A tiny PT-DiT MODEL (caption width = the T5 width) loaded by the pack's loader."""
    config = PTDiTConfig(num_heads=2, head_dim=16, num_layers=1, caption_channels=WIDTH, compress_ratios=(1, 2, 2),
                         proxy_ratios=(1, 2, 2), sample_size=16)
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("ptdit") / "tiny_ptdit.safetensors"
    save_file(PTDiT(config).state_dict(), str(path), metadata={"ptdit_config": json.dumps(config.to_dict())})
    return comfy_inproc.pack("nodes.model_loader").load_ptdit_model(str(path))


@pytest.fixture(scope="session")
def encode(comfy_inproc):
    node = comfy_inproc.nodes.CLIPTextEncode()
    return lambda clip, text: node.encode(clip, text)[0]


def denoised(model, conditioning, seed=0):
    """What the sampler gets from the model for one conditioning entry (extra_conds -> apply_model)."""
    cond, extra = conditioning[0]
    conds = model.model.extra_conds(cross_attn=cond, **extra)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 4, 16, 16, generator=g)
    return model.model.apply_model(x, torch.tensor([0.7]), **{k: v.cond for k, v in conds.items()})


def tokens_of(clip, text):
    return [t for t, _w in clip.tokenize(text)["t5xxl"][0]]


def real_ids(t5, text, clean=True):
    ids, mask = reference_tokens(t5, text, clean)
    return ids[0, : int(mask.sum())].tolist()


# ------------------------------------------------------------------------------ tokens

def test_the_test_prompts_are_clean():
    """The prompts compared with the stock paths need no cleaning; UNTIDY does."""
    assert [clean_prompt(p) for p in (SHORT, EMPTY, LONG)] == [SHORT, EMPTY, LONG]
    assert clean_prompt(UNTIDY) == "line one. line two - with brackets , digits 1024 caps!"


@pytest.mark.parametrize("text", [SHORT, EMPTY, LONG, UNTIDY])
def test_loader_tokens_are_the_reference_tokens(loader_clip, t5, text):
    assert tokens_of(loader_clip, text) == real_ids(t5, text)


def test_cleaning_can_be_switched_off(te, t5, stock_clip, comfy_inproc):
    """clean_prompts=False on the loader and on the Text Rules node: the text is tokenised as typed."""
    plain = te.load_t5_text_encoder(str(t5.encoder), str(t5.tokenizer_dir), clean_prompts=False,
                                    offload_when_idle=False)
    assert tokens_of(plain, UNTIDY) == real_ids(t5, UNTIDY, clean=False) != real_ids(t5, UNTIDY)
    rules = te.PTDiTT5TextRules.execute(stock_clip("pixart"), clean_prompts=False).args[0]
    assert tokens_of(rules, UNTIDY) == real_ids(t5, UNTIDY, clean=False)
    # Applied again, the node replaces its earlier rules; without the input (older workflows) it cleans.
    again = te.PTDiTT5TextRules.execute(rules).args[0]
    assert tokens_of(again, UNTIDY) == real_ids(t5, UNTIDY)
    assert tokens_of(te.with_reference_rules(plain), UNTIDY) == real_ids(t5, UNTIDY)


def test_cleaning_keeps_prompt_weights(loader_clip, t5):
    """Cleaning runs on the text inside ``(...:w)``, after ComfyUI has parsed the weights."""
    weighted = loader_clip.tokenize("A Fox (ON ICE:1.3), Dusk")["t5xxl"][0]
    plain_ids = [t5.tokenizer(part)["input_ids"][:-1] for part in ("a fox", "on ice", "dusk")]
    assert [t for t, _w in weighted] == [*plain_ids[0], *plain_ids[1], *plain_ids[2], 1]
    assert [w for _t, w in weighted] == [1.0] * len(plain_ids[0]) + [1.3] * len(plain_ids[1]) + \
        [1.0] * (len(plain_ids[2]) + 1)


@pytest.mark.parametrize("path", ["loader", "text_rules"])
def test_cut_prompts_are_warned_about_once(te, loader_clip, stock_clip, t5, caplog, path):
    clip = loader_clip if path == "loader" else te.with_reference_rules(stock_clip("pixart"))
    prompt = LONG + f" {path}"  # a prompt this tokenizer has not cut before
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            assert len(tokens_of(clip, prompt)) == MAX_TOKENS
        assert len(tokens_of(clip, SHORT)) < MAX_TOKENS
    cut = [r.getMessage() for r in caplog.records if "prompt cut to 200 T5 tokens" in r.getMessage()]
    assert len(cut) == 1, caplog.text
    assert f"(it has {len(t5.tokenizer(prompt)['input_ids'])})" in cut[0] and "word0 word1" in cut[0]


def test_reference_truncates_long_prompts_to_199_tokens_and_the_end_token(t5, te):
    """What the loader / Text Rules reproduce (checked above): the reference cut itself."""
    untruncated = t5.tokenizer(LONG)["input_ids"]
    assert len(untruncated) > MAX_TOKENS + 50
    ids = real_ids(t5, LONG)
    assert len(ids) == MAX_TOKENS and ids[:-1] == untruncated[: MAX_TOKENS - 1] and ids[-1] == 1
    assert real_ids(t5, EMPTY) == [1]


def test_stock_pixart_tokenizer_does_not_truncate(stock_clip, t5):
    """Core fact the Text Rules node exists for: CLIPLoader(pixart) keeps every token of a long prompt."""
    stock = tokens_of(stock_clip("pixart"), LONG)
    assert stock == t5.tokenizer(LONG)["input_ids"] and len(stock) > MAX_TOKENS


# ------------------------------------------------------------------------------ states and model output

@pytest.mark.parametrize("text", [SHORT, EMPTY])
def test_native_pixart_matches_the_reference_for_prompts_within_200_tokens(stock_clip, encode, ptdit_model, t5,
                                                                           text):
    """CLIPLoader(pixart) + CLIPTextEncode: no padding and no mask — the reference's real-token states.
    The empty prompt is [</s>], i.e. the reference's </s> + masked padding."""
    native = encode(stock_clip("pixart"), text)
    reference = reference_conditioning(t5, text)
    n = int(reference[0][1]["attention_mask"].sum())
    assert native[0][0].shape == (1, n, WIDTH) and "attention_mask" not in native[0][1]
    torch.testing.assert_close(native[0][0], reference[0][0][:, :n], **STATE_TOL)
    torch.testing.assert_close(denoised(ptdit_model, native), denoised(ptdit_model, reference), **OUTPUT_TOL)


@pytest.mark.parametrize("text", [SHORT, EMPTY, LONG])
def test_loader_matches_the_reference(loader_clip, encode, ptdit_model, t5, text):
    ours = encode(loader_clip, text)
    reference = reference_conditioning(t5, text)
    n = int(reference[0][1]["attention_mask"].sum())
    assert ours[0][0].shape == (1, n, WIDTH)
    torch.testing.assert_close(ours[0][0], reference[0][0][:, :n], **STATE_TOL)
    torch.testing.assert_close(denoised(ptdit_model, ours), denoised(ptdit_model, reference), **OUTPUT_TOL)


@pytest.mark.parametrize("text", [SHORT, EMPTY, LONG])
def test_loader_and_native_with_text_rules_give_identical_conditioning(stock_clip, loader_clip, te, encode,
                                                                      ptdit_model, text):
    """Same weights, same prompt: the loader and CLIPLoader(pixart) + PT-DiT T5 Text Rules agree."""
    native = encode(te.with_reference_rules(stock_clip("pixart")), text)
    ours = encode(loader_clip, text)
    assert native[0][0].shape == ours[0][0].shape
    torch.testing.assert_close(ours[0][0], native[0][0], atol=1e-6, rtol=0)
    torch.testing.assert_close(denoised(ptdit_model, ours), denoised(ptdit_model, native), atol=1e-6, rtol=0)


def test_long_prompt_needs_text_rules_on_the_stock_path(stock_clip, te, encode, ptdit_model, t5, caplog):
    """Without the node the stock path encodes all 324 tokens (and the model warns); with it, the
    conditioning is the reference's 200-token one."""
    reference = denoised(ptdit_model, reference_conditioning(t5, LONG))
    raw = encode(stock_clip("pixart"), LONG)
    assert raw[0][0].shape[1] > MAX_TOKENS
    with caplog.at_level(logging.WARNING):
        assert (denoised(ptdit_model, raw) - reference).abs().max() > 1e-3
    assert f"a prompt has {raw[0][0].shape[1]} T5 tokens; the reference cuts prompts to 200" in caplog.text
    caplog.clear()
    ruled = encode(te.with_reference_rules(stock_clip("pixart")), LONG)
    assert ruled[0][0].shape[1] == MAX_TOKENS
    with caplog.at_level(logging.WARNING):
        torch.testing.assert_close(denoised(ptdit_model, ruled), reference, **OUTPUT_TOL)
    assert "a prompt has" not in caplog.text  # the model gets 200 tokens; the cut itself was warned about


@pytest.mark.parametrize("text", [SHORT, EMPTY])
def test_sd3_type_pads_without_mask_and_text_rules_fix_it(stock_clip, te, encode, ptdit_model, t5, text):
    """CLIPLoader(sd3) pads T5 to 77 tokens that the encoder attends to (no mask): the states differ
    from the reference. Behind the Text Rules node the SD3 encoder sees only the real tokens."""
    reference = denoised(ptdit_model, reference_conditioning(t5, text))
    raw = encode(stock_clip("sd3"), text)
    assert raw[0][0].shape[1] == 77 and "attention_mask" not in raw[0][1]
    assert (denoised(ptdit_model, raw) - reference).abs().max() > 1e-3
    ruled = encode(te.with_reference_rules(stock_clip("sd3")), text)
    torch.testing.assert_close(denoised(ptdit_model, ruled), reference, **OUTPUT_TOL)


@pytest.mark.parametrize("text", [SHORT, EMPTY])
def test_mochi_type_mask_travels_through_conditioning(stock_clip, encode, ptdit_model, t5, text):
    """CLIPLoader(mochi) pads to 256 with an attention mask in the conditioning dict: the model reads
    it (extra_conds) and matches the reference."""
    raw = encode(stock_clip("mochi"), text)
    assert raw[0][0].shape[1] == 256 and raw[0][1]["attention_mask"].shape == (1, 256)
    torch.testing.assert_close(denoised(ptdit_model, raw), denoised(ptdit_model, reference_conditioning(t5, text)),
                               **OUTPUT_TOL)


def test_weighted_prompt_baseline_is_the_reference_empty_prompt(loader_clip, encode, t5):
    """``(word:0)`` replaces a token's state by the weighting baseline at that position; with the
    loader that baseline is the reference's empty prompt (</s> + masked padding) at every position."""
    text = "on ice (a fox:0) jumps"
    weights = [w for _t, w in loader_clip.tokenize(text)["t5xxl"][0]]
    zero = [i for i, w in enumerate(weights) if w == 0]
    assert zero and zero[0] > 0  # the baseline is checked beyond position 0 (masked padding there)
    cond = encode(loader_clip, text)[0][0]
    empty = reference_conditioning(t5, EMPTY)[0][0]
    torch.testing.assert_close(cond[:, zero], empty[:, zero], **STATE_TOL)
    kept = [i for i, w in enumerate(weights) if w == 1]
    assert (cond[:, kept] - empty[:, kept]).abs().amax(dim=-1).min() > 1e-3  # weight-1 tokens are untouched


# ------------------------------------------------------------------------------ model side

def test_extra_conds_pads_to_200_with_a_mask_so_positive_and_negative_batch(ptdit_model, loader_clip, encode):
    pos, neg = encode(loader_clip, SHORT), encode(loader_clip, EMPTY)
    conds = [ptdit_model.model.extra_conds(cross_attn=c[0][0], **c[0][1]) for c in (pos, neg)]
    for c, n in zip(conds, (pos[0][0].shape[1], 1)):
        assert c["c_crossattn"].cond.shape == (1, MAX_TOKENS, WIDTH)
        assert c["attention_mask"].cond[0].tolist() == [1] * n + [0] * (MAX_TOKENS - n)
    assert conds[0]["c_crossattn"].can_concat(conds[1]["c_crossattn"])


def test_extra_padding_in_conditioning_does_not_change_the_output(ptdit_model, loader_clip, encode):
    """Mask invariance through ComfyUI: the same prompt with 0, 50 or 250 extra masked positions full
    of garbage gives the same denoised latent."""
    cond, extra = encode(loader_clip, SHORT)[0]
    n = cond.shape[1]
    base = denoised(ptdit_model, [[cond, extra]])
    for pad in (50, 250):
        garbage = torch.randn(1, pad, WIDTH, generator=torch.Generator().manual_seed(pad)) * 100
        mask = torch.cat([torch.ones(1, n, dtype=torch.long), torch.zeros(1, pad, dtype=torch.long)], dim=1)
        padded = [[torch.cat([cond, garbage], dim=1), {**extra, "attention_mask": mask}]]
        torch.testing.assert_close(denoised(ptdit_model, padded), base, atol=1e-6, rtol=0)
    assert (denoised(ptdit_model, encode(loader_clip, EMPTY)) - base).abs().max() > 1e-3  # prompts matter


def test_encoder_width_must_match_the_model(ptdit_model, te, tmp_path):
    cond = [[torch.zeros(1, 5, 48), {"ptdit_text_encoder": "wide_t5/ (T5 v1.1 encoder, width 48)"}]]
    with pytest.raises(ValueError, match=r"tiny_ptdit.safetensors expects T5 text states of shape \(1, tokens, 32\)"
                                         r".*wide_t5/ \(T5 v1.1 encoder, width 48\) produced \(1, 5, 48\)"):
        denoised(ptdit_model, cond)


# ------------------------------------------------------------------------------ loader options

def test_fp16_weights_do_not_overflow(te, t5, tmp_path):
    """Weights scaled so that the residual stream exceeds the fp16 range (as T5-XXL's does in fp16):
    stored in fp16, our encoder still matches the fp32 reference, because ComfyUI's T5 computes in
    fp32."""
    model = transformers.T5EncoderModel.from_pretrained(t5.encoder, dtype=torch.float32)
    for block in model.encoder.block:
        block.layer[1].DenseReluDense.wo.weight.mul_(6e4)  # still representable in fp16
    folder = tmp_path / "hot_t5"
    model.half().save_pretrained(folder)
    reference = transformers.T5EncoderModel.from_pretrained(folder, dtype=torch.float32).eval()
    ids, mask = reference_tokens(t5, SHORT)
    out = reference(ids, attention_mask=mask, output_hidden_states=True)
    assert out.hidden_states[-2].abs().max() > torch.finfo(torch.float16).max  # the test really overflows fp16
    clip = te.load_t5_text_encoder(str(folder), str(t5.tokenizer_dir), dtype="fp16", offload_when_idle=False)
    assert clip.cond_stage_model.t5xxl.transformer.shared.weight.dtype == torch.float16
    cond = clip.encode_from_tokens(clip.tokenize(SHORT))
    n = int(mask.sum())
    assert torch.isfinite(cond).all()
    torch.testing.assert_close(cond, out.last_hidden_state[:, :n], **STATE_TOL)


@pytest.mark.parametrize("offload", [True, False])
def test_offload_when_idle_releases_the_encoder_after_encoding(te, t5, ptdit_model, offload):
    """Only the encoder is released: a MODEL loaded alongside stays loaded."""
    import comfy.model_management as mm

    mm.load_models_gpu([ptdit_model])
    clip = te.load_t5_text_encoder(str(t5.encoder), None, offload_when_idle=offload)
    clip.encode_from_tokens(clip.tokenize(SHORT))
    loaded = mm.loaded_models()
    assert (clip.patcher in loaded) is not offload and ptdit_model in loaded
    # Leave the process as we found it (and check the release on its own).
    assert te.offload_encoder(clip.cond_stage_model) == (0 if offload else 1)
    assert clip.patcher not in mm.loaded_models() and ptdit_model in mm.loaded_models()
    mm.unload_all_models()


@pytest.mark.parametrize("dtype, stored", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_dtype_option_sets_the_weight_storage(te, t5, dtype, stored):
    clip = te.load_t5_text_encoder(str(t5.encoder), None, dtype=dtype, device="cpu", offload_when_idle=False)
    assert clip.cond_stage_model.t5xxl.transformer.shared.weight.dtype == stored
    assert clip.patcher.load_device == torch.device("cpu")


def test_single_file_with_the_builtin_tokenizer(te, t5, loader_clip, encode):
    """One safetensors file (t5xxl_fp16.safetensors style): size from shapes, ComfyUI's tokenizer."""
    clip = te.load_t5_text_encoder(str(t5.encoder / "model.safetensors"), None, offload_when_idle=False)
    torch.testing.assert_close(encode(clip, SHORT)[0][0], encode(loader_clip, SHORT)[0][0], atol=0, rtol=0)


def test_sharded_folder_with_its_own_tokenizer(te, t5, loader_clip, encode, tmp_path):
    """transformers' sharded layout (index + shards), tokenizer files inside the folder (``auto``)."""
    folder = tmp_path / "sharded_t5"
    copy.deepcopy(t5.reference).half().save_pretrained(folder, max_shard_size="400KB")
    assert (folder / "model.safetensors.index.json").is_file() and len(list(folder.glob("model-*"))) > 1
    t5.tokenizer.save_pretrained(folder)
    assert te.resolve_tokenizer(te.AUTO_TOKENIZER, str(folder)) == str(folder)
    clip = te.load_t5_text_encoder(str(folder), str(folder), offload_when_idle=False)
    torch.testing.assert_close(encode(clip, SHORT)[0][0], encode(loader_clip, SHORT)[0][0], atol=0, rtol=0)


def test_scaled_fp8_single_file(te, t5, tmp_path):
    """ComfyUI's scaled-fp8 T5 layout (t5xxl_fp8_e4m3fn_scaled.safetensors): fp8 linear weights with a
    per-weight scale. The loader reads it like the stock loader does and computes with the dequantised
    weights (checked against transformers fed the same dequantised weights)."""
    import comfy.utils

    sd = comfy.utils.load_torch_file(str(t5.encoder / "model.safetensors"), safe_load=True)
    quantised, dequantised = {"scaled_fp8": torch.empty(0, dtype=torch.float8_e4m3fn)}, {}
    for k, v in sd.items():
        if k.endswith((".q.weight", ".k.weight", ".v.weight", ".o.weight", ".wi_0.weight", ".wi_1.weight",
                       ".wo.weight")):
            scale = v.float().abs().max() / 448.0
            quantised[k] = (v.float() / scale).to(torch.float8_e4m3fn)
            quantised[k[: -len("weight")] + "scale_weight"] = scale.reshape(())
            dequantised[k] = quantised[k].float() * scale
        else:
            quantised[k] = v
            dequantised[k] = v.float()
    path = tmp_path / "t5_tiny_fp8_e4m3fn_scaled.safetensors"
    save_file(quantised, str(path))
    reference = transformers.T5EncoderModel(t5.reference.config).eval()
    reference.load_state_dict(dequantised, strict=False)
    ids, mask = reference_tokens(t5, SHORT)
    n = int(mask.sum())
    clip = te.load_t5_text_encoder(str(path), None, offload_when_idle=False)
    stored = clip.cond_stage_model.t5xxl.transformer.encoder.block[0].layer[0].SelfAttention.q.state_dict()
    assert stored["weight"].dtype == torch.float8_e4m3fn  # also where core wraps it in a quantised tensor
    cond = clip.encode_from_tokens(clip.tokenize(SHORT))
    torch.testing.assert_close(cond, reference(ids, attention_mask=mask).last_hidden_state[:, :n], **STATE_TOL)


# ------------------------------------------------------------------------------ bad input

def test_folder_that_is_not_a_t5_encoder(te, tmp_path):
    folder = tmp_path / "clip_l"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(transformers.CLIPTextConfig().to_dict()))
    save_file({"text_model.embeddings.token_embedding.weight": torch.zeros(4, 4)}, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=r"clip_l/config.json describes a 'clip_text_model' model"):
        te.load_t5_text_encoder(str(folder), None)


def test_single_file_that_is_not_a_t5_encoder(te, tmp_path):
    path = tmp_path / "ptdit_by_mistake.safetensors"
    save_file({"pos_embed.proj.weight": torch.zeros(8, 4, 2, 2)}, str(path))
    with pytest.raises(ValueError, match=r"ptdit_by_mistake.safetensors holds no T5 encoder weights: expected "
                                         r"'shared.weight'.*found pos_embed.proj.weight"):
        te.load_t5_text_encoder(str(path), None)


def test_tokenizer_that_does_not_fit_the_vocabulary(te, tmp_path):
    config = transformers.T5Config(vocab_size=1000, feed_forward_proj="gated-gelu", **T5_SIZE)
    transformers.T5EncoderModel(config).save_pretrained(tmp_path / "small_vocab_t5")
    with pytest.raises(ValueError, match=r"tokenizer ComfyUI T5 tokenizer \(built in\) has 32100 tokens but encoder "
                                         r"small_vocab_t5 has an embedding table of 1000 rows"):
        te.load_t5_text_encoder(str(tmp_path / "small_vocab_t5"), None)


def test_text_rules_reject_a_clip_without_t5(te, comfy_inproc):
    import comfy.sd1_clip

    class ClipL:
        tokenizer = comfy.sd1_clip.SD1Tokenizer()

    with pytest.raises(ValueError, match=r"this CLIP \(SD1Tokenizer, parts: l\) has no T5-XXL tokenizer"):
        te.with_reference_rules(ClipL())
