"""Running sums and products and differences along one axis: cumsum cumprod diff.

axis=None flattens first (as NumPy does). A reversed cumulative sum, ``rev(v)_k = sum_{i >= k} v_i``,
is the adjoint of the cumulative sum and appears in every VJP here.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .function import conj, normalize_axis, primitive


class _AlongLast:
    """``axis`` moved last (None: the flattened data), and the moves back for outputs and gradients."""

    def __init__(self, name, x, axis):
        self.xp, self.shape = get_array_module(x.data), x.shape
        if axis is not None and x.ndim == 0:
            raise ValueError(f"{name}: a 0-d tensor has no axis {axis}")
        self.axis = None if axis is None else normalize_axis(name, axis, x.ndim, x.shape)

    def last(self, a):
        """An input or output array with the axis last."""
        return a.reshape(-1) if self.axis is None else self.xp.moveaxis(a, self.axis, -1)

    def output(self, a):
        """The result, from its axis-last form (None: stays flat, as in NumPy)."""
        return a if self.axis is None else self.xp.moveaxis(a, -1, self.axis)

    def input(self, a):
        """An input's gradient, from its axis-last form."""
        return a.reshape(self.shape) if self.axis is None else self.xp.moveaxis(a, -1, self.axis)


def _reverse_cumsum(xp, v):
    """rev(v)_k = sum_{i >= k} v_i along the last axis."""
    return xp.flip(xp.cumsum(xp.flip(v, -1), axis=-1), -1)


@primitive("cumsum")
def cumsum(x, axis=None):
    """y_i = sum_{j <= i} x_j along ``axis``;  dL/dx_k = sum_{i >= k} g_i."""
    along = _AlongLast("cumsum", x, axis)
    xp = along.xp
    out = along.output(xp.cumsum(along.last(x.data), axis=-1))
    return out, (lambda g: along.input(_reverse_cumsum(xp, along.last(g))),)


@primitive("cumprod")
def cumprod(x, axis=None):
    """y_i = prod_{j <= i} x_j along ``axis``;  dL/dx_k = sum_{i >= k} g_i conj(prod_{j <= i, j != k} x_j).

    Before the first zero z of a slice this is rev(g conj(y))_k / conj(x_k); after it, 0 (every
    product holds x_z); at z itself, conj(x_0 ... x_{z-1}) sum_{i >= z} g_i conj(x_{z+1} ... x_i).
    """
    along = _AlongLast("cumprod", x, axis)
    xp, a = along.xp, along.last(x.data)
    y = xp.cumprod(a, axis=-1)

    def vjp(g):
        g = along.last(g)
        if g.size == 0:  # an empty slice: nothing to send back (argmax needs an element)
            return along.input(g)
        index = xp.arange(a.shape[-1])
        zero = a == 0
        first = xp.where(zero.any(axis=-1), zero.argmax(axis=-1), a.shape[-1])[..., None]
        before = index < first
        nonzero = xp.where(before, a, 1)
        grad = xp.where(before, _reverse_cumsum(xp, g * conj(y)) / conj(nonzero), 0)
        after = xp.cumprod(xp.where(index > first, a, 1), axis=-1)  # x_{z+1} ... x_i for i >= z
        at_zero = conj(xp.cumprod(nonzero, axis=-1)) * _reverse_cumsum(xp, g * conj(after) * (index >= first))
        return along.input(xp.where(index == first, at_zero, grad))
    return along.output(y), (vjp,)


@primitive("diff")
def diff(x, n: int = 1, axis: int = -1):
    """The n-th difference along ``axis``: y_i = x_{i+1} - x_i, n times;
    the VJP of one difference is dL/dx_j = g_{j-1} - g_j (g_{-1} = g_m = 0), n times."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"diff: n must be an integer >= 0, got {n!r}")
    if x.ndim == 0:
        raise ValueError("diff: a 0-d tensor has no axis to take differences along")
    axis = normalize_axis("diff", axis, x.ndim, x.shape)
    xp = get_array_module(x.data)
    out = xp.diff(x.data, n, axis)

    def vjp(g):
        for _ in range(n):
            zero = xp.zeros(g.shape[:axis] + (1,) + g.shape[axis + 1:], dtype=g.dtype)
            g = xp.concatenate([zero, g], axis=axis) - xp.concatenate([g, zero], axis=axis)
        return g
    return out, (vjp,)
