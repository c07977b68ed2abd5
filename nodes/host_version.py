"""Which ComfyUI releases the pack is tested on, and the one log line for an older host."""
from __future__ import annotations

import logging
import re
from typing import Optional

OLDEST_TESTED = "0.3.75"
NEWEST_TESTED = "0.33.0"


def _release(version: str) -> Optional[tuple]:
    found = re.match(r"\s*v?(\d+)\.(\d+)\.(\d+)", version or "")
    return tuple(int(part) for part in found.groups()) if found else None


def older_host_message(version: str) -> Optional[str]:
    """The warning for a ComfyUI ``version`` older than :data:`OLDEST_TESTED`; None when it is not
    older or cannot be read (a development checkout)."""
    release = _release(version)
    if release is None or release >= _release(OLDEST_TESTED):
        return None
    return (f"[PT-DiT] ComfyUI {version} is older than the oldest release this pack is tested on "
            f"({OLDEST_TESTED}; tested {OLDEST_TESTED} to {NEWEST_TESTED}): update ComfyUI if a PT-DiT node fails.")


def warn_if_older_host() -> Optional[str]:
    """Log :func:`older_host_message` once for the running ComfyUI (its ``comfyui_version`` module)."""
    try:
        from comfyui_version import __version__ as version
    except ImportError:
        return None
    message = older_host_message(version)
    if message:
        logging.warning(message)
    return message
