"""Thumbnails for the Templates browser: ``workflows/<name>.jpg`` beside each workflow.

Both hosts serve a pack's ``workflows/`` folder (``app/custom_node_manager.py``) and the frontend
shows ``<name>.jpg`` as the card of ``<name>.json``. A workflow whose model files all ship in
``demo_models/`` is run on the given ComfyUI and its first saved image is the picture; any other
workflow (released weights, not available here) gets a drawing of its graph. Called by
``scripts/make_workflows.py`` after it writes the workflows.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from PIL import Image, ImageDraw

from scripts import make_workflows as mw
from scripts.workflow_api import workflow_to_prompt

SIZE = 512  # square cards, JPEG
TITLE_HEIGHT, FOOTER_HEIGHT, MARGIN = 34, 78, 10
BACKGROUND, TEXT, DIM = (27, 31, 39), (230, 230, 230), (150, 160, 175)
AREA = (SIZE - 2 * MARGIN, SIZE - TITLE_HEIGHT - FOOTER_HEIGHT - 2 * MARGIN)  # the picture's box
NODE_FILL, NODE_EDGE, PACK_FILL, LINK = (57, 70, 90), (110, 125, 150), (70, 60, 110), (99, 179, 255)


def _fit(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """``image`` scaled (nearest, the demo outputs are pixel art) to fit ``box`` (w, h), never enlarged
    beyond it."""
    scale = min(box[0] / image.width, box[1] / image.height)
    return image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))), Image.NEAREST)


def as_grid(image: Image.Image) -> Image.Image:
    """A row of square samples (what the demo workflows save) rearranged into a near-square grid."""
    count = image.width // image.height
    if count < 2 or count * image.height != image.width:
        return image
    columns = math.ceil(math.sqrt(count))
    side = image.height
    grid = Image.new("RGB", (columns * side, math.ceil(count / columns) * side), BACKGROUND)
    for i in range(count):
        grid.paste(image.crop((i * side, 0, (i + 1) * side, side)), ((i % columns) * side, (i // columns) * side))
    return grid


def _words(node_type: str) -> list[str]:
    """A node type as words for its label: ``PTDiTSamplerT2V`` -> PT-DiT, Sampler, T2V."""
    rest = node_type.removeprefix("PTDiT")
    return (["PT-DiT"] if rest != node_type else []) + re.findall(r"[A-Z0-9]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+", rest)


def graph_picture(workflow: dict, box: tuple[int, int]) -> Image.Image:
    """The workflow's nodes (PT-DiT nodes tinted) and links, laid out as in the file, drawn in ``box``."""
    nodes = [n for n in workflow["nodes"] if n["type"] not in ("Note", "MarkdownNote")]
    left = min(n["pos"][0] for n in nodes)
    top = min(n["pos"][1] for n in nodes)
    right = max(n["pos"][0] + n["size"][0] for n in nodes)
    bottom = max(n["pos"][1] + n["size"][1] for n in nodes)
    scale = min(box[0] / (right - left), box[1] / (bottom - top))
    picture = Image.new("RGB", (int((right - left) * scale), int((bottom - top) * scale)), BACKGROUND)
    draw = ImageDraw.Draw(picture)
    at = {n["id"]: ((n["pos"][0] - left) * scale, (n["pos"][1] - top) * scale, n["size"][0] * scale,
                    n["size"][1] * scale * 0.8) for n in nodes}
    for _, origin, _, target, _, _ in workflow["links"]:
        (x0, y0, w0, h0), (x1, y1, _, h1) = at[origin], at[target]
        draw.line([(x0 + w0, y0 + h0 / 2), (x1, y1 + h1 / 2)], fill=LINK, width=2)
    for node in nodes:
        x, y, w, h = at[node["id"]]
        fill = PACK_FILL if node["type"].startswith("PTDiT") else NODE_FILL
        draw.rounded_rectangle([x, y, x + w, y + h], radius=4, fill=fill, outline=NODE_EDGE)
        lines = [""]
        for word in _words(node["type"]):
            joined = f"{lines[-1]} {word}".strip()
            if lines[-1] and draw.textlength(joined, font_size=11) > w - 6:
                lines.append(word)
            else:
                lines[-1] = joined
        draw.multiline_text((x + 3, y + 2), "\n".join(lines), fill=TEXT, font_size=11, spacing=1)
    return picture


def card(title: str, picture: Image.Image, footer: list[str]) -> Image.Image:
    """A SIZE x SIZE card: title, the picture fitted and centred, up to four footer lines."""
    canvas = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN, MARGIN), title, fill=TEXT, font_size=18)
    fitted = _fit(picture, AREA)
    canvas.paste(fitted, (MARGIN + (AREA[0] - fitted.width) // 2,
                          TITLE_HEIGHT + MARGIN + (AREA[1] - fitted.height) // 2))
    for i, line in enumerate(footer[:4]):
        draw.text((MARGIN, SIZE - FOOTER_HEIGHT + 4 + 17 * i), line, fill=DIM, font_size=13)
    return canvas


def write_thumbnails(host, folder: Path = mw.REPO / "workflows") -> list[Path]:
    """Write ``<name>.jpg`` for every workflow in ``mw.WORKFLOWS``; returns the paths."""
    info, paths = host.object_info(), []
    for name in mw.WORKFLOWS:
        workflow = json.loads((folder / f"{name}.json").read_text())
        prompt = workflow_to_prompt(workflow, info)
        files = mw.model_files(prompt)
        if all(mw.shipped(loader, file) for loader, file, _ in files):
            result = host.run(prompt, timeout=900)
            saved = [f for f in host.output_files(result) if f.suffix == ".png"]
            if not saved:
                raise RuntimeError(f"{name} saved no PNG to make its thumbnail from: {result.describe()}")
            picture = as_grid(Image.open(saved[0]).convert("RGB"))
            footer = ["Demo models (ship with the pack): runs on a CPU in seconds."]
        else:
            picture = graph_picture(workflow, AREA)
            footer = ["Needs the released weights (see the note in the workflow):",
                      *(f"  {file}" for _, file, _ in files)]
        path = folder / f"{name}.jpg"
        card(name, picture, footer).save(path, quality=88, optimize=True)
        paths.append(path)
    return paths
