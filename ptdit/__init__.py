"""PT-DiT (Proxy-Tokenized Diffusion Transformer) in plain PyTorch; imports nothing from ComfyUI."""
