"""The PT-DiT Image Grid node: a batch of images (e.g. decoded views) laid out as one image."""
from __future__ import annotations

import torch

from .api import io
from .schema import node_schema
from .validation import CheckedNode


def image_grid(images: torch.Tensor, columns: int) -> torch.Tensor:
    """(N, H, W, C) images, row by row, to one (1, rows·H, columns·W, C) image; empty cells are zeros."""
    count, h, w, c = images.shape
    columns = min(columns, count)
    rows = -(-count // columns)
    padded = torch.zeros(rows * columns, h, w, c, dtype=images.dtype, device=images.device)
    padded[:count] = images
    return padded.view(rows, columns, h, w, c).permute(0, 2, 1, 3, 4).reshape(1, rows * h, columns * w, c)


class PTDiTImageGrid(CheckedNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return node_schema(
            "PTDiTImageGrid", "PT-DiT Image Grid", "image",
            "Arranges a batch of images (e.g. decoded views) into one grid image.",
            inputs=[io.Image.Input("images", tooltip="Images to arrange, in order."),
                    io.Int.Input("columns", default=6, min=1, max=64, tooltip="Images per row.")],
            outputs=[io.Image.Output(tooltip="One image holding all inputs; empty cells are black.")])

    @classmethod
    def execute(cls, images, columns) -> io.NodeOutput:
        return io.NodeOutput(image_grid(images, columns))
