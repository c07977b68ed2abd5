"""Make the README picture (``docs/images/demo.png``) from the demo workflows run in a real ComfyUI.

    python -m scripts.demo.picture [--out docs/images/demo.png]

Runs ``ptdit_demo_t2i`` for two prompts, ``ptdit_demo_t2v`` and ``ptdit_demo_t2mv`` as shipped
(seed of the workflow files), and stacks their saved PNGs, each under its prompt, at half the
saved size (2x the 64 px the models generate).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from scripts import make_workflows as mw
from scripts.demo import data as demo_data
from scripts.run_demo import customise
from scripts.workflow_api import workflow_to_prompt
from tests.harness.hosts import find_comfyui_dir
from tests.harness.server import ComfyHost

REPO = Path(__file__).resolve().parents[2]

SECOND_T2I = dict(colour="yellow", shape="triangle", background="green", position="bottom right")
ROWS = [  # (workflow, prompt override or None, caption)
    ("ptdit_demo_t2i", None, f"T2I: {mw.DEMO_T2I_PROMPT}"),
    ("ptdit_demo_t2i", demo_data.t2i_prompt(SECOND_T2I), f"T2I: {demo_data.t2i_prompt(SECOND_T2I)}"),
    ("ptdit_demo_t2v", None, f"T2V, 5 frames: {demo_data.t2v_prompt(mw.DEMO_T2V_LABEL)}"),
    ("ptdit_demo_t2mv", None, f"T2MV, 4 views: {demo_data.t2mv_prompt(mw.DEMO_T2MV_LABEL)}"),
]
CAPTION_HEIGHT, MARGIN = 18, 6


def run_rows(host: ComfyHost) -> list[tuple[str, Image.Image]]:
    info, rows = host.object_info(), []
    for name, text, caption in ROWS:
        workflow = json.loads((REPO / "workflows" / f"{name}.json").read_text())
        result = host.run(customise(workflow_to_prompt(workflow, info), text, None), timeout=600)
        (path,) = [f for f in host.output_files(result) if f.suffix == ".png"]  # T2V also saves an mp4
        image = Image.open(path).convert("RGB")
        rows.append((caption, image.resize((image.width // 2, image.height // 2), Image.NEAREST)))
    return rows


def compose(rows: list[tuple[str, Image.Image]]) -> Image.Image:
    width = max(image.width for _, image in rows) + 2 * MARGIN
    height = sum(CAPTION_HEIGHT + image.height + MARGIN for _, image in rows) + MARGIN
    canvas = Image.new("RGB", (width, height), "white")
    draw, y = ImageDraw.Draw(canvas), MARGIN
    for caption, image in rows:
        draw.text((MARGIN, y + 3), caption, fill="black")
        canvas.paste(image, (MARGIN, y + CAPTION_HEIGHT))
        y += CAPTION_HEIGHT + image.height + MARGIN
    return canvas


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo.picture", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images" / "demo.png"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as base, ComfyHost(find_comfyui_dir(), base_dir=base) as host:
        picture = compose(run_rows(host))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    picture.save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
