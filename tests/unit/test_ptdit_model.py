"""Behaviour of the PT-DiT model beyond reference parity: batching, knobs, padding, caching, errors."""
from __future__ import annotations


import pytest
import torch

from ptdit import WindowSettings
from ptdit.attention import ShapeCache, sdpa
from ptdit.inputs import check_inputs
from ptdit.model import drop_masked_text
from tests.unit.tiny import tiny_inputs, tiny_model

torch.set_grad_enabled(False)


def test_image_and_single_frame_video_agree():
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    image = model(x, t, ctx, mask)
    video = model(x[:, :, None], t, ctx, mask)
    assert image.shape == (2, 8, 32, 32)
    torch.testing.assert_close(image, video[:, :, 0], atol=0, rtol=0)


def test_each_sample_uses_its_own_timestep():
    """The reference mixes timesteps across a batch (README §5.3); we must not."""
    model = tiny_model()
    x, _, ctx, mask = tiny_inputs(batch=3, frames=4)
    t = torch.tensor([10.0, 500.0, 873.5])
    window = WindowSettings((2, 4, 4), (2, 4, 4))
    batched = model(x, t, ctx, mask, window=window)
    for i in range(3):
        single = model(x[i:i + 1], t[i:i + 1], ctx[i:i + 1], mask[i:i + 1], window=window)
        torch.testing.assert_close(batched[i:i + 1], single, atol=2e-6, rtol=1e-5)


def test_masked_text_tokens_have_no_influence():
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    out = model(x, t, ctx, mask)
    changed = ctx.clone()
    changed[-1, -2:] = 100.0
    torch.testing.assert_close(model(x, t, changed, mask), out, atol=0, rtol=0)
    assert not torch.equal(model(x, t, changed, None), out)


@pytest.mark.parametrize("window", [
    WindowSettings((1, 2, 2), (1, 2, 2)),
    WindowSettings((1, 8, 8), (1, 4, 4)),
    WindowSettings((1, 4, 4), (1, 4, 4), window_attention=False),
    WindowSettings((1, 4, 4), (1, 4, 4), shift_window=False),
])
def test_runtime_window_settings_change_the_computation(window):
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    default = model(x, t, ctx, mask)
    assert model(x, t, ctx, mask, window=model.default_window()).equal(default)
    assert not torch.allclose(model(x, t, ctx, mask, window=window), default, atol=1e-4)


def test_disabling_a_branch_equals_zeroing_its_output_layer():
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    off = model(x, t, ctx, mask, window=WindowSettings((1, 4, 4), (1, 4, 4), shift_window=False))
    for block in model.transformer_blocks:
        block.linear_2.weight.zero_()
        block.linear_2.bias.zero_()
    torch.testing.assert_close(model(x, t, ctx, mask), off, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("grid", [(1, 10, 14), (1, 5, 8), (3, 8, 8), (5, 6, 9)])
def test_padding_never_leaks_into_real_tokens(grid, monkeypatch):
    """Grids that are not whole windows are padded; padded tokens must not affect real ones."""
    model = tiny_model()
    f, h, w = grid
    x, t, ctx, mask = tiny_inputs(frames=f, height=2 * h, width=2 * w)
    window = WindowSettings((min(f, 2), 4, 4), (min(f, 2), 2, 2))
    clean = model(x, t, ctx, mask, window=window)
    assert clean.shape == (2, 8, f, 2 * h, 2 * w) and torch.isfinite(clean).all()

    layout = model.layout(grid, window, x.device, torch.float32)
    assert layout.needs_padding
    original = type(layout).to_windows

    def noisy_padding(self, tokens, addend=None):
        out = original(self, tokens, addend)
        return torch.where(self.valid[None, :, None], out, torch.randn_like(out) * 50)

    monkeypatch.setattr(type(layout), "to_windows", noisy_padding)
    torch.testing.assert_close(model(x, t, ctx, mask, window=window), clean, atol=1e-5, rtol=1e-5)


def test_layouts_are_cached_per_shape_and_never_stale():
    """The reference caches its shifted-window mask forever (README §5.7); shapes must not leak."""
    x1, t, ctx, mask = tiny_inputs(height=32, width=48)
    x2 = x1.transpose(-1, -2).contiguous()
    model = tiny_model()
    first = model(x1, t, ctx, mask)
    second = model(x2, t, ctx, mask)
    fresh = tiny_model()
    torch.testing.assert_close(second, fresh(x2, t, ctx, mask), atol=0, rtol=0)
    torch.testing.assert_close(model(x1, t, ctx, mask), first, atol=0, rtol=0)
    key_layout = model.layout((1, 16, 24), None, "cpu", torch.float32)
    assert model.layout((1, 16, 24), None, "cpu", torch.float32) is key_layout


def test_bf16_weights_run_in_bf16_and_stay_close():
    """Every tensor entering or leaving a block's layers, and every q/k/v of attention, is bf16."""
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    ref = model(x, t, ctx, mask)
    model.to(torch.bfloat16)
    seen = []

    def record(module, args, out):
        seen.extend((type(module).__name__, a.dtype) for a in (*args, out) if isinstance(a, torch.Tensor))

    def attention(q, k, v, bias):
        seen.extend(("attention_fn", a.dtype) for a in (q, k, v))
        return sdpa(q, k, v, bias)

    for block in model.transformer_blocks:
        for module in block.modules():
            module.register_forward_hook(record)
    out = model(x, t, ctx, mask, attention_fn=attention)
    names = {name for name, _ in seen}
    assert {"PTDiTBlock", "Attention", "Linear", "LayerNorm", "FeedForward", "attention_fn"} <= names
    assert {dtype for _, dtype in seen} == {torch.bfloat16}, sorted(set(seen), key=str)
    assert out.dtype == torch.float32
    assert (out - ref).abs().max() < 0.1 * ref.abs().max()


def test_meta_device_build_allocates_nothing():
    """Parameters and buffers (the native-grid pos_embed table included) all stay on meta."""
    model = tiny_model().__class__(tiny_model().config, device="meta")
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    assert "pos_embed.pos_embed" in tensors and len(tensors) == len(model.state_dict())
    assert [name for name, tensor in tensors.items() if not tensor.is_meta] == []


@pytest.mark.parametrize("bad, message", [
    (lambda x, t, c, m: (x[0], t, c, m), "latents must be a tensor"),
    (lambda x, t, c, m: (x[:, :3], t, c, m), "3 channels"),
    (lambda x, t, c, m: (x[..., :31], t, c, m), "multiples of the patch size"),
    (lambda x, t, c, m: (x, t, c[..., :16], m), "text embeddings must be"),
    (lambda x, t, c, m: (x, t, c, m[:, :3]), "text mask must be"),
    (lambda x, t, c, m: (x, torch.tensor([float("nan"), 1.0]), c, m), "NaN"),
    (lambda x, t, c, m: (x, t[:1].repeat(3), c, m), "timestep must be"),
])
def test_bad_inputs_raise_value_errors(bad, message):
    config = tiny_model().config
    check_inputs(config, *tiny_inputs())  # the good inputs pass
    with pytest.raises(ValueError, match=message):
        check_inputs(config, *bad(*tiny_inputs()))


def test_integer_latents_raise_type_error():
    x, t, ctx, mask = tiny_inputs()
    with pytest.raises(TypeError, match="floating-point"):
        check_inputs(tiny_model().config, x.long(), t, ctx, mask)


def test_shape_cache_keeps_the_most_recently_used():
    cache, built = ShapeCache(capacity=2), []

    def build(key):
        built.append(key)
        return object()

    a = cache.get("a", lambda: build("a"))
    cache.get("b", lambda: build("b"))
    assert cache.get("a", lambda: build("a")) is a  # a hit moves "a" to the front
    cache.get("c", lambda: build("c"))  # evicts "b", the least recently used
    cache.get("a", lambda: build("a"))
    cache.get("b", lambda: build("b"))
    cache.get("a", lambda: build("a"))  # "a" and "b" are the two kept
    cache.get("b", lambda: build("b"))
    assert built == ["a", "b", "c", "b"]


@pytest.mark.parametrize("window, message", [
    (dict(window=(1, 4, 4), proxy=(1, 3, 4)), "p_h=3 must divide"),
    (dict(window=(1, 0, 4), proxy=(1, 4, 4)), "three positive integers"),
    (dict(window=(2, 4, 4), proxy=(1, 4, 4)), "p_f=1 must equal"),
])
def test_invalid_window_settings_are_rejected(window, message):
    with pytest.raises(ValueError, match=message):
        WindowSettings(**window)


def test_window_larger_than_latent_is_rejected():
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    with pytest.raises(ValueError, match=r"p_h=32 is larger than the 16 token rows"):
        model(x, t, ctx, mask, window=WindowSettings((1, 32, 4), (1, 32, 4)))
    with pytest.raises(ValueError, match=r"p_f=4 is larger than the 1 latent frames"):
        model(x, t, ctx, mask, window=WindowSettings((4, 4, 4), (4, 4, 4)))


def test_shift_window_needs_attn3_weights():
    model = tiny_model(shift_window=False)
    x, t, ctx, mask = tiny_inputs()
    with pytest.raises(ValueError, match="shift_window=True needs"):
        model(x, t, ctx, mask, window=WindowSettings((1, 4, 4), (1, 4, 4), shift_window=True))


@pytest.mark.parametrize("grid, window", [
    ((1, 16, 16), (1, 2, 2)), ((1, 32, 32), (1, 4, 4)), ((1, 64, 64), (1, 8, 8)), ((1, 128, 128), (1, 16, 16)),
    ((5, 32, 32), (4, 4, 4)), ((2, 64, 64), (2, 8, 8)), ((1, 4, 4), (1, 1, 1)),
])
def test_paper_default_window_table(grid, window):
    settings = WindowSettings.paper_default(grid)
    assert settings.window == window and settings.proxy == window


@pytest.mark.parametrize("batch", [1, 2])
def test_recording_a_graph_computes_the_same_and_trains(batch):
    """Inference writes residuals and activations in place; with autograd on the same maths runs out
    of place, so the outputs agree and every weight gets a finite gradient."""
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs(batch=batch, height=24, width=40)
    expected = model(x, t, ctx, mask)
    with torch.enable_grad():
        got = model(x, t, ctx, mask)
        got.square().mean().backward()
    torch.testing.assert_close(got.detach(), expected, atol=1e-5, rtol=1e-5)
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    assert model.transformer_blocks[0].attn3.to_q.weight.grad.abs().max() > 0


def test_a_block_never_writes_its_input():
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs(batch=2)
    seen = []

    def hook(index, block, h, block_ctx):
        before = h.clone()
        out = block(h, block_ctx)
        seen.append((index, torch.equal(h, before)))
        return out

    torch.testing.assert_close(model(x, t, ctx, mask, block_hook=hook), model(x, t, ctx, mask), atol=0, rtol=0)
    assert seen == [(0, True), (1, True)]


def test_block_hook_replaces_blocks():
    """A hook that skips block 1 gives the model without block 1."""
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    skipped = model(x, t, ctx, mask, block_hook=lambda i, block, h, c: block(h, c) if i == 0 else h)
    del model.transformer_blocks[1]
    torch.testing.assert_close(skipped, model(x, t, ctx, mask), atol=0, rtol=0)
    assert not torch.allclose(skipped, tiny_model()(x, t, ctx, mask))


def test_text_masked_in_every_sample_is_dropped_when_sampling():
    """Keys masked in every sample carry zero weight: sampling drops them (same output); keys that one
    sample keeps stay, and a sample with no valid key at all keeps every key."""
    model = tiny_model()
    x, t, ctx, _ = tiny_inputs()  # batch 2
    mask = torch.zeros(2, ctx.shape[1], dtype=torch.int64)
    mask[0, :3] = 1
    mask[1, [0, 5]] = 1
    kept, kept_mask = drop_masked_text(ctx, mask)
    torch.testing.assert_close(kept, ctx[:, [0, 1, 2, 5]], atol=0, rtol=0)
    assert kept_mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 1]]
    with torch.no_grad():
        sampled = model(x, t, ctx, mask)
        torch.testing.assert_close(model(x, t, ctx[:, [0, 1, 2, 5]], mask[:, [0, 1, 2, 5]]), sampled,
                                   atol=1e-5, rtol=1e-5)
    with torch.enable_grad():  # recording a graph attends over every key
        torch.testing.assert_close(model(x, t, ctx, mask).detach(), sampled, atol=1e-5, rtol=1e-5)

    full = torch.ones_like(mask)
    full[:, -2:] = 0
    kept, kept_mask = drop_masked_text(ctx, full)
    assert kept.shape[1] == ctx.shape[1] - 2 and kept_mask is None
    empty = mask.clone()
    empty[1] = 0
    kept, kept_mask = drop_masked_text(ctx, empty)
    assert kept is ctx and kept_mask is empty
