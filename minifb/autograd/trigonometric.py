"""Trigonometric functions and their inverses: sin cos tan arcsin arccos arctan, and arctan2.

Each VJP multiplies g by the conjugated derivative (PyTorch's convention for complex inputs, where
these functions are holomorphic away from their branch cuts; for real inputs conj does nothing).
The inverses use NumPy's principal branches, whose derivatives are the formulas below there.
"""
from __future__ import annotations

from ..backend import get_array_module
from .function import conj, primitive


@primitive("sin")
def sin(x):
    """sin x;  dL/dx = g conj(cos x)."""
    xp = get_array_module(x.data)
    return xp.sin(x.data), (lambda g: g * conj(xp.cos(x.data)),)


@primitive("cos")
def cos(x):
    """cos x;  dL/dx = -g conj(sin x)."""
    xp = get_array_module(x.data)
    return xp.cos(x.data), (lambda g: -g * conj(xp.sin(x.data)),)


@primitive("tan")
def tan(x):
    """tan x;  dL/dx = g conj(1 + tan^2 x)."""
    out = get_array_module(x.data).tan(x.data)
    return out, (lambda g: g * conj(1 + out * out),)


@primitive("arcsin")
def arcsin(x):
    """arcsin x (real x in [-1, 1]);  dL/dx = g / conj(sqrt(1 - x^2))."""
    xp = get_array_module(x.data)
    return xp.arcsin(x.data), (lambda g: g / conj(xp.sqrt(1 - x.data * x.data)),)


@primitive("arccos")
def arccos(x):
    """arccos x (real x in [-1, 1]);  dL/dx = -g / conj(sqrt(1 - x^2))."""
    xp = get_array_module(x.data)
    return xp.arccos(x.data), (lambda g: -g / conj(xp.sqrt(1 - x.data * x.data)),)


@primitive("arctan")
def arctan(x):
    """arctan x;  dL/dx = g / conj(1 + x^2)."""
    xp = get_array_module(x.data)
    return xp.arctan(x.data), (lambda g: g / conj(1 + x.data * x.data),)


@primitive("arctan2", inputs=2, broadcast=True)
def arctan2(y, x):
    """The angle of the point (x, y), in (-pi, pi], for real y and x (broadcast together);
    dL/dy = g x / (x^2 + y^2),  dL/dx = -g y / (x^2 + y^2)."""
    if y.is_complex or x.is_complex:
        raise TypeError(f"arctan2: needs real inputs, got {y.dtype} and {x.dtype}; "
                        "use angle for a complex number")
    xp = get_array_module(y.data, x.data)
    radius2 = x.data * x.data + y.data * y.data
    return xp.arctan2(y.data, x.data), (lambda g: g * x.data / radius2, lambda g: -g * y.data / radius2)
