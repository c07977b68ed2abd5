"""Nodes that exercise the harness and the host's node loading: a sleeper that reports progress and
honours interrupts, a node that raises, and a V3 ``io.ComfyNode`` exported through the literal
``NODE_CLASS_MAPPINGS`` (0.3.75 accepts V3 classes there)."""
import time

import comfy.model_management
import comfy.utils
from comfy_api.latest import io

from .kit import CATEGORY, OutputNode


class PTDiTTestSleep(OutputNode):
    """Sleeps ``steps`` x ``step_seconds``, reporting progress, stopping at an interrupt."""

    REQUIRED = {
        "steps": ("INT", {"default": 5, "min": 1, "max": 100000}),
        "step_seconds": ("FLOAT", {"default": 0.05, "min": 0.0, "max": 10.0, "step": 0.01}),
        "tag": ("STRING", {"default": ""}),
    }

    def run(self, steps, step_seconds, tag):
        bar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            time.sleep(step_seconds)
            bar.update(1)
        return {"ui": {"text": [f"slept {steps} {tag}"]}}


class PTDiTTestRaise(OutputNode):
    """Raises ``ValueError(message)``."""

    REQUIRED = {"message": ("STRING", {"default": "boom"})}

    def run(self, message):
        raise ValueError(message)


class PTDiTTestV3Literal(io.ComfyNode):
    """A V3 node exported through a literal NODE_CLASS_MAPPINGS; returns a + 1."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="PTDiTTestV3Literal", display_name="PTDiT test: V3 in literal mapping",
                         category=CATEGORY, description="Returns a + 1.", is_output_node=True,
                         inputs=[io.Int.Input("a", default=1, min=0, max=100, tooltip="the number")],
                         outputs=[io.Int.Output(display_name="a_plus_one")])

    @classmethod
    def execute(cls, a):
        return io.NodeOutput(a + 1, ui={"text": [str(a + 1)]})
