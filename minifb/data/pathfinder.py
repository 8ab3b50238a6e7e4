"""minifb's Pathfinder-32: a seeded generator of the path-tracing task of Linsley et al. (2018),
written from its published description, not the official images (LRA's Pathfinder-32 release).

Each 32x32 grayscale image holds ``2 + distractors`` smooth dashed curves and two round markers;
the label says whether both markers sit on the ends of one curve (1) or on curves of their own (0).
A curve is ``length`` straight dashes ("paddles") of ``paddle`` pixels with ``gap`` pixels
between them; its heading turns by a uniform angle in [-``turn``, ``turn``] between dashes. Each
curve is drawn with a uniform start heading, then moved to a uniform place where it fits the
image. Curve 0 carries a marker at one end; the other marker sits at curve 0's other end
(positive) or at an end of curve 1 (negative). So that the answer is in the picture, curves 0
and 1 (with their markers) must not touch, not even through a chain of distractors (touching:
8-neighbouring pixels); images where they do are drawn again. This rule is the same in both
classes, so it leaves no clue to the label. Ink and markers are 255, the background 0; the
classes are balanced in expectation (each label a fair coin).

The generator is vectorised over images with NumPy: tens of thousands of images take seconds.
"""
from __future__ import annotations

import numpy as np

SIZE = 32
SUBSTEP = 0.5  # pixels between the points sampled along a dash


def generate_pathfinder(count: int, seed: int, length: int = 9, distractors: int = 2, paddle: float = 1.5,
                        gap: float = 1.5, turn: float = np.pi / 6, marker_radius: float = 1.5,
                        chunk: int = 4096,
                        markers: bool = False):
    """(images uint8 (count, 32, 32), labels int64 (count,)) and, with ``markers``, the markers'
    centre pixels (count, 2, 2) as (y, x); deterministic for a seed and settings."""
    if count < 1 or length < 1 or distractors < 0 or paddle <= 0 or gap < 0 or marker_radius < 0:
        raise ValueError(f"generate_pathfinder: need count >= 1, length >= 1, distractors >= 0, paddle > 0, "
                         f"gap >= 0 and marker_radius >= 0, got {count}, {length}, {distractors}, {paddle}, "
                         f"{gap}, {marker_radius}")
    if length * (paddle + gap) > SIZE - 1:
        raise ValueError(f"generate_pathfinder: {length} dashes of {paddle + gap} pixels may not fit "
                         f"a {SIZE}x{SIZE} image")
    rng = np.random.default_rng(seed)
    parts = []
    kept = 0
    while kept < count:
        parts.append(_draw_chunk(rng, chunk, length, 2 + distractors, paddle, gap, turn, marker_radius))
        kept += len(parts[-1][1])
    images, labels, centres = (np.concatenate(p)[:count] for p in zip(*parts))
    return (images, labels, centres) if markers else (images, labels)


def _curves(rng, n, curves, length, paddle, gap, turn):
    """Points along n x curves dashed curves, (n, curves, points, 2) in pixels (y, x), each drawn
    from the origin and moved to a uniform place where it fits the image."""
    turns = np.concatenate([np.zeros((n, curves, 1)), rng.uniform(-turn, turn, (n, curves, length - 1))],
                           axis=2)
    heading = rng.uniform(0, 2 * np.pi, (n, curves, 1)) + np.cumsum(turns, axis=2)
    direction = np.stack([np.sin(heading), np.cos(heading)], axis=-1)             # (n, curves, length, 2)
    starts = np.cumsum(direction * (paddle + gap), axis=2) - direction * (paddle + gap)
    along = np.arange(0, paddle + 1e-9, SUBSTEP)                                  # points along one dash
    points = (starts[:, :, :, None] + along[:, None] * direction[:, :, :, None]).reshape(n, curves, -1, 2)
    low = points.min(axis=2, keepdims=True)
    room = (SIZE - 1.0) - (points.max(axis=2, keepdims=True) - low)    # >= 0: checked by the caller
    return points - low + rng.uniform(0, 1, (n, curves, 1, 2)) * room


def _draw_chunk(rng, n, length, curves, paddle, gap, turn, marker_radius):
    """n candidate images; those where curves 0 and 1 touch are dropped."""
    points = _curves(rng, n, curves, length, paddle, gap, turn)
    label = rng.integers(0, 2, n)
    rows = np.arange(n)
    # Markers: curve 0 at a random end; the second on curve 0's other end, or on an end of curve 1.
    end = -rng.integers(0, 2, (n, 2))                                   # index 0 (start) or -1 (end)
    first = points[rows, 0, end[:, 0]]
    second = np.where(label[:, None] == 1, points[rows, 0, -1 - end[:, 0]], points[rows, 1, end[:, 1]])
    pixels = np.clip(np.rint(points).astype(np.int64), 0, SIZE - 1)
    ink = np.zeros((n, curves, SIZE, SIZE), bool)
    ink[rows[:, None, None], np.arange(curves)[None, :, None], pixels[..., 0], pixels[..., 1]] = True
    ink[:, 0] |= _disc(first, marker_radius)
    ink[rows, 1 - label] |= _disc(second, marker_radius)                          # curve 0 or curve 1
    keep = ~_joined(ink)
    image = ink.any(axis=1).astype(np.uint8) * 255
    centres = np.clip(np.rint(np.stack([first, second], axis=1)), 0, SIZE - 1).astype(np.int64)
    return image[keep], label[keep].astype(np.int64), centres[keep]


def _disc(centre, radius):
    """(n, SIZE, SIZE) masks of the pixels within ``radius`` of each centre (n, 2), rounded to a pixel."""
    grid = np.arange(SIZE)
    c = np.rint(centre)
    rows = (grid[None, :, None] - c[:, 0, None, None]) ** 2
    columns = (grid[None, None, :] - c[:, 1, None, None]) ** 2
    return rows + columns <= radius ** 2


def _grow(mask):
    """The mask with its 8 neighbours: the pixels that touch it."""
    grown = mask.copy()
    grown[..., 1:, :] |= mask[..., :-1, :]
    grown[..., :-1, :] |= mask[..., 1:, :]
    wide = grown.copy()
    wide[..., :, 1:] |= grown[..., :, :-1]
    wide[..., :, :-1] |= grown[..., :, 1:]
    return wide


def _joined(ink):
    """Whether curves 0 and 1 touch, directly or through a chain of other curves: (n,) bool.

    Curve i touches j when a pixel of i is one of j's or a neighbour of one (``_grow``); chains are
    the transitive closure of that relation, by repeated squaring of the (curves x curves) matrix."""
    n, curves = ink.shape[:2]
    flat, wide = ink.reshape(n, curves, 1, -1), _grow(ink).reshape(n, 1, curves, -1)
    reach = (flat & wide).any(axis=-1) | np.eye(curves, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(curves))))):
        reach = (reach[:, :, :, None] & reach[:, None, :, :]).any(axis=2)
    return reach[:, 0, 1]
