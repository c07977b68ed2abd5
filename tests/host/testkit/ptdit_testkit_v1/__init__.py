"""Test-only nodes (V1 style plus one V3 class in a literal mapping). Imported by ComfyUI only."""
import time

import comfy.model_management
import comfy.utils
from comfy_api.latest import io


class PTDiTTestSleep:
    """Sleeps ``steps`` x ``step_seconds``, reporting progress, stopping at an interrupt."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "steps": ("INT", {"default": 5, "min": 1, "max": 100000}),
            "step_seconds": ("FLOAT", {"default": 0.05, "min": 0.0, "max": 10.0, "step": 0.01}),
            "tag": ("STRING", {"default": ""}),
        }}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "ptdit_testkit"

    def run(self, steps, step_seconds, tag):
        bar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            time.sleep(step_seconds)
            bar.update(1)
        return {"ui": {"text": [f"slept {steps} {tag}"]}}


class PTDiTTestRaise:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"message": ("STRING", {"default": "boom"})}}

    RETURN_TYPES = ()
    FUNCTION = "run"
    OUTPUT_NODE = True
    CATEGORY = "ptdit_testkit"

    def run(self, message):
        raise ValueError(message)


class PTDiTTestV3Literal(io.ComfyNode):
    """A V3 node exported through a literal NODE_CLASS_MAPPINGS."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="PTDiTTestV3Literal",
            display_name="PTDiT test: V3 in literal mapping",
            category="ptdit_testkit",
            description="Returns a + 1.",
            inputs=[io.Int.Input("a", default=1, min=0, max=100, tooltip="the number")],
            outputs=[io.Int.Output(display_name="a_plus_one")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, a):
        return io.NodeOutput(a + 1, ui={"text": [str(a + 1)]})


NODE_CLASS_MAPPINGS = {
    "PTDiTTestSleep": PTDiTTestSleep,
    "PTDiTTestRaise": PTDiTTestRaise,
    "PTDiTTestV3Literal": PTDiTTestV3Literal,
}
NODE_DISPLAY_NAME_MAPPINGS = {"PTDiTTestSleep": "PTDiT test: sleep"}
