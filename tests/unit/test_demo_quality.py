"""The committed demo models load through the pack's real loaders and generate what they are asked for.

Generation runs the official RFlow Euler sampler with CFG, decodes with the demo CausalVAE and
reads the images back with the synthetic-data detectors (scripts/demo/detect.py). Not timed.
"""
from __future__ import annotations

import pytest
import torch

from ptdit.loader import load_ptdit
from ptdit.text.t5_files import check_tokenizer, check_weights, normalize_state_dict, read_folder_config
from ptdit.vae.config import infer_config
from scripts.demo import runtime as rt
from tests.unit.vae_tiny import one_thread  # noqa: F401 (autouse fixture: generation is single-threaded)

# Floors one sample under what the committed models measure with these settings (seed 1234, 20 steps,
# CFG rt.CFG = 2); a change that costs a second sample fails. The demo issue's target is 0.95 for each task.
T2I_THRESHOLD = 0.985  # all four fields right: measured 143/144 = 0.993 (chance 1/144)
T2MV_THRESHOLD = 0.93  # colour and solid right, one hue and object in every view: measured 16/16 = 1.0
T2V_THRESHOLD = 0.99  # colour right, moving the asked way: measured 144/144 = 1.0 (chance 1/16)
T2V_TRAVEL_THRESHOLD = 1 / 3  # median centroid travel (fraction of the side): measured 0.356 (training clips 0.4)


def _require(*names: str):
    missing = [name for name in names if not (rt.MODELS_DIR / name).exists()]
    if missing:
        pytest.skip(f"DEMO MODELS NOT COMMITTED: {', '.join(missing)} absent from {rt.MODELS_DIR}; "
                    "train them with `python -m scripts.demo.train` (see demo_models/README.md)")


def test_demo_vae_is_the_released_architecture_scaled_down():
    _require(rt.VAE_FILE)
    vae = rt.load_vae(rt.MODELS_DIR / rt.VAE_FILE)
    state = vae.state_dict()
    assert infer_config(state, vae.config.norm_num_groups) == vae.config == rt.DEMO_VAE
    assert vae.config.spatial_factor == 8 and vae.config.temporal_factor == 4


def test_detector_reads_demo_vae_reconstructions():
    """The VAE's ceiling: ground-truth images after an encode/decode round trip are still read right."""
    _require(rt.VAE_FILE)
    from scripts.demo.evaluate import t2i_reconstruction_rate

    rates = t2i_reconstruction_rate(rt.load_vae(rt.MODELS_DIR / rt.VAE_FILE), seed=1)
    print(f"T2I detector accuracy on VAE reconstructions: {rates}")
    assert rates["all"] >= 0.95, rates


def test_demo_t5_passes_the_t5_loader_checks():
    _require(rt.T5_DIR)
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    folder = rt.MODELS_DIR / rt.T5_DIR
    spec = read_folder_config(folder)
    check_weights(spec, normalize_state_dict(load_file(str(folder / "model.safetensors"))), str(folder))
    tokenizer_folder = rt.tokenizer_folder(folder)  # ComfyUI's bundled T5 tokenizer: the folder ships none
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_folder))
    check_tokenizer(spec.vocab_size, len(tokenizer), tokenizer.eos_token_id, tokenizer("")["input_ids"],
                    str(folder), str(tokenizer_folder))


def test_demo_t2i_loads_with_windows_and_proxies():
    _require(rt.dit_file("t2i"))
    dit = load_ptdit(str(rt.MODELS_DIR / rt.dit_file("t2i")))
    config = dit.config
    assert config.compress_ratios == config.proxy_ratios == (1, 2, 2) and config.shift_window
    assert all(p.dtype == torch.float16 for p in dit.parameters())  # stored small, as committed


def generated(task: str, samples: int):
    """Rates, decoded outputs and labels of ``samples`` per prompt of ``task``: 20 steps, the demo models'
    guidance (``rt.CFG``), seed 1234."""
    _require(rt.VAE_FILE, rt.T5_DIR, rt.dit_file(task))
    from scripts.demo.evaluate import generation

    rates, outputs, labels = generation(task, rt.MODELS_DIR, samples=samples, steps=20, cfg=rt.CFG, seed=1234)
    print(f"{task.upper()} detector accuracy over {len(labels)} samples: {rates}")
    return rates, outputs, labels


def test_demo_t2i_generates_the_prompt():
    """One sample per T2I prompt (144); see T2I_THRESHOLD."""
    rates, images, labels = generated("t2i", samples=1)
    assert images.shape == (len(labels), 1, 64, 64, 3)
    assert rates["all"] >= T2I_THRESHOLD, rates


def test_demo_t2mv_generates_the_same_object_in_every_view():
    rates, views, labels = generated("t2mv", samples=2)
    assert load_ptdit(str(rt.MODELS_DIR / rt.dit_file("t2mv"))).config.compress_ratios == (2, 2, 2)
    assert views.shape == (len(labels), 4, 64, 64, 3)
    assert rates["all"] >= T2MV_THRESHOLD, rates


def test_demo_t2v_moves_the_shape_the_asked_way():
    """One 5-frame clip per T2V prompt (144: colour x shape x background x direction)."""
    rates, clips, labels = generated("t2v", samples=1)
    assert load_ptdit(str(rt.MODELS_DIR / rt.dit_file("t2v"))).config.compress_ratios == (2, 2, 2)
    assert clips.shape == (len(labels), rt.T2V_FRAMES, 64, 64, 3)
    assert rates["all"] >= T2V_THRESHOLD, rates
    assert rates["travel_median"] >= T2V_TRAVEL_THRESHOLD, rates
