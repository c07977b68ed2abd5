"""PT-DiT vs. full-attention DiT blocks: latency, peak memory, throughput — fp32 on CPU, one run.

    python benchmarks/transformer_blocks.py [--sizes 512 1024 2048] [--blocks 2] [--repeats 3]

For every image size it times (a) PT-DiT blocks at the released width (1152 = 16 x 72) with the
paper's window ratio for that size and (b) PixArt-style blocks of the same width (global
self-attention + text cross-attention + FFN, adaLN-single modulation). Each case runs in its own
subprocess so that its peak resident memory can be read from the OS. Reported per block:
latency, ratio PT-DiT/DiT, the same ratio per equal parameter count, and achieved GFLOP/s as a
share of this machine's dense fp32 matmul throughput, measured in the same run.
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

from ptdit import PRESETS, PTDiT, WindowSettings  # noqa: E402
from ptdit.complexity import forward_macs  # noqa: E402
from ptdit.model import BlockContext  # noqa: E402

PAPER_RATIO = {256: 2, 512: 4, 1024: 8, 2048: 16}
TEXT_TOKENS = 120  # a typical T5 prompt length


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


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, kernel selection)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run_case(kind: str, size: int, blocks: int, repeats: int) -> dict:
    """Runs in a child process: time ``blocks`` blocks of one model kind at one size."""
    torch.manual_seed(0)
    base = PRESETS["qihoo-t2i-1.1b"]
    dim, heads = base.hidden_size, base.num_heads
    side = size // 16
    tokens = side * side
    x = torch.randn(1, tokens, dim)
    text = torch.randn(1, TEXT_TOKENS, dim)
    modulation = torch.randn(1, 6, dim) * 0.1
    with torch.no_grad():
        if kind == "ptdit":
            import dataclasses

            ratio = PAPER_RATIO[size]
            config = dataclasses.replace(base, num_layers=blocks, compress_ratios=(1, ratio, ratio),
                                         proxy_ratios=(1, ratio, ratio))
            model = PTDiT(config).eval()
            layout = model.layout((1, side, side), None, x.device, torch.float32)
            ctx = BlockContext(layout, modulation, text, None, model.attention_fn)
            params = sum(p.numel() for p in model.transformer_blocks[0].parameters())

            def step():
                h = x
                for block in model.transformer_blocks:
                    h = block(h, ctx)

            full = forward_macs(config, (1, 4, side * 2, side * 2), TEXT_TOKENS)
            macs = sum(v for k, v in full.items() if k not in (
                "patch_embed", "timestep_and_modulation", "caption_projection", "final_projection")) // blocks
        else:
            stack = nn.ModuleList([DiTBlock(dim, heads) for _ in range(blocks)]).eval()
            params = sum(p.numel() for p in stack[0].parameters())

            def step():
                h = x
                for block in stack:
                    h = block(h, text, modulation)

            macs = dit_block_macs(tokens, dim, TEXT_TOKENS)
        seconds = _time(step, repeats) / blocks
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"kind": kind, "size": size, "tokens": tokens, "seconds_per_block": seconds, "params_per_block": params,
            "gflops": 2 * macs / seconds / 1e9, "peak_rss_mib": peak_kib / 1024}


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = _time(lambda: a @ b, repeats)
    return 2 * n ** 3 / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.case:
        kind, size = args.case.split(":")
        print(json.dumps(run_case(kind, int(size), args.blocks, args.repeats)))
        return

    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; dense fp32 matmul: {peak:.1f} GFLOP/s")
    rows = []
    for size in args.sizes:
        results = {}
        for kind in ("ptdit", "dit"):
            out = subprocess.run([sys.executable, __file__, "--case", f"{kind}:{size}", "--blocks", str(args.blocks),
                                  "--repeats", str(args.repeats)], check=True, capture_output=True, text=True)
            results[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        pt, dit = results["ptdit"], results["dit"]
        ratio = pt["seconds_per_block"] / dit["seconds_per_block"]
        param_ratio = pt["params_per_block"] / dit["params_per_block"]
        rows.append(dict(size=size, window=PAPER_RATIO[size], tokens=pt["tokens"], ptdit_s=pt["seconds_per_block"],
                         dit_s=dit["seconds_per_block"], ratio=ratio, param_ratio=param_ratio,
                         ratio_equal_params=ratio / param_ratio, ptdit_gflops=pt["gflops"],
                         ptdit_util=pt["gflops"] / peak, dit_gflops=dit["gflops"], dit_util=dit["gflops"] / peak,
                         ptdit_peak_mib=pt["peak_rss_mib"], dit_peak_mib=dit["peak_rss_mib"]))
    header = ("| px | window | tokens | PT-DiT s/block | DiT s/block | ratio | per equal params | "
              "PT-DiT GFLOP/s (% matmul) | DiT GFLOP/s (% matmul) | PT-DiT peak MiB | DiT peak MiB |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        print(f"| {r['size']} | (1,{r['window']},{r['window']}) | {r['tokens']} | {r['ptdit_s']:.3f} | {r['dit_s']:.3f} | "
              f"{r['ratio']:.2f}x | {r['ratio_equal_params']:.2f}x | {r['ptdit_gflops']:.0f} ({100 * r['ptdit_util']:.0f} %) | "
              f"{r['dit_gflops']:.0f} ({100 * r['dit_util']:.0f} %) | {r['ptdit_peak_mib']:.0f} | {r['dit_peak_mib']:.0f} |")
    print(f"parameters per block: PT-DiT / DiT = {rows[0]['param_ratio']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matmul_gflops": peak, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
