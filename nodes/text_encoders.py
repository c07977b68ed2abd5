"""T5-XXL text conditioning for PT-DiT: the PT-DiT T5 Loader and the PT-DiT T5 Text Rules node.

Both hand out an ordinary ComfyUI ``CLIP`` that the stock ``CLIPTextEncode`` encodes:

* :class:`PTDiTT5Tokenizer` tokenises like the Qihoo-T2X reference (``ptdit.text.tokens``): the prompt cleaned
  as the reference cleans it (``ptdit.text.captions``, optional), its T5 tokens, ``</s>``, at most 200
  tokens (longer prompts are cut with a warning), no padding (padding is masked in the reference, so
  leaving it out gives the same states; the model side pads and masks again, see ``comfy_model``);
* :class:`PTDiTT5TextModel` is ComfyUI's own T5 (``comfy.text_encoders.t5``, the module that
  CLIPLoader builds for PixArt) with attention masks enabled and the encoder's size taken from the
  files instead of the fixed XXL json; activations run in float32 whatever the weight dtype, which is
  how ComfyUI keeps fp16 T5 weights from overflowing;
* :class:`ReferenceRulesTokenizer` puts the same tokenisation in front of a stock T5 CLIP
  (CLIPLoader types pixart, sd3, mochi, ...).
"""
from __future__ import annotations

import functools
import inspect
import logging
import os
from pathlib import Path
from typing import Optional

import torch

import comfy.model_management
import comfy.sd
import comfy.sd1_clip
import comfy.supported_models_base
import comfy.text_encoders.sd3_clip
import comfy.utils
import folder_paths

from ..ptdit.checkpoint import read_failure
from ..ptdit.text.captions import clean_prompt
from ..ptdit.text.t5_files import (ANCHOR, T5FormatError, T5Spec, check_tokenizer, check_weights, has_tokenizer,
                                is_encoder_folder, normalize_state_dict, read_folder_config, spec_from_state_dict,
                                weight_files)
from ..ptdit.text.tokens import MAX_TOKENS, truncate_with_end
from .api import io
from .model_folders import TEXT_ENCODER_FILES, TEXT_ENCODER_FOLDER, ModelFiles
from .options import weight_dtype_of
from .schema import node_schema, weight_dtype_input
from .validation import CheckedNode

COMFY_T5_TOKENIZER = os.path.join(os.path.dirname(os.path.realpath(comfy.sd1_clip.__file__)), "text_encoders",
                                  "t5_tokenizer")
AUTO_TOKENIZER = "auto"
BUILTIN_TOKENIZER = "ComfyUI T5 tokenizer (built in)"
SOURCE_KEY = "ptdit_text_encoder"  # conditioning entry naming the encoder, for error messages
T5_KEY = "t5xxl"
DEVICES = ("default", "cpu")
_SCAN_DEPTH = 3
TOKENIZER_FOLDERS = ModelFiles((TEXT_ENCODER_FOLDER,), "tokenizer folder")  # listed by tokenizer_choices()

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ tokenizer

def load_hf_tokenizer(path: str):
    """A transformers T5 tokenizer from a folder (tokenizer.json and/or spiece.model)."""
    from transformers import AutoTokenizer, T5TokenizerFast

    errors = []
    for cls in (AutoTokenizer, T5TokenizerFast):
        try:
            return cls.from_pretrained(path)
        except Exception as exc:  # transformers raises OSError, ValueError, TypeError...
            errors.append(f"{cls.__name__}: {exc}")
    raise T5FormatError(f"no tokenizer could be read from {path} ({'; '.join(errors)})")


class _Preloaded:
    """``tokenizer_class`` for SDTokenizer that hands back an already loaded tokenizer."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def from_pretrained(self, _path, **_kwargs):
        return self.tokenizer


class _CleanedInput:
    """A transformers tokenizer that cleans every text it is given like the reference pipeline.

    SDTokenizer calls it once per weighted segment of a prompt, after ``(word:1.2)`` and
    ``embedding:`` have been parsed, so cleaning never touches ComfyUI's prompt syntax."""

    def __init__(self, hf_tokenizer):
        self.hf_tokenizer = hf_tokenizer

    def __call__(self, text: str, **kwargs):
        return self.hf_tokenizer(clean_prompt(text), **kwargs)

    def get_vocab(self):
        return self.hf_tokenizer.get_vocab()

    def decode(self, token_ids, **kwargs):
        return self.hf_tokenizer.decode(token_ids, **kwargs)


class PTDiTT5Tokenizer(comfy.sd1_clip.SDTokenizer):
    """T5 tokenisation of the Qihoo-T2X reference inside ComfyUI's tokenizer framework.

    Prompt weights ``(word:1.2)`` and ``embedding:`` work as everywhere in ComfyUI; with ``clean``
    the text of each weighted part is cleaned like the reference's prompts (``ptdit.text.captions``). The
    result is one sequence: the prompt's tokens, then ``</s>``, cut to ``max_tokens`` (199 + ``</s>``)
    like the reference's ``truncation=True``, with one warning per cut prompt; an empty prompt is
    ``[</s>]``. Padding options (T5TokenizerOptions) are ignored: the reference masks its padding, so
    it cannot matter.
    """

    def __init__(self, tokenizer_path: str = COMFY_T5_TOKENIZER, embedding_directory=None, tokenizer_data={},
                 embedding_size: int = 4096, max_tokens: int = MAX_TOKENS, hf_tokenizer=None, clean: bool = True):
        hf_tokenizer = hf_tokenizer if hf_tokenizer is not None else load_hf_tokenizer(tokenizer_path)
        tokenizer_class = _Preloaded(_CleanedInput(hf_tokenizer) if clean else hf_tokenizer)
        super().__init__(tokenizer_path, max_length=99999999, pad_with_end=False,
                         embedding_directory=embedding_directory, embedding_size=embedding_size,
                         embedding_key=T5_KEY, tokenizer_class=tokenizer_class, has_start_token=False,
                         pad_to_max_length=False, min_length=1, tokenizer_data={})
        self.max_tokens = max_tokens
        self.tokenizer_path = tokenizer_path
        self.hf_tokenizer = hf_tokenizer  # uncleaned, for the Text Rules node
        self._cut_prompts: set[str] = set()

    def tokenize_with_weights(self, text: str, return_word_ids=False, tokenizer_options={}, **kwargs):
        sections = super().tokenize_with_weights(text, return_word_ids, tokenizer_options={}, **kwargs)
        tokens = [t for section in sections for t in section]
        if len(tokens) > self.max_tokens and text not in self._cut_prompts:
            self._cut_prompts.add(text)
            log.warning("PT-DiT: prompt cut to %d T5 tokens (it has %d), as the reference cuts it; the text "
                        "after token %d is ignored: %r", self.max_tokens, len(tokens), self.max_tokens - 1,
                        _preview(text))
        return [truncate_with_end(tokens, self.max_tokens)]


def _preview(text: str, size: int = 80) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def t5_tokenizer_class(hf_tokenizer, tokenizer_path: str, embedding_size: int, clean: bool = True):
    """The tokenizer class a ComfyUI ``CLIP`` instantiates: ``{"t5xxl": tokens}`` per prompt."""
    make = functools.partial(PTDiTT5Tokenizer, tokenizer_path, embedding_size=embedding_size,
                             hf_tokenizer=hf_tokenizer, clean=clean)

    class Tokenizer(comfy.sd1_clip.SD1Tokenizer):
        def __init__(self, embedding_directory=None, tokenizer_data={}):
            super().__init__(embedding_directory=embedding_directory, tokenizer_data=tokenizer_data,
                             clip_name=T5_KEY, tokenizer=make)

    return Tokenizer


class ReferenceRulesTokenizer:
    """Front of a stock T5 CLIP's tokenizer: its T5 part tokenised by :class:`PTDiTT5Tokenizer`, every
    other part (the CLIP-L/G of an SD3-style loader) left empty so that only T5 states come out."""

    def __init__(self, original, t5: Optional[PTDiTT5Tokenizer] = None):
        probe = original.tokenize_with_weights("")
        if not isinstance(probe, dict) or T5_KEY not in probe:
            parts = ", ".join(probe) if isinstance(probe, dict) else type(probe).__name__
            raise ValueError(f"PT-DiT conditions on T5-XXL, but this CLIP ({type(original).__name__}, parts: "
                             f"{parts}) has no T5-XXL tokenizer; load t5xxl with CLIPLoader type 'pixart' or use "
                             "the PT-DiT T5 Loader")
        self.original = original
        self.parts = list(probe)
        self.t5xxl = t5

    def tokenize_with_weights(self, text: str, return_word_ids=False, **kwargs):
        out = {part: [] for part in self.parts}
        out[T5_KEY] = self.t5xxl.tokenize_with_weights(text, return_word_ids, **kwargs)
        return out

    def untokenize(self, token_weight_pair):
        return self.t5xxl.untokenize(token_weight_pair)

    def state_dict(self):
        return self.original.state_dict()


# ------------------------------------------------------------------------------ encoder

class _MaskedT5XXL(comfy.text_encoders.sd3_clip.T5XXLModel):
    """ComfyUI's T5-XXL wrapper with the attention mask on (as Mochi's). The weighting baseline of
    ``(word:1.2)`` prompts is then the reference's empty prompt: ``</s>`` plus masked padding."""

    def __init__(self, **kwargs):
        kwargs["attention_mask"] = True
        super().__init__(**kwargs)


def offload_encoder(module: torch.nn.Module) -> int:
    """Unload ``module`` now if ComfyUI holds it loaded (every patcher of it, clones included), leaving
    every other loaded model where it is; returns how many loaded patchers were released.

    This is core's own targeted unload: ``free_memory`` of everything on the device, keeping the
    others loaded (as ``unload_model_and_clones`` of newer ComfyUI does)."""
    mm = comfy.model_management
    loaded = [p for p in mm.loaded_models() if p is not None]
    devices = {p.load_device for p in loaded if p.model is module}
    keep = [mm.LoadedModel(p) for p in loaded if p.model is not module]
    return sum(len(mm.free_memory(1e30, device, keep_loaded=keep)) for device in devices)


class PTDiTT5TextModel(comfy.sd1_clip.SD1ClipModel):
    """``cond_stage_model`` of the PT-DiT T5 Loader: a T5 encoder of any size (from
    ``model_options["t5xxl_model_config"]``). Conditioning carries ``attention_mask`` only when the
    tokens hold padding, and ``ptdit_text_encoder`` (the file name) for error messages."""

    source = "the text encoder"
    offload_after_encode = False

    def __init__(self, device="cpu", dtype=None, model_options={}):
        super().__init__(device=device, dtype=dtype, name=T5_KEY, clip_model=_MaskedT5XXL,
                         model_options=model_options)

    def encode_token_weights(self, token_weight_pairs):
        cond, pooled, extra = super().encode_token_weights(token_weight_pairs)
        mask = extra.get("attention_mask")
        if mask is not None and bool(mask.all()):
            del extra["attention_mask"]  # no padding: identical to the stock PixArt conditioning
        extra[SOURCE_KEY] = self.source
        if self.offload_after_encode:
            offload_encoder(self)
        return cond, pooled, extra


def read_encoder(path: str, name: str) -> tuple[T5Spec, dict]:
    """Spec and normalised weights of an encoder folder or single file; errors name the files."""
    if os.path.isdir(path):
        spec = read_folder_config(path)
        files = weight_files(path)
        state_dict = {}
        for f in files:
            state_dict.update(_read_weights(str(f), f"{name}{f.name}"))
        state_dict = normalize_state_dict(state_dict)
        source = f"{name} ({', '.join(f.name for f in files)})"
        if ANCHOR not in state_dict:
            raise T5FormatError(f"{source} holds no T5 encoder weights (no '{ANCHOR}'; first names: "
                                f"{', '.join(list(state_dict)[:5]) or 'none'})")
        check_weights(spec, state_dict, source)
    else:
        state_dict = normalize_state_dict(_read_weights(path, name))
        spec = spec_from_state_dict(state_dict, name)
        check_weights(spec, state_dict, name)
    return spec, state_dict


def read_quantisation(state_dict: dict) -> tuple[dict, dict]:
    """Weights and T5 ``model_options`` for ComfyUI's fp8 files, read the way this ComfyUI's own text
    encoder loader reads them: newer versions convert scaled-fp8 files to quantised layers
    (``comfy.utils.convert_old_quants``), older ones take the fp8 dtype of the ``scaled_fp8`` marker."""
    convert = getattr(comfy.utils, "convert_old_quants", None)
    if convert is not None:
        state_dict, _metadata = convert(state_dict, "", {})
        layers = comfy.utils.detect_layer_quantization(state_dict, "")
        return state_dict, ({"t5xxl_quantization_metadata": layers} if layers else {})
    if "scaled_fp8" in state_dict:
        return state_dict, {"t5xxl_scaled_fp8": state_dict["scaled_fp8"].dtype}
    return state_dict, {}


def _read_weights(path: str, name: str) -> dict:
    try:
        return comfy.utils.load_torch_file(path, safe_load=True)
    except Exception as exc:  # ComfyUI's reader raises several types for unreadable files
        raise T5FormatError(f"{name} {read_failure(path, exc)}") from exc


def load_t5_text_encoder(encoder_path: str, tokenizer_path: Optional[str] = None, *, device: str = "default",
                         dtype: str = "default", offload_when_idle: bool = True, clean_prompts: bool = True,
                         name: Optional[str] = None, tokenizer_name: Optional[str] = None) -> comfy.sd.CLIP:
    """Build a ComfyUI ``CLIP`` from a transformers T5 folder or a single weights file.

    ``tokenizer_path`` None means ComfyUI's bundled T5 tokenizer; ``clean_prompts`` cleans prompts
    like the reference pipeline. Raises ``ValueError`` naming the files when they are not a T5
    encoder, when the tokenizer does not fit the embedding table, or when the weights do not match
    the config.
    """
    name = name or os.path.basename(encoder_path.rstrip(os.sep))
    storage = weight_dtype_of(dtype, "dtype")
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    spec, state_dict = read_encoder(encoder_path, name)

    tokenizer_path = tokenizer_path or COMFY_T5_TOKENIZER
    tokenizer_name = tokenizer_name or (BUILTIN_TOKENIZER if tokenizer_path == COMFY_T5_TOKENIZER else tokenizer_path)
    hf_tokenizer = load_hf_tokenizer(tokenizer_path)
    check_tokenizer(spec.vocab_size, len(hf_tokenizer), hf_tokenizer.eos_token_id, hf_tokenizer("")["input_ids"],
                    tokenizer_name, name)

    model_options = {"t5xxl_model_config": spec.comfy_config()}
    if storage is not None:
        model_options["dtype"] = storage
    if device == "cpu":
        model_options["load_device"] = model_options["offload_device"] = torch.device("cpu")
    state_dict, quantisation = read_quantisation(state_dict)
    model_options.update(quantisation)
    target = comfy.supported_models_base.ClipTarget(
        t5_tokenizer_class(hf_tokenizer, tokenizer_path, spec.d_model, clean_prompts), PTDiTT5TextModel)
    clip = build_clip(target, state_dict, model_options, name)
    clip.cond_stage_model.source = f"{name} ({spec.describe()})"
    clip.cond_stage_model.offload_after_encode = bool(offload_when_idle)
    log.info("PT-DiT T5 loader: %s with tokenizer %s", clip.cond_stage_model.source, tokenizer_name)
    return clip


def build_clip(target, state_dict: dict, model_options: dict, name: str) -> comfy.sd.CLIP:
    """Core's ``CLIP`` for ``target`` with ``state_dict`` loaded as this ComfyUI's own text-encoder
    loader loads it: newer versions take the weights in the constructor (quantised layers must have
    them before the first load onto the device), older ones load them afterwards."""
    kwargs = dict(embedding_directory=folder_paths.get_folder_paths("embeddings"),
                  parameters=comfy.utils.calculate_parameters(state_dict), model_options=model_options)
    if "state_dict" in inspect.signature(comfy.sd.CLIP).parameters:
        return comfy.sd.CLIP(target, state_dict=[state_dict], **kwargs)  # warns itself about missing weights
    clip = comfy.sd.CLIP(target, **kwargs)
    missing, _unexpected = clip.load_sd(state_dict)
    if missing:
        raise T5FormatError(f"{name}: weights missing after loading: {', '.join(list(missing)[:5])}")
    return clip


def with_reference_rules(clip, clean_prompts: bool = True) -> comfy.sd.CLIP:
    """A copy of a T5 CLIP that tokenises like the reference (see :class:`ReferenceRulesTokenizer`),
    cleaning prompts when ``clean_prompts``; applied again, it replaces the earlier rules."""
    original = clip.tokenizer
    if isinstance(original, ReferenceRulesTokenizer):
        original = original.original
    wrapped = ReferenceRulesTokenizer(original, None)  # checks that there is a T5 part
    t5 = getattr(original, T5_KEY, None)  # the part's own T5 vocabulary and embeddings folder
    hf_tokenizer = getattr(t5, "hf_tokenizer", None) or getattr(t5, "tokenizer", None)  # ours, or core's
    wrapped.t5xxl = PTDiTT5Tokenizer(embedding_directory=getattr(t5, "embedding_directory", None),
                                     embedding_size=getattr(t5, "embedding_size", 4096),
                                     hf_tokenizer=hf_tokenizer, clean=clean_prompts)
    out = clip.clone()
    out.tokenizer = wrapped
    return out


# ------------------------------------------------------------------------------ files

def _roots() -> list[Path]:
    return [Path(p) for p in folder_paths.get_folder_paths(TEXT_ENCODER_FOLDER) if os.path.isdir(p)]


def _scan(predicate) -> list[tuple[str, Path]]:
    """(``relative/name/``, path) of the folders under the text-encoder roots matching ``predicate``."""
    found = []
    for root in _roots():
        for dirpath, dirnames, _files in os.walk(root, followlinks=True):
            here = Path(dirpath)
            depth = len(here.relative_to(root).parts)
            if here != root and predicate(here):
                found.append((here.relative_to(root).as_posix() + "/", here))
            if depth >= _SCAN_DEPTH:
                dirnames[:] = []
            dirnames.sort()
    return found


def encoder_choices() -> list[str]:
    """Encoder folders (``name/``) and single weight files under models/text_encoders."""
    folders = _scan(is_encoder_folder)
    names = [n for n, _ in folders]
    for f in TEXT_ENCODER_FILES.names():
        if not any(f.startswith(folder) for folder in names):
            names.append(f)
    return sorted(dict.fromkeys(names))


def tokenizer_choices() -> list[str]:
    return [AUTO_TOKENIZER, BUILTIN_TOKENIZER, *sorted(dict.fromkeys(n for n, _ in _scan(has_tokenizer)))]


def _find_folder(choice: str, files: ModelFiles) -> str:
    """Path of a folder choice (``name/``) under the text-encoder roots; ``files.not_found`` if none holds it."""
    for root in _roots():
        if (root / choice).is_dir():
            return str(root / choice)
    raise files.not_found(choice)


def resolve_encoder(choice: str) -> str:
    """Path of an :func:`encoder_choices` choice: a folder (``name/``) or a weights file."""
    if choice.endswith("/"):
        return _find_folder(choice, TEXT_ENCODER_FILES)
    return TEXT_ENCODER_FILES.path(choice)


def resolve_tokenizer(choice: str, encoder_path: str) -> Optional[str]:
    """Tokenizer folder for ``choice``; None = ComfyUI's bundled T5 tokenizer.

    ``auto``: the encoder folder itself when it holds tokenizer files, else a sibling ``tokenizer/``
    folder (the release's ``text_encoder/`` + ``tokenizer/`` layout; for a single file also
    ``<file stem>_tokenizer/``), else the bundled tokenizer.
    """
    if choice == BUILTIN_TOKENIZER:
        return None
    if choice == AUTO_TOKENIZER:
        enc = Path(encoder_path)
        candidates = [enc, enc.parent / "tokenizer"] if enc.is_dir() else \
            [enc.parent / f"{enc.stem}_tokenizer", enc.parent / "tokenizer"]
        for c in candidates:
            if c.is_dir() and has_tokenizer(c):
                return str(c)
        return None
    return _find_folder(choice, TOKENIZER_FOLDERS)


# ------------------------------------------------------------------------------ nodes

def clean_prompts_input() -> io.Boolean.Input:
    """The optional ``clean_prompts`` switch (optional, so workflows saved without it still load)."""
    return io.Boolean.Input("clean_prompts", default=True, optional=True,
                            tooltip="Clean prompts as the reference pipeline does before T5 (PixArt's caption "
                                    "rules): lower case; URLs, HTML tags, @handles, brackets and other noise "
                                    "punctuation removed; whitespace collapsed. On matches the reference; off "
                                    "encodes the text as typed.")


class PTDiTT5Loader(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTT5Loader", "PT-DiT T5 Loader", "loaders",
            "Loads the T5-XXL v1.1 text encoder PT-DiT conditions on — a transformers folder (config.json + "
            "weights, e.g. the release's text_encoder/) or one safetensors file such as t5xxl_fp16.safetensors — "
            "with the reference's prompt cleaning and tokenisation (</s>, at most 200 tokens). "
            "Encode prompts with the stock CLIP Text Encode node.",
            inputs=[
                io.Combo.Input("text_encoder", options=encoder_choices(),
                               tooltip="From models/text_encoders: a folder (name/) with config.json and "
                                       "model.safetensors / sharded model-*.safetensors / pytorch_model.bin, or "
                                       "one weights file (t5xxl_fp16.safetensors, fp8 variants)."),
                io.Combo.Input("tokenizer", options=tokenizer_choices(), default=AUTO_TOKENIZER,
                               tooltip="auto: the encoder folder's own tokenizer files, else a 'tokenizer/' folder "
                                       "beside it, else ComfyUI's built-in T5 tokenizer (the same T5 v1.1 "
                                       "vocabulary). Or pick a tokenizer folder from models/text_encoders."),
                io.Combo.Input("device", options=list(DEVICES), default="default",
                               tooltip="default: ComfyUI's text-encoder device (GPU when it fits). cpu: keep the "
                                       "encoder on the CPU (slow, saves ~10 GB of VRAM for T5-XXL)."),
                weight_dtype_input("dtype", "Storage precision of the weights (ComfyUI's default is fp16). "
                                            "Activations always run in fp32, so fp16 weights cannot overflow; fp32 "
                                            "matches the reference's encoder bit for bit, fp8 halves memory again."),
                io.Boolean.Input("offload_when_idle", default=True,
                                 tooltip="Move the encoder off the GPU right after each encoding (prompts are "
                                         "cached, so it is idle until a prompt changes). Off: ComfyUI unloads it "
                                         "only when memory is needed."),
                clean_prompts_input(),
            ],
            outputs=[io.Clip.Output(tooltip="A T5 CLIP for CLIP Text Encode; its conditioning feeds PT-DiT "
                                            "samplers or KSampler.")])

    @classmethod
    def execute(cls, text_encoder: str, tokenizer: str, device: str, dtype: str,
                offload_when_idle: bool, clean_prompts: bool = True) -> io.NodeOutput:
        encoder_path = resolve_encoder(text_encoder)
        tokenizer_path = resolve_tokenizer(tokenizer, encoder_path)
        if tokenizer_path is None:
            tokenizer_name = BUILTIN_TOKENIZER
        elif tokenizer == AUTO_TOKENIZER:
            tokenizer_name = f"auto: {tokenizer_path}"
        else:
            tokenizer_name = tokenizer
        try:
            clip = load_t5_text_encoder(encoder_path, tokenizer_path, device=device, dtype=dtype,
                                        offload_when_idle=offload_when_idle, clean_prompts=clean_prompts,
                                        name=text_encoder, tokenizer_name=tokenizer_name)
        except T5FormatError as exc:
            raise ValueError(f"PT-DiT T5 Loader: {exc}") from exc
        return io.NodeOutput(clip)


class PTDiTT5TextRules(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTT5TextRules", "PT-DiT T5 Text Rules", "conditioning",
            "Makes a stock T5-XXL CLIP (CLIPLoader type pixart, sd3, mochi...) tokenise like the Qihoo-T2X "
            "reference: cleaned prompt, its tokens + </s>, cut to 200, no unmasked padding, T5 states only. "
            "Needed for prompts over 199 tokens and for sd3/flux-type loaders; the PT-DiT T5 Loader does this "
            "already.",
            inputs=[io.Clip.Input("clip", tooltip="A CLIP holding T5-XXL, e.g. t5xxl_fp16.safetensors from CLIPLoader."),
                    clean_prompts_input()],
            outputs=[io.Clip.Output(tooltip="The same encoder with the reference's tokenisation, for CLIP Text Encode.")])

    @classmethod
    def execute(cls, clip, clean_prompts: bool = True) -> io.NodeOutput:
        return io.NodeOutput(with_reference_rules(clip, clean_prompts))
