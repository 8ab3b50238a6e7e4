"""Complex tensors: build one from real parts, take it apart, conjugate, phase.

Convention (PyTorch's): for a real loss L and complex z, ``z.grad = dL/dRe z + i dL/dIm z``.
So ``real`` passes g on, ``imag`` gives ``1j g``, ``conj`` gives ``conj(g)``; a real input that
receives a complex gradient keeps its real part. ``abs`` lives in unary.py (g z/|z|).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .function import broadcast_shape, record, tensors, unbroadcast


def complex(re, im):
    """re + i im from two real tensors (float32 -> complex64, float64 -> complex128).

    dL/dre = Re(g),  dL/dim = Im(g)  (with g = dL/dRe z + i dL/dIm z).
    """
    re, im = tensors("complex", re, im)
    if re.is_complex or im.is_complex:
        raise TypeError(f"complex: re and im must be real, got {re.dtype} and {im.dtype}")
    shape = broadcast_shape("complex", re.shape, im.shape)
    dtype = np.result_type(re.dtype, im.dtype, np.complex64)
    xp = get_array_module(re.data)
    out = xp.empty(shape, dtype=dtype)
    out.real, out.imag = re.data, im.data
    return record("complex", out, (re, im), lambda g: (unbroadcast(g.real, re.shape), unbroadcast(g.imag, im.shape)))


def real(z):
    """Re z;  dL/dz = g (a real g: it moves only the real part)."""
    (z,) = tensors("real", z)
    if not z.is_complex:
        return z
    return record("real", z.data.real.copy(), (z,), lambda g: (g.astype(z.dtype),))


def imag(z):
    """Im z;  dL/dz = i g."""
    (z,) = tensors("imag", z)
    if not z.is_complex:
        raise TypeError(f"imag: needs a complex tensor, got {z.dtype}")
    return record("imag", z.data.imag.copy(), (z,), lambda g: (1j * g.astype(z.dtype),))


def conj(z):
    """conj z;  dL/dz = conj(g)."""
    (z,) = tensors("conj", z)
    if not z.is_complex:
        return z
    return record("conj", z.data.conj(), (z,), lambda g: (g.conj(),))


def angle(z):
    """arg z = atan2(Im z, Re z);  dL/dz = g i z / |z|^2 (undefined at 0: gives 0).

    From d(arg)/dRe = -Im z/|z|^2 and d(arg)/dIm = Re z/|z|^2. A real input has a constant
    angle (0 or pi) and gets no gradient.
    """
    (z,) = tensors("angle", z)
    xp = get_array_module(z.data)
    out = xp.angle(z.data).astype(z.data.real.dtype)
    if not z.is_complex:
        return record("angle", out, (z,), lambda g: (xp.zeros_like(z.data),))

    def vjp(g):
        sq = (z.data * z.data.conj()).real
        return (g * 1j * z.data / xp.where(sq == 0, 1, sq),)
    return record("angle", out, (z,), vjp)
