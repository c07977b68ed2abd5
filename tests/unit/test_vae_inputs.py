"""Input validation and awkward sizes: clear errors, no crashes."""
from __future__ import annotations

import pytest
import torch

from tests.unit.vae_tiny import one_thread, tiny_reference_vae, tiny_vae  # noqa: F401 (autouse fixture)


@pytest.mark.parametrize("shape, message", [
    ((1, 4, 1, 16, 16), r"pixels shaped \(batch, 3, frames, height, width\), got \(1, 4, 1, 16, 16\)"),
    ((1, 3, 16, 16), r"got \(1, 3, 16, 16\)"),
    ((1, 3, 6, 16, 16), r"1 \+ 4k frames \(1, 5, 9, \.\.\.\); got 6: trim to 5 or pad to 9"),
    ((1, 3, 0, 16, 16), "empty"),
])
def test_bad_pixels_are_rejected(shape, message):
    with pytest.raises(ValueError, match=message):
        tiny_vae().encode(torch.zeros(shape))


@pytest.mark.parametrize("shape, message", [
    ((1, 3, 1, 4, 4), r"latents shaped \(batch, 4, frames, height, width\), got \(1, 3, 1, 4, 4\)"),
    ((1, 4, 4, 4), r"got \(1, 4, 4, 4\)"),
])
def test_bad_latents_are_rejected(shape, message):
    with pytest.raises(ValueError, match=message):
        tiny_vae().decode(torch.zeros(shape))
    with pytest.raises(ValueError, match=message):
        tiny_reference_vae().decode(torch.zeros(shape))


@pytest.mark.parametrize("frames, height, width, latent", [
    (1, 1, 1, (1, 1, 1)), (1, 5, 3, (1, 1, 1)), (1, 13, 21, (1, 2, 3)), (5, 9, 8, (2, 2, 1)),
])
def test_encode_pads_to_whole_latents(frames, height, width, latent):
    """CausalVAE.encode edge-pads H and W up to multiples of 8: ceil(H / 8) latents."""
    mean, logvar = tiny_vae().encode(torch.rand(1, 3, frames, height, width) * 2 - 1)
    assert mean.shape == logvar.shape == (1, 4) + latent


def test_reference_encode_keeps_the_reference_sizes():
    """The reference floors (H // 8) and accepts any frame count; inputs under 8 px are padded to 8."""
    vae = tiny_reference_vae()
    assert vae.encode(torch.rand(1, 3, 6, 13, 21))[0].shape == (1, 4, 2, 1, 2)
    assert vae.encode(torch.rand(1, 3, 1, 3, 5))[0].shape == (1, 4, 1, 1, 1)


@pytest.mark.parametrize("shape", [(1, 4, 1, 1, 1), (2, 4, 2, 3, 5)])
def test_decode_any_latent_size(shape):
    out = tiny_vae().decode(torch.randn(shape))
    b, _, t, h, w = shape
    assert out.shape == (b, 3, 4 * (t - 1) + 1, 8 * h, 8 * w) and torch.isfinite(out).all()


def test_reference_decode_divides_by_the_latent_scale():
    vae = tiny_reference_vae()
    z = torch.randn(1, 4, 1, 2, 2)
    torch.testing.assert_close(vae.decode(z * vae.latent_scale), tiny_vae().decode(z, tiling=None))
