"""Arithmetic with broadcasting: + - * / neg pow.

Gradients follow the PyTorch convention for complex numbers (dL/dRe z + i dL/dIm z): for a
holomorphic f the input gradient is ``g * conj(f'(z))``; for real data ``conj`` is a no-op.
A broadcast input receives the gradient summed over the broadcast axes (``unbroadcast``).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .function import broadcast_shape, conj, record, tensors, unbroadcast


def add(a, b):
    """a + b;  dL/da = g,  dL/db = g."""
    a, b = tensors("add", a, b)
    broadcast_shape("add", a.shape, b.shape)
    return record("add", a.data + b.data, (a, b), lambda g: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)))


def sub(a, b):
    """a - b;  dL/da = g,  dL/db = -g."""
    a, b = tensors("sub", a, b)
    broadcast_shape("sub", a.shape, b.shape)
    return record("sub", a.data - b.data, (a, b), lambda g: (unbroadcast(g, a.shape), unbroadcast(-g, b.shape)))


def mul(a, b):
    """a * b;  dL/da = g conj(b),  dL/db = g conj(a)."""
    a, b = tensors("mul", a, b)
    broadcast_shape("mul", a.shape, b.shape)

    def vjp(g):
        return (unbroadcast(g * conj(b.data), a.shape) if a.requires_grad else None,
                unbroadcast(g * conj(a.data), b.shape) if b.requires_grad else None)
    return record("mul", a.data * b.data, (a, b), vjp)


def div(a, b):
    """a / b;  dL/da = g / conj(b),  dL/db = -g conj(a / b^2)."""
    a, b = tensors("div", a, b)
    broadcast_shape("div", a.shape, b.shape)
    out = a.data / b.data

    def vjp(g):
        ga = g / conj(b.data)
        return (unbroadcast(ga, a.shape) if a.requires_grad else None,
                unbroadcast(-ga * conj(out), b.shape) if b.requires_grad else None)
    return record("div", out, (a, b), vjp)


def neg(a):
    """-a;  dL/da = -g."""
    (a,) = tensors("neg", a)
    return record("neg", -a.data, (a,), lambda g: (-g,))


def pow(a, b):
    """a ** b;  dL/da = g conj(b a^(b-1)),  dL/db = g conj(a^b log a) (needs a > 0 for real a).

    Where the formulas read 0 * inf the limits are taken, as PyTorch does: dL/da = 0 where b = 0
    (a^0 is constant, also at a = 0), and dL/db = 0 where a = 0 and b >= 0 (0^b is 0 for b > 0).
    """
    a, b = tensors("pow", a, b)
    broadcast_shape("pow", a.shape, b.shape)
    out = a.data ** b.data

    def vjp(g):
        xp = get_array_module(a.data, b.data)
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):  # the 0 * inf cases, replaced by 0 below
            if a.requires_grad:
                ga = unbroadcast(g * xp.where(b.data == 0, 0, conj(b.data * a.data ** (b.data - 1))), a.shape)
            if b.requires_grad:
                b_real = b.data.real if b.is_complex else b.data
                b_nonnegative = (b_real >= 0) & (b.data.imag == 0) if b.is_complex else b_real >= 0
                zero_limit = (a.data == 0) & b_nonnegative
                gb = unbroadcast(g * xp.where(zero_limit, 0, conj(out * xp.log(a.data))), b.shape)
        return ga, gb
    return record("pow", out, (a, b), vjp)
