"""Arithmetic with broadcasting: + - * / neg pow.

Gradients follow the PyTorch convention for complex numbers (dL/dRe z + i dL/dIm z): for a
holomorphic f the input gradient is ``g * conj(f'(z))``; for real data ``conj`` is a no-op.
A broadcast input receives the gradient summed over the broadcast axes (``primitive`` does it).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .function import conj, primitive


@primitive("add", inputs=2, broadcast=True)
def add(a, b):
    """a + b;  dL/da = g,  dL/db = g."""
    return a.data + b.data, (_identity, _identity)


@primitive("sub", inputs=2, broadcast=True)
def sub(a, b):
    """a - b;  dL/da = g,  dL/db = -g."""
    return a.data - b.data, (_identity, _negative)


@primitive("mul", inputs=2, broadcast=True)
def mul(a, b):
    """a * b;  dL/da = g conj(b),  dL/db = g conj(a)."""
    return a.data * b.data, (lambda g: g * conj(b.data), lambda g: g * conj(a.data))


@primitive("div", inputs=2, broadcast=True)
def div(a, b):
    """a / b;  dL/da = g / conj(b),  dL/db = -g conj(a / b^2) = -(g / conj(b)) conj(a / b)."""
    out = a.data / b.data
    return out, (lambda g: g / conj(b.data), lambda g: -(g / conj(b.data)) * conj(out))


@primitive("neg")
def neg(a):
    """-a;  dL/da = -g."""
    return -a.data, (_negative,)


@primitive("pow", inputs=2, broadcast=True)
def pow(a, b):
    """a ** b;  dL/da = g conj(b a^(b-1)),  dL/db = g conj(a^b log a) (needs a > 0 for real a).

    Where the formulas read 0 * inf the limits are taken, as PyTorch does: dL/da = 0 where b = 0
    (a^0 is constant, also at a = 0), and dL/db = 0 where a = 0 and b >= 0 (0^b is 0 for b > 0).
    """
    out = a.data ** b.data
    xp = get_array_module(a.data, b.data)

    def grad_a(g):
        with np.errstate(divide="ignore", invalid="ignore"):  # the 0 * inf cases, replaced by 0
            return g * xp.where(b.data == 0, 0, conj(b.data * a.data ** (b.data - 1)))

    def grad_b(g):
        b_real = b.data.real if b.is_complex else b.data
        b_nonnegative = (b_real >= 0) & (b.data.imag == 0) if b.is_complex else b_real >= 0
        zero_limit = (a.data == 0) & b_nonnegative
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * xp.where(zero_limit, 0, conj(out * xp.log(a.data)))
    return out, (grad_a, grad_b)


def _identity(g):
    return g


def _negative(g):
    return -g
