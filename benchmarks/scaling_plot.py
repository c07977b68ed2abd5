"""The plot of benchmarks/scaling.py: time per forward and attention FLOPs against token count, log-log.

Needs matplotlib (benchmarks/requirements.txt). One line per model through the image sizes; the clip
is a separate hollow marker at its token count. PT-DiT's FLOP points carry the paper's ratio (its
attention cost in % of full self-attention), its time points the measured PT-DiT / PixArt ratio.
"""
from __future__ import annotations

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"ptdit": ("PT-DiT (this pack, as ComfyUI runs it)", "tab:blue"),
         "pixart": ("PixArt (ComfyUI, full attention)", "tab:red"), "official": ("PT-DiT (official code)", "tab:green")}


def _draw(ax, rows: list[dict], model: str, value) -> None:
    label, color = STYLE[model]
    images = [r for r in rows if r["frames"] == 1 and value(r) is not None]
    clips = [r for r in rows if r["frames"] > 1 and value(r) is not None]
    ax.plot([r["tokens"] for r in images], [value(r) for r in images], "o-", color=color, label=label)
    if clips:
        ax.plot([r["tokens"] for r in clips], [value(r) for r in clips], "s", color=color, mfc="none", ms=9,
                label=f"{label}, {clips[0]['case']}")


def plot(rows: list[dict], official: bool, path: str, caption: str) -> None:
    """Write the two-panel PNG for the rows of ``scaling.py`` to ``path``."""
    models = ["ptdit", "pixart"] + (["official"] if official else [])
    fig, (ax_time, ax_flops) = plt.subplots(1, 2, figsize=(12, 5.2))
    for model in models:
        _draw(ax_time, rows, model, lambda r, m=model: r["seconds"].get(m))
    for model in ("ptdit", "pixart"):  # the official PT-DiT does the same attention work as ours
        _draw(ax_flops, rows, model, lambda r, m=model: r["flops"][m])
    for r in rows:
        ax_time.annotate(f"×{r['ratios']['ptdit/pixart']['median']:.2f}", (r["tokens"], r["seconds"]["ptdit"]),
                         textcoords="offset points", xytext=(4, 4), fontsize=8, color=STYLE["ptdit"][1])
        ax_flops.annotate(f"{100 * r['attention_ratio']:.1f} %", (r["tokens"], r["flops"]["ptdit"]),
                          textcoords="offset points", xytext=(4, -12), fontsize=8, color=STYLE["ptdit"][1])
    ax_time.set(title="time per forward (PT-DiT points: PT-DiT / PixArt, paired)", ylabel="seconds")
    ax_flops.set(title="self-attention FLOPs per forward (PT-DiT points: paper's ratio)", ylabel="FLOPs")
    for ax in (ax_time, ax_flops):
        ax.set(xscale="log", yscale="log", xlabel="tokens")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    wrapped = "\n".join(textwrap.fill(line, 170) for line in caption.splitlines())
    fig.text(0.01, 0.01, wrapped, fontsize=7, family="monospace", va="bottom")
    fig.tight_layout(rect=(0, 0.03 + 0.025 * (wrapped.count("\n") + 1), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
