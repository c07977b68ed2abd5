"""The ComfyUI node API version this pack is written against (V3 schema and extension), with a fallback."""
try:  # pinned: the schema as of ComfyUI 0.3.7x
    from comfy_api.v0_0_2 import ComfyExtension, io
except ImportError:  # newer ComfyUI without that alias
    from comfy_api.latest import ComfyExtension, io

__all__ = ["ComfyExtension", "io"]
