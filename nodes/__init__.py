"""ComfyUI adapters: thin nodes that turn ComfyUI inputs into ``ptdit`` calls and back."""
