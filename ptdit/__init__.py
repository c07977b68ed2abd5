"""PT-DiT (Proxy-Tokenized Diffusion Transformer) in plain PyTorch; imports nothing from ComfyUI."""
from .vae_loading import vae_from_reference_config
