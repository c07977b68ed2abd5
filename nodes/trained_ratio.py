"""The window and proxy ratios a PT-DiT checkpoint was trained with, for the Proxy Ratio widget.

Two sources, both exact: the ``ptdit_config`` (or official ``config``) metadata of a model file,
read from its safetensors header only and served by ``GET /ptdit/trained_ratio?model_name=NAME``
for names ComfyUI lists in the PT-DiT Model Loader's folders; and the config of the MODEL the
Proxy Ratio node last ran on, sent to the widget as UI output. A file without that metadata gets
``known: false``: its ratios are not visible in the weights, so the widget waits for a run.
"""
from __future__ import annotations

from typing import Optional

from ..ptdit import PTDiTConfig
from ..ptdit.checkpoint import SAFETENSORS_SUFFIXES, CheckpointError, read_safetensors_metadata
from ..ptdit.loader import config_from_metadata
from .model_folders import PTDIT_MODELS

ROUTE = "/ptdit/trained_ratio"
UI_KEY = "ptdit_trained"


def report(model_name: Optional[str], config: Optional[PTDiTConfig], reason: str = "") -> dict:
    """JSON answer: ``{model_name, known, window, proxy}`` or ``{model_name, known: false, reason}``."""
    if config is None:
        return {"model_name": model_name, "known": False, "reason": reason}
    return {"model_name": model_name, "known": True, "window": list(config.compress_ratios),
            "proxy": list(config.proxy_ratios)}


def file_report(model_name: str) -> Optional[dict]:
    """Trained ratios stored in a listed model file's header; None when ComfyUI does not list the name."""
    if model_name not in PTDIT_MODELS.names():
        return None
    path = PTDIT_MODELS.path(model_name)
    if not path.lower().endswith(SAFETENSORS_SUFFIXES):
        return report(model_name, None, "a pickled checkpoint stores no config; run the workflow once")
    try:
        config = config_from_metadata(read_safetensors_metadata(path))
    except (CheckpointError, ValueError, TypeError) as exc:  # unreadable file or a bad config entry
        return report(model_name, None, f"its metadata cannot be read ({exc})")
    return report(model_name, config, "the file has no ptdit_config metadata; run the workflow once")


def model_report(model) -> Optional[dict]:
    """Trained ratios of a PT-DiT MODEL (what checkpoint mode runs); None for other models."""
    config = model.model.model_config.unet_config.get("ptdit_config")
    if config is None:
        return None
    return report(model.model.ptdit_source, PTDiTConfig.from_dict(config))


def register_routes() -> None:
    """Add ``GET /ptdit/trained_ratio`` (and ``/api/...``) to ComfyUI's public route table."""
    from aiohttp import web
    from server import PromptServer

    @PromptServer.instance.routes.get(ROUTE)
    async def trained_ratio(request):
        name = request.rel_url.query.get("model_name", "")
        answer = file_report(name)
        if answer is None:
            return web.json_response({"error": f"{name!r} is not a file of {PTDIT_MODELS.where}"}, status=404)
        return web.json_response(answer)
