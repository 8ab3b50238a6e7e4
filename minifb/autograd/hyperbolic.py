"""Hyperbolic functions and their inverses: sinh cosh arcsinh arccosh arctanh (tanh is in unary.py).

Each VJP multiplies g by the conjugated derivative (PyTorch's convention for complex inputs; for
real inputs conj does nothing). The inverses use NumPy's principal branches.
"""
from __future__ import annotations

from ..backend import get_array_module
from .function import conj, primitive


@primitive("sinh")
def sinh(x):
    """sinh x;  dL/dx = g conj(cosh x)."""
    xp = get_array_module(x.data)
    return xp.sinh(x.data), (lambda g: g * conj(xp.cosh(x.data)),)


@primitive("cosh")
def cosh(x):
    """cosh x;  dL/dx = g conj(sinh x)."""
    xp = get_array_module(x.data)
    return xp.cosh(x.data), (lambda g: g * conj(xp.sinh(x.data)),)


@primitive("arcsinh")
def arcsinh(x):
    """arcsinh x = log(x + sqrt(x^2 + 1));  dL/dx = g / conj(sqrt(x^2 + 1))."""
    xp = get_array_module(x.data)
    return xp.arcsinh(x.data), (lambda g: g / conj(xp.sqrt(x.data * x.data + 1)),)


@primitive("arccosh")
def arccosh(x):
    """arccosh x (real x >= 1);  dL/dx = g / conj(sqrt(x - 1) sqrt(x + 1)).

    The product of two square roots, not sqrt(x^2 - 1): the two agree for real x > 1, and only
    the product is the derivative of the principal branch for every complex x."""
    xp = get_array_module(x.data)
    return xp.arccosh(x.data), (lambda g: g / conj(xp.sqrt(x.data - 1) * xp.sqrt(x.data + 1)),)


@primitive("arctanh")
def arctanh(x):
    """arctanh x (real x in (-1, 1));  dL/dx = g / conj(1 - x^2)."""
    xp = get_array_module(x.data)
    return xp.arctanh(x.data), (lambda g: g / conj(1 - x.data * x.data),)
