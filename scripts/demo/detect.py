"""Simple detectors for the synthetic demo data (numpy only): they read back what a prompt asked for.

* :func:`detect_t2i` — background colour, shape colour, shape kind and quadrant of one image.
* :func:`detect_t2v` — colour and motion direction of a clip, by tracking the shape's centroid.
* :func:`detect_t2mv` — colour, solid and cross-view consistency of a set of orbit views.

All take float pixels in [0, 1] with channels last: image (H, W, 3), clip / views (T, H, W, 3).
:func:`score` compares detections with labels and gives per-field and all-fields accuracy.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from scripts.demo.data import COLOURS, GREY, PALETTE

_RGB = np.array([PALETTE[c] for c in COLOURS], np.float32)  # (K, 3)
_CHROMA = _RGB / _RGB.max(1, keepdims=True)  # brightness-free palette, for shaded solids
FOREGROUND_DISTANCE = 0.3  # RGB distance from the background that counts as foreground
# Largest per-channel chroma difference between T2MV views that still counts as one colour: about
# 2.4x the largest seen on demo-VAE round trips of ground-truth orbits (0.063; the renders have 0).
CHROMA_TOLERANCE = 0.15


def nearest_colour(rgb: np.ndarray) -> str:
    """Palette name nearest (Euclidean RGB) to ``rgb`` (3,)."""
    return COLOURS[int(np.argmin(((_RGB - rgb) ** 2).sum(1)))]


def nearest_chroma(rgb: np.ndarray) -> str:
    """Palette name nearest to ``rgb`` (3,) after dividing out brightness (max channel)."""
    return COLOURS[int(np.argmin(((_CHROMA - chroma(rgb)) ** 2).sum(1)))]


def border_colour(image: np.ndarray, width: int = 2) -> np.ndarray:
    """Median RGB (3,) of the ``width``-pixel frame of an (H, W, 3) image."""
    frame = np.concatenate([image[:width].reshape(-1, 3), image[-width:].reshape(-1, 3),
                            image[:, :width].reshape(-1, 3), image[:, -width:].reshape(-1, 3)])
    return np.median(frame, 0)


def foreground(image: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels farther than FOREGROUND_DISTANCE from ``background`` (3,)."""
    return np.sqrt(((image - background) ** 2).sum(-1)) > FOREGROUND_DISTANCE


def _extent(mask: np.ndarray, axis: int) -> tuple[int, int] | None:
    """First and last index along the other axis with at least two mask pixels (ignores specks)."""
    hits = np.flatnonzero(mask.sum(axis) >= 2)
    return (int(hits[0]), int(hits[-1])) if len(hits) else None


def shape_kind(mask: np.ndarray) -> str:
    """'triangle' / 'circle' / 'square' from an (H, W) mask of one shape, robust to soft edges.

    In its bounding box an upward triangle fills its top half to about 0.4 of its bottom half
    (others: 1), and a square fills the four corner cells (a quarter of the side each) completely
    where a circle fills about 0.3 of them.
    """
    rows, cols = _extent(mask, 1), _extent(mask, 0)
    if rows is None or cols is None:
        return "none"
    box = mask[rows[0]:rows[1] + 1, cols[0]:cols[1] + 1]
    h, w = box.shape
    if box[: h // 2].mean() < 0.72 * max(box[h // 2:].mean(), 1e-3):
        return "triangle"
    q, r = max(1, h // 4), max(1, w // 4)
    corners = np.mean([box[:q, :r].mean(), box[:q, -r:].mean(), box[-q:, :r].mean(), box[-q:, -r:].mean()])
    return "square" if corners > 0.52 else "circle"


def detect_t2i(image: np.ndarray) -> dict:
    """-> dict(colour, shape, background, position) read from an (H, W, 3) image."""
    background = border_colour(image)
    mask = foreground(image, background)
    result = dict(background=nearest_colour(background), colour="none", shape="none", position="none")
    if mask.sum() < 0.01 * mask.size:
        return result
    rows, cols = np.nonzero(mask)
    vertical = "top" if rows.mean() < image.shape[0] / 2 else "bottom"
    horizontal = "left" if cols.mean() < image.shape[1] / 2 else "right"
    result.update(colour=nearest_colour(np.median(image[mask], 0)), shape=shape_kind(mask),
                  position=f"{vertical} {horizontal}")
    return result


def detect_t2v(clip: np.ndarray) -> dict:
    """-> dict(colour, direction, travel) from a (T, H, W, 3) clip: centroid of the first vs the last
    frame; ``travel`` is the centroid's shift along the detected direction as a fraction of the side."""
    background = border_colour(clip[0])
    masks = [foreground(frame, background) for frame in (clip[0], clip[-1])]
    if min(m.sum() for m in masks) < 0.01 * masks[0].size:
        return dict(colour="none", direction="none", travel=0.0)
    (y0, x0), (y1, x1) = [np.argwhere(m).mean(0) for m in masks]
    dy, dx = y1 - y0, x1 - x0
    horizontal = abs(dx) > abs(dy)
    direction = ("right" if dx > 0 else "left") if horizontal else ("down" if dy > 0 else "up")
    travel = abs(dx) / clip.shape[2] if horizontal else abs(dy) / clip.shape[1]
    return dict(colour=nearest_colour(np.median(clip[0][masks[0]], 0)), direction=direction, travel=float(travel))


def solid_kind(mask: np.ndarray) -> str:
    """'pyramid' (pointed top: the top fifth of the silhouette is narrow) or 'cube'."""
    rows = _extent(mask, 1)
    if rows is None:
        return "none"
    widths = mask[rows[0]:rows[1] + 1].sum(1)
    return "pyramid" if widths[: max(1, len(widths) // 5)].mean() < 0.4 * widths.max() else "cube"


def chroma(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (3,) with brightness divided out (max channel = 1): what Lambert shading leaves unchanged."""
    return rgb / max(float(rgb.max()), 1e-3)


def detect_t2mv(views: np.ndarray, area_tolerance: float = 1.6, chroma_tolerance: float = CHROMA_TOLERANCE) -> dict:
    """-> dict(colour, shape, consistent) from (V, H, W, 3) views on grey.

    ``consistent`` holds when every view shows the same colour and solid, the median chromas of
    the views differ by at most ``chroma_tolerance`` in every channel (one hue all round the
    orbit, not just the same palette name), and the silhouette areas stay within a factor
    ``area_tolerance`` of each other.
    """
    colours, shapes, areas, chromas = [], [], [], []
    for view in views:
        mask = foreground(view, np.asarray(GREY, np.float32))
        areas.append(int(mask.sum()))
        if mask.sum() < 0.01 * mask.size:
            colours.append("none")
            shapes.append("none")
            continue
        chromas.append(chroma(np.median(view[mask], 0)))
        colours.append(nearest_chroma(chromas[-1]))
        shapes.append(solid_kind(mask))
    consistent = (len(set(colours)) == 1 and len(set(shapes)) == 1 and "none" not in colours
                  and max(areas) <= area_tolerance * min(areas)
                  and float(np.ptp(np.stack(chromas), 0).max()) <= chroma_tolerance)
    return dict(colour=max(set(colours), key=colours.count), shape=max(set(shapes), key=shapes.count),
                consistent=consistent)


def score(detections: Iterable[Mapping], labels: Iterable[Mapping], fields: Iterable[str]) -> dict[str, float]:
    """Accuracy per field and ``all`` (every field right) of detections against labels."""
    detections, labels, fields = list(detections), list(labels), list(fields)
    if len(detections) != len(labels) or not labels:
        raise ValueError(f"need as many detections as labels (> 0), got {len(detections)} and {len(labels)}")
    hits = np.array([[d[f] == l[f] for f in fields] for d, l in zip(detections, labels)])
    return {**{f: float(hits[:, i].mean()) for i, f in enumerate(fields)}, "all": float(hits.all(1).mean())}
