"""torch.compile on the PT-DiT forward: one graph break (the cached geometry, kept out of the trace),
no recompiles while sampling, same outputs. Dynamo only (backend "eager"); the host test compiles
with inductor through ComfyUI's TorchCompileModel."""
from __future__ import annotations

import torch

from tests.unit.tiny import tiny_inputs, tiny_model


def test_forward_has_one_graph_break_at_the_geometry_lookup():
    model = tiny_model()
    x, t, ctx, mask = tiny_inputs(height=24, width=40)  # padded grid: proxy weights and biases in play
    with torch.no_grad():
        explained = torch._dynamo.explain(model)(x, t, ctx, mask)
    assert explained.graph_break_count == 1
    assert "torch.compiler.disable" in explained.break_reasons[0].reason


def test_compiled_sampling_matches_eager_without_recompiles():
    torch._dynamo.reset()
    model = tiny_model()
    compiled = torch.compile(model, backend="eager")
    x, t, ctx, mask = tiny_inputs(height=24, width=40)
    with torch.no_grad():
        compiled(x, t, ctx, mask)  # warm-up: traces with empty caches
        with torch.compiler.set_stance("fail_on_recompile"):
            for step in range(4):  # new timesteps and latents, as a sampler feeds them
                z, tt = x * (1 - step / 4), t * (1 - step / 4)
                torch.testing.assert_close(compiled(z, tt, ctx, mask), model(z, tt, ctx, mask), atol=1e-6, rtol=1e-6)
