"""T5 text conditioning inside a real ComfyUI: PT-DiT T5 Loader -> stock CLIP Text Encode -> PT-DiT T2I
Sampler -> SaveLatent, with a tiny random T5 (transformers format, release layout) and a tiny PT-DiT.

The workflow ends with the stock SaveLatent node so that the conditioning's effect is read from the
latent alone (the VAE has its own host tests in test_host_vae.py). Shared helpers: helpers.py.
"""
from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.host.helpers import combo_options, comfy_t5_tokenizer, text_to_latent_prompt, write_ptdit, write_t5

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def tiny_files(comfy_host):
    """models/text_encoders/qihoo_tiny/{text_encoder,tokenizer}/ (the release layout), a 48-wide T5
    and a tiny PT-DiT with 32-wide captions in models/diffusion_models."""
    release = comfy_host.model_path("text_encoders", "qihoo_tiny/text_encoder/config.json").parent
    write_t5(release)
    shutil.copytree(comfy_t5_tokenizer(comfy_host), release.parent / "tokenizer", dirs_exist_ok=True)
    write_t5(comfy_host.model_path("text_encoders", "wide_t5/config.json").parent, width=48)
    write_ptdit(comfy_host.model_path("diffusion_models", "ptdit_tiny_t5.safetensors"))
    return {"encoder": "qihoo_tiny/text_encoder/", "wide": "wide_t5/", "model": "ptdit_tiny_t5.safetensors"}


def saved_latent(comfy_host, result) -> torch.Tensor:
    files = comfy_host.output_files(result, node_id="6", kind="latents")
    assert len(files) == 1 and files[0].is_file(), result.outputs
    return load_file(str(files[0]))["latent_tensor"]


def test_loader_lists_release_folders_and_tokenizers(comfy_host, tiny_files):
    inputs = comfy_host.object_info("PTDiTT5Loader")["input"]["required"]
    encoders = combo_options(inputs["text_encoder"])
    assert tiny_files["encoder"] in encoders and tiny_files["wide"] in encoders
    assert not any(e.startswith("qihoo_tiny/text_encoder/") and e != tiny_files["encoder"] for e in encoders)
    tokenizers = combo_options(inputs["tokenizer"])
    assert tokenizers[0] == "auto" and "qihoo_tiny/tokenizer/" in tokenizers


def test_text_to_sampler_to_saved_latent(comfy_host, tiny_files):
    result = comfy_host.run(text_to_latent_prompt(tiny_files["encoder"], tiny_files["model"],
                                                  "a lighthouse on a cliff at dusk"), timeout=300)
    latent = saved_latent(comfy_host, result)
    assert latent.shape == (1, 4, 16, 16) and torch.isfinite(latent).all()
    assert "PT-DiT T5 loader: qihoo_tiny/text_encoder/" in comfy_host.current_log()
    # The prompt reaches the model: another prompt, same seed, gives another latent.
    other = comfy_host.run(text_to_latent_prompt(tiny_files["encoder"], tiny_files["model"],
                                                 "a bowl of ramen, top view", prefix="t5_flow_other"), timeout=300)
    assert (saved_latent(comfy_host, other) - latent).abs().max() > 1e-3


def test_encoder_width_mismatch_is_a_clear_node_error(comfy_host, tiny_files):
    result = comfy_host.run(text_to_latent_prompt(tiny_files["wide"], tiny_files["model"], "a cat", prefix="t5_bad"),
                            timeout=300, check=False)
    assert not result.ok and result.error, result.describe()
    message = result.error["exception_message"]
    assert result.error["node_type"] == "PTDiTSamplerT2I"
    assert "ptdit_tiny_t5.safetensors expects T5 text states of shape (1, tokens, 32)" in message, message
    assert re.search(r"wide_t5/ \(T5 v1.1 \(gated-GELU\) encoder, width 48.*produced \(1, \d+, 48\)", message), message


def test_folder_that_is_not_a_t5_encoder_fails_in_the_loader(comfy_host, tiny_files):
    folder = comfy_host.model_path("text_encoders", "not_t5/config.json").parent
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    save_file({"embeddings.word_embeddings.weight": torch.zeros(4, 4)}, str(folder / "model.safetensors"))
    result = comfy_host.run(text_to_latent_prompt("not_t5/", tiny_files["model"], "a cat", prefix="t5_bad2"),
                            timeout=300, check=False)
    assert not result.ok and result.error["node_type"] == "PTDiTT5Loader", result.describe()
    assert "not_t5/config.json describes a 'bert' model (BertModel), not a T5 encoder" in \
        result.error["exception_message"]


def test_clean_prompts_is_an_optional_input_on_by_default(comfy_host):
    for node in ("PTDiTT5Loader", "PTDiTT5TextRules"):
        inputs = comfy_host.object_info(node)["input"]
        assert "clean_prompts" not in inputs["required"]
        kind, options = inputs["optional"]["clean_prompts"]
        assert kind == "BOOLEAN" and options["default"] is True


def test_prompts_are_cleaned_like_the_reference(comfy_host, tiny_files):
    """The prompt as typed and as the reference cleans it give the same latent; with clean_prompts off
    they differ. The prompts without the input are those of workflows saved before it existed."""
    untidy = "A LIGHTHOUSE on a Cliff at Dusk https://example.com/lighthouse.jpg"
    runs = {}
    for name, text, clean in (("plain", "a lighthouse on a cliff at dusk", None), ("untidy", untidy, None),
                              ("as_typed", untidy, False)):
        prompt = text_to_latent_prompt(tiny_files["encoder"], tiny_files["model"], text, prefix=f"t5_clean_{name}")
        if clean is not None:
            prompt["1"]["inputs"]["clean_prompts"] = clean
        runs[name] = saved_latent(comfy_host, comfy_host.run(prompt, timeout=300))
    assert torch.equal(runs["untidy"], runs["plain"])
    assert (runs["as_typed"] - runs["plain"]).abs().max() > 1e-3


def test_a_cut_prompt_is_warned_about_in_the_log(comfy_host, tiny_files):
    long = " ".join(f"word{i}" for i in range(160))  # 324 T5 tokens
    comfy_host.run(text_to_latent_prompt(tiny_files["encoder"], tiny_files["model"], long, prefix="t5_long"),
                   timeout=300)
    log = comfy_host.current_log()
    assert log.count("PT-DiT: prompt cut to 200 T5 tokens (it has 324)") == 1, log[-2000:]
