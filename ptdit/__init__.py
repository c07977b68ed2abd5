"""PT-DiT (Proxy-Tokenized Diffusion Transformer) in plain PyTorch; imports nothing from ComfyUI.

Entry points:

* :class:`PTDiT` / :class:`PTDiTConfig` / :data:`PRESETS` — the transformer and its configuration.
* :class:`WindowSettings` — window/proxy ratios and local-attention switches, per call.
* :func:`from_reference_config` — build from the official constructor kwargs (parity checks).
* :func:`vae_from_reference_config` — the Open-Sora-Plan v1.2 CausalVAE, likewise.
"""
from .config import PRESETS, PTDiTConfig, WindowSettings, config_from_reference
from .model import PTDiT
from .vae_loading import vae_from_reference_config


def from_reference_config(config: dict, state_dict: dict | None = None) -> PTDiT:
    """Build a float32 :class:`PTDiT` from official ``PTDiTDiffuser(**config)`` kwargs.

    ``state_dict`` uses the official parameter names; it is loaded strictly (``pos_embed.pos_embed``
    may be absent). The result is called as ``model(x, timestep, context, context_mask)``.
    """
    from .loader import load_weights

    model = PTDiT(config_from_reference(config))
    if state_dict is not None:
        load_weights(model, state_dict)
    return model.eval()


__all__ = ["PRESETS", "PTDiT", "PTDiTConfig", "WindowSettings", "config_from_reference", "from_reference_config",
           "vae_from_reference_config"]
