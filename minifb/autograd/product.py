"""The product over axes (prod), with a gradient that is right where some factors are 0.

dL/dx_i = g conj(prod_{j != i} x_j). The textbook form out / x_i divides by zero when x_i = 0, so
the product of the other factors is built instead from the exclusive running products from both
ends, which needs no division: prod_{j != i} x_j = (x_0 ... x_{i-1}) (x_{i+1} ... x_{n-1}).
"""
from __future__ import annotations

from .. import checks
from ..backend import get_array_module
from .function import conj, normalize_axes, primitive
from .reduction import _expand_back


@primitive("prod")
def prod(x, axis=None, keepdims=False):
    """Product over ``axis`` (None: all);  dL/dx_i = g conj(prod_{j != i} x_j), exact at zeros."""
    axes = normalize_axes("prod", axis, x.ndim, x.shape)
    checks.flag("prod", "keepdims", keepdims)
    xp = get_array_module(x.data)
    out = x.data.prod(axis=axes, keepdims=keepdims)

    def vjp(g):
        reduced = list(range(x.ndim)) if axes is None else list(axes)
        last = list(range(x.ndim - len(reduced), x.ndim))
        moved = xp.moveaxis(x.data, reduced, last)  # the reduced axes last, flattened into one
        others = exclusive_products(xp, moved.reshape(moved.shape[:x.ndim - len(reduced)] + (-1,)))
        others = xp.moveaxis(others.reshape(moved.shape), last, reduced)
        return _expand_back(g, axes, keepdims, x.shape) * conj(others)
    return out, (vjp,)


def exclusive_products(xp, a):
    """prod_{j != i} a_j along the last axis, for every i, without division."""
    ones = xp.ones(a.shape[:-1] + (1,), dtype=a.dtype)
    left = xp.concatenate([ones, xp.cumprod(a[..., :-1], axis=-1)], axis=-1)  # a_0 ... a_{i-1}
    right = xp.flip(xp.cumprod(xp.flip(a[..., 1:], -1), axis=-1), -1)  # a_{i+1} ... a_{n-1}
    return left * xp.concatenate([right, ones], axis=-1)
