"""Procedural, seeded training data for the tiny PT-DiT demo models (numpy only).

Three tasks, each a generator ``sample_*(rng, size)`` that returns ``(pixels, prompt, label)``:

* **T2I** — one coloured shape (circle / square / triangle) on a plain background of another
  colour, in one of four quadrants: ``"a red circle on a blue background, top left"``.
  Pixels (H, W, 3) float32 in [0, 1].
* **T2V** — the same kind of shape moving in a stated direction over ``1 + 4k`` frames:
  ``"a red circle moving right on a blue background"``. Pixels (T, H, W, 3).
* **T2MV** — a shaded cube or pyramid of one colour seen from ``views`` cameras evenly spaced on
  an orbit around it: ``"a red cube on a grey background, orbit"``. Pixels (V, H, W, 3).

``label`` holds the ground truth as a dict of the prompt's words (``colour``, ``shape``,
``background``, ``position`` / ``direction``). Everything is a pure function of the
``numpy.random.Generator`` passed in, so a seed fixes a data set.
"""
from __future__ import annotations

import itertools

import numpy as np

PALETTE = {
    "red": (0.86, 0.16, 0.16),
    "green": (0.16, 0.70, 0.24),
    "blue": (0.16, 0.31, 0.86),
    "yellow": (0.90, 0.82, 0.16),
}
COLOURS = tuple(PALETTE)
SHAPES = ("circle", "square", "triangle")
POSITIONS = ("top left", "top right", "bottom left", "bottom right")
DIRECTIONS = ("left", "right", "up", "down")
SOLIDS = ("cube", "pyramid")
GREY = (0.5, 0.5, 0.5)

# (row, column) of each quadrant's centre as a fraction of the image side.
_QUADRANT_CENTRES = {"top left": (0.27, 0.27), "top right": (0.27, 0.73),
                     "bottom left": (0.73, 0.27), "bottom right": (0.73, 0.73)}
_STEPS = {"left": (0.0, -1.0), "right": (0.0, 1.0), "up": (-1.0, 0.0), "down": (1.0, 0.0)}
SHAPE_RADIUS = 0.17  # half the shape's extent, as a fraction of the image side
T2V_TRAVEL = 0.4  # how far a T2V shape moves over the clip, as a fraction of the image side


def t2i_labels() -> list[dict]:
    """Every (colour, shape, background, position) combination with background != colour (144)."""
    return [dict(colour=c, shape=s, background=b, position=p)
            for c, s, b, p in itertools.product(COLOURS, SHAPES, COLOURS, POSITIONS) if b != c]


def t2i_prompt(label: dict) -> str:
    return f"a {label['colour']} {label['shape']} on a {label['background']} background, {label['position']}"


def t2v_prompt(label: dict) -> str:
    return f"a {label['colour']} {label['shape']} moving {label['direction']} on a {label['background']} background"


def t2mv_prompt(label: dict) -> str:
    return f"a {label['colour']} {label['shape']} on a grey background, orbit"


def shape_mask(shape: str, size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    """(size, size) bool mask of ``shape`` centred at ``centre`` (row, col in pixels), half-extent ``radius`` px.

    The triangle points up and fills its bounding box to one half.
    """
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dy, dx = rows - centre[0], cols - centre[1]
    if shape == "circle":
        return dx * dx + dy * dy <= radius * radius
    if shape == "square":
        return (np.abs(dx) <= radius) & (np.abs(dy) <= radius)
    if shape == "triangle":
        depth = (dy + radius) / (2 * radius)  # 0 at the apex row, 1 at the base
        return (depth >= 0) & (depth <= 1) & (np.abs(dx) <= depth * radius)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def paint(size: int, background: str, colour: str, mask: np.ndarray) -> np.ndarray:
    """(size, size, 3) float32 image: ``background`` colour with ``colour`` where ``mask`` is set."""
    image = np.empty((size, size, 3), np.float32)
    image[:] = PALETTE[background]
    image[mask] = PALETTE[colour]
    return image


def render_t2i(label: dict, size: int, jitter: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(size, size, 3) image of ``label``; ``jitter`` moves the shape by a fraction of the side."""
    cy, cx = _QUADRANT_CENTRES[label["position"]]
    centre = ((cy + jitter[0]) * size, (cx + jitter[1]) * size)
    return paint(size, label["background"], label["colour"],
                 shape_mask(label["shape"], size, centre, SHAPE_RADIUS * size))


def sample_t2i(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, str, dict]:
    """One random T2I example: (size, size, 3) pixels, prompt, label."""
    labels = t2i_labels()
    label = labels[rng.integers(len(labels))]
    jitter = tuple(rng.uniform(-0.05, 0.05, 2))
    return render_t2i(label, size, jitter), t2i_prompt(label), label


def render_t2v(label: dict, size: int, frames: int, start: tuple[float, float] = (0.5, 0.5),
               travel: float = T2V_TRAVEL) -> np.ndarray:
    """(frames, size, size, 3) clip: the shape moves ``travel`` of the side in ``label['direction']``,
    centred on ``start`` (row, col fractions) at mid-clip."""
    dy, dx = _STEPS[label["direction"]]
    clip = []
    for i in range(frames):
        f = i / max(frames - 1, 1) - 0.5
        centre = ((start[0] + dy * travel * f) * size, (start[1] + dx * travel * f) * size)
        clip.append(paint(size, label["background"], label["colour"],
                          shape_mask(label["shape"], size, centre, SHAPE_RADIUS * size)))
    return np.stack(clip)


def t2v_labels() -> list[dict]:
    return [dict(colour=c, shape=s, background=b, direction=d)
            for c, s, b, d in itertools.product(COLOURS, SHAPES, COLOURS, DIRECTIONS) if b != c]


def sample_t2v(rng: np.random.Generator, size: int = 64, frames: int = 5) -> tuple[np.ndarray, str, dict]:
    """One random T2V example: (frames, size, size, 3) pixels (frames = 1 + 4k), prompt, label."""
    if (frames - 1) % 4:
        raise ValueError(f"frames must be 1 + 4k for the causal VAE, got {frames}")
    labels = t2v_labels()
    label = labels[rng.integers(len(labels))]
    start = tuple(0.5 + rng.uniform(-0.06, 0.06, 2))
    return render_t2v(label, size, frames, start), t2v_prompt(label), label


# ------------------------------------------------------------------------------- T2MV solids

_CUBE_VERTS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float32) * 0.55
_CUBE_FACES = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
_PYRAMID_VERTS = np.array([[-0.7, -0.55, -0.7], [0.7, -0.55, -0.7], [0.7, -0.55, 0.7], [-0.7, -0.55, 0.7],
                           [0.0, 0.75, 0.0]], np.float32)
_PYRAMID_FACES = [(0, 1, 2, 3), (0, 4, 1), (1, 4, 2), (2, 4, 3), (3, 4, 0)]
_LIGHT = np.array([0.4, 0.8, 0.45], np.float32) / np.linalg.norm([0.4, 0.8, 0.45])


def _solid(shape: str) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    if shape == "cube":
        return _CUBE_VERTS, _CUBE_FACES
    if shape == "pyramid":
        return _PYRAMID_VERTS, _PYRAMID_FACES
    raise ValueError(f"unknown solid {shape!r}; expected one of {SOLIDS}")


def render_solid(shape: str, colour: str, size: int, azimuth: float, elevation: float = 0.35) -> np.ndarray:
    """(size, size, 3) orthographic view of a convex solid (y up) on grey, camera at ``azimuth`` radians.

    Faces are Lambert-shaded against a fixed world light; back faces are culled, which is exact
    for convex solids (no visible face hides another).
    """
    verts, faces = _solid(shape)
    ca, sa, ce, se = np.cos(azimuth), np.sin(azimuth), np.cos(elevation), np.sin(elevation)
    yaw = np.array([[ca, 0, -sa], [0, 1, 0], [sa, 0, ca]], np.float32)
    pitch = np.array([[1, 0, 0], [0, ce, -se], [0, se, ce]], np.float32)
    rot = pitch @ yaw
    cam = verts @ rot.T  # camera space: x right, y up, z towards the viewer
    px = np.stack([(0.5 - cam[:, 1] * 0.5) * size, (0.5 + cam[:, 0] * 0.5) * size], 1)  # (row, col)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    image = np.empty((size, size, 3), np.float32)
    image[:] = GREY
    base = np.asarray(PALETTE[colour], np.float32)
    for face in faces:
        p = cam[list(face)]
        normal = np.cross(p[1] - p[0], p[2] - p[0])
        normal /= np.linalg.norm(normal)
        if normal[2] <= 0:  # faces away from the camera
            continue
        world_normal = normal @ rot  # rotate back to world space for the fixed light
        shade = 0.45 + 0.55 * max(float(world_normal @ _LIGHT), 0.0)
        q = px[list(face)]
        edges = [(b[1] - a[1]) * (rows - a[0]) - (b[0] - a[0]) * (cols - a[1])
                 for a, b in zip(q, np.roll(q, -1, axis=0))]
        inside = np.all([e <= 0 for e in edges], 0) | np.all([e >= 0 for e in edges], 0)  # either winding
        image[inside] = base * shade
    return image


def t2mv_labels() -> list[dict]:
    return [dict(colour=c, shape=s) for c, s in itertools.product(COLOURS, SOLIDS)]


def render_t2mv(label: dict, size: int, views: int, phase: float = 0.0) -> np.ndarray:
    """(views, size, size, 3): the solid seen from ``views`` azimuths evenly spaced from ``phase``."""
    return np.stack([render_solid(label["shape"], label["colour"], size, phase + 2 * np.pi * v / views)
                     for v in range(views)])


def sample_t2mv(rng: np.random.Generator, size: int = 64, views: int = 4) -> tuple[np.ndarray, str, dict]:
    """One random T2MV example: (views, size, size, 3) pixels, prompt, label."""
    labels = t2mv_labels()
    label = labels[rng.integers(len(labels))]
    return render_t2mv(label, size, views, rng.uniform(0, np.pi / 2)), t2mv_prompt(label), label
