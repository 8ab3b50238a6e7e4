"""Reductions over axes: sum mean var std max min logsumexp (prod: product.py).

A reduction's VJP puts the gradient back on the reduced axes (``_expand_back``) and multiplies
by the derivative of the reduced value with respect to each element.
"""
from __future__ import annotations

import math

from .. import checks
from ..backend import get_array_module
from .function import conj, normalize_axes, primitive, sum_axes


def _expand_back(g, axes, keepdims, shape):
    """Reshape a reduced gradient so that it broadcasts against the input again."""
    if axes is None:
        axes = tuple(range(len(shape)))
    if not keepdims:
        g = g.reshape([1 if i in axes else s for i, s in enumerate(shape)])
    return g


def _count(shape, axes):
    """How many elements each reduced value gathers."""
    return math.prod(shape if axes is None else [shape[i] for i in axes])


def _sum_array(a, axes, keepdims):
    """a.sum(axes) through ``sum_axes`` (CuPy is slow over non-last axes)."""
    if axes is None or len(axes) == a.ndim:
        return a.sum(axis=axes, keepdims=keepdims)
    out = sum_axes(a, axes)
    return out.reshape([1 if i in axes else n for i, n in enumerate(a.shape)]) if keepdims else out


@primitive("sum")
def sum(x, axis=None, keepdims=False):
    """sum over ``axis`` (None: all);  dL/dx = g broadcast back."""
    axes = normalize_axes("sum", axis, x.ndim, x.shape)
    checks.flag("sum", "keepdims", keepdims)
    xp = get_array_module(x.data)
    out = _sum_array(x.data, axes, keepdims)

    def vjp(g):
        return xp.broadcast_to(_expand_back(g, axes, keepdims, x.shape), x.shape)
    return out, (vjp,)


@primitive("mean")
def mean(x, axis=None, keepdims=False):
    """mean over ``axis``;  dL/dx = g / n broadcast back."""
    axes = normalize_axes("mean", axis, x.ndim, x.shape)
    checks.flag("mean", "keepdims", keepdims)
    xp = get_array_module(x.data)
    n = _count(x.shape, axes)
    if x.data.dtype.kind in "fc":
        out = _sum_array(x.data, axes, keepdims) / n
    else:  # integers: NumPy's mean, which gives float64
        out = x.data.mean(axis=axes, keepdims=keepdims)

    def vjp(g):
        return xp.broadcast_to(_expand_back(g, axes, keepdims, x.shape) / n, x.shape)
    return out, (vjp,)


@primitive("var")
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance sum |x - mean|^2 / (n - ddof) (NumPy's default ddof=0);  dL/dx = 2 g (x - mean) / (n -
    ddof)."""
    axes, n, centered, out = _variance("var", x, axis, keepdims, ddof)

    def vjp(g):
        return _expand_back(g, axes, keepdims, x.shape) * centered * (2 / (n - ddof))
    return out.astype(x.data.real.dtype, copy=False), (vjp,)


@primitive("std")
def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation sqrt(var(x, ddof));  dL/dx = g (x - mean) / ((n - ddof) std) (NaN where std = 0,
    as in PyTorch: the square root has no derivative at 0)."""
    axes, n, centered, variance = _variance("std", x, axis, keepdims, ddof)
    out = get_array_module(x.data).sqrt(variance).astype(x.data.real.dtype, copy=False)

    def vjp(g):
        return _expand_back(g / ((n - ddof) * out), axes, keepdims, x.shape) * centered
    return out, (vjp,)


def _variance(name, x, axis, keepdims, ddof):
    """The axes, the count n, x - mean and sum |x - mean|^2 / (n - ddof), for var and std."""
    checks.flag(name, "keepdims", keepdims)
    checks.integer(name, "ddof", ddof, 0)
    axes = normalize_axes(name, axis, x.ndim, x.shape)
    n = _count(x.shape, axes)
    if n - ddof <= 0:
        raise ValueError(f"{name}: {n} element(s) along axis {axis} with ddof={ddof} in a tensor of shape "
                         f"{x.shape}; expected more than {ddof}")
    centered = x.data - _sum_array(x.data, axes, True) / n
    return axes, n, centered, _sum_array((centered * conj(centered)).real, axes, keepdims) / (n - ddof)


def _extreme(name, x, axis, keepdims):
    """The forward and VJP of max/min."""
    if x.is_complex:
        raise TypeError(f"{name}: complex numbers are not ordered (got {x.dtype})")
    axes = normalize_axes(name, axis, x.ndim, x.shape)
    empty = [i for i in (range(x.ndim) if axes is None else axes) if x.shape[i] == 0]
    if empty or (axes is None and x.size == 0):  # as NumPy: no identity to start a max or min from
        raise ValueError(f"{name}: the tensor of shape {x.shape} is empty along the reduced axes "
                         f"{tuple(empty) or 'all'} (no identity to start from, as in NumPy)")
    checks.flag(name, "keepdims", keepdims)
    out = getattr(x.data, name)(axis=axes, keepdims=keepdims)

    def vjp(g):
        # Ties share the gradient equally (as PyTorch's amax/amin do).
        hit = (x.data == _expand_back(out, axes, keepdims, x.shape)).astype(x.data.dtype)
        share = hit / hit.sum(axis=axes, keepdims=True)
        return _expand_back(g, axes, keepdims, x.shape) * share
    return out, (vjp,)


@primitive("max")
def max(x, axis=None, keepdims=False):
    """Largest value over ``axis``;  the gradient goes to the maximal elements (shared on ties)."""
    return _extreme("max", x, axis, keepdims)


@primitive("min")
def min(x, axis=None, keepdims=False):
    """Smallest value over ``axis``;  the gradient goes to the minimal elements (shared on ties)."""
    return _extreme("min", x, axis, keepdims)


@primitive("logsumexp")
def logsumexp(x, axis=None, keepdims=False):
    """log sum exp x, stable: m + log sum exp(x - m), m = max x;  dL/dx = g softmax(x)."""
    checks.real("logsumexp", x)
    axes = normalize_axes("logsumexp", axis, x.ndim, x.shape)
    checks.flag("logsumexp", "keepdims", keepdims)
    xp = get_array_module(x.data)
    if x.size:
        m = x.data.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
    else:  # max has no identity; the sum of no exponentials is 0, so the result is -inf (or empty)
        m = xp.zeros([1 if axes is None or i in axes else s for i, s in enumerate(x.shape)], x.data.dtype)
    lse = xp.log(xp.exp(x.data - m).sum(axis=axes, keepdims=True)) + m
    kept = [s for i, s in enumerate(x.shape) if axes is not None and i not in axes]
    out = lse if keepdims else lse.reshape(kept)

    def vjp(g):
        return _expand_back(g, axes, keepdims, x.shape) * xp.exp(x.data - lse)
    return out, (vjp,)
