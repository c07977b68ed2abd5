"""PT-DiT T2I / T2V / T2MV samplers, built on ComfyUI's own sampling (progress, previews, interrupt).

Each sampler sets the model's flow shift to the official resolution/length ratio and, with the
default ``ptdit_rflow`` scheduler, walks exactly the official timestep schedule; any ComfyUI
sampler and scheduler can be chosen instead.
"""
from __future__ import annotations

import math

import torch

import comfy.model_sampling
import comfy.sample
import comfy.samplers
import comfy.utils

from ..ptdit import flow
from ..ptdit.finite import check_step
from .api import io
from .comfy_model import require_ptdit
from .latents import IMAGE, MULTI_VIEW, VIDEO, batch_input, empty_latent, image_size, size_inputs
from .previews import preview_callback
from .schema import model_input, node_schema
from .validation import CheckedNode

OFFICIAL_SCHEDULER = "ptdit_rflow"


def with_shift(model, shift: float):
    """Clone ``model`` with a flow model-sampling of the given shift (as ModelSamplingSD3 does)."""

    class PTDiTModelSampling(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        pass

    sampling = PTDiTModelSampling(model.model.model_config)
    sampling.set_parameters(shift=shift, multiplier=1000)
    patched = model.clone()
    patched.add_object_patch("model_sampling", sampling)
    return patched


def official_sigmas(steps: int, height: int, width: int, frames: int, denoise: float = 1.0) -> torch.Tensor:
    """The official schedule as ComfyUI sigmas (t/1000, then 0). With ``denoise`` < 1, its last
    ``steps`` steps of a schedule of ``int(steps / denoise)`` steps, as core's KSampler cuts its
    schedules (no step at all for 0)."""
    if denoise <= 0:
        return torch.zeros(0)
    total = steps if denoise > 0.9999 else int(steps / denoise)
    sigmas = torch.cat([flow.rflow_timesteps(total, height, width, frames).double() / 1000, torch.zeros(1)]).float()
    return sigmas[-(steps + 1):]


def finite_callback(preview, source: str):
    """A sampling callback that stops at the first step whose prediction holds NaN / inf (one
    reduced scalar read per step), then shows the preview."""

    def callback(step, denoised, x, total_steps):
        check_step(denoised, step, total_steps, source)
        return preview(step, denoised, x, total_steps)

    return callback


def run_sampler(model, positive, negative, latent: torch.Tensor, *, seed: int, steps: int, cfg: float,
                sampler_name: str, scheduler: str, height: int, width: int, frames: int,
                noise: torch.Tensor | None = None, denoise: float = 1.0,
                noise_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Sample ``latent`` (zeros for text-to-X) with PT-DiT; returns the final latents. ``denoise``
    < 1 re-draws ``latent`` from noise added at the sigma where the schedule's last ``steps`` steps
    start (as core's KSampler); ``noise_mask`` (a LATENT's) limits the change, as there."""
    require_ptdit(model)
    if not math.isfinite(cfg):  # a linked value: widget values are checked when queued
        raise ValueError(f"cfg={cfg} is not a finite number")
    if not 0 <= denoise <= 1:
        raise ValueError(f"denoise={denoise} is outside 0..1")
    shift = float(flow.shift_ratio(height, width, frames))
    patched = with_shift(model, shift)
    latent = comfy.sample.fix_empty_latent_channels(patched, latent)
    if noise is None:
        noise = comfy.sample.prepare_noise(latent, seed)
    callback = finite_callback(preview_callback(patched, steps), model.model.ptdit_source)
    disable_pbar = not comfy.utils.PROGRESS_BAR_ENABLED
    if scheduler == OFFICIAL_SCHEDULER:
        sampler = comfy.samplers.sampler_object(sampler_name)
        sigmas = official_sigmas(steps, height, width, frames, denoise)
        return comfy.sample.sample_custom(patched, noise, cfg, sampler, sigmas, positive, negative, latent,
                                          noise_mask=noise_mask, callback=callback, disable_pbar=disable_pbar,
                                          seed=seed)
    return comfy.sample.sample(patched, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent,
                               denoise=denoise, noise_mask=noise_mask, callback=callback, disable_pbar=disable_pbar,
                               seed=seed)


def sampling_inputs() -> list:
    return [
        io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                     tooltip="Random seed of the initial noise."),
        io.Int.Input("steps", default=30, min=1, max=200, tooltip="Sampling steps (the released model uses 30)."),
        io.Float.Input("cfg", default=4.0, min=0.0, max=30.0, step=0.1, round=0.01,
                       tooltip="Classifier-free guidance scale (the released model uses 4)."),
        io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="euler",
                       tooltip="Sampling algorithm; 'euler' with 'ptdit_rflow' is the official sampler."),
        io.Combo.Input("scheduler", options=[OFFICIAL_SCHEDULER, *comfy.samplers.KSampler.SCHEDULERS],
                       default=OFFICIAL_SCHEDULER,
                       tooltip="'ptdit_rflow' is the official resolution-shifted schedule; others use "
                               "ComfyUI's schedulers with the same shift."),
    ]


def redraw_inputs() -> list:
    """The optional image-to-image / video-to-video inputs, after the sampling inputs."""
    return [
        io.Latent.Input("latent_image", optional=True,
                        tooltip="Latents to re-draw (e.g. VAE Encode with the PT-DiT VAE). Their shape must be the "
                                "one the size, length and batch inputs describe. Empty: start from noise."),
        io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01, optional=True,
                       tooltip="How much of latent_image to re-draw: 1 starts from pure noise, 0 returns it "
                               "unchanged; in between, noise is added at the matching point of the schedule."),
    ]


def input_latent(latent: dict, expected: tuple, length: str) -> torch.Tensor:
    """The samples of a ``latent_image`` input, checked against the ``expected`` shape of the node's
    inputs; an image encoded as a one-frame clip (B, 4, 1, h, w) is taken as the image (B, 4, h, w).
    ``length``: the node's length input and value (e.g. ``frames=17``), for messages."""
    samples = latent["samples"]
    if len(expected) == 4 and samples.ndim == 5 and samples.shape[2] == 1:
        samples = samples[:, :, 0]
    shape = tuple(samples.shape)
    if shape == tuple(expected):
        return samples
    axes = ["batch_size", "channels", *([f"latent frames ({length})"] if len(expected) == 5 else []),
            "height / 8", "width / 8"]
    if len(shape) != len(expected):
        raise ValueError(f"latent_image has shape {shape}, but this sampler takes {len(expected)}-D latents "
                         f"{tuple(expected)} ({', '.join(axes)})")
    wrong = [f"{axis}: latent_image has {got}, the inputs give {want}"
             for axis, got, want in zip(axes, shape, expected) if got != want]
    raise ValueError(f"latent_image {shape} does not match the shape {tuple(expected)} of this sampler's size, "
                     "length and batch inputs: " + "; ".join(wrong))


class PTDiTSampler(CheckedNode):
    """Base of the T2I / T2V / T2MV samplers: the schema (model, prompts, size, length input, the
    subclass's :meth:`extra_inputs`, batch, sampling inputs) and the sampling. A subclass gives its
    names, ``default_size``, ``length`` and outputs (:meth:`latent_outputs`, :meth:`node_output`)."""

    node_id = display_name = description = ""
    default_size = 512
    length = IMAGE

    @classmethod
    def extra_inputs(cls) -> list:
        """Inputs after the length input that the model does not read."""
        return []

    @classmethod
    def latent_outputs(cls) -> list:
        raise NotImplementedError

    @classmethod
    def node_output(cls, samples: torch.Tensor, **values) -> io.NodeOutput:
        """The node's outputs for the sampled latents ``samples`` and its length and extra ``values``."""
        return io.NodeOutput({"samples": samples})

    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(cls.node_id, cls.display_name, "sampling", cls.description,
                           inputs=[model_input(),
                                   io.Conditioning.Input("positive", tooltip="Prompt (T5-XXL conditioning)."),
                                   io.Conditioning.Input("negative", tooltip="Negative prompt; an empty prompt is "
                                                                             "the official default."),
                                   *size_inputs(cls.default_size), *cls.length.inputs(), *cls.extra_inputs(),
                                   batch_input(), *sampling_inputs(), *redraw_inputs()],
                           outputs=cls.latent_outputs())

    @classmethod
    def execute(cls, model, positive, negative, width, height, batch_size, seed, steps, cfg, sampler_name,
                scheduler, latent_image=None, denoise=1.0, **values) -> io.NodeOutput:
        width, height = image_size("custom", width, height)
        latent = empty_latent(batch_size, width, height, cls.length.latent_frames(values))
        noise_mask = None
        if latent_image is not None:
            length = f"{cls.length.name}={values[cls.length.name]}" if cls.length.name else ""
            latent = input_latent(latent_image, latent.shape, length)
            noise_mask = latent_image.get("noise_mask")
        samples = run_sampler(model, positive, negative, latent, seed=seed, steps=steps, cfg=cfg,
                              sampler_name=sampler_name, scheduler=scheduler, height=height, width=width,
                              frames=cls.length.frames(values), denoise=denoise, noise_mask=noise_mask)
        return cls.node_output(samples, **values)


class PTDiTSamplerT2I(PTDiTSampler):
    node_id, display_name = "PTDiTSamplerT2I", "PT-DiT T2I Sampler"
    description = "Text-to-image with PT-DiT (defaults from the released Qihoo-T2I: 1024², 30 steps, CFG 4)."
    default_size = 1024

    @classmethod
    def latent_outputs(cls) -> list:
        return [io.Latent.Output(tooltip="Image latents (B, 4, H/8, W/8).")]


class PTDiTSamplerT2V(PTDiTSampler):
    node_id, display_name = "PTDiTSamplerT2V", "PT-DiT T2V Sampler"
    description = "Text-to-video with PT-DiT: 1+4k frames, windows spanning frames (p_f = 4 with auto ratios)."
    length = VIDEO

    @classmethod
    def extra_inputs(cls) -> list:
        return [io.Float.Input("fps", default=24.0, min=1.0, max=120.0, step=1.0,
                               tooltip="Frame rate passed on to video-saving nodes (not a model input).")]

    @classmethod
    def latent_outputs(cls) -> list:
        return [io.Latent.Output(tooltip="Video latents (B, 4, 1+k, H/8, W/8)."),
                io.Float.Output("frame_rate", display_name="fps", tooltip="The frame rate, for video-saving nodes.")]

    @classmethod
    def node_output(cls, samples: torch.Tensor, frames: int, fps: float) -> io.NodeOutput:
        return io.NodeOutput({"samples": samples}, fps)


class PTDiTSamplerT2MV(PTDiTSampler):
    node_id, display_name = "PTDiTSamplerT2MV", "PT-DiT T2MV Sampler"
    description = ("Text-to-multi-view: the views around an orbit are sampled jointly as one 3-D clip so they stay "
                   "consistent; each view decodes as an image.")
    length = MULTI_VIEW

    @classmethod
    def latent_outputs(cls) -> list:
        return [io.Latent.Output("latent", tooltip="The joint clip latent (B, 4, views, H/8, W/8)."),
                io.Latent.Output("view_latents", display_name="views",
                                 tooltip="The same views as an image batch (B·views, 4, H/8, W/8), ready for VAE "
                                         "Decode and the grid node.")]

    @classmethod
    def node_output(cls, samples: torch.Tensor, views: int) -> io.NodeOutput:
        as_images = samples.transpose(1, 2).reshape(-1, samples.shape[1], *samples.shape[-2:])
        return io.NodeOutput({"samples": samples}, {"samples": as_images})
