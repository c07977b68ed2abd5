"""PT-DiT Model Loader node."""
from __future__ import annotations

import os
from pathlib import Path

import folder_paths

from .api import io
from .model_loading import WEIGHT_DTYPES, load_ptdit_model

PTDIT_FOLDER = "ptdit"
MODEL_FOLDERS = (PTDIT_FOLDER, "diffusion_models")
DEMO_MODELS = Path(__file__).resolve().parents[1] / "demo_models"
DEMO_FOLDERS = (PTDIT_FOLDER, "text_encoders", "vae")  # demo_models/<folder>/ joins ComfyUI's models/<folder>


def register_model_folders() -> None:
    """Add ``models/ptdit`` beside ComfyUI's own model folders, and the pack's tiny demo models
    (``demo_models/ptdit``, ``/text_encoders``, ``/vae``) after the user's folders, so that the
    ``ptdit_demo_*`` files appear in the loaders; ``PTDIT_DEMO_MODELS=0`` leaves them out. Idempotent."""
    if PTDIT_FOLDER not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[PTDIT_FOLDER] = (
            [os.path.join(folder_paths.models_dir, PTDIT_FOLDER)], folder_paths.supported_pt_extensions)
    if os.environ.get("PTDIT_DEMO_MODELS", "1") == "0":
        return
    for folder in DEMO_FOLDERS:
        if (DEMO_MODELS / folder).is_dir():
            folder_paths.add_model_folder_path(folder, str(DEMO_MODELS / folder))


def model_files() -> list[str]:
    names = []
    for folder in MODEL_FOLDERS:
        names.extend(n for n in folder_paths.get_filename_list(folder) if n not in names)
    return sorted(names)


def resolve_model_path(name: str) -> str:
    for folder in MODEL_FOLDERS:
        path = folder_paths.get_full_path(folder, name)
        if path is not None:
            return path
    raise ValueError(f"model file {name!r} was not found in models/{' or models/'.join(MODEL_FOLDERS)}")


class PTDiTModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PTDiTModelLoader",
            display_name="PT-DiT Model Loader",
            category="PT-DiT/loaders",
            description="Loads a PT-DiT (Qihoo-T2X) transformer from models/ptdit or models/diffusion_models.",
            inputs=[
                io.Combo.Input("model_name", options=model_files(),
                               tooltip="PT-DiT checkpoint (.safetensors, or a weights-only .pt/.pth/.ckpt)."),
                io.Combo.Input("weight_dtype", options=list(WEIGHT_DTYPES), default="default",
                               tooltip="Storage precision of the weights. 'default' picks what the device "
                                       "supports; fp8 stores weights in 8 bits and computes in bf16/fp16/fp32."),
            ],
            outputs=[io.Model.Output(tooltip="The PT-DiT diffusion model.")],
        )

    @classmethod
    def execute(cls, model_name: str, weight_dtype: str) -> io.NodeOutput:
        return io.NodeOutput(load_ptdit_model(resolve_model_path(model_name), weight_dtype))
