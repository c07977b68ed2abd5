"""PT-DiT (Proxy-Tokenized Diffusion Transformer) in plain PyTorch; imports nothing from ComfyUI.

Entry points:

* :class:`PTDiT` / :class:`PTDiTConfig` / :data:`PRESETS` — the transformer and its configuration.
* :class:`WindowSettings` — window/proxy ratios and local-attention switches, per call.
* :mod:`ptdit.vae` — the Open-Sora-Plan v1.2 CausalVAE.
* :mod:`ptdit.reference` — builders from the official constructor kwargs (parity checks only).
"""
from .config import PRESETS, PTDiTConfig, WindowSettings, config_from_reference
from .model import PTDiT

__all__ = ["PRESETS", "PTDiT", "PTDiTConfig", "WindowSettings", "config_from_reference"]
