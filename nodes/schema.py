"""Pieces of the PT-DiT nodes' V3 schemas: one schema constructor and the inputs several nodes share.

Every user-visible text is passed as a string, never read from a docstring, so it survives
``python -OO``.
"""
from __future__ import annotations

from .api import io
from .options import WEIGHT_DTYPES

MENU = "PT-DiT"  # the top of the pack's node menu; a node is listed under PT-DiT/<group>


def node_schema(node_id: str, display_name: str, group: str, description: str, inputs: list,
                outputs: list) -> io.Schema:
    """The schema of a PT-DiT node listed under ``PT-DiT/<group>`` in the node menu."""
    return io.Schema(node_id=node_id, display_name=display_name, category=f"{MENU}/{group}",
                     description=description, inputs=inputs, outputs=outputs)


def model_input() -> io.Model.Input:
    """The ``model`` input of the nodes that take a PT-DiT MODEL."""
    return io.Model.Input("model", tooltip="A PT-DiT MODEL.")


def weight_dtype_input(name: str, tooltip: str) -> io.Combo.Input:
    """A loader's choice of weight storage (:data:`.options.WEIGHT_DTYPES`), ``default`` preselected."""
    return io.Combo.Input(name, options=list(WEIGHT_DTYPES), default="default", tooltip=tooltip)
