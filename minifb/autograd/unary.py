"""Elementwise functions of one tensor: exp log sqrt tanh sigmoid relu gelu abs.

Each VJP multiplies g by the conjugated derivative (PyTorch's convention for complex inputs;
for real inputs conj does nothing).
"""
from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..backend import get_array_module
from .function import conj, primitive


@primitive("exp")
def exp(x):
    """e^x;  dL/dx = g conj(e^x)."""
    out = get_array_module(x.data).exp(x.data)
    return out, (lambda g: g * conj(out),)


@primitive("log")
def log(x):
    """log x;  dL/dx = g / conj(x)."""
    return get_array_module(x.data).log(x.data), (lambda g: g / conj(x.data),)


@primitive("sqrt")
def sqrt(x):
    """sqrt x;  dL/dx = g / conj(2 sqrt x)."""
    out = get_array_module(x.data).sqrt(x.data)
    return out, (lambda g: g / conj(2 * out),)


@primitive("tanh")
def tanh(x):
    """tanh x;  dL/dx = g conj(1 - tanh^2 x)."""
    out = get_array_module(x.data).tanh(x.data)
    return out, (lambda g: g * conj(1 - out * out),)


@primitive("sigmoid")
def sigmoid(x):
    """1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2 (no overflow);  dL/dx = g s (1 - s)."""
    checks.real("sigmoid", x)
    out = 0.5 * (1 + get_array_module(x.data).tanh(0.5 * x.data))
    return out, (lambda g: g * conj(out * (1 - out)),)


@primitive("relu")
def relu(x):
    """max(x, 0);  dL/dx = g [x > 0]."""
    checks.real("relu", x)
    out = get_array_module(x.data).maximum(x.data, 0)
    return out, (lambda g: g * (x.data > 0),)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


@primitive("gelu")
def gelu(x, approximate: str = "none"):
    """GELU (Hendrycks & Gimpel, 2016), as in PyTorch's ``gelu``.

    approximate="none":  x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;  d/dx = Phi(x) + x phi(x).
    approximate="tanh":  x/2 (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3);
                         d/dx = (1 + tanh u)/2 + x/2 (1 - tanh^2 u) sqrt(2/pi) (1 + 3 0.044715 x^2).
    """
    checks.real("gelu", x)
    xp, v = get_array_module(x.data), x.data
    if approximate == "tanh":
        t = xp.tanh(_SQRT_2_OVER_PI * (v + 0.044715 * v**3))
        out = 0.5 * v * (1 + t)

        def vjp(g):
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v)
            return g * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du)
    elif approximate == "none":
        cdf = 0.5 * (1 + erf(v * (1 / math.sqrt(2))))
        out = v * cdf

        def vjp(g):
            return g * (cdf + v * _INV_SQRT_2PI * xp.exp(-0.5 * v * v))
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return out.astype(v.dtype, copy=False), (vjp,)


def erf(a):
    """The error function of an array (no gradient; used by exact GELU).

    CuPy has it built in. NumPy does not: float64 goes through ``math.erf`` element by element
    (exact; float64 is for gradient checks), float32 through Abramowitz & Stegun 7.1.26
    (absolute error below 1.5e-7, under float32's resolution).
    """
    xp = get_array_module(a)
    if xp is not np:
        import cupyx.scipy.special
        return cupyx.scipy.special.erf(a)
    if a.dtype == np.float64:
        return np.asarray(np.frompyfunc(math.erf, 1, 1)(a), dtype=np.float64)
    s, z = np.sign(a), np.abs(a)
    t = 1 / (1 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (s * (1 - poly * np.exp(-z * z))).astype(a.dtype, copy=False)


@primitive("abs")
def abs(x):
    """|x|;  real: dL/dx = g sign(x);  complex: dL/dz = g z / |z| (undefined at 0: gives 0)."""
    xp = get_array_module(x.data)
    out = xp.abs(x.data)
    if x.is_complex:
        def vjp(g):
            return g * x.data / xp.where(out == 0, 1, out)
    else:
        def vjp(g):
            return g * xp.sign(x.data)
    return out, (vjp,)
