"""The diffusion model ComfyUI calls (``nodes.comfy_model.ComfyPTDiT``): inputs are checked at this
boundary, and weights are left for the loader (no random initialisation)."""
from __future__ import annotations

import pytest
import torch

from tests.unit.tiny import TINY, tiny_inputs, tiny_model


def biased_model():
    """The tiny model with 4 proxies per window and random biases (its init zeroes them)."""
    model = tiny_model(proxy_ratios=(1, 2, 2))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".bias"):
                param.normal_(0, 0.1, generator=torch.Generator().manual_seed(len(name)))
    return model


@pytest.fixture
def comfy_model(comfy_inproc):
    import comfy.ops

    cls = comfy_inproc.pack("nodes.comfy_model").ComfyPTDiT
    model = cls(biased_model().config.to_dict(), operations=comfy.ops.disable_weight_init).eval()
    model.load_state_dict(biased_model().state_dict())
    return model


def test_the_call_matches_the_plain_model_as_negated_velocity(comfy_model):
    """ComfyUI's layers and attention compute what the plain model does (random biases, 4 proxies per window)."""
    x, t, ctx, mask = tiny_inputs()
    with torch.no_grad():
        out = comfy_model(x, t, ctx, attention_mask=mask)
        want = -biased_model()(x, t, ctx, mask)[:, :4]
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bad, error, message", [
    (lambda x, t, c, m: (x[:, :3], t, c, m), ValueError, "3 channels, this model expects 4"),
    (lambda x, t, c, m: (x, t, c[..., :16], m), ValueError, "text embeddings must be"),
    (lambda x, t, c, m: (x.long(), t, c, m), TypeError, "floating-point"),
])
def test_bad_inputs_are_rejected_with_a_message(comfy_model, bad, error, message):
    x, t, ctx, mask = bad(*tiny_inputs())
    with pytest.raises(error, match=message), torch.no_grad():
        comfy_model(x, t, ctx, attention_mask=mask)


def test_a_mask_for_one_prompt_is_repeated_over_the_batch(comfy_model):
    x, t, ctx, mask = tiny_inputs()
    ctx = ctx[:1].expand(2, -1, -1)
    with torch.no_grad():
        once = comfy_model(x, t, ctx, attention_mask=mask[:1])
        both = comfy_model(x, t, ctx, attention_mask=mask[:1].expand(2, -1))
    torch.testing.assert_close(once, both, atol=0, rtol=0)


def test_construction_leaves_initialisation_to_the_loader(comfy_inproc, monkeypatch):
    import comfy.ops

    PTDiT = comfy_inproc.pack("ptdit.model").PTDiT  # the class ComfyPTDiT derives from

    def refuse(self):
        raise AssertionError("ComfyPTDiT must not initialise weights it is about to load")

    monkeypatch.setattr(PTDiT, "reset_parameters", refuse)
    cls = comfy_inproc.pack("nodes.comfy_model").ComfyPTDiT
    cls(TINY.to_dict(), operations=comfy.ops.disable_weight_init)
    with pytest.raises(AssertionError, match="must not initialise"):
        PTDiT(TINY)  # plain PyTorch use does initialise
