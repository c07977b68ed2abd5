"""UI workflow -> API prompt conversion (the rules the ComfyUI frontend applies)."""
from __future__ import annotations

import pytest

from scripts.workflow_api import WorkflowError, workflow_to_prompt

OBJECT_INFO = {
    "Loader": {"input": {"required": {"name": [["a.safetensors", "b.safetensors"], {}]}},
               "input_order": {"required": ["name"]}},
    "Sampler": {"input": {"required": {
        "model": ["MODEL", {}], "seed": ["INT", {"control_after_generate": True}], "steps": ["INT", {}],
        "cfg": ["FLOAT", {}], "mode": ["COMBO", {"options": ["x", "y"]}]},
        "optional": {"label": ["STRING", {}], "extra": ["INT", {"forceInput": True}]}},
        "input_order": {"required": ["model", "seed", "steps", "cfg", "mode"], "optional": ["label", "extra"]}},
    "Legacy": {"input": {"required": {"noise_seed": ["INT", {}], "flag": ["BOOLEAN", {}]}}},
}


def _workflow(nodes, links=()):
    return {"nodes": nodes, "links": [list(link) for link in links]}


def test_widgets_links_and_control_values_map_by_name():
    wf = _workflow([
        {"id": 1, "type": "Loader", "widgets_values": ["b.safetensors"], "outputs": [{"links": [7]}]},
        {"id": 2, "type": "Sampler", "inputs": [{"name": "model", "link": 7}, {"name": "extra", "link": None}],
         "widgets_values": [42, "randomize", 30, 4.5, "y", "hello"]},
        {"id": 3, "type": "Legacy", "widgets_values": [9, "fixed", True]},
        {"id": 4, "type": "Note", "widgets_values": ["just a note"]},
    ], links=[(7, 1, 0, 2, 0, "MODEL")])
    assert workflow_to_prompt(wf, OBJECT_INFO) == {
        "1": {"class_type": "Loader", "inputs": {"name": "b.safetensors"}},
        "2": {"class_type": "Sampler", "inputs": {"model": ["1", 0], "seed": 42, "steps": 30, "cfg": 4.5,
                                                  "mode": "y", "label": "hello"}},
        "3": {"class_type": "Legacy", "inputs": {"noise_seed": 9, "flag": True}},
    }


def test_a_widget_turned_into_a_linked_input_takes_the_link():
    wf = _workflow([
        {"id": 1, "type": "Legacy", "widgets_values": [1, "fixed", False]},
        {"id": 2, "type": "Sampler", "inputs": [{"name": "model", "link": None},
                                                {"name": "steps", "link": 3, "widget": {"name": "steps"}}],
         "widgets_values": [1, "fixed", 20, 1.0, "x", ""]},
        {"id": 5, "type": "Reroute", "inputs": [{"name": "", "link": 2}]},
    ], links=[(2, 1, 0, 5, 0, "INT"), (3, 5, 0, 2, 2, "INT")])
    assert workflow_to_prompt(wf, OBJECT_INFO)["2"]["inputs"]["steps"] == ["1", 0]


@pytest.mark.parametrize("node, message", [
    ({"id": 1, "type": "Unknown", "widgets_values": []}, "does not have"),
    ({"id": 1, "type": "Legacy", "mode": 4, "widgets_values": [1, "fixed", True]}, "bypassed"),
    ({"id": 1, "type": "Sampler", "widgets_values": [1]}, "too few widget values"),
])
def test_unusable_workflows_are_reported(node, message):
    with pytest.raises(WorkflowError, match=message):
        workflow_to_prompt(_workflow([node]), OBJECT_INFO)


def test_muted_nodes_are_left_out():
    wf = _workflow([{"id": 1, "type": "Legacy", "mode": 2, "widgets_values": [1, "fixed", True]}])
    assert workflow_to_prompt(wf, OBJECT_INFO) == {}


def test_optional_widgets_added_after_a_workflow_was_saved_take_their_defaults():
    wf = _workflow([{"id": 1, "type": "Sampler", "inputs": [{"name": "model", "link": None}],
                     "widgets_values": [7, "fixed", 10, 2.0, "x"]}])
    assert "label" not in workflow_to_prompt(wf, OBJECT_INFO)["1"]["inputs"]


def test_prompt_to_workflow_round_trips():
    prompt = {
        "1": {"class_type": "Loader", "inputs": {"name": "a.safetensors"}},
        "2": {"class_type": "Sampler", "inputs": {"model": ["1", 0], "seed": 5, "steps": 3, "cfg": 1.5,
                                                  "mode": "x", "label": "t"}},
    }
    info = {k: {**v, "output": ["MODEL"], "output_name": ["MODEL"]} for k, v in OBJECT_INFO.items()}
    from scripts.workflow_api import prompt_to_workflow

    workflow = prompt_to_workflow(prompt, info)
    assert workflow["links"] == [[1, 1, 0, 2, 0, "MODEL"]]
    assert workflow_to_prompt(workflow, info) == prompt


def test_a_dynamic_combo_is_followed_by_the_inputs_of_its_chosen_option():
    """ComfyUI 0.33's SaveVideo: ``format`` picks an option whose ``codec`` (itself a dynamic combo)
    follows it, named ``format.codec``; options not chosen and missing optional values are left out."""
    codec = ["COMFY_DYNAMICCOMBO_V3", {"options": [
        {"key": "auto", "inputs": {"required": {}}},
        {"key": "h264", "inputs": {"required": {}, "optional": {"crf": ["FLOAT", {}]}}}]}]
    info = {"SaveVideo": {"input": {"required": {
        "prefix": ["STRING", {}],
        "format": ["COMFY_DYNAMICCOMBO_V3", {"options": [
            {"key": "mp4", "inputs": {"required": {"codec": codec}}},
            {"key": "webm", "inputs": {"required": {"quality": ["INT", {}]}}}]}]},
        "optional": {"codec": codec}}, "input_order": {"required": ["prefix", "format"], "optional": ["codec"]}}}
    node = {"id": 1, "type": "SaveVideo"}
    assert workflow_to_prompt(_workflow([{**node, "widgets_values": ["clip", "mp4", "h264"]}]), info) == {
        "1": {"class_type": "SaveVideo", "inputs": {"prefix": "clip", "format": "mp4", "format.codec": "h264"}}}
    assert workflow_to_prompt(_workflow([{**node, "widgets_values": ["clip", "webm", 7]}]), info)["1"]["inputs"] \
        == {"prefix": "clip", "format": "webm", "format.quality": 7}
