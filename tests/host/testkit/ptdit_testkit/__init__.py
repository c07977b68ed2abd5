"""Test-only ComfyUI node pack (never shipped): probes of the ComfyUI core contracts the PT-DiT
integration relies on, feeds for the host tests, and nodes that exercise the harness. Imported by
ComfyUI only, as a package exporting a literal ``NODE_CLASS_MAPPINGS``.

Modules: ``kit`` (what the nodes share), ``harness_nodes`` (sleep / raise / a V3 class in this
literal mapping), ``conditioning`` (hand-made CONDITIONING), ``reference`` (the pack's sampler on a
golden fixture), ``reference_forward`` (a golden forward through the loader's MODEL), ``probe_hooks``
(an attention override and a model wrapper that count their calls), ``probe_model`` (a MODEL built without checkpoint detection, options and block
patches on it), ``probe_vae`` (a 5D video VAE built like the pack's), ``reports`` (output nodes
reporting what the probes saw).
"""
from .conditioning import PTDiTProbeConditioning, PTDiTTestConditioning
from .harness_nodes import PTDiTTestRaise, PTDiTTestSleep, PTDiTTestV3Literal
from .probe_hooks import PTDiTProbeCoreHooks, PTDiTProbeCoreHooksReport
from .probe_model import PTDiTProbeBlockPatch, PTDiTProbeModel, PTDiTProbeSetOption
from .probe_vae import PTDiTProbeVAE
from .reference import PTDiTTestReferenceSampling
from .reference_forward import PTDiTTestReferenceForward
from .reports import PTDiTProbeCompileStats, PTDiTProbeModelOptions, PTDiTProbeReload, PTDiTProbeReport

NODE_CLASS_MAPPINGS = {
    "PTDiTTestSleep": PTDiTTestSleep,
    "PTDiTTestRaise": PTDiTTestRaise,
    "PTDiTTestV3Literal": PTDiTTestV3Literal,
    "PTDiTTestConditioning": PTDiTTestConditioning,
    "PTDiTTestReferenceSampling": PTDiTTestReferenceSampling,
    "PTDiTTestReferenceForward": PTDiTTestReferenceForward,
    "PTDiTProbeBlockPatch": PTDiTProbeBlockPatch,
    "PTDiTProbeCoreHooks": PTDiTProbeCoreHooks,
    "PTDiTProbeCoreHooksReport": PTDiTProbeCoreHooksReport,
    "PTDiTProbeCompileStats": PTDiTProbeCompileStats,
    "PTDiTProbeModel": PTDiTProbeModel,
    "PTDiTProbeModelOptions": PTDiTProbeModelOptions,
    "PTDiTProbeSetOption": PTDiTProbeSetOption,
    "PTDiTProbeConditioning": PTDiTProbeConditioning,
    "PTDiTProbeVAE": PTDiTProbeVAE,
    "PTDiTProbeReport": PTDiTProbeReport,
    "PTDiTProbeReload": PTDiTProbeReload,
}
NODE_DISPLAY_NAME_MAPPINGS = {"PTDiTTestSleep": "PTDiT test: sleep"}
