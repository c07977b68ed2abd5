"""ComfyUI model folders of the pack: ``models/ptdit``, the bundled demo models, and the files of
each loader (:class:`ModelFiles`: its combo and the path of the chosen name)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import folder_paths

from .api import io

PTDIT_FOLDER = "ptdit"
TEXT_ENCODER_FOLDER = "text_encoders"
VAE_FOLDER = "vae"
DEMO_MODELS = Path(__file__).resolve().parents[1] / "demo_models"
DEMO_FOLDERS = (PTDIT_FOLDER, TEXT_ENCODER_FOLDER, VAE_FOLDER)  # demo_models/<folder>/ joins ComfyUI's models/<folder>


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


@dataclass(frozen=True)
class ModelFiles:
    """The files of one kind in ComfyUI's model ``folders`` (searched in order), e.g. VAE files;
    ``what`` names one in error messages."""

    folders: tuple[str, ...]
    what: str

    @property
    def where(self) -> str:
        """``models/a or models/b``, for messages."""
        return " or ".join(f"models/{folder}" for folder in self.folders)

    def names(self) -> list[str]:
        """The file names of all folders (a loader's choices), sorted, no repeats."""
        return sorted({name for folder in self.folders for name in folder_paths.get_filename_list(folder)})

    def combo(self, input_name: str, tooltip: str) -> io.Combo.Input:
        """A combo input offering :meth:`names`."""
        return io.Combo.Input(input_name, options=self.names(), tooltip=tooltip)

    def not_found(self, name: str) -> ValueError:
        return ValueError(f"{self.what} {name!r} was not found in {self.where}")

    def path(self, name: str) -> str:
        """Full path of a chosen name, from the first folder holding it; :meth:`not_found` if none does."""
        for folder in self.folders:
            path = folder_paths.get_full_path(folder, name)
            if path is not None:
                return path
        raise self.not_found(name)


PTDIT_MODELS = ModelFiles((PTDIT_FOLDER, "diffusion_models"), "model file")
VAE_FILES = ModelFiles((VAE_FOLDER,), "VAE file")
TEXT_ENCODER_FILES = ModelFiles((TEXT_ENCODER_FOLDER,), "text encoder")
