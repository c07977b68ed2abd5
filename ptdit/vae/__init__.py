"""The Open-Sora-Plan v1.2 CausalVAE (the VAE of Qihoo-T2X / PT-DiT) in plain PyTorch.

* :mod:`.config` — :class:`~.config.CausalVAEConfig`, config inference, the released factors.
* :mod:`.blocks` — causal convolutions, ResNet and attention blocks, resamplers.
* :mod:`.norm` — GroupNorm whose statistics can be shared between tiles.
* :mod:`.model` — :class:`~.model.CausalVAE` (raw latents) and its input checks.
* :mod:`.tiling` — exact and low-memory tiled encode/decode.
* :mod:`.memory` — peak-memory model and the tiling choice for a budget.
* :mod:`.loading` — checkpoint loading.
* :mod:`.preview` — latent -> RGB preview factor fit.
"""
