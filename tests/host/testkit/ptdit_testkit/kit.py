"""What every testkit node shares: the category, the classic (V1) node declaration, JSON reports as
UI text, and access to the loaded PT-DiT pack."""
import json
import sys

CATEGORY = "ptdit_testkit"
PACK_LINK = "ComfyUI-PTDiT"  # the folder name tests/harness links the pack under


class TestkitNode:
    """A classic ComfyUI node: ``REQUIRED`` / ``OPTIONAL`` are its input specs (name -> (type,
    options)), ``RETURN_TYPES`` its outputs, ``run`` its function."""

    REQUIRED: dict = {}
    OPTIONAL: dict = {}
    RETURN_TYPES: tuple = ()
    FUNCTION = "run"
    OUTPUT_NODE = False
    CATEGORY = CATEGORY

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": dict(cls.REQUIRED), "optional": dict(cls.OPTIONAL)}


class OutputNode(TestkitNode):
    """A classic node that ComfyUI runs as an output (its UI values land in ``/history`` outputs)."""

    OUTPUT_NODE = True


def ui_json(info) -> dict:
    """A node return value showing ``info`` as one JSON UI text."""
    return {"ui": {"text": [json.dumps(info)]}}


def pack_module(submodule: str):
    """A submodule of the loaded pack, e.g. ``nodes.samplers`` (ComfyUI registers packs under a
    path-derived name)."""
    for name, module in list(sys.modules.items()):
        if name.endswith(PACK_LINK + "." + submodule):
            return module
    raise LookupError(f"{submodule} of the PT-DiT pack ({PACK_LINK}) is not loaded")
