"""ComfyUI entry point of the PT-DiT node pack: ``comfy_entrypoint`` (ComfyUI's V3 extension API),
which both supported hosts read."""
from .nodes.api import ComfyExtension
from .nodes.host_version import warn_if_older_host
from .nodes.image_grid import PTDiTImageGrid
from .nodes.latents import PTDiTEmptyImageLatent, PTDiTEmptyMultiViewLatent, PTDiTEmptyVideoLatent
from .nodes.lora_loader import PTDiTLoraLoader
from .nodes.model_folders import register_model_folders
from .nodes.model_loader import PTDiTModelLoader
from .nodes.patches import PTDiTProxyRatio, PTDiTWindowAttention
from .nodes.previews import PTDiTVAEPreviews
from .nodes.samplers import PTDiTSamplerT2I, PTDiTSamplerT2MV, PTDiTSamplerT2V
from .nodes.text_encoders import PTDiTT5Loader, PTDiTT5TextRules
from .nodes.trained_ratio import register_routes
from .nodes.vae import PTDiTVAELoader

NODES = [  # each registers under its class name
    PTDiTModelLoader,
    PTDiTLoraLoader,
    PTDiTProxyRatio,
    PTDiTWindowAttention,
    PTDiTEmptyImageLatent,
    PTDiTEmptyVideoLatent,
    PTDiTEmptyMultiViewLatent,
    PTDiTSamplerT2I,
    PTDiTSamplerT2V,
    PTDiTSamplerT2MV,
    PTDiTImageGrid,
    PTDiTVAELoader,
    PTDiTVAEPreviews,
    PTDiTT5Loader,
    PTDiTT5TextRules,
]
WEB_DIRECTORY = "./web"


class PTDiTExtension(ComfyExtension):
    """The pack's nodes; :meth:`on_load` adds its model folders and its route."""

    def __init__(self):
        self.loaded = False

    async def on_load(self) -> None:
        if not self.loaded:
            register_model_folders()
            register_routes()
            self.loaded = True

    async def get_node_list(self) -> list:
        await self.on_load()  # ComfyUI 0.3.75 reads comfy_entrypoint but never calls on_load
        return NODES


async def comfy_entrypoint() -> PTDiTExtension:
    return PTDiTExtension()


warn_if_older_host()  # also where the host is too old to read comfy_entrypoint

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
