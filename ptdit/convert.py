"""Convert a PT-DiT checkpoint to a self-describing .safetensors file.

    python -m ptdit.convert IN OUT.safetensors [--dtype bf16|fp16|fp32] [--num-heads N]
                            [--compress F H W] [--proxy F H W]

IN may be .safetensors or a weights-only .pt/.pth/.ckpt (containers and prefixes are removed).
The inferred config (plus any override given here) is stored in the metadata key ``ptdit_config``
so that loaders need not guess the head count or window ratios.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys


from .checkpoint import COMPUTE_DTYPES, CheckpointError, read_checkpoint
from .loader import METADATA_KEY, check_state_dict, find_state_dict, infer_config
from .model import PTDiT


def convert(src: str, dst: str, dtype: str | None = None, num_heads: int | None = None,
            compress: tuple | None = None, proxy: tuple | None = None) -> dict:
    """Write ``dst`` and return the stored config as a dict."""
    from safetensors.torch import save_file

    if not dst.lower().endswith(".safetensors"):
        raise ValueError(f"output must be a .safetensors file, got {dst!r}")
    if dtype is not None and dtype not in COMPUTE_DTYPES:
        raise TypeError(f"unknown dtype {dtype!r}; choose one of {', '.join(COMPUTE_DTYPES)}")
    obj, metadata = read_checkpoint(src)
    state_dict = find_state_dict(obj)
    config = infer_config(state_dict, metadata, num_heads=num_heads)
    overrides = {k: tuple(v) for k, v in (("compress_ratios", compress), ("proxy_ratios", proxy)) if v}
    config = dataclasses.replace(config, **overrides)
    model = PTDiT(config, device="meta")
    check_state_dict(model, state_dict)
    target = COMPUTE_DTYPES[dtype] if dtype else None
    keep = model.state_dict()
    tensors = {k: (v.to(target) if target and v.is_floating_point() else v).contiguous()
               for k, v in state_dict.items() if k in keep}
    save_file(tensors, dst, metadata={METADATA_KEY: json.dumps(config.to_dict())})
    return config.to_dict()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ptdit.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--dtype", choices=sorted(COMPUTE_DTYPES))
    parser.add_argument("--num-heads", type=int)
    parser.add_argument("--compress", type=int, nargs=3, metavar=("F", "H", "W"))
    parser.add_argument("--proxy", type=int, nargs=3, metavar=("F", "H", "W"))
    args = parser.parse_args(argv)
    try:
        config = convert(args.src, args.dst, args.dtype, args.num_heads, args.compress, args.proxy)
    except (CheckpointError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.dst}: {json.dumps(config)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
