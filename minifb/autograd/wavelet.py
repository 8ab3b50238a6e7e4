"""Orthonormal Haar wavelets (Haar, 1910; Mallat, 1989): one level, multi-level, 1-D and 2-D.

One level along an axis splits x into an approximation and a detail of half the length::

    a_k = (x_2k + x_2k+1) / sqrt 2        d_k = (x_2k - x_2k+1) / sqrt 2
    x_2k = (a_k + d_k) / sqrt 2           x_2k+1 = (a_k - d_k) / sqrt 2      (the inverse)

The map x -> (a, d) is orthogonal, so its adjoint is its inverse: the VJP of the analysis is the
synthesis applied to the gradients, and the VJP of the synthesis is the analysis.

Odd lengths: the analysis first pads one zero at the end (so a and d get ceil(L/2) entries) and
the synthesis, given ``length``, crops its output back to L. Multi-level transforms repeat the
analysis on the approximation ([a_J, d_J, ..., d_1], as in PyWavelets); 2-D transforms apply the
1-D one along both axes. Everything works on whole arrays through reshape and slicing.
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import get_array_module
from .function import normalize_axis, primitive, record, tensors
from .shape import getitem, pad

_C = 1 / math.sqrt(2)


def haar_dwt(x, axis=-1):
    """One Haar level along ``axis``: (approx, detail), each of length ceil(L/2) (odd L: one zero padded)."""
    (x,) = tensors("haar_dwt", x)
    axis = normalize_axis("haar_dwt", axis, x.ndim)
    if x.shape[axis] % 2:
        x = pad(x, [(0, int(i == axis)) for i in range(x.ndim)])
    approx, detail = _analysis(x.data, axis)

    # Two outputs, two tape nodes; each VJP is the synthesis with the other coefficient set to zero.
    def approx_vjp(g):
        out, out_even, out_odd = _interleaved(g, axis, g.dtype)
        get_array_module(g).multiply(g, _C, out=out_even)
        out_odd[...] = out_even
        return (out,)

    def detail_vjp(g):
        out, out_even, out_odd = _interleaved(g, axis, g.dtype)
        xp = get_array_module(g)
        xp.multiply(g, _C, out=out_even)
        xp.negative(out_even, out=out_odd)
        return (out,)
    return record("haar_dwt", approx, (x,), approx_vjp), record("haar_dwt", detail, (x,), detail_vjp)


def haar_idwt(approx, detail, axis=-1, length=None):
    """The inverse of haar_dwt: interleave (a+d)/sqrt 2 and (a-d)/sqrt 2 along ``axis``.

    The output has 2K entries (K = len(a)), or ``length`` (2K or 2K-1: an odd signal's padded zero
    is cropped). VJP: the analysis of g, (g_even + g_odd)/sqrt 2 and (g_even - g_odd)/sqrt 2.
    """
    x = _haar_synthesis(approx, detail, axis, length)
    if length is not None and length < x.shape[axis]:
        x = getitem(x, (slice(None),) * (axis % x.ndim) + (slice(0, length),))
    return x


@primitive("haar_idwt", inputs=2)
def _haar_synthesis(approx, detail, axis, length):
    """haar_idwt before the crop to ``length``."""
    if approx.shape != detail.shape:
        raise ValueError(f"haar_idwt: approx and detail must have one shape, got {approx.shape} and "
                         f"{detail.shape}")
    axis = normalize_axis("haar_idwt", axis, approx.ndim)
    full = 2 * approx.shape[axis]
    if length is not None and length not in (full, full - 1):
        raise ValueError(f"haar_idwt: length must be {full - 1} or {full} for coefficients of shape "
                         f"{approx.shape} along axis {axis}, got {length}")
    return _synthesis(approx.data, detail.data, axis), lambda g: _analysis(g, axis)


def haar_wavedec(x, levels, axis=-1):
    """``levels`` Haar levels along ``axis``: [a_J, d_J, ..., d_1] (J = levels, d_1 the finest)."""
    (x,) = tensors("haar_wavedec", x)
    axis = normalize_axis("haar_wavedec", axis, x.ndim)
    _check_levels("haar_wavedec", levels, x.shape[axis], x.shape, axis)
    details = []
    approx = x
    for _ in range(levels):
        approx, detail = haar_dwt(approx, axis)
        details.append(detail)
    return [approx] + details[::-1]


def haar_waverec(coeffs, axis=-1, length=None):
    """The inverse of haar_wavedec. Each level's output is cropped to the length of the next detail;
    the last to ``length`` (default: twice the finest detail's length; pass it for odd signals)."""
    coeffs = _coefficient_list("haar_waverec", coeffs)
    if len(coeffs) < 2:
        raise ValueError(f"haar_waverec: needs [a_J, d_J, ..., d_1] with at least one detail, "
                         f"got {len(coeffs)} array(s)")
    finest = tensors("haar_waverec", coeffs[-1])[0]
    axis = normalize_axis("haar_waverec", axis, finest.ndim)
    full = 2 * finest.shape[axis]
    if length is not None and (isinstance(length, bool) or length not in (full, full - 1)):
        raise ValueError(f"haar_waverec: length must be {full - 1} or {full} for a finest detail of shape "
                         f"{finest.shape} along axis {axis}, got {length!r}")
    x = coeffs[0]
    for i, detail in enumerate(coeffs[1:], start=2):
        target = coeffs[i].shape[axis] if i < len(coeffs) else length
        x = haar_idwt(x, detail, axis, target)
    return x


def haar_dwt2(x, axes=(-2, -1)):
    """One 2-D Haar level: (LL, LH, HL, HH). The first letter is the filter along axes[0], the second
    along axes[1] (L: approximation, H: detail); rows (along axes[1]) are transformed first."""
    (x,) = tensors("haar_dwt2", x)
    ax0, ax1 = _two_axes("haar_dwt2", axes, x.ndim)
    low, high = haar_dwt(x, ax1)
    ll, hl = haar_dwt(low, ax0)
    lh, hh = haar_dwt(high, ax0)
    return ll, lh, hl, hh


def haar_idwt2(ll, lh, hl, hh, axes=(-2, -1), shape=None):
    """The inverse of haar_dwt2; ``shape``: the output lengths along the two axes (for odd sizes)."""
    ll, lh, hl, hh = tensors("haar_idwt2", ll, lh, hl, hh)
    ax0, ax1 = _two_axes("haar_idwt2", axes, ll.ndim)
    _check_shape("haar_idwt2", shape)
    len0, len1 = (None, None) if shape is None else shape
    low = haar_idwt(ll, hl, ax0, len0)
    high = haar_idwt(lh, hh, ax0, len0)
    return haar_idwt(low, high, ax1, len1)


def haar_wavedec2(x, levels, axes=(-2, -1)):
    """``levels`` 2-D Haar levels: [LL_J, (LH_J, HL_J, HH_J), ..., (LH_1, HL_1, HH_1)]."""
    (x,) = tensors("haar_wavedec2", x)
    ax0, ax1 = _two_axes("haar_wavedec2", axes, x.ndim)
    for ax in (ax0, ax1):
        _check_levels("haar_wavedec2", levels, x.shape[ax], x.shape, ax)
    details = []
    ll = x
    for _ in range(levels):
        ll, lh, hl, hh = haar_dwt2(ll, (ax0, ax1))
        details.append((lh, hl, hh))
    return [ll] + details[::-1]


def haar_waverec2(coeffs, axes=(-2, -1), shape=None):
    """The inverse of haar_wavedec2; ``shape``: the output lengths along the two axes (for odd sizes)."""
    coeffs = _coefficient_list("haar_waverec2", coeffs)
    if len(coeffs) < 2:
        raise ValueError(f"haar_waverec2: needs [LL_J, (LH_J, HL_J, HH_J), ...] with at least one level, "
                         f"got {len(coeffs)} item(s)")
    if any(not isinstance(level, (tuple, list)) or len(level) != 3 for level in coeffs[1:]):
        raise ValueError(f"haar_waverec2: every level after LL_J must be a triple (LH, HL, HH), "
                         f"got {[type(c).__name__ for c in coeffs[1:]]}")
    _two_axes("haar_waverec2", axes, tensors("haar_waverec2", coeffs[0])[0].ndim)
    _check_shape("haar_waverec2", shape)
    x = coeffs[0]
    for i, (lh, hl, hh) in enumerate(coeffs[1:], start=2):
        target = tuple(coeffs[i][0].shape[a] for a in axes) if i < len(coeffs) else shape
        x = haar_idwt2(x, lh, hl, hh, axes, target)
    return x


def _analysis(x, axis):
    """(x_even + x_odd) / sqrt 2 and (x_even - x_odd) / sqrt 2 along an even-length axis."""
    even, odd = _even_odd(x, axis)
    approx, detail = even + odd, even - odd
    approx *= _C
    detail *= _C
    return approx, detail


def _synthesis(approx, detail, axis):
    """The signal whose even samples are (a + d) / sqrt 2 and odd samples (a - d) / sqrt 2."""
    xp = get_array_module(approx)
    x, even, odd = _interleaved(approx, axis, np.result_type(approx.dtype, detail.dtype))
    xp.add(approx, detail, out=even)
    xp.subtract(approx, detail, out=odd)
    x *= _C
    return x


def _even_odd(x, axis):
    """Views of the samples 0, 2, 4, ... and 1, 3, 5, ... of an even-length axis, via a (..., L/2, 2, ...)
    reshape."""
    pairs = x.reshape(x.shape[:axis] + (x.shape[axis] // 2, 2) + x.shape[axis + 1:])
    before = (slice(None),) * (axis + 1)
    return pairs[before + (0,)], pairs[before + (1,)]


def _interleaved(like, axis, dtype):
    """An empty array twice as long as ``like`` along ``axis``, and views of its samples 0, 2, 4, ...
    and 1, 3, 5, ... (the synthesis writes into them directly: no temporaries, no stacking copy)."""
    out = get_array_module(like).empty(like.shape[:axis] + (2 * like.shape[axis],) + like.shape[axis + 1:],
                                       dtype=dtype)
    return (out, *_even_odd(out, axis))


def _check_levels(name, levels, length, shape, axis):
    """Each level halves the length (rounding up); the last level still needs two samples."""
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"{name}: levels must be an integer >= 1, got {levels!r}")
    if length <= 2 ** (levels - 1):
        raise ValueError(f"{name}: {levels} level(s) need a length above {2 ** (levels - 1)} along axis "
                         f"{axis}, got shape {shape}")


def _coefficient_list(name, coeffs):
    """The coefficients as a list, or an error naming ``name`` (not a TypeError from deep inside)."""
    if not isinstance(coeffs, (list, tuple)):
        raise TypeError(f"{name}: coeffs must be the list that {name.replace('rec', 'dec')} returned, "
                        f"got {type(coeffs).__name__}")
    return list(coeffs)


def _check_shape(name, shape):
    """None, or the two output lengths of a 2-D inverse."""
    if shape is not None and (not isinstance(shape, (tuple, list)) or len(shape) != 2 or not all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in shape)):
        raise ValueError(f"{name}: shape must be None or two lengths >= 1, got {shape!r}")


def _two_axes(name, axes, ndim):
    if not isinstance(axes, (tuple, list)) or len(axes) != 2:
        raise ValueError(f"{name}: axes must be two axes, got {axes!r}")
    ax0, ax1 = (normalize_axis(name, a, ndim) for a in axes)
    if ax0 == ax1:
        raise ValueError(f"{name}: the two axes must differ, got {tuple(axes)}")
    return ax0, ax1
