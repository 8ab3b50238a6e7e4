"""Complex tensors: build one from real parts, take it apart, conjugate, phase.

Convention (PyTorch's): for a real loss L and complex z, ``z.grad = dL/dRe z + i dL/dIm z``.
So ``real`` passes g on, ``imag`` gives ``1j g``, ``conj`` gives ``conj(g)``; a real input that
receives a complex gradient keeps its real part. ``abs`` lives in unary.py (g z/|z|).
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from .function import primitive


@primitive("complex", inputs=2, broadcast=True)
def complex(re, im):
    """re + i im from two real tensors (float32 -> complex64, float64 -> complex128).

    dL/dre = Re(g),  dL/dim = Im(g)  (with g = dL/dRe z + i dL/dIm z).
    """
    if re.is_complex or im.is_complex:
        raise TypeError(f"complex: re and im must be real, got {re.dtype} and {im.dtype}")
    shape = np.broadcast_shapes(re.shape, im.shape)  # checked by primitive
    dtype = np.result_type(re.dtype, im.dtype, np.complex64)
    xp = get_array_module(re.data)
    out = xp.empty(shape, dtype=dtype)
    out.real, out.imag = re.data, im.data
    return out, (lambda g: g.real, lambda g: g.imag)


@primitive("real")
def real(z):
    """Re z;  dL/dz = g (a real g: it moves only the real part)."""
    if not z.is_complex:
        return z
    return z.data.real.copy(), (lambda g: g.astype(z.dtype),)


@primitive("imag")
def imag(z):
    """Im z;  dL/dz = i g."""
    if not z.is_complex:
        raise TypeError(f"imag: needs a complex tensor, got {z.dtype}")
    return z.data.imag.copy(), (lambda g: 1j * g.astype(z.dtype),)


@primitive("conj")
def conj(z):
    """conj z;  dL/dz = conj(g)."""
    if not z.is_complex:
        return z
    return z.data.conj(), (lambda g: g.conj(),)


@primitive("angle")
def angle(z):
    """arg z = atan2(Im z, Re z);  dL/dz = g i z / |z|^2 (undefined at 0: gives 0).

    From d(arg)/dRe = -Im z/|z|^2 and d(arg)/dIm = Re z/|z|^2. A real input has a constant
    angle (0 or pi) and gets no gradient.
    """
    xp = get_array_module(z.data)
    out = xp.angle(z.data).astype(z.data.real.dtype)
    if not z.is_complex:
        return out, (lambda g: xp.zeros_like(z.data),)

    def vjp(g):
        sq = (z.data * z.data.conj()).real
        return g * 1j * z.data / xp.where(sq == 0, 1, sq)
    return out, (vjp,)
