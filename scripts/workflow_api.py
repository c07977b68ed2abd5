"""Convert a ComfyUI UI workflow (what the frontend saves and users share) into an API prompt.

The UI format stores widget values positionally (``widgets_values``); the API format names every
input. The mapping follows the frontend's rules, read from the server's ``/object_info``:
widgets appear in the node's input order (required, then optional), an INT input flagged
``control_after_generate`` (or a legacy input named ``seed``/``noise_seed``) carries one extra
value (the "fixed/randomize" control), a linked input takes the link over its widget value, notes
are dropped, reroutes are followed, muted nodes are left out, and optional widgets missing at
the end of ``widgets_values`` (a workflow saved before they existed) are left to their defaults.
"""
from __future__ import annotations

from typing import Any, Mapping

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4


class WorkflowError(ValueError):
    """The workflow cannot be turned into a prompt (unknown node, bypassed node, bad values)."""


def _is_widget(spec: list) -> bool:
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _has_control_value(name: str, spec: list) -> bool:
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "control_after_generate" in options:
        return bool(options["control_after_generate"])
    return spec[0] == "INT" and name in ("seed", "noise_seed")


def _ordered_inputs(info: Mapping[str, Any]) -> list[tuple[str, list, bool]]:
    """(name, spec, optional) in the node's input order."""
    inputs = info.get("input", {})
    order = info.get("input_order") or {g: list(inputs.get(g, {})) for g in ("required", "optional")}
    return [(name, inputs[group][name], group == "optional") for group in ("required", "optional")
            for name in order.get(group, []) if name in inputs.get(group, {})]


def workflow_to_prompt(workflow: Mapping[str, Any], object_info: Mapping[str, Any]) -> dict:
    """UI workflow dict -> API prompt dict ``{node_id: {"class_type", "inputs"}}``."""
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow.get("links", [])}  # id, from, slot, to, slot, type

    def source(link_id: int) -> list:
        _, from_node, from_slot = links[link_id][:3]
        node = nodes[from_node]
        if node["type"] == "Reroute":
            upstream = node["inputs"][0].get("link")
            if upstream is None:
                raise WorkflowError(f"reroute {from_node} is not connected")
            return source(upstream)
        return [str(from_node), from_slot]

    prompt = {}
    for node_id, node in sorted(nodes.items()):
        kind = node["type"]
        if kind in FRONTEND_ONLY or node.get("mode") == MUTED:
            continue
        if node.get("mode") == BYPASSED:
            raise WorkflowError(f"node {node_id} ({kind}) is bypassed; un-bypass or remove it")
        if kind not in object_info:
            raise WorkflowError(f"node {node_id} uses {kind!r}, which this ComfyUI does not have")
        linked = {slot["name"]: slot["link"] for slot in node.get("inputs", []) if slot.get("link") is not None}
        values = node.get("widgets_values") or []
        inputs: dict[str, Any] = {}
        cursor = 0
        for name, spec, optional in _ordered_inputs(object_info[kind]):
            forced = len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("forceInput")
            if _is_widget(spec) and not forced and isinstance(values, dict):  # some nodes save by name
                if name in values:
                    inputs[name] = values[name]
            elif _is_widget(spec) and not forced and not (optional and cursor >= len(values)):
                if cursor >= len(values):
                    raise WorkflowError(f"node {node_id} ({kind}) has too few widget values for {name!r}")
                inputs[name] = values[cursor]
                cursor += 1 + _has_control_value(name, spec)
            if name in linked:
                inputs[name] = source(linked[name])
        prompt[str(node_id)] = {"class_type": kind, "inputs": inputs}
    return prompt
