"""Train the tiny PT-DiT demo models on procedurally generated data (seeded, CPU).

    python -m scripts.demo.train vae  [--steps N]        # tiny CausalVAE (real architecture)
    python -m scripts.demo.train text                    # tiny random T5 encoder folder (not trained)
    python -m scripts.demo.train t2i  [--steps N] [--minutes M]   # PT-DiT on frozen VAE latents + T5 states
    python -m scripts.demo.train t2v|t2mv ...                      # the same for 5-frame clips / 4 orbit views

Run from the repository root; outputs go to ``demo_models/`` (see ``scripts/demo/runtime.py``).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from ptdit import PTDiT, PTDiTConfig
from ptdit.flow import NUM_TRAIN_TIMESTEPS, shift_ratio, shift_timesteps
from ptdit.loader import METADATA_KEY as PTDIT_METADATA_KEY
from ptdit.vae.config import LATENT_SCALE
from ptdit.vae.loading import METADATA_KEY as VAE_METADATA_KEY
from ptdit.vae.model import CausalVAE, split_moments
from scripts.demo import data
from scripts.demo import runtime as rt

# KL against N(0, s^2) with s = 1 / 0.18215: raw latents then have the spread the official latent
# scale expects, so DiT latents (raw x 0.18215) come out near unit variance.
PRIOR_STD = 1.0 / LATENT_SCALE
DIT_TASKS = ("t2i", "t2v", "t2mv")


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def seed_all(seed: int) -> np.random.Generator:
    """Seed torch and return the numpy generator; also pin torch to one thread (on a shared CPU,
    intra-op threads spin against other processes and run an order of magnitude slower)."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------ VAE

def vae_batch(rng: np.random.Generator, batch: int, size: int, clip: bool) -> np.ndarray:
    """(B, T, H, W, 3) pixels: 5-frame T2V clips when ``clip``, else single frames (3/4 T2I, 1/4 T2MV views)."""
    if clip:
        return np.stack([data.sample_t2v(rng, size, rt.T2V_FRAMES)[0] for _ in range(batch)])
    frames = []
    for _ in range(batch):
        if rng.random() < 0.75:
            frames.append(data.sample_t2i(rng, size)[0][None])
        else:
            label = data.t2mv_labels()[rng.integers(len(data.t2mv_labels()))]
            frames.append(data.render_solid(label["shape"], label["colour"], size, rng.uniform(0, 2 * np.pi))[None])
    return np.stack(frames)


def vae_loss(vae: CausalVAE, x: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, float]:
    """L1 + L2 reconstruction of (B, 3, T, H, W) pixels plus ``kl_weight`` x KL(q || N(0, PRIOR_STD^2))."""
    mean, logvar = split_moments(vae.encode_moments(x))
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    recon = vae.decode_raw(z)
    rec = (recon - x).abs().mean() + (recon - x).pow(2).mean()
    var = logvar.exp() / PRIOR_STD ** 2
    kl = 0.5 * (mean.pow(2) / PRIOR_STD ** 2 + var - 1 - var.log()).mean()
    return rec + kl_weight * kl, rec.item()


def image_latent_drift(vae: CausalVAE, anchor: CausalVAE, x: torch.Tensor) -> torch.Tensor:
    """Mean squared change, in DiT latent units (x 0.18215), of the posterior means of single-frame
    pixels x (B, 3, 1, H, W) from those of the frozen ``anchor`` VAE. Keeping it small lets a
    fine-tune learn motion in clips while the image latents, which the T2I and T2MV DiTs were
    trained on, stay where they were (a causal VAE encodes a first frame on its own)."""
    with torch.no_grad():
        before = split_moments(anchor.encode_moments(x))[0]
    return ((split_moments(vae.encode_moments(x))[0] - before) * LATENT_SCALE).pow(2).mean()


def train_vae(args) -> None:
    rng = seed_all(args.seed)
    vae, history, anchor = CausalVAE(rt.DEMO_VAE), [], None
    if args.init:  # continue from an earlier run (its training record is kept in the metadata)
        vae = rt.load_vae(Path(args.init)).train()
        history = rt.read_metadata(Path(args.init), "train")
        if args.anchor > 0:
            anchor = copy.deepcopy(vae).eval().requires_grad_(False)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
    start = time.time()
    for step in range(1, args.steps + 1):
        clip = args.clip_every > 0 and step % args.clip_every == 0
        x = rt.to_pixels(vae_batch(rng, args.batch // 4 if clip else args.batch, args.size, clip))
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, step / 50) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        loss, rec = vae_loss(vae, x, args.kl_weight)
        if anchor is not None and not clip:
            loss = loss + args.anchor * image_latent_drift(vae, anchor, x)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        if step % 25 == 0 or step == args.steps:
            log(f"vae step {step}/{args.steps} loss {loss.item():.4f} rec {rec:.4f} {time.time() - start:.0f}s")
    save_fp16(vae, Path(args.out) / rt.VAE_FILE, VAE_METADATA_KEY, rt.DEMO_VAE.to_dict(),
              history + [dict(steps=args.steps, batch=args.batch, seed=args.seed, lr=args.lr,
                              clip_every=args.clip_every, anchor=args.anchor, minutes=round((time.time() - start) / 60, 1))])


# ------------------------------------------------------------------------------------ text

def make_text_encoder(args) -> None:
    """A seeded random tiny T5 v1.1-style encoder (gated GELU) sized for the full T5 vocabulary.

    It is not trained: the DiT learns to read its frozen states. Weights are stored in fp16 (and
    the DiT is trained on the fp16-rounded encoder, so nothing changes at load time).
    """
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(args.seed)
    config = T5Config(vocab_size=32128, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                      feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
                      relative_attention_max_distance=128, layer_norm_epsilon=1e-6, tie_word_embeddings=False,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = T5EncoderModel(config).half()
    out = Path(args.out) / rt.T5_DIR
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    log(f"wrote {out}: {sum(p.numel() for p in model.parameters())} parameters")


# ------------------------------------------------------------------------------------ DiT

def task_dataset(task: str, vae: CausalVAE, rng: np.random.Generator, per_label: int, size: int):
    """DiT training set over every label of ``task``, ``per_label`` random variants each.

    Returns latents (N, 4, h, w) for t2i, (N, 4, 2, h, w) for 5-frame t2v clips, (N, 4, V, h, w)
    for t2mv (each view encoded as an image, views stacked as latent frames like the T2MV
    sampler does), prompt indices (N,), the prompts, and the frame count for the schedule shift.
    """
    labels = {"t2i": data.t2i_labels, "t2v": data.t2v_labels, "t2mv": data.t2mv_labels}[task]()
    pixels, index = [], []
    for i, label in enumerate(labels):
        for _ in range(per_label):
            if task == "t2i":
                pixels.append(data.render_t2i(label, size, tuple(rng.uniform(-0.05, 0.05, 2)))[None])
            elif task == "t2v":
                pixels.append(data.render_t2v(label, size, rt.T2V_FRAMES, tuple(0.5 + rng.uniform(-0.06, 0.06, 2))))
            else:
                pixels.append(data.render_t2mv(label, size, rt.T2MV_VIEWS, rng.uniform(0, np.pi / 2)))
            index.append(i)
    pixels = np.stack(pixels)
    prompt = {"t2i": data.t2i_prompt, "t2v": data.t2v_prompt, "t2mv": data.t2mv_prompt}[task]
    prompts = [prompt(label) for label in labels]
    if task == "t2i":
        return rt.encode_latents(vae, pixels)[:, :, 0], torch.tensor(index), prompts, 1
    if task == "t2v":
        return rt.encode_latents(vae, pixels), torch.tensor(index), prompts, rt.T2V_FRAMES
    n, v = pixels.shape[:2]
    views = rt.encode_latents(vae, pixels.reshape(n * v, 1, *pixels.shape[2:]))
    return views[:, :, 0].reshape(n, v, *views.shape[1:2], *views.shape[3:]).transpose(1, 2), \
        torch.tensor(index), prompts, v


def dit_config(caption_channels: int, latent_size: int, frames: int = 1) -> PTDiTConfig:
    """Small PT-DiT with 2x2-token windows (2 latent frames deep for clips/views) and one proxy per window."""
    window = (1 if frames == 1 else 2, 2, 2)
    return PTDiTConfig(num_heads=4, head_dim=32, num_layers=4, caption_channels=caption_channels,
                       compress_ratios=window, proxy_ratios=window, sample_size=latent_size, frame=frames)


def train_dit(args) -> None:
    """Rectified flow on frozen VAE latents x 0.18215: x_t = (1 - t) x0 + t noise, target v = x0 - noise.

    t is uniform, then shifted with the same resolution shift the official sampler uses, so the
    training times match the sampling times; the text is dropped (empty prompt) at ``cfg_dropout``.
    Training stops after ``steps`` or ``minutes``, whichever comes first; the learning-rate schedule
    follows the larger of the two progress fractions. The file receives an exponential moving
    average of the weights (``ema``); ``motion_weight`` weighs clip latents where they change.
    """
    rng = seed_all(args.seed)
    models = Path(args.out)
    vae = rt.load_vae(models / rt.VAE_FILE)
    text = rt.TextEncoder(models / rt.T5_DIR)
    latents, index, prompts, frames = task_dataset(args.command, vae, rng, args.per_label, args.size)
    log(f"dataset {tuple(latents.shape)}, latent std {latents.std().item():.3f}, {len(prompts)} prompts")
    states, mask = text(prompts + [""])
    null = len(prompts)
    dit, history = PTDiT(dit_config(text.width, latents.shape[-1], 1 if latents.ndim == 4 else latents.shape[2])), []
    if args.init:  # continue an earlier run; its training record is kept in the metadata
        dit = rt.load_dit(Path(args.init)).train()
        previous = rt.read_metadata(Path(args.init), "train")
        history = previous if isinstance(previous, list) else [previous]
    log(f"PT-DiT {sum(p.numel() for p in dit.parameters())} parameters")
    opt = torch.optim.AdamW(dit.parameters(), lr=args.lr, weight_decay=0.0)
    params = list(dit.parameters())
    ema = [p.detach().clone() for p in params]
    weights = motion_weights(latents, args.motion_weight)  # the data set is fixed: once, not per step
    ratio = shift_ratio(args.size, args.size, frames)
    start, step, progress = time.time(), 0, 0.0
    while progress < 1:
        step += 1
        pick = torch.randint(len(latents), (args.batch,))
        x0 = latents[pick]
        cond = torch.where(torch.rand(args.batch) < args.cfg_dropout, null, index[pick])
        noise = torch.randn_like(x0)
        t = shift_timesteps(torch.rand(args.batch) * NUM_TRAIN_TIMESTEPS, ratio)
        tau = (t / NUM_TRAIN_TIMESTEPS).reshape(-1, *[1] * (x0.ndim - 1))
        xt = (1 - tau) * x0 + tau * noise
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, step / 100) * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))
        v = dit(xt, t, states[cond], mask[cond])[:, :4]
        loss = ((v - (x0 - noise)).pow(2) * (weights[pick] if torch.is_tensor(weights) else weights)).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            for average, param in zip(ema, params):
                average.lerp_(param, 1 - min(args.ema, (1 + step) / (10 + step)))
        progress = max(step / args.steps, (time.time() - start) / 60 / args.minutes)
        if step % 100 == 0 or progress >= 1:
            log(f"{args.command} step {step}/{args.steps} loss {loss.item():.4f} {time.time() - start:.0f}s")
    with torch.no_grad():
        for param, average in zip(params, ema):
            param.copy_(average)
    save_fp16(dit, models / rt.dit_file(args.command), PTDIT_METADATA_KEY, dit.config.to_dict(),
              history + [dict(steps=step, batch=args.batch, seed=args.seed, per_label=args.per_label, lr=args.lr,
                              ema=args.ema, motion_weight=args.motion_weight,
                              minutes=round((time.time() - start) / 60, 1))])


def motion_weights(x0: torch.Tensor, strength: float) -> torch.Tensor | float:
    """Loss weights for (B, C, F, h, w) clip latents: 1 everywhere, plus ``strength`` x the normalised
    change from the previous latent frame (mean over channels) on frames after the first, so the
    places an object leaves and enters weigh more than the static background. 1 for images."""
    if strength == 0 or x0.ndim != 5 or x0.shape[2] < 2:
        return 1.0
    change = (x0[:, :, 1:] - x0[:, :, :-1]).abs().mean(1, keepdim=True)  # (B, 1, F-1, h, w)
    change = change / change.mean((2, 3, 4), keepdim=True).clamp_min(1e-6)
    return torch.cat([torch.ones_like(change[:, :, :1]), 1 + strength * change], 2)


def save_fp16(model: torch.nn.Module, path: Path, config_key: str, config: dict, train: list[dict]) -> None:
    """fp16 weights + the config under ``config_key`` (so the pack's loaders build the model from the
    file alone) + the training record under ``train``."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.half().contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={config_key: json.dumps(config), "train": json.dumps(train)})
    log(f"wrote {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo.train", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("vae", "text", *DIT_TASKS):
        p = sub.add_parser(name)
        p.add_argument("--out", default=str(rt.MODELS_DIR))
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--size", type=int, default=64)
    sub.choices["vae"].add_argument("--steps", type=int, default=600)
    sub.choices["vae"].add_argument("--batch", type=int, default=16)
    sub.choices["vae"].add_argument("--lr", type=float, default=2e-3)
    sub.choices["vae"].add_argument("--kl-weight", type=float, default=1e-4)
    sub.choices["vae"].add_argument("--init", help="continue training this VAE file")
    sub.choices["vae"].add_argument("--clip-every", type=int, default=4, help="every Nth step trains on 5-frame clips")
    sub.choices["vae"].add_argument("--anchor", type=float, default=0.0,
                                    help="with --init: weight that keeps image latents where the init file put them")
    for name in DIT_TASKS:
        sub.choices[name].add_argument("--steps", type=int, default=4000)
        sub.choices[name].add_argument("--minutes", type=float, default=30.0, help="wall-clock budget")
        sub.choices[name].add_argument("--batch", type=int, default=64)
        sub.choices[name].add_argument("--lr", type=float, default=1e-3)
        sub.choices[name].add_argument("--per-label", type=int, default=8)
        sub.choices[name].add_argument("--cfg-dropout", type=float, default=0.1)
        sub.choices[name].add_argument("--init", help="continue training this DiT file")
        sub.choices[name].add_argument("--ema", type=float, default=0.999,
                                       help="decay of the weight average that is saved (0: the last weights)")
        sub.choices[name].add_argument("--motion-weight", type=float, default=0.0,
                                       help="clips: extra loss weight where the latent changes between frames")
    args = parser.parse_args(argv)
    {"vae": train_vae, "text": make_text_encoder}.get(args.command, train_dit)(args)


if __name__ == "__main__":
    main()
