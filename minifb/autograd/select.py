"""Ops that choose between values: maximum, minimum, where, clip.

The gradient goes to the value that was chosen (ties in maximum/minimum go to the first input;
keep ties out of gradient checks, where the function has a kink).
"""
from __future__ import annotations

from ..backend import get_array_module
from .function import broadcast_shape, record, tensors, unbroadcast


def _choose(name, a, b, first_wins):
    a, b = tensors(name, a, b)
    broadcast_shape(name, a.shape, b.shape)
    if a.is_complex or b.is_complex:
        raise TypeError(f"{name}: complex numbers are not ordered (got {a.dtype} and {b.dtype})")
    take_a = first_wins(a.data, b.data)
    out = get_array_module(a.data).where(take_a, a.data, b.data)

    def vjp(g):
        return unbroadcast(g * take_a, a.shape), unbroadcast(g * ~take_a, b.shape)
    return record(name, out, (a, b), vjp)


def maximum(a, b):
    """Elementwise max(a, b);  the gradient goes to the larger input."""
    return _choose("maximum", a, b, lambda x, y: x >= y)


def minimum(a, b):
    """Elementwise min(a, b);  the gradient goes to the smaller input."""
    return _choose("minimum", a, b, lambda x, y: x <= y)


def where(condition, a, b):
    """``a`` where ``condition`` is true, else ``b`` (condition: a boolean array or tensor)."""
    a, b = tensors("where", a, b)
    cond = getattr(condition, "data", condition)
    xp = get_array_module(a.data, b.data)
    cond = xp.asarray(cond)
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be boolean, got {cond.dtype}")
    broadcast_shape("where", cond.shape, a.shape, b.shape)

    def vjp(g):
        return unbroadcast(g * cond, a.shape), unbroadcast(g * ~cond, b.shape)
    return record("where", xp.where(cond, a.data, b.data), (a, b), vjp)


def clip(x, low=None, high=None):
    """x limited to [low, high] (either may be None);  dL/dx = g inside the range, 0 outside."""
    (x,) = tensors("clip", x)
    if low is None and high is None:
        raise ValueError("clip: give low, high or both")
    xp = get_array_module(x.data)
    out = xp.clip(x.data, low, high)
    inside = out == x.data
    return record("clip", out, (x,), lambda g: (g * inside,))
