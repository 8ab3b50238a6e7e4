"""Parts of matrices: tril triu (a triangle, the rest zeroed), diagonal and trace.

tril and triu act on the last two axes (batched, as in PyTorch); their VJP keeps the same
triangle of g. diagonal reads a diagonal into a new last axis, as ``numpy.diagonal``; its VJP
writes g back onto that diagonal of a zero array.
"""
from __future__ import annotations

from .. import checks
from ..backend import get_array_module
from .function import normalize_axis, primitive, tensors
from .reduction import sum as _sum


def _triangle(name, x, k):
    """The forward and VJP of tril and triu."""
    if x.ndim < 2:
        raise ValueError(f"{name}: needs a tensor of at least 2 dimensions, got shape {x.shape}")
    if not isinstance(k, int):
        raise TypeError(f"{name}: k must be an int, got {k!r}")
    xp = get_array_module(x.data)
    rows, cols = x.shape[-2:]
    keep = xp.tri(rows, cols, k, dtype=bool) if name == "tril" else ~xp.tri(rows, cols, k - 1, dtype=bool)
    return xp.where(keep, x.data, 0), (lambda g: xp.where(keep, g, 0),)


@primitive("tril")
def tril(x, k: int = 0):
    """x where column <= row + k, else 0 (last two axes);  dL/dx = tril(g, k)."""
    return _triangle("tril", x, k)


@primitive("triu")
def triu(x, k: int = 0):
    """x where column >= row + k, else 0 (last two axes);  dL/dx = triu(g, k)."""
    return _triangle("triu", x, k)


@primitive("diagonal")
def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """out[..., i] = x[..., i, i + offset] over axes ``axis1`` and ``axis2`` (the others first, in order);
    dL/dx: g written onto that diagonal of zeros."""
    if x.ndim < 2:
        raise ValueError(f"diagonal: needs a tensor of at least 2 dimensions, got shape {x.shape}")
    a1, a2 = (normalize_axis("diagonal", a, x.ndim, x.shape) for a in (axis1, axis2))
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 are the same axis ({a1}) of shape {x.shape}")
    if not isinstance(offset, int):
        raise TypeError(f"diagonal: offset must be an int, got {offset!r}")
    xp = get_array_module(x.data)
    moved = xp.moveaxis(x.data, (a1, a2), (-2, -1))
    length = max(0, min(moved.shape[-2] + min(offset, 0), moved.shape[-1] - max(offset, 0)))
    i = xp.arange(length)
    rows, cols = i - min(offset, 0), i + max(offset, 0)

    def vjp(g):
        full = xp.zeros(moved.shape, dtype=g.dtype)
        full[..., rows, cols] = g  # distinct places: assignment, no scatter-add needed
        return xp.moveaxis(full, (-2, -1), (a1, a2))
    return moved[..., rows, cols], (vjp,)


def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The sum of diagonal(x, offset, axis1, axis2) over its last axis, as ``numpy.trace``."""
    (x,) = tensors("trace", x)
    for label, value in (("offset", offset), ("axis1", axis1), ("axis2", axis2)):
        checks.integer("trace", label, value)
    return _sum(diagonal(x, offset, axis1, axis2), axis=-1)
