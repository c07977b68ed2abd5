"""PT-DiT Model Loader node."""
from __future__ import annotations

from .api import io
from .model_folders import PTDIT_FOLDER, find_file, list_files
from .model_loading import load_ptdit_model
from .options import WEIGHT_DTYPES
from .validation import CheckedNode

MODEL_FOLDERS = (PTDIT_FOLDER, "diffusion_models")


class PTDiTModelLoader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PTDiTModelLoader",
            display_name="PT-DiT Model Loader",
            category="PT-DiT/loaders",
            description="Loads a PT-DiT (Qihoo-T2X) transformer from models/ptdit or models/diffusion_models.",
            inputs=[
                io.Combo.Input("model_name", options=list_files(MODEL_FOLDERS),
                               tooltip="PT-DiT checkpoint (.safetensors, or a weights-only .pt/.pth/.ckpt)."),
                io.Combo.Input("weight_dtype", options=list(WEIGHT_DTYPES), default="default",
                               tooltip="Storage precision of the weights. 'default' picks what the device "
                                       "supports; fp8 stores weights in 8 bits and computes in bf16/fp16/fp32."),
            ],
            outputs=[io.Model.Output(tooltip="The PT-DiT diffusion model.")],
        )

    @classmethod
    def execute(cls, model_name: str, weight_dtype: str) -> io.NodeOutput:
        return io.NodeOutput(load_ptdit_model(find_file(model_name, MODEL_FOLDERS, "model file"), weight_dtype))
