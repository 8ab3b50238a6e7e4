"""Logarithms and exponentials beyond exp and log: log1p expm1 log2 log10, and logaddexp.

log1p and expm1 stay accurate for small x, where log(1 + x) and exp(x) - 1 lose the digits of x.
Each VJP multiplies g by the conjugated derivative (PyTorch's convention for complex inputs).
"""
from __future__ import annotations

import math

from ..backend import get_array_module
from .function import conj, primitive


@primitive("log1p")
def log1p(x):
    """log(1 + x);  dL/dx = g / conj(1 + x)."""
    return get_array_module(x.data).log1p(x.data), (lambda g: g / conj(1 + x.data),)


@primitive("expm1")
def expm1(x):
    """e^x - 1;  dL/dx = g conj(e^x) = g conj(out + 1)."""
    out = get_array_module(x.data).expm1(x.data)
    return out, (lambda g: g * conj(out + 1),)


@primitive("log2")
def log2(x):
    """log x / log 2;  dL/dx = g / (conj(x) log 2)."""
    return get_array_module(x.data).log2(x.data), (lambda g: g / (conj(x.data) * math.log(2)),)


@primitive("log10")
def log10(x):
    """log x / log 10;  dL/dx = g / (conj(x) log 10)."""
    return get_array_module(x.data).log10(x.data), (lambda g: g / (conj(x.data) * math.log(10)),)


@primitive("logaddexp", inputs=2, broadcast=True)
def logaddexp(a, b):
    """log(e^a + e^b) for real a and b, without overflow;  dL/da = g e^(a - out),  dL/db = g e^(b - out)."""
    if a.is_complex or b.is_complex:
        raise TypeError(f"logaddexp: needs real inputs, got {a.dtype} and {b.dtype}")
    xp = get_array_module(a.data, b.data)
    out = xp.logaddexp(a.data, b.data)
    return out, (lambda g: g * xp.exp(a.data - out), lambda g: g * xp.exp(b.data - out))
