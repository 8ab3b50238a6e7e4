"""Two powers common enough to have names: square and reciprocal (pow in arithmetic.py is the general one).

Each VJP multiplies g by the conjugated derivative (PyTorch's convention for complex inputs).
"""
from __future__ import annotations

from .function import conj, primitive


@primitive("square")
def square(x):
    """x^2;  dL/dx = 2 g conj(x)."""
    return x.data * x.data, (lambda g: 2 * g * conj(x.data),)


@primitive("reciprocal")
def reciprocal(x):
    """1 / x;  dL/dx = -g conj(1 / x^2) = -g conj(out^2)."""
    out = 1 / x.data
    return out, (lambda g: -g * conj(out * out),)
