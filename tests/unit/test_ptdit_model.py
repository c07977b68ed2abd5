"""Behaviour of the PT-DiT model beyond reference parity: batching, knobs, padding, caching, errors."""
from __future__ import annotations

import threading

import pytest
import torch

from ptdit import WindowSettings
from ptdit import model as ptdit_model
from ptdit.attention import LinearBuffers, ShapeCache, sdpa
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
    direct = model(x, t, ctx, mask)  # sampling reads the weights directly
    assert direct.dtype == torch.float32 and (direct - ref).abs().max() < 0.1 * ref.abs().max()
    model.fold_projections = False  # every layer called as a module, so the hooks see every tensor
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
    assert built == ["a", "b", "c", "b"] and len(cache) == 2


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
    """Inference writes residuals and activations in place and folds linear pairs; with autograd on
    the same maths runs out of place and unfolded, so the outputs agree (to float rounding: folding
    reorders sums) and every weight gets a finite gradient."""
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


def _linear_2_calls(model, *inputs) -> tuple[torch.Tensor, int]:
    """The model's output and how often the blocks ran ``linear_2`` as a module."""
    calls = []
    handles = [block.linear_2.register_forward_hook(lambda *_: calls.append(1)) for block in model.transformer_blocks]
    out = model(*inputs)
    for handle in handles:
        handle.remove()
    return out, len(calls)


def test_folded_projections_equal_the_layers_they_replace():
    """With more tokens per sample than the hidden size, sampling runs each attention output projection
    and the linear after it (GIIM's linear_1_visual; the gated linear_2 of the shifted windows, with each
    sample's own gate) as one GEMM; the result equals running the layers one by one."""
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs(batch=2, height=24, width=40)  # 12 x 20 = 240 tokens > hidden 32
    t = torch.tensor([900.0, 50.0])
    folded, calls = _linear_2_calls(model, x, t, ctx, mask)
    assert calls == 0
    model.fold_projections = False
    layered, calls = _linear_2_calls(model, x, t, ctx, mask)
    assert calls == 2
    torch.testing.assert_close(folded, layered, atol=1e-5, rtol=1e-5)


def test_projections_fold_only_when_it_saves_work():
    """The fold costs one D^3 product; a sample of at most D tokens runs the layers one by one."""
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs(batch=1, height=8, width=8)  # 4 x 4 = 16 tokens <= hidden 32
    _, calls = _linear_2_calls(model, x, t, ctx, mask)
    assert calls == 2


def _through_proxies(monkeypatch, model, *inputs, **kwargs) -> tuple[torch.Tensor, int]:
    """The model's output and how many blocks ran the proxy-to-visual attention through the proxies."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return through_proxies(*args, **kwargs)

    through_proxies = ptdit_model.attention_through_proxies
    with monkeypatch.context() as patch:
        patch.setattr(ptdit_model, "attention_through_proxies", counted)
        out = model(*inputs, **kwargs)
    return out, len(calls)


def test_proxy_attention_through_the_proxies_equals_the_layers(monkeypatch):
    """With fewer proxy keys over all heads than the hidden size (2 heads x 8 proxies < 32) and more
    tokens than it, sampling moves the proxy-to-visual query and output projections onto the proxies
    (the tokens' queries are never projected); proxies made only of padding stay masked."""
    model = tiny_model()
    window = WindowSettings((1, 8, 8), (1, 4, 4))
    x, t, ctx, mask = tiny_inputs(batch=2, height=18, width=16)  # 9 x 8 tokens, padded to 16 x 8 = 128
    layout = model.layout((1, 9, 8), window, x.device, x.dtype)
    assert layout.num_proxies == 8 and bool((layout.proxy_bias < 0).any())  # row 8 alone in its window
    t = torch.tensor([900.0, 50.0])
    with torch.no_grad():
        through, calls = _through_proxies(monkeypatch, model, x, t, ctx, mask, window=window)
        assert calls == 2
        model.fold_projections = False
        layered, calls = _through_proxies(monkeypatch, model, x, t, ctx, mask, window=window)
    assert calls == 0
    torch.testing.assert_close(through, layered, atol=1e-5, rtol=1e-5)


def test_proxy_attention_runs_layered_when_the_proxies_are_many(monkeypatch):
    """2 heads x 16 proxies is not below the hidden size 32: the query projection runs as a layer."""
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs(batch=1, height=32, width=32)  # 16 x 16 tokens, 16 windows of (1, 4, 4)
    with torch.no_grad():
        _, calls = _through_proxies(monkeypatch, model, x, t, ctx, mask)
    assert calls == 0


def test_proxy_attention_through_the_proxies_without_attention_biases(monkeypatch):
    """A checkpoint without q/k/v biases (attention_bias=False) takes the same path."""
    model = tiny_model(attention_bias=False)
    window = WindowSettings((1, 8, 8), (1, 4, 4))
    x, t, ctx, mask = tiny_inputs(batch=1, height=32, width=16)  # 16 x 8 tokens: 2 windows, 8 proxies
    with torch.no_grad():
        through, calls = _through_proxies(monkeypatch, model, x, t, ctx, mask, window=window)
        assert calls == 2
        model.fold_projections = False
        layered, _ = _through_proxies(monkeypatch, model, x, t, ctx, mask, window=window)
    torch.testing.assert_close(through, layered, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_buffers_compute_the_layer_into_one_buffer_per_role(bias):
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 12, bias=bias)
    buffers = LinearBuffers()
    x, y = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    with torch.no_grad():
        first = buffers.linear(x, layer.weight, layer.bias, "q")
        torch.testing.assert_close(first, layer(x), atol=1e-6, rtol=1e-6)
        first_ptr = first.data_ptr()
        again = buffers.linear(y, layer.weight, layer.bias, "q")  # same role and shape: same memory, new values
        assert again.data_ptr() == first_ptr and again.shape == (2, 5, 12)
        torch.testing.assert_close(again, layer(y), atol=1e-6, rtol=1e-6)
        other = buffers.linear(x, layer.weight, layer.bias, "k")
        assert other.data_ptr() != first_ptr
        short = buffers.linear(x[:, :3], layer.weight, layer.bias, "q")  # another shape gets its own buffer
        assert short.data_ptr() != first_ptr
        torch.testing.assert_close(short, layer(x[:, :3]), atol=1e-6, rtol=1e-6)
        unbiased = buffers.linear(x, layer.weight, None, "v")
        torch.testing.assert_close(unbiased, x @ layer.weight.t(), atol=1e-6, rtol=1e-6)


def test_sampling_blocks_share_their_linear_buffers(monkeypatch):
    """Every block of a sampling forward writes its FFN activation into the same memory; a forward that
    records a graph uses no buffers."""
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    seen = {}
    original = LinearBuffers.linear

    def recorded(self, inputs, weight, bias, role):
        out = original(self, inputs, weight, bias, role)
        seen.setdefault(role, []).append(out.data_ptr())
        return out

    monkeypatch.setattr(LinearBuffers, "linear", recorded)
    with torch.no_grad():
        model(x, t, ctx, mask)
    assert len(seen["ffn"]) >= len(model.transformer_blocks) == 2 and len(set(seen["ffn"])) == 1
    assert {"q", "k", "v", "out"} <= set(seen)
    seen.clear()
    with torch.enable_grad():
        model(x, t, ctx, mask)
    assert seen == {}


def test_a_model_keeps_its_sampling_buffers_between_forwards(monkeypatch):
    """Sampling forwards of one shape write into the same memory and agree exactly; another thread gets
    its own set; release_buffers drops them; a set keeps at most its capacity of shapes."""
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs()
    seen = []
    original = LinearBuffers.linear

    def recorded(self, inputs, weight, bias, role):
        out = original(self, inputs, weight, bias, role)
        if role == "ffn":
            seen.append(out.data_ptr())
        return out

    monkeypatch.setattr(LinearBuffers, "linear", recorded)
    with torch.no_grad():
        first = model(x, t, ctx, mask)
        torch.testing.assert_close(model(x, t, ctx, mask), first, atol=0, rtol=0)
        assert len(seen) > 2 and len(set(seen)) == 1
        other = []

        def sample_in_another_thread():
            with torch.no_grad():  # grad mode is per thread
                other.append(model(x, t, ctx, mask))

        thread = threading.Thread(target=sample_in_another_thread)
        thread.start()
        thread.join()
        assert len(set(seen)) == 2 and other[0].equal(first)
        kept = model.sampling_buffers(2, 256, torch.float32, "cpu")  # 2 samples of 16 x 16 tokens
        model.release_buffers()
        assert model.sampling_buffers(2, 256, torch.float32, "cpu") is not kept

    buffers = LinearBuffers(capacity=2)
    like = torch.empty(1)
    a = buffers.buffer("a", 3, 4, like)
    assert buffers.buffer("a", 3, 4, like) is a
    buffers.buffer("b", 3, 4, like)
    buffers.buffer("c", 3, 4, like)  # "a" is now the least recently used of three
    assert buffers.buffer("a", 3, 4, like) is not a


def _random_biases(model) -> None:
    """Gives every bias of the model a random value (the test init zeroes them, real checkpoints do not)."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)


@pytest.mark.parametrize("size, window", [
    ((24, 40), None),  # 240 tokens: the linear pairs fold
    ((18, 16), WindowSettings((1, 8, 8), (1, 4, 4))),  # padded windows, proxy attention through the proxies
    ((8, 8), None),  # 16 tokens: nothing folds, the buffers alone
])
def test_sampling_with_biased_layers_equals_the_layers(size, window):
    """Sampling projects keys and values without their biases (a key bias shifts a whole softmax row, a
    value bias moves into the output bias) and adds the output projections straight into the residual;
    with every bias non-zero and a different gate per sample it equals the layers run one by one."""
    model = tiny_model()
    _random_biases(model)
    x, _, ctx, mask = tiny_inputs(batch=2, height=size[0], width=size[1])
    t = torch.tensor([900.0, 50.0])
    with torch.no_grad():
        sampled = model(x, t, ctx, mask, window=window)
        model.fold_projections = False
        layered = model(x, t, ctx, mask, window=window)
    with torch.enable_grad():
        recorded = model(x, t, ctx, mask, window=window).detach()
    torch.testing.assert_close(sampled, layered, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sampled, recorded, atol=1e-5, rtol=1e-5)


def test_weight_products_follow_the_weights():
    """Products of weights kept between sampling forwards are rebuilt once a weight changes in place or
    is replaced."""
    model = tiny_model()
    _random_biases(model)
    window = WindowSettings((1, 8, 8), (1, 4, 4))
    x, t, ctx, mask = tiny_inputs(batch=1, height=32, width=16)  # through the proxies
    block = model.transformer_blocks[0]
    with torch.no_grad():
        before = model(x, t, ctx, mask, window=window)
        block.linear_1_visual.weight.mul_(1.5)
        block.pvisual_attn2.to_v.bias.add_(0.5)
        block.attn1.to_out[0].bias = torch.nn.Parameter(block.attn1.to_out[0].bias + 0.5)
        after = model(x, t, ctx, mask, window=window)
        model.fold_projections = False
        expected = model(x, t, ctx, mask, window=window)
    assert not torch.allclose(after, before, atol=1e-3)
    torch.testing.assert_close(after, expected, atol=1e-5, rtol=1e-5)


def test_a_model_made_under_inference_mode_samples():
    """Weights made under torch.inference_mode keep no version counter; their products are then built
    every forward instead of kept."""
    with torch.inference_mode():
        model = tiny_model()
        _random_biases(model)
        x, t, ctx, mask = tiny_inputs(batch=1, height=32, width=16)
        window = WindowSettings((1, 8, 8), (1, 4, 4))  # through the proxies: W1 Wo is needed
        first, again = model(x, t, ctx, mask, window=window), model(x, t, ctx, mask, window=window)
    torch.testing.assert_close(first, again, atol=0, rtol=0)
    assert model.transformer_blocks[0].pvisual_attn2.derived._items == {}


def test_feed_forward_in_row_blocks_equals_the_layers(monkeypatch):
    """On CPU sampling runs the FFN in row blocks (the last one short) with its own tanh-GELU in cache-sized
    passes; it equals the layers, and the GELU equals PyTorch's."""
    torch.manual_seed(0)
    ff = ptdit_model.FeedForward(16)
    with torch.no_grad():
        ff.net[0].proj.bias.normal_()
        ff.net[2].bias.normal_()
    x, residual, gate = torch.randn(2, 37, 16), torch.randn(2, 37, 16), torch.randn(2, 1, 16)
    monkeypatch.setattr(ptdit_model, "FFN_ROWS", 10)
    monkeypatch.setattr(ptdit_model, "GELU_BYTES", 3 * 64 * 4)  # 3 rows of the 64-wide activation
    with torch.no_grad():
        expected = residual + gate * ff(x)
        got = ff.add_to(residual.clone(), gate, x, LinearBuffers())
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
        h, bias = torch.randn(7, 64) * 4, torch.randn(64)
        reference = torch.nn.functional.gelu(h + bias, approximate="tanh")
        torch.testing.assert_close(ptdit_model.bias_gelu_tanh_(h, bias, LinearBuffers()), reference,
                                   atol=1e-6, rtol=1e-5)


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
        model.fold_projections = False  # a host's model (layers called as modules) drops them too
        torch.testing.assert_close(model(x, t, ctx, mask), sampled, atol=1e-5, rtol=1e-5)
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
