"""The demo training script's loss helpers: motion weights for clips, the image-latent anchor."""
from __future__ import annotations

import torch

from scripts.demo.train import image_latent_drift, motion_weights
from tests.unit.vae_tiny import one_thread, tiny_vae  # noqa: F401 (autouse fixture)


def test_motion_weights_leave_images_and_static_clips_alone():
    assert motion_weights(torch.randn(2, 4, 8, 8), 3.0) == 1.0
    assert motion_weights(torch.randn(2, 4, 2, 8, 8), 0.0) == 1.0
    static = torch.randn(2, 4, 1, 8, 8).expand(2, 4, 3, 8, 8)
    torch.testing.assert_close(motion_weights(static, 3.0), torch.ones(2, 1, 3, 8, 8))


def test_motion_weights_favour_where_a_clip_changes():
    x = torch.zeros(1, 4, 2, 8, 8)
    x[:, :, 1, 2:4, 2:4] = 1.0  # something appears in the second latent frame
    w = motion_weights(x, 3.0)
    assert w.shape == (1, 1, 2, 8, 8)
    assert torch.equal(w[:, :, 0], torch.ones(1, 1, 8, 8))  # the first frame keeps weight 1
    moved, still = w[0, 0, 1, 2:4, 2:4], w[0, 0, 1, 5:, 5:]
    assert torch.all(still == 1) and torch.all(moved == 1 + 3.0 * 64 / 4)  # change normalised to mean 1
    assert w[:, :, 1].mean().item() == 1 + 3.0


def test_image_latent_drift_is_zero_for_the_anchor_and_grows_with_a_change():
    x = torch.rand(2, 3, 1, 16, 16) * 2 - 1
    vae, anchor = tiny_vae(0), tiny_vae(0)
    assert image_latent_drift(vae, anchor, x).item() == 0.0
    with torch.no_grad():
        vae.encoder.conv_in.weight.add_(0.05)  # any change of the image path
    with torch.enable_grad():
        drift = image_latent_drift(vae, anchor, x)
    assert drift.item() > 0 and drift.requires_grad
