"""ComfyUI model folders of the pack: ``models/ptdit``, the bundled demo models, and file lookup."""
from __future__ import annotations

import os
from pathlib import Path

import folder_paths

PTDIT_FOLDER = "ptdit"
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


def list_files(folders: tuple[str, ...]) -> list[str]:
    """File names ComfyUI lists under any of ``folders`` (a loader's combo), sorted, no repeats."""
    return sorted({name for folder in folders for name in folder_paths.get_filename_list(folder)})


def find_file(name: str, folders: tuple[str, ...], what: str) -> str:
    """Full path of a combo choice, searching ``folders`` in order; a readable error if it is gone."""
    for folder in folders:
        path = folder_paths.get_full_path(folder, name)
        if path is not None:
            return path
    raise ValueError(f"{what} {name!r} was not found in models/{' or models/'.join(folders)}")
