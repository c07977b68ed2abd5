"""Convert a ComfyUI UI workflow (what the frontend saves and users share) into an API prompt.

The UI format stores widget values positionally (``widgets_values``); the API format names every
input. The mapping follows the frontend's rules, read from the server's ``/object_info``:
widgets appear in the node's input order (required, then optional), an INT input flagged
``control_after_generate`` (or a legacy input named ``seed``/``noise_seed``) carries one extra
value (the "fixed/randomize" control), a linked input takes the link over its widget value, notes
are dropped, reroutes are followed, muted nodes are left out, and optional widgets missing at
the end of ``widgets_values`` (a workflow saved before they existed) are left to their defaults.
A dynamic combo (``COMFY_DYNAMICCOMBO_V3``) takes one value, then the inputs of the chosen option
follow it, named ``<combo>.<input>`` in the prompt (SaveVideo's ``format`` -> ``format.codec``).
"""
from __future__ import annotations

import uuid
from typing import Any, Mapping

DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"  # a combo whose chosen option adds inputs (ComfyUI 0.33's V3 nodes)
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", DYNAMIC_COMBO}
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


def _option_inputs(spec: list, key: str) -> list[tuple[str, list, bool]]:
    """The inputs a dynamic combo adds when ``key`` is chosen, in order (none for an unknown key)."""
    for option in spec[1].get("options", []):
        if option["key"] == key:
            return _ordered_inputs({"input": option["inputs"]})
    return []


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

        def read(specs: list, prefix: str = "") -> None:
            nonlocal cursor
            for name, spec, optional in specs:
                key = prefix + name
                forced = len(spec) > 1 and isinstance(spec[1], dict) and spec[1].get("forceInput")
                if _is_widget(spec) and not forced and isinstance(values, dict):  # some nodes save by name
                    if key in values:
                        inputs[key] = values[key]
                elif _is_widget(spec) and not forced and not (optional and cursor >= len(values)):
                    if cursor >= len(values):
                        raise WorkflowError(f"node {node_id} ({kind}) has too few widget values for {key!r}")
                    inputs[key] = values[cursor]
                    cursor += 1 + _has_control_value(name, spec)
                if key in linked:
                    inputs[key] = source(linked[key])
                elif spec[0] == DYNAMIC_COMBO and key in inputs:
                    read(_option_inputs(spec, inputs[key]), key + ".")

        read(_ordered_inputs(object_info[kind]))
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


def prompt_to_blueprint(prompt: Mapping[str, Any], object_info: Mapping[str, Any], name: str,
                        inputs: Mapping[str, tuple[str, str]], output: list, category: str, description: str,
                        uid: str) -> dict:
    """API prompt -> subgraph blueprint (what ComfyUI 0.33 serves from a pack's ``subgraphs/``): one
    node, named ``name``, that holds the whole graph.

    ``inputs`` maps a label to the (node id, widget) it feeds inside; ``output`` is the [node id, slot]
    the blueprint returns. ``uid`` (a UUID string) identifies the subgraph definition.
    """
    inner = prompt_to_workflow(prompt, object_info)
    links = [{"id": k[0], "origin_id": k[1], "origin_slot": k[2], "target_id": k[3], "target_slot": k[4],
              "type": k[5]} for k in inner["links"]]
    nodes = {node["id"]: node for node in inner["nodes"]}
    sub_inputs = []
    for slot, (label, (node_id, widget)) in enumerate(inputs.items()):
        node = nodes[int(node_id)]
        kind = next(spec for n, spec, _ in _ordered_inputs(object_info[node["type"]]) if n == widget)[0]
        link_id = len(links) + 1
        links.append({"id": link_id, "origin_id": -10, "origin_slot": slot, "target_id": node["id"],
                      "target_slot": len(node["inputs"]), "type": kind})
        node["inputs"].append({"name": widget, "type": kind, "widget": {"name": widget}, "link": link_id})
        sub_inputs.append({"id": str(uuid.uuid5(uuid.UUID(uid), f"input {label}")), "name": widget,
                           "label": label, "type": kind, "linkIds": [link_id], "pos": [0, 20 * slot]})
    source = nodes[int(output[0])]["outputs"][output[1]]
    out_link = len(links) + 1
    links.append({"id": out_link, "origin_id": int(output[0]), "origin_slot": output[1], "target_id": -20,
                  "target_slot": 0, "type": source["type"]})
    source["links"].append(out_link)
    right = max(node["pos"][0] + node["size"][0] for node in inner["nodes"])
    definition = {
        "id": uid, "version": 1, "revision": 0, "config": {}, "name": name, "category": category,
        "description": description,
        "state": {"lastGroupId": 0, "lastNodeId": inner["last_node_id"], "lastLinkId": len(links),
                  "lastRerouteId": 0},
        "inputNode": {"id": -10, "bounding": [-180, 60, 120, 40 + 20 * len(inputs)]},
        "outputNode": {"id": -20, "bounding": [right + 60, 60, 120, 60]},
        "inputs": sub_inputs,
        "outputs": [{"id": str(uuid.uuid5(uuid.UUID(uid), "output")), "name": source["name"],
                     "type": source["type"], "linkIds": [out_link], "pos": [right + 80, 80]}],
        "widgets": [], "nodes": inner["nodes"], "groups": [], "links": links, "extra": {}}
    instance = {
        "id": inner["last_node_id"] + 1, "type": uid, "pos": [0, 0], "size": [400, 100], "flags": {}, "order": 0,
        "mode": 0, "title": name, "properties": {"proxyWidgets": [[n, w] for n, w in inputs.values()]},
        "inputs": [{"name": i["name"], "label": i["label"], "type": i["type"], "widget": {"name": i["name"]},
                    "link": None} for i in sub_inputs],
        "outputs": [{"name": source["name"], "type": source["type"], "links": []}], "widgets_values": []}
    return {"revision": 0, "last_node_id": instance["id"], "last_link_id": 0, "nodes": [instance], "links": [],
            "version": 0.4, "definitions": {"subgraphs": [definition]}, "extra": {}}
