"""Ops that choose between values: maximum, minimum, where, clip.

The gradient goes to the value that was chosen (ties in maximum/minimum go to the first input;
keep ties out of gradient checks, where the function has a kink).
"""
from __future__ import annotations

import numpy as np

from .. import checks
from ..backend import get_array_module
from .function import broadcast_shape, primitive


def _choose(name, a, b, first_wins):
    """The forward and VJPs of maximum/minimum: ``first_wins(a, b)`` marks the places a wins."""
    if a.is_complex or b.is_complex:
        raise TypeError(f"{name}: complex numbers are not ordered (got {a.dtype} and {b.dtype})")
    take_a = first_wins(a.data, b.data)
    out = get_array_module(a.data).where(take_a, a.data, b.data)
    return out, (lambda g: g * take_a, lambda g: g * ~take_a)


@primitive("maximum", inputs=2, broadcast=True)
def maximum(a, b):
    """Elementwise max(a, b);  the gradient goes to the larger input."""
    return _choose("maximum", a, b, lambda x, y: x >= y)


@primitive("minimum", inputs=2, broadcast=True)
def minimum(a, b):
    """Elementwise min(a, b);  the gradient goes to the smaller input."""
    return _choose("minimum", a, b, lambda x, y: x <= y)


def where(condition, a, b):
    """``a`` where ``condition`` is true, else ``b`` (condition: a boolean array or tensor)."""
    return _where(a, b, condition)


@primitive("where", inputs=2, broadcast=True)
def _where(a, b, condition):
    """where(condition, a, b);  dL/da = g [condition],  dL/db = g [not condition]."""
    xp = get_array_module(a.data, b.data)
    try:
        cond = xp.asarray(getattr(condition, "data", condition))
    except ValueError:
        raise ValueError("where: condition is a ragged list (rows of different lengths)") from None
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be boolean, got {cond.dtype}")
    broadcast_shape("where", cond.shape, a.shape, b.shape)
    return xp.where(cond, a.data, b.data), (lambda g: g * cond, lambda g: g * ~cond)


@primitive("clip")
def clip(x, low=None, high=None):
    """x limited to [low, high] (either may be None);  dL/dx = g inside the range, 0 outside."""
    checks.real("clip", x)
    if low is None and high is None:
        raise ValueError("clip: give low, high or both")
    for label, bound in (("low", low), ("high", high)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float, np.integer,
                                                                                     np.floating))):
            raise TypeError(f"clip: {label} must be a real number or None, got {bound!r}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"clip: low {low} is above high {high}")
    out = get_array_module(x.data).clip(x.data, low, high)
    inside = out == x.data
    return out, (lambda g: g * inside,)
