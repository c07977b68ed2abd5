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


def _depths(prompt: Mapping[str, Any]) -> dict[str, int]:
    """Longest distance of every node from a source node (for a left-to-right layout)."""
    depth: dict[str, int] = {}

    def visit(node_id: str) -> int:
        if node_id not in depth:
            upstream = [v[0] for v in prompt[node_id]["inputs"].values() if isinstance(v, list)]
            depth[node_id] = 1 + max((visit(u) for u in upstream), default=-1)
        return depth[node_id]

    for node_id in prompt:
        visit(node_id)
    return depth


def prompt_to_workflow(prompt: Mapping[str, Any], object_info: Mapping[str, Any],
                       titles: Mapping[str, str] | None = None) -> dict:
    """API prompt -> UI workflow the frontend opens (nodes laid out in columns by depth).

    The inverse of :func:`workflow_to_prompt` for prompts whose node ids are integers.
    """
    titles = titles or {}
    depth = _depths(prompt)
    rows: dict[int, int] = {}
    nodes, links = [], []
    outgoing: dict[tuple[str, int], list[int]] = {}
    for order, node_id in enumerate(sorted(prompt, key=int)):
        node = prompt[node_id]
        inputs, widgets = [], []
        for name, spec, _ in _ordered_inputs(object_info[node["class_type"]]):
            value = node["inputs"].get(name)
            kind = spec[0] if isinstance(spec[0], str) else "COMBO"
            if _is_widget(spec):
                widgets.append(spec[1].get("default") if isinstance(value, list) else value)
                if _has_control_value(name, spec):
                    widgets.append("fixed")
            if not isinstance(value, list) and _is_widget(spec):
                continue
            entry = {"name": name, "type": kind, "link": None}
            if _is_widget(spec):
                entry["widget"] = {"name": name}
            if isinstance(value, list):
                entry["link"] = len(links) + 1
                links.append([entry["link"], int(value[0]), value[1], int(node_id), len(inputs), kind])
                outgoing.setdefault((value[0], value[1]), []).append(entry["link"])
            inputs.append(entry)
        column = depth[node_id]
        rows[column] = rows.get(column, 0) + 1
        nodes.append({
            "id": int(node_id), "type": node["class_type"], "pos": [60 + 380 * column, 60 + 260 * (rows[column] - 1)],
            "size": [340, 220], "flags": {}, "order": order, "mode": 0, "inputs": inputs,
            "properties": {"Node name for S&R": node["class_type"]}, "widgets_values": widgets,
            **({"title": titles[node_id]} if node_id in titles else {}),
        })
    for node in nodes:
        info = object_info[node["type"]]
        names = info.get("output_name", info["output"])
        node["outputs"] = [{"name": name, "type": kind, "slot_index": i, "links": outgoing.get((str(node["id"]), i), [])}
                           for i, (kind, name) in enumerate(zip(info["output"], names))]
    return {"last_node_id": max(int(n) for n in prompt), "last_link_id": len(links), "nodes": nodes,
            "links": links, "groups": [], "config": {}, "extra": {}, "version": 0.4}
