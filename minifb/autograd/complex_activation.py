"""Activations of complex tensors that act on the magnitude and keep the phase, as FFTNet applies
them to its filtered spectrum.

Both have the form ``out = s(r) z`` with r = |z| and a real gain s:

    mod_relu:  s = ReLU(r + b) / max(r, eps)    (modReLU: Arjovsky, Shah & Bengio, 2016)
    mod_gelu:  s = GELU(r) / max(r, eps)        (GELU of the magnitude; Hendrycks & Gimpel, 2016)

The floor eps keeps the phase z / max(r, eps) finite at z = 0. Gradient (PyTorch's convention,
z.grad = dL/dRe z + i dL/dIm z), from dout = s dz + z s'(r) dr and dr = Re(conj(z) dz) / r:

    dL/dz = g s + s'(r) Re(conj(g) z) z / r          dL/db = Re(conj(g) z) ds/db

with, for m = max(r, eps):  ds/dr = (f'(r) - [r > eps] s) / m  for s = f(r) / m.
A real z works too (its phase is its sign).

``filtered_mod_relu(z, w, b)`` is modReLU(z w, b) for a real filter w in one primitive, as FFTNet
filters and activates its spectrum: with y = z w and g_y the VJP of modReLU at y,

    dL/dz = w g_y        dL/dw = Re(conj(g_y) z)        (summed over the axes w is broadcast along)

so the filtered spectrum, its gradient and the filter's own node are never stored apart.
"""
from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..backend import elementwise_kernel, get_array_module
from .function import primitive
from .unary import erf

_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


@primitive("mod_relu", inputs=2, broadcast=True)
def mod_relu(z, b, eps=1e-3):
    """modReLU: ReLU(|z| + b) z / max(|z|, eps), with a real bias b broadcast against z."""
    eps = checks.number("mod_relu", "eps", eps, 0, low_open=True)
    if b.is_complex:
        raise TypeError(f"mod_relu: the bias b must be real, got {b.dtype} of shape {b.shape}")
    xp = get_array_module(z.data)
    r = xp.abs(z.data)
    m = xp.maximum(r, eps)
    gain = xp.maximum(r + b.data, 0) / m

    def gain_derivatives():  # (ds/dr, ds/db), needed only by backward
        active = (r + b.data) > 0
        return (active - (r > eps) * gain) / m, active / m
    return _gain(z, b, r, gain, gain_derivatives)


@primitive("filtered_mod_relu", inputs=3, broadcast=True)
def filtered_mod_relu(z, w, b, eps=1e-3):
    """modReLU(z w, b) = ReLU(|z w| + b) z w / max(|z w|, eps) for real w and b broadcast against z."""
    if w.is_complex or b.is_complex:
        raise TypeError(f"filtered_mod_relu: the filter w and the bias b must be real, got w {w.dtype} of "
                        f"shape {w.shape} and b {b.dtype} of shape {b.shape}")
    xp = get_array_module(z.data)
    if xp is not np and z.is_complex and w.dtype == b.dtype == z.data.real.dtype:
        # CuPy: the whole chain in one kernel each way instead of ~7 forward and ~15 backward
        out = _filtered_mod_relu_kernel()(z.data, w.data, b.data, eps)

        def vjp(g):  # (dL/dz, dL/dw, dL/db), each summed back to its shape by primitive
            return _filtered_mod_relu_vjp_kernel()(g, z.data, w.data, b.data, eps)
        return out, vjp

    y = z.data * w.data
    r = xp.abs(y)
    m = xp.maximum(r, eps)
    gain = xp.maximum(r + b.data, 0) / m
    out = (gain * y).astype(y.dtype, copy=False)

    def vjp(g):
        grad_y, along = _mod_relu_vjp(xp, g, y, r, m, b.data, gain, eps)
        return grad_y * w.data, _real_dot(grad_y, z.data), along * (((r + b.data) > 0) / m)
    return out, vjp


# The same formulas as the NumPy path for CuPy (C: the complex type of z, R: its real type).
_FILTERED_MOD_RELU_FORWARD = """
    C y = z * w;
    R r = abs(y);
    result = y * (max(r + b, (R)0) / max(r, eps));
"""
_FILTERED_MOD_RELU_BACKWARD = """
    C y = z * w;
    R r = abs(y);
    R m = max(r, eps);
    R active = r + b > 0 ? (R)1 : (R)0;
    R gain = max(r + b, (R)0) / m;
    R along = g.real() * y.real() + g.imag() * y.imag();
    R dgain_dr = (active - (r > eps ? gain : (R)0)) / m;
    C grad_y = g * gain + y * (dgain_dr * along / (r == 0 ? (R)1 : r));
    grad_z = grad_y * w;
    grad_w = grad_y.real() * z.real() + grad_y.imag() * z.imag();
    grad_b = along * (active / m);
"""


def _filtered_mod_relu_kernel():
    return elementwise_kernel("C z, R w, R b, R eps", "C result", _FILTERED_MOD_RELU_FORWARD,
                              "minifb_filtered_mod_relu")


def _filtered_mod_relu_vjp_kernel():
    return elementwise_kernel("C g, C z, R w, R b, R eps", "C grad_z, R grad_w, R grad_b",
                              _FILTERED_MOD_RELU_BACKWARD, "minifb_filtered_mod_relu_vjp")


def _mod_relu_vjp(xp, g, z, r, m, b, gain, eps):
    """dL/dz of modReLU at z (module docstring) and Re(conj(g) z), from the forward's r, m = max(r, eps) and
    gain."""
    active = (r + b) > 0
    along = _real_dot(g, z)
    dgain_dr = (active - (r > eps) * gain) / m
    return g * gain + (dgain_dr * along / xp.where(r == 0, 1, r)) * z, along


def _real_dot(a, b):
    """Re(conj(a) b) = Re a Re b + Im a Im b, elementwise, without a complex temporary."""
    if a.dtype.kind != "c" or b.dtype.kind != "c":
        return (a.conj() * b).real
    return a.real * b.real + a.imag * b.imag


@primitive("mod_gelu")
def mod_gelu(z, eps=1e-3):
    """GELU of the magnitude with the phase kept: GELU(|z|) z / max(|z|, eps) (exact GELU, r Phi(r))."""
    eps = checks.number("mod_gelu", "eps", eps, 0, low_open=True)
    xp = get_array_module(z.data)
    r = xp.abs(z.data)
    m = xp.maximum(r, eps)
    cdf = 0.5 * (1 + erf(r * (1 / math.sqrt(2))))
    gain = r * cdf / m

    def gain_derivatives():  # GELU'(r) = Phi(r) + r phi(r)
        dgelu = cdf + r * _INV_SQRT_2PI * xp.exp(-0.5 * r * r)
        return (dgelu - (r > eps) * gain) / m, None
    return _gain(z, None, r, gain, gain_derivatives)


def _gain(z, b, r, gain, gain_derivatives):
    """out = gain * z and its VJP (module docstring) for primitive (no bias: b is None)."""
    xp = get_array_module(z.data)
    out = (gain * z.data).astype(z.dtype, copy=False)

    def vjp(g):
        dgain_dr, dgain_db = gain_derivatives()
        along = (g.conj() * z.data).real  # Re(conj(g) z)
        grad_z = g * gain + (dgain_dr * along / xp.where(r == 0, 1, r)) * z.data
        return (grad_z,) if b is None else (grad_z, along * dgain_db)
    return out, vjp
