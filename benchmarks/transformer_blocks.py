"""PT-DiT vs. full-attention DiT blocks: latency, peak memory, throughput — fp32 on CPU, one run.

    python benchmarks/transformer_blocks.py [--sizes 512 1024 2048] [--blocks 2] [--repeats 3]
        [--official-src DIR --official-python PATH]

For every image size it times (a) PT-DiT blocks at the released width (1152 = 16 x 72) with the
paper's window ratio for that size and (b) PixArt-style blocks of the same width (global
self-attention + text cross-attention + FFN, adaLN-single modulation). Each case runs in its own
subprocess so that its peak resident memory can be read from the OS. Reported per block:
latency, ratio PT-DiT/DiT, the same ratio per equal parameter count, and achieved GFLOP/s as a
share of this machine's dense fp32 matmul throughput, measured in the same run.

With ``--official-src`` (a MindSpeed-MM checkout) it adds leg (c): the official ``PTDiTDiffuser`` blocks,
run by ``--official-python`` (an interpreter with diffusers 0.30.3), on the same weights and block inputs
as (a). Their block outputs are compared with ours at every size, and the full forward passes of both
models once at 512 px. See docs/performance.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from ptdit import PRESETS, PTDiT  # noqa: E402
from ptdit.complexity import forward_macs  # noqa: E402
from ptdit.model import BlockContext  # noqa: E402

PAPER_RATIO = {256: 2, 512: 4, 1024: 8, 2048: 16}
TEXT_TOKENS = 120  # a typical T5 prompt length
PARITY_SIZE, PARITY_TOL = 512, 1e-4


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
    x, text, modulation = block_inputs((size // 16) ** 2, config.hidden_size)
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


def run_case(kind: str, size: int, blocks: int, repeats: int, exchange: str | None, official_src: str | None) -> dict:
    """Runs in a child process: time ``blocks`` blocks of one model kind at one size.

    Leg (a) writes its weights, block inputs and block output to ``exchange``; leg (c) (run by the
    official interpreter) reads them, so both time the same maths on the same values.
    """
    side = size // 16
    tokens = side * side
    extra = {}
    with torch.no_grad():
        if kind == "ptdit":
            config, model, x, text, modulation = ptdit_case(size, blocks)
            layout = model.layout((1, side, side), None, x.device, torch.float32)
            ctx = BlockContext(layout, modulation, text, None, model.attention_fn)
            params = sum(p.numel() for p in model.transformer_blocks[0].parameters())

            def step():
                h = x
                for block in model.transformer_blocks:
                    h = block(h, ctx)
                return h

            macs = _block_macs(config, side, blocks)
            seconds, out = _time(step, repeats)
            if exchange:
                torch.save(dict(state_dict=model.state_dict(), x=x, text=text, modulation=modulation, output=out),
                           os.path.join(exchange, f"ptdit_{size}.pt"))
        elif kind == "official":
            from official_loader import block_arguments, build_official, load_official

            data = torch.load(os.path.join(exchange, f"ptdit_{size}.pt"))
            config = ptdit_case_config(size, blocks)
            model = build_official(load_official(official_src), config, data.pop("state_dict"))
            kwargs = block_arguments(model, (1, side, side), data["text"], data["modulation"])
            x = data["x"].reshape(-1, model.compress_scale, config.hidden_size)  # (windows, n, D)
            params = sum(p.numel() for p in model.transformer_blocks[0].parameters())

            def step():
                h = x
                for block in model.transformer_blocks:
                    h = block(h, **kwargs)
                return h

            macs = _block_macs(config, side, blocks)
            seconds, out = _time(step, repeats)
            extra["block_diff"] = (out.reshape(data["output"].shape) - data["output"]).abs().max().item()
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
            "gflops": 2 * macs / seconds / 1e9, "peak_rss_mib": peak_kib / 1024, **extra}


def full_forward_parity(blocks: int, official_src: str) -> dict:
    """Runs in the official interpreter: whole forward pass (patch embedding, adaLN, caption projection,
    text mask, blocks, final layer) of ours and the official model on leg (a)'s weights at PARITY_SIZE."""
    from official_loader import build_official, load_official

    config, ours, *_ = ptdit_case(PARITY_SIZE, blocks)
    official = build_official(load_official(official_src), config, ours.state_dict())
    latent = PARITY_SIZE // 8
    gen = torch.Generator().manual_seed(1)
    latents = torch.randn(1, config.in_channels, 1, latent, latent, generator=gen)
    timestep = torch.tensor([500.0])
    caption = torch.randn(1, TEXT_TOKENS, config.caption_channels, generator=gen)
    mask = torch.ones(1, TEXT_TOKENS, dtype=torch.int64)
    mask[:, -20:] = 0  # a padded prompt
    with torch.no_grad():
        expected = official(latents, timestep=timestep, encoder_hidden_states=caption, encoder_attention_mask=mask)
        got = ours(latents, timestep, caption, mask)
    return {"size": PARITY_SIZE, "max_abs_diff": (got - expected).abs().max().item(),
            "max_abs_output": expected.abs().max().item()}


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds, _ = _time(lambda: a @ b, repeats)
    return 2 * n ** 3 / seconds / 1e9


def _child(python: str, args: list[str]) -> dict:
    out = subprocess.run([python, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"case {' '.join(args)} failed in {python}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--official-src", metavar="DIR",
                        help="MindSpeed-MM checkout (holding mindspeed_mm/...): adds leg (c), the official blocks")
    parser.add_argument("--official-python", metavar="PATH", default=sys.executable,
                        help="interpreter with diffusers 0.30.3 + einops for leg (c) (default: this one)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--exchange", help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.case == "parity":
        print(json.dumps(full_forward_parity(args.blocks, args.official_src)))
        return
    if args.case:
        kind, size = args.case.split(":")
        print(json.dumps(run_case(kind, int(size), args.blocks, args.repeats, args.exchange, args.official_src)))
        return

    official = args.official_src is not None
    if official:
        from official_loader import check_source

        args.official_src = os.path.abspath(args.official_src)
        try:
            check_source(args.official_src)
        except FileNotFoundError as error:
            sys.exit(str(error))
    peak = matmul_gflops()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; dense fp32 matmul: {peak:.1f} GFLOP/s")
    kinds = ("ptdit", "dit", "official") if official else ("ptdit", "dit")
    parity = None
    if official:
        parity = _child(args.official_python, ["--case", "parity", "--blocks", str(args.blocks),
                                               "--official-src", args.official_src])
        print(f"leg (c) official: {args.official_src} via {args.official_python}")
        print(f"parity, full forward at {parity['size']} px (blocks={args.blocks}, same weights): max abs diff "
              f"{parity['max_abs_diff']:.2e} (max |output| {parity['max_abs_output']:.2f}, tolerance {PARITY_TOL:g})")
    else:
        print("leg (c) official: skipped (give --official-src DIR and --official-python PATH to compare with "
              "the official MindSpeed-MM PTDiTDiffuser; see docs/performance.md)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="ptdit-bench-") as exchange:
        for size in args.sizes:
            results = {}
            for kind in kinds:
                case = ["--case", f"{kind}:{size}", "--blocks", str(args.blocks), "--repeats", str(args.repeats)]
                if official:
                    case += ["--exchange", exchange, "--official-src", args.official_src]
                results[kind] = _child(args.official_python if kind == "official" else sys.executable, case)
            pt, dit = results["ptdit"], results["dit"]
            ratio = pt["seconds_per_block"] / dit["seconds_per_block"]
            param_ratio = pt["params_per_block"] / dit["params_per_block"]
            row = dict(size=size, window=PAPER_RATIO[size], tokens=pt["tokens"], ptdit_s=pt["seconds_per_block"],
                       dit_s=dit["seconds_per_block"], ratio=ratio, param_ratio=param_ratio,
                       ratio_equal_params=ratio / param_ratio, ptdit_gflops=pt["gflops"],
                       ptdit_util=pt["gflops"] / peak, dit_gflops=dit["gflops"], dit_util=dit["gflops"] / peak,
                       ptdit_peak_mib=pt["peak_rss_mib"], dit_peak_mib=dit["peak_rss_mib"])
            if official:
                off = results["official"]
                row.update(official_s=off["seconds_per_block"], speedup=off["seconds_per_block"] / pt["seconds_per_block"],
                           official_ratio_equal_params=off["seconds_per_block"] / dit["seconds_per_block"] / param_ratio,
                           official_gflops=off["gflops"], official_peak_mib=off["peak_rss_mib"],
                           block_diff=off["block_diff"])
            rows.append(row)
            if official:
                os.remove(os.path.join(exchange, f"ptdit_{size}.pt"))
    header = ("| px | window | tokens | PT-DiT s/block | DiT s/block | ratio | per equal params | "
              "PT-DiT GFLOP/s (% matmul) | DiT GFLOP/s (% matmul) | PT-DiT peak MiB | DiT peak MiB |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        print(f"| {r['size']} | (1,{r['window']},{r['window']}) | {r['tokens']} | {r['ptdit_s']:.3f} | {r['dit_s']:.3f} | "
              f"{r['ratio']:.2f}x | {r['ratio_equal_params']:.2f}x | {r['ptdit_gflops']:.0f} ({100 * r['ptdit_util']:.0f} %) | "
              f"{r['dit_gflops']:.0f} ({100 * r['dit_util']:.0f} %) | {r['ptdit_peak_mib']:.0f} | {r['dit_peak_mib']:.0f} |")
    print(f"parameters per block: PT-DiT / DiT = {rows[0]['param_ratio']:.2f}")
    failed = official and max([parity["max_abs_diff"]] + [r["block_diff"] for r in rows]) > PARITY_TOL
    if official:
        header = ("| px | ours s/block | official s/block | ours speed-up (official s / ours s) | "
                  "ours vs DiT per equal params | official vs DiT per equal params | "
                  "official GFLOP/s (% matmul) | official peak MiB | block output max abs diff ours-official |")
        print("\nleg (c): our PT-DiT blocks vs the official PTDiTDiffuser blocks (same weights, same inputs)")
        print(header)
        print("|" + "---|" * (header.count("|") - 1))
        for r in rows:
            print(f"| {r['size']} | {r['ptdit_s']:.3f} | {r['official_s']:.3f} | {r['speedup']:.2f}x | "
                  f"{r['ratio_equal_params']:.2f}x | {r['official_ratio_equal_params']:.2f}x | "
                  f"{r['official_gflops']:.0f} ({100 * r['official_gflops'] / peak:.0f} %) | "
                  f"{r['official_peak_mib']:.0f} | {r['block_diff']:.1e} |")
        if failed:
            print(f"PARITY FAILED: ours and the official model differ by more than {PARITY_TOL:g}; "
                  "the timings above do not compare the same maths")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"matmul_gflops": peak, "parity": parity, "rows": rows}, f, indent=1)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
