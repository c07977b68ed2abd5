"""ComfyUI entry point of the PT-DiT node pack."""
from .nodes.host_version import warn_if_older_host
from .nodes.image_grid import PTDiTImageGrid
from .nodes.latents import PTDiTEmptyImageLatent, PTDiTEmptyMultiViewLatent, PTDiTEmptyVideoLatent
from .nodes.model_folders import register_model_folders
from .nodes.model_loader import PTDiTModelLoader
from .nodes.patches import PTDiTProxyRatio, PTDiTWindowAttention
from .nodes.previews import PTDiTVAEPreviews
from .nodes.samplers import PTDiTSamplerT2I, PTDiTSamplerT2MV, PTDiTSamplerT2V
from .nodes.text_encoders import PTDiTT5Loader, PTDiTT5TextRules
from .nodes.trained_ratio import register_routes
from .nodes.vae import PTDiTVAELoader

warn_if_older_host()
register_model_folders()
register_routes()

NODE_CLASS_MAPPINGS = {
    "PTDiTModelLoader": PTDiTModelLoader,
    "PTDiTProxyRatio": PTDiTProxyRatio,
    "PTDiTWindowAttention": PTDiTWindowAttention,
    "PTDiTEmptyImageLatent": PTDiTEmptyImageLatent,
    "PTDiTEmptyVideoLatent": PTDiTEmptyVideoLatent,
    "PTDiTEmptyMultiViewLatent": PTDiTEmptyMultiViewLatent,
    "PTDiTSamplerT2I": PTDiTSamplerT2I,
    "PTDiTSamplerT2V": PTDiTSamplerT2V,
    "PTDiTSamplerT2MV": PTDiTSamplerT2MV,
    "PTDiTImageGrid": PTDiTImageGrid,
    "PTDiTVAELoader": PTDiTVAELoader,
    "PTDiTVAEPreviews": PTDiTVAEPreviews,
    "PTDiTT5Loader": PTDiTT5Loader,
    "PTDiTT5TextRules": PTDiTT5TextRules,
}
WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "WEB_DIRECTORY"]
