"""Reading T5 encoder files (ptdit.text.t5_files) against what transformers itself writes."""
from __future__ import annotations

import json

import pytest
import torch
import transformers
from safetensors.torch import save_file

from ptdit.text.t5_files import (T5FormatError, T5Spec, check_tokenizer, check_weights, is_encoder_folder,
                              normalize_state_dict, read_folder_config, spec_from_hf_config, spec_from_state_dict,
                              weight_files)

torch.set_grad_enabled(False)

TINY = dict(vocab_size=320, d_model=16, d_kv=4, d_ff=24, num_layers=3, num_heads=2, dropout_rate=0.0)


def hf_encoder(**overrides):
    config = transformers.T5Config(**{**TINY, "feed_forward_proj": "gated-gelu", **overrides})
    torch.manual_seed(0)
    return transformers.T5EncoderModel(config).eval()


def test_config_of_t5_v1_1_and_of_the_original_t5():
    v11 = spec_from_hf_config(transformers.T5Config(**TINY, feed_forward_proj="gated-gelu").to_dict())
    assert v11 == T5Spec(d_model=16, d_kv=4, d_ff=24, num_heads=2, num_layers=3, vocab_size=320,
                         is_gated_act=True, dense_act_fn="gelu_pytorch_tanh")
    original = spec_from_hf_config(transformers.T5Config(**TINY, feed_forward_proj="relu").to_dict())
    assert not original.is_gated_act and original.dense_act_fn == "relu"
    # The t5-v1_1-xxl config.json as published (no dense_act_fn / is_gated_act keys).
    xxl = {"d_ff": 10240, "d_kv": 64, "d_model": 4096, "feed_forward_proj": "gated-gelu", "model_type": "t5",
           "num_heads": 64, "num_layers": 24, "vocab_size": 32128, "layer_norm_epsilon": 1e-06,
           "relative_attention_num_buckets": 32, "architectures": ["T5EncoderModel"]}
    spec = spec_from_hf_config(xxl)
    assert (spec.d_model, spec.num_layers, spec.d_ff, spec.num_heads) == (4096, 24, 10240, 64)


def test_spec_from_transformers_weights_matches_its_config():
    model = hf_encoder()
    sd = normalize_state_dict(model.state_dict())
    assert spec_from_state_dict(sd, "x") == spec_from_hf_config(model.config.to_dict())
    check_weights(spec_from_state_dict(sd, "x"), sd, "x")
    relu = hf_encoder(feed_forward_proj="relu")
    assert spec_from_state_dict(normalize_state_dict(relu.state_dict()), "x").dense_act_fn == "relu"


@pytest.mark.parametrize("prefix", ["", "text_encoders.t5xxl.transformer.", "text_encoder."])
def test_normalize_strips_prefixes_and_ties_embeddings(prefix):
    sd = {prefix + k: v for k, v in hf_encoder().state_dict().items()}
    sd[prefix + "encoder.embed_tokens.weight"] = sd.pop(prefix + "shared.weight")
    sd[prefix + "decoder.block.0.layer.0.SelfAttention.q.weight"] = torch.zeros(1)
    sd[prefix + "lm_head.weight"] = torch.zeros(1)
    out = normalize_state_dict(sd)
    assert "shared.weight" in out and "encoder.embed_tokens.weight" not in out
    assert not any(k.startswith(("decoder.", "lm_head.", prefix or "#")) for k in out)


def test_config_errors_name_the_file():
    clip = transformers.CLIPTextConfig().to_dict()
    with pytest.raises(T5FormatError, match=r"enc/config.json describes a 'clip_text_model' model"):
        spec_from_hf_config(clip, "enc/config.json")
    with pytest.raises(T5FormatError, match="feed_forward_proj"):
        spec_from_hf_config({**transformers.T5Config(**TINY).to_dict(), "feed_forward_proj": "gated-silu"}, "c")
    with pytest.raises(T5FormatError, match="relative_attention_max_distance"):
        spec_from_hf_config({**transformers.T5Config(**TINY).to_dict(), "relative_attention_max_distance": 64}, "c")


def test_weights_that_do_not_match_the_config_are_reported():
    sd = normalize_state_dict(hf_encoder().state_dict())
    bigger = spec_from_hf_config(transformers.T5Config(**{**TINY, "d_model": 32}, feed_forward_proj="gated-gelu")
                                 .to_dict())
    with pytest.raises(T5FormatError, match=r"shared.weight: \(320, 16\) instead of \(320, 32\)"):
        check_weights(bigger, sd, "enc (model.safetensors)")
    deeper = spec_from_hf_config(transformers.T5Config(**{**TINY, "num_layers": 5}, feed_forward_proj="gated-gelu")
                                 .to_dict())
    with pytest.raises(T5FormatError, match="missing .* encoder.block.3"):
        check_weights(deeper, sd, "enc")


def test_non_t5_weights_are_rejected_with_their_names():
    with pytest.raises(T5FormatError, match="model.safetensors holds no T5 encoder weights.*pos_embed.proj.weight"):
        spec_from_state_dict({"pos_embed.proj.weight": torch.zeros(2)}, "model.safetensors")


def test_tokenizer_must_fit_the_embedding_table():
    check_tokenizer(32128, 32100, 1, [1], "tok/", "enc/")
    with pytest.raises(T5FormatError, match=r"tokenizer tok/ has 32100 tokens but encoder enc/ has an embedding "
                                            r"table of 320 rows"):
        check_tokenizer(320, 32100, 1, [1], "tok/", "enc/")
    with pytest.raises(T5FormatError, match="not a T5 tokenizer"):
        check_tokenizer(50000, 49408, 49407, [49406, 49407], "clip_tok/", "enc/")  # CLIP: start + end


def test_folder_layouts(tmp_path):
    model = hf_encoder()
    single = tmp_path / "single"
    model.save_pretrained(single)
    assert is_encoder_folder(single) and weight_files(single) == [single / "model.safetensors"]
    assert read_folder_config(single) == spec_from_hf_config(model.config.to_dict())

    sharded = tmp_path / "sharded"
    sharded.mkdir()
    (sharded / "config.json").write_text(json.dumps(model.config.to_dict()))
    sd = {k: v.clone() for k, v in model.state_dict().items() if k != "encoder.embed_tokens.weight"}
    names = sorted(sd)
    halves = {"model-00001-of-00002.safetensors": names[:10], "model-00002-of-00002.safetensors": names[10:]}
    for file, keys in halves.items():
        save_file({k: sd[k].contiguous() for k in keys}, str(sharded / file))
    (sharded / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {k: f for f, keys in halves.items() for k in keys}}))
    assert [p.name for p in weight_files(sharded)] == list(halves)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps(model.config.to_dict()))
    (broken / "notes.txt").write_text("")
    assert not is_encoder_folder(broken)
    with pytest.raises(T5FormatError, match=r"broken holds no encoder weights.*found config.json, notes.txt"):
        weight_files(broken)
    with pytest.raises(T5FormatError, match=r"has no config.json \(found notes.txt\)"):
        (broken / "config.json").unlink()
        read_folder_config(broken)
