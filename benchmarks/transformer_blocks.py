"""PT-DiT vs. full-attention DiT blocks, and our whole forward vs the official one.

    python benchmarks/transformer_blocks.py [--sizes 512 1024 2048] [--blocks 2] [--repeats 3]
        [--official-src DIR --official-python PATH [--pairs N ...] [--official-only]
         [--device cuda --dtype bfloat16]]

For every image size it times (a) PT-DiT blocks at the released width (1152 = 16 x 72) with the
paper's window ratio for that size and (b) PixArt-style blocks of the same width (global
self-attention + text cross-attention + FFN, adaLN-single modulation), fp32 on CPU. Each case runs
in its own subprocess so that its peak resident memory can be read from the OS. Reported per block:
latency, ratio PT-DiT/DiT, the same ratio per equal parameter count, and achieved GFLOP/s as a
share of this machine's dense fp32 matmul throughput, measured in the same run.

With ``--official-src`` (a MindSpeed-MM checkout) it adds leg (c): the whole forward of ours and of
the official ``PTDiTDiffuser`` on the same weights and inputs, run by ``--official-python`` (an
interpreter with diffusers 0.30.3) in one process and timed in alternating pairs
(``benchmarks/pairs.py``); the median of the per-pair ratios ours/official is reported with its
range, and the outputs are compared at every size. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ptdit import PRESETS, PTDiT  # noqa: E402
from ptdit.complexity import SIZE_STEP, forward_macs  # noqa: E402
from ptdit.model import BlockContext  # noqa: E402
from ptdit.vae.config import SPATIAL_FACTOR  # noqa: E402

PAPER_RATIO = {256: 2, 512: 4, 1024: 8, 2048: 16}
TEXT_TOKENS = 120  # a typical T5 prompt length
PARITY_TOL = 1e-4


class DiTBlock(nn.Module):
    """PixArt-alpha block: adaLN-single, global self-attention, text cross-attention, FFN."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.q, self.kv, self.cross_proj = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim) / dim ** 0.5)

    def _heads(self, x):
        b, n, d = x.shape
        return x.view(b, n, self.heads, d // self.heads).transpose(1, 2)

    def _attend(self, q, k, v):
        out = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v))
        return out.transpose(1, 2).flatten(2)

    def forward(self, x, text, modulation):
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = (self.scale_shift_table[None] + modulation)[:, :, None].unbind(1)
        y = F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + scale_a) + shift_a
        x = x + gate_a * self.proj(self._attend(*self.qkv(y).chunk(3, dim=-1)))
        x = x + self.cross_proj(self._attend(self.q(x), *self.kv(text).chunk(2, dim=-1)))
        y = F.layer_norm(x, x.shape[-1:], eps=1e-6) * (1 + scale_m) + shift_m
        return x + gate_m * self.fc2(F.gelu(self.fc1(y), approximate="tanh"))


def dit_block_macs(tokens: int, dim: int, text: int) -> int:
    return 4 * tokens * dim * dim + 2 * tokens * tokens * dim + 2 * tokens * dim * dim \
        + 2 * text * dim * dim + 2 * tokens * text * dim + 8 * tokens * dim * dim


def _time(fn, repeats: int):
    """Best wall time of ``repeats`` calls after one warm-up call (allocations, kernel selection);
    returns (seconds, warm-up result)."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def ptdit_case_config(size: int, blocks: int):
    """The released preset with ``blocks`` layers and the paper's window/proxy ratio for ``size``."""
    import dataclasses

    ratio = PAPER_RATIO[size]
    return dataclasses.replace(PRESETS["qihoo-t2i-1.1b"], num_layers=blocks, compress_ratios=(1, ratio, ratio),
                               proxy_ratios=(1, ratio, ratio))


def block_inputs(tokens: int, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded block inputs shared by both legs: x (1, N, D), text (1, L, D), modulation (1, 6, D)."""
    torch.manual_seed(0)
    return torch.randn(1, tokens, dim), torch.randn(1, TEXT_TOKENS, dim), torch.randn(1, 6, dim) * 0.1


def ptdit_case(size: int, blocks: int):
    """Leg (a)'s model and block inputs at one size (seeded): config, model, x (1, N, D) window-major
    tokens, text (1, L, D) projected caption, modulation (1, 6, D) adaLN-single output."""
    config = ptdit_case_config(size, blocks)
    x, text, modulation = block_inputs((size // SIZE_STEP) ** 2, config.hidden_size)
    model = PTDiT(config).eval()
    with torch.no_grad():  # our init zeroes the biases; random ones make the parity checks cover them
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.normal_(0, 0.02)
    return config, model, x, text, modulation


def _block_macs(config, side: int, blocks: int) -> int:
    full = forward_macs(config, (1, 4, side * 2, side * 2), TEXT_TOKENS)
    return sum(v for k, v in full.items() if k not in (
        "patch_embed", "timestep_and_modulation", "caption_projection", "final_projection")) // blocks


def run_case(kind: str, size: int, blocks: int, repeats: int) -> dict:
    """Runs in a child process: time ``blocks`` blocks of one model kind (ptdit or dit) at one size."""
    side = size // SIZE_STEP
    tokens = side * side
    with torch.no_grad():
        if kind == "ptdit":
            config, model, x, text, modulation = ptdit_case(size, blocks)
            layout = model.layout((1, side, side), None, x.device, torch.float32)
            ctx = BlockContext(layout, layout.window_bias(1), layout.shift_bias(1), layout.shift_rows(1), modulation,
                               text, None, model.attention_fn)
            params = sum(p.numel() for p in model.transformer_blocks[0].parameters())

            def step():
                h = x
                for block in model.transformer_blocks:
                    h = block(h, ctx)

            macs = _block_macs(config, side, blocks)
        else:
            released = PRESETS["qihoo-t2i-1.1b"]
            dim, heads = released.hidden_size, released.num_heads
            x, text, modulation = block_inputs(tokens, dim)
            stack = nn.ModuleList([DiTBlock(dim, heads) for _ in range(blocks)]).eval()
            params = sum(p.numel() for p in stack[0].parameters())

            def step():
                h = x
                for block in stack:
                    h = block(h, text, modulation)

            macs = dit_block_macs(tokens, dim, TEXT_TOKENS)
        seconds, _ = _time(step, repeats)
    seconds /= blocks
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "size": size, "tokens": tokens, "seconds_per_block": seconds, "params_per_block": params,
            "gflops": 2 * macs / seconds / 1e9, "peak_rss_mib": peak_kib / 1024}


def forward_inputs(config, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded whole-forward inputs: latents (1, C, 1, size/8, size/8), timestep (1,), caption
    (1, L, caption_channels) and a 0/1 mask (1, L) with the last 20 tokens padded."""
    latent = size // SPATIAL_FACTOR
    gen = torch.Generator().manual_seed(1)
    latents = torch.randn(1, config.in_channels, 1, latent, latent, generator=gen)
    caption = torch.randn(1, TEXT_TOKENS, config.caption_channels, generator=gen)
    mask = torch.ones(1, TEXT_TOKENS, dtype=torch.int64)
    mask[:, -20:] = 0
    return latents, torch.tensor([500.0]), caption, mask


def forward_pairs(size: int, blocks: int, pairs: int, official_src: str, device: str = "cpu",
                  dtype: str = "float32") -> dict:
    """Runs in the official interpreter: the whole forward (patch embedding, adaLN, caption projection,
    text mask, blocks, final layer) of ours and the official model on the same weights and inputs,
    timed in alternating pairs in this one process; outputs compared, CUDA peak memory of each."""
    from official_loader import build_official, load_official
    from pairs import time_pairs

    config, ours, *_ = ptdit_case(size, blocks)
    ours = ours.to(device, getattr(torch, dtype))
    official = build_official(load_official(official_src), config, ours.state_dict())
    latents, timestep, caption, mask = (t.to(device) for t in forward_inputs(config, size))
    cuda = torch.device(device).type == "cuda"

    def timed(fn):
        def run():
            out = fn()
            if cuda:
                torch.cuda.synchronize()
            return out
        return run

    run_ours = timed(lambda: ours(latents, timestep, caption, mask))
    run_official = timed(lambda: official(latents, timestep=timestep, encoder_hidden_states=caption,
                                          encoder_attention_mask=mask))
    peaks = {}
    with torch.no_grad():
        outputs = {}
        for name, run in (("ours", run_ours), ("official", run_official)):  # also the warm-up of both
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            outputs[name] = run()
            peaks[name] = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else None
        diff = (outputs["ours"] - outputs["official"]).abs().max().item()
        del outputs
        timing = time_pairs(run_ours, run_official, pairs, warmup=0)
    return {"size": size, "pairs": pairs, "ours_s": timing.a_median, "official_s": timing.b_median,
            "ratio": timing.median_ratio, "ratio_range": timing.ratio_range, "max_abs_diff": diff,
            "ours_peak_mib": peaks["ours"], "official_peak_mib": peaks["official"]}


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds, _ = _time(lambda: a @ b, repeats)
    return 2 * n ** 3 / seconds / 1e9


def _child(python: str, args: list[str]) -> dict:
    out = subprocess.run([python, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"case {' '.join(args)} failed in {python}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _print_table(header: str, lines: list[str]) -> None:
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for line in lines:
        print(line)


def blocks_table(sizes: list[int], blocks: int, repeats: int, peak: float) -> list[dict]:
    """Legs (a) and (b), each case in its own process; prints their table."""
    rows = []
    for size in sizes:
        case = ["--blocks", str(blocks), "--repeats", str(repeats)]
        pt, dit = (_child(sys.executable, ["--case", f"{kind}:{size}", *case]) for kind in ("ptdit", "dit"))
        ratio = pt["seconds_per_block"] / dit["seconds_per_block"]
        param_ratio = pt["params_per_block"] / dit["params_per_block"]
        rows.append(dict(size=size, window=PAPER_RATIO[size], tokens=pt["tokens"], ptdit_s=pt["seconds_per_block"],
                         dit_s=dit["seconds_per_block"], ratio=ratio, param_ratio=param_ratio,
                         ratio_equal_params=ratio / param_ratio, ptdit_gflops=pt["gflops"],
                         ptdit_util=pt["gflops"] / peak, dit_gflops=dit["gflops"], dit_util=dit["gflops"] / peak,
                         ptdit_peak_mib=pt["peak_rss_mib"], dit_peak_mib=dit["peak_rss_mib"]))
    _print_table("| px | window | tokens | PT-DiT s/block | DiT s/block | ratio | per equal params | "
                 "PT-DiT GFLOP/s (% matmul) | DiT GFLOP/s (% matmul) | PT-DiT peak MiB | DiT peak MiB |",
                 [f"| {r['size']} | (1,{r['window']},{r['window']}) | {r['tokens']} | {r['ptdit_s']:.3f} | "
                  f"{r['dit_s']:.3f} | {r['ratio']:.2f}x | {r['ratio_equal_params']:.2f}x | "
                  f"{r['ptdit_gflops']:.0f} ({100 * r['ptdit_util']:.0f} %) | "
                  f"{r['dit_gflops']:.0f} ({100 * r['dit_util']:.0f} %) | {r['ptdit_peak_mib']:.0f} | "
                  f"{r['dit_peak_mib']:.0f} |" for r in rows])
    print(f"parameters per block: PT-DiT / DiT = {rows[0]['param_ratio']:.2f}")
    return rows


def official_table(args) -> list[dict]:
    """Leg (c): whole forward, ours vs official, alternating pairs in one official-interpreter process."""
    pairs = args.pairs * len(args.sizes) if len(args.pairs) == 1 else args.pairs
    if len(pairs) != len(args.sizes):
        sys.exit("--pairs takes one count, or one per size")
    print(f"\nleg (c): whole forward, ours vs the official PTDiTDiffuser ({args.official_src} via "
          f"{args.official_python}); {args.blocks} blocks, same weights and inputs, alternating pairs in one process")
    rows = [_child(args.official_python, ["--case", f"pairs:{size}", "--blocks", str(args.blocks), "--pairs",
                                          str(n), "--official-src", args.official_src, "--device", args.device,
                                          "--dtype", args.dtype])
            for size, n in zip(args.sizes, pairs)]
    print(f"device {args.device}, {args.dtype}")
    peak = args.device.startswith("cuda")
    _print_table("| px | window | pairs | ours s/forward | official s/forward | ours / official, median (range) | "
                 "output max abs diff |" + (" peak MiB ours / official |" if peak else ""),
                 [f"| {r['size']} | (1,{PAPER_RATIO[r['size']]},{PAPER_RATIO[r['size']]}) | {r['pairs']} | "
                  f"{r['ours_s']:.3f} | {r['official_s']:.3f} | {r['ratio']:.3f}x ({r['ratio_range'][0]:.3f}-"
                  f"{r['ratio_range'][1]:.3f}) | {r['max_abs_diff']:.1e} |"
                  + (f" {r['ours_peak_mib']:.0f} / {r['official_peak_mib']:.0f} |" if peak else "") for r in rows])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--official-src", metavar="DIR",
                        help="MindSpeed-MM checkout (holding mindspeed_mm/...): adds leg (c), the official forward")
    parser.add_argument("--official-python", metavar="PATH", default=sys.executable,
                        help="interpreter with diffusers 0.30.3 + einops for leg (c) (default: this one)")
    parser.add_argument("--pairs", type=int, nargs="+", default=[5],
                        help="leg (c): alternating pairs, one count or one per size (default 5)")
    parser.add_argument("--official-only", action="store_true", help="run leg (c) alone")
    parser.add_argument("--device", default="cpu", help="leg (c): device of both models (default cpu)")
    parser.add_argument("--dtype", default="float32", help="leg (c): weight dtype of both models (default float32)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.case:
        kind, size = args.case.split(":")
        if kind == "pairs":
            print(json.dumps(forward_pairs(int(size), args.blocks, args.pairs[0], args.official_src, args.device,
                                           args.dtype)))
        else:
            print(json.dumps(run_case(kind, int(size), args.blocks, args.repeats)))
        return

    official = args.official_src is not None
    if official:
        from official_loader import check_source

        args.official_src = os.path.abspath(args.official_src)
        try:
            check_source(args.official_src)
        except FileNotFoundError as error:
            sys.exit(str(error))
    elif args.official_only:
        sys.exit("--official-only needs --official-src")
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; dense fp32 matmul: {peak:.1f} GFLOP/s")
    rows = [] if args.official_only else blocks_table(args.sizes, args.blocks, args.repeats, peak)
    if not official:
        print("leg (c) official: skipped (give --official-src DIR and --official-python PATH to compare with "
              "the official MindSpeed-MM PTDiTDiffuser; see docs/performance.md)")
    official_rows = official_table(args) if official else []
    # The 1e-4 parity bar is a float32 one; lower precisions only report their difference.
    failed = args.dtype == "float32" and any(r["max_abs_diff"] > PARITY_TOL for r in official_rows)
    if failed:
        print(f"PARITY FAILED: ours and the official model differ by more than {PARITY_TOL:g}; "
              "the timings above do not compare the same maths")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matmul_gflops": peak, "rows": rows, "official": official_rows}, f, indent=1)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
