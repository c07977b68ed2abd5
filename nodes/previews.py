"""Which preview colours a PT-DiT MODEL shows, and the PT-DiT VAE Previews node that links a VAE's.

Every PT-DiT MODEL previews with the default factors of :class:`PTDiTLatentFormat` (fitted to the
demo VAE) from the first step of a session. PT-DiT VAE Previews clones a MODEL and gives the clone
a latent format of its own with the factors fitted to the VAE's file, stored in the clone's
``model_options`` under :data:`LATENT_FORMAT_KEY`; the PT-DiT samplers preview with it. The
checkpoint's latent format (``model.model.latent_format``, which core's KSampler reads and every
clone shares) is not touched, so other MODELs, other clones and the stock samplers keep the default.
"""
from __future__ import annotations

import comfy.utils
import latent_preview

from .api import io
from .comfy_model import PTDiTLatentFormat, require_ptdit
from .schema import model_input, node_schema
from .validation import CheckedNode
from .vae import PTDiTVAE

LATENT_FORMAT_KEY = "ptdit_latent_format"  # model_options[...]: this clone's PTDiTLatentFormat


def preview_latent_format(model):
    """The latent format the PT-DiT samplers preview ``model`` (a ModelPatcher) with: the clone's
    own (:func:`with_vae_previews`), else the checkpoint's (object patches honoured)."""
    return model.model_options.get(LATENT_FORMAT_KEY) or model.get_model_object("latent_format")


def with_vae_previews(model, vae: PTDiTVAE):
    """A clone of ``model`` previewing with the factors fitted to ``vae``'s file (the default
    factors when the VAE has none)."""
    factors = vae.preview_factors
    patched = model.clone()
    patched.model_options[LATENT_FORMAT_KEY] = (PTDiTLatentFormat(factors.factors, factors.bias) if factors
                                                else PTDiTLatentFormat())
    return patched


def preview_callback(model, steps: int):
    """What ``latent_preview.prepare_callback`` builds (ComfyUI's previewer for the server's preview
    method, a progress bar of ``steps``), with the latent format of :func:`preview_latent_format`."""
    previewer = latent_preview.get_previewer(model.load_device, preview_latent_format(model))
    bar = comfy.utils.ProgressBar(steps)

    def callback(step, x0, x, total_steps):
        image = previewer.decode_latent_to_preview_image("JPEG", x0) if previewer else None
        bar.update_absolute(step + 1, total_steps, image)

    return callback


class PTDiTVAEPreviews(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTVAEPreviews", "PT-DiT VAE Previews", "model",
            "Makes the PT-DiT samplers' latent previews show this VAE's colours (factors fitted once per VAE "
            "file and cached). Without it previews use default colours fitted to the demo VAE.",
            inputs=[model_input(),
                    io.Vae.Input("vae", tooltip="A VAE from the PT-DiT VAE Loader (the one you decode with).")],
            outputs=[io.Model.Output(tooltip="The MODEL (a clone) with this VAE's preview colours.")])

    @classmethod
    def execute(cls, model, vae) -> io.NodeOutput:
        require_ptdit(model)
        if not isinstance(vae, PTDiTVAE):
            raise ValueError(f"this node needs a VAE from the PT-DiT VAE Loader, got {type(vae).__name__}")
        return io.NodeOutput(with_vae_previews(model, vae))
