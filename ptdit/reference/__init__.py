"""Code that exists only to compare with the official implementations; the runtime never imports it.

* :mod:`.dit` — :func:`~.dit.from_reference_config`: PT-DiT from the official constructor kwargs.
* :mod:`.vae` — :class:`~.vae.ReferenceCausalVAE` (official latent scale and sizes) and
  :func:`~.vae.vae_from_reference_config`: the CausalVAE from the official constructor kwargs.
* :mod:`.tiling` — :class:`~.tiling.ReferenceTiling` and :func:`~.tiling.reference_tiled`, the
  official tiled encode/decode.
"""
