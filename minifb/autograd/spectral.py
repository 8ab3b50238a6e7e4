"""The FFT family with exact gradients: fft, ifft, rfft, irfft (one axis), their two-axis forms
fft2, ifft2, rfft2, irfft2, their forms over any axes fftn, ifftn, rfftn, irfftn, and fftshift,
ifftshift. They call ``xp.fft`` (numpy.fft / cupy.fft).

Notation (the DFT as numpy.fft defines it): the unnormalised DFT of length N is
``(F x)_k = sum_j x_j exp(-2 pi i jk/N)`` and ``F^H`` (its adjoint) has ``exp(+2 pi i jk/N)``.
``norm`` scales the forward transforms by c = 1 ("backward"), 1/sqrt(N) ("ortho") or 1/N
("forward"), and the inverse ones by 1/N, 1/sqrt(N) or 1 respectively. ``n`` (or ``s``) first
crops or zero-pads the input along the transformed axes.

Gradients follow PyTorch's convention (z.grad = dL/dRe z + i dL/dIm z), so the gradient of a
complex-linear map is its adjoint applied to g. Three facts give every VJP:

- the adjoint of ``c F`` is ``c F^H``, i.e. the opposite transform with the *dual* norm
  (backward <-> forward, ortho stays): fft's VJP is ifft(g, dual norm), ifft's is fft(g, dual);
- the adjoint of cropping to n is zero-padding back, and of zero-padding is cropping (``_fit``);
- a real transform keeps only the N//2+1 bins k <= N/2. irfft rebuilds the others by Hermitian
  symmetry (X_{N-k} = conj X_k), so ``irfft(X)_j = c Re sum_k v_k X_k exp(2 pi i jk/N)`` with
  v = 1 at DC (and at Nyquist when N is even) and v = 2 elsewhere. Hence
  irfft's VJP is ``v * rfft(g)`` (dual norm) and rfft's VJP, ``Re(c F^H (g zero-padded to N))``,
  is ``irfft(g / v)`` (dual norm). For norm="backward" these read: fft's VJP is ``N ifft(g)``,
  rfft's ``Re N ifft(g zero-padded to N)`` and irfft's ``rfft(g)/N`` weighted 2 off DC and Nyquist.

The transformed axes are moved to the end first: cuFFT wants contiguous last axes, and its plan
cache then sees the same shapes every step.
"""
from __future__ import annotations

import functools

import numpy as np

from ..backend import get_array_module
from .function import normalize_axis, primitive

_NORMS = ("backward", "ortho", "forward")
_DUAL_NORM = {"backward": "forward", "ortho": "ortho", "forward": "backward"}


@primitive("fft")
def fft(x, n=None, axis=-1, norm="backward"):
    """X_k = c sum_j x_j exp(-2 pi i jk/n) along ``axis`` (x cropped or zero-padded to n);  VJP: ifft(g), dual
    norm."""
    return _transform("fft", x, None if n is None else (n,), (axis,), norm)


@primitive("ifft")
def ifft(x, n=None, axis=-1, norm="backward"):
    """x_j = c sum_k X_k exp(+2 pi i jk/n) along ``axis``;  VJP: fft(g), dual norm."""
    return _transform("ifft", x, None if n is None else (n,), (axis,), norm)


@primitive("rfft")
def rfft(x, n=None, axis=-1, norm="backward"):
    """The n//2+1 bins k <= n/2 of fft of a real x;  VJP: irfft(g / v, n), dual norm (v: module docstring)."""
    return _transform("rfft", x, None if n is None else (n,), (axis,), norm)


@primitive("irfft")
def irfft(x, n=None, axis=-1, norm="backward"):
    """The real signal of length n (default 2(m-1)) whose rfft is x (m bins, cropped or zero-padded to
    n//2+1; the imaginary parts of DC and, for even n, Nyquist are ignored);  VJP: v * rfft(g), dual norm.
    A real x is taken as complex with zero imaginary part."""
    return _transform("irfft", x, None if n is None else (n,), (axis,), norm)


def _fixed_axes(name, x, s, axes):
    return axes


def _made(name: str, doc: str, default_axes, resolve_axes=_fixed_axes):
    """The transform ``name``(x, s=None, axes=default_axes, norm="backward"), documented by ``doc``;
    ``resolve_axes(name, x, s, axes)`` gives the axes it transforms."""
    def transform(x, s=None, axes=default_axes, norm="backward"):
        return _transform(name, x, s, resolve_axes(name, x, s, axes), norm)
    transform.__name__ = transform.__qualname__ = name
    transform.__doc__ = doc
    return primitive(name)(transform)


def _two_axes(name: str, doc: str):
    return _made(name, doc, (-2, -1))


def _any_axes(name: str, doc: str):
    return _made(name, doc, None, _nd_axes)


def _nd_axes(name, x, s, axes):
    """NumPy's default axes of the n-axis transforms: all of them, or the last len(s) when s is given."""
    if axes is None:
        count = x.ndim if s is None else len(_as_tuple(s))
        if count == 0 or count > x.ndim:
            raise ValueError(f"{name}: no axes to transform in a tensor of shape {x.shape} (s={s})")
        return tuple(range(x.ndim - count, x.ndim))
    axes = _as_tuple(axes)
    if not axes:
        raise ValueError(f"{name}: axes is empty; give at least one axis")
    return axes


fft2 = _two_axes("fft2", "fft over two axes (a separable product of one-axis DFTs);  VJP: ifft2(g), dual "
                         "norm.")
ifft2 = _two_axes("ifft2", "ifft over two axes;  VJP: fft2(g), dual norm.")
rfft2 = _two_axes("rfft2", "rfft along axes[1], then fft along axes[0];  VJP: irfft2(g / v), dual norm.")
irfft2 = _two_axes("irfft2", "ifft along axes[0], then irfft along axes[1] (s: output lengths);  "
                             "VJP: v * rfft2(g), dual norm.")
fftn = _any_axes("fftn", "fft over ``axes`` (None: all, or the last len(s) when s is given);  "
                         "VJP: ifftn(g), dual norm.")
ifftn = _any_axes("ifftn", "ifft over ``axes`` (None: all, or the last len(s));  VJP: fftn(g), dual norm.")
rfftn = _any_axes("rfftn", "rfft along the last of ``axes``, then fft along the others;  "
                           "VJP: irfftn(g / v), dual norm.")
irfftn = _any_axes("irfftn", "ifft along all but the last of ``axes``, then irfft along the last (s: output "
                             "lengths);  VJP: v * rfftn(g), dual norm.")


@primitive("fftshift")
def fftshift(x, axes=None):
    """Roll the zero frequency to the centre (all axes by default);  VJP: ifftshift(g), the inverse roll."""
    return _shift("fftshift", x, axes)


@primitive("ifftshift")
def ifftshift(x, axes=None):
    """The inverse of fftshift;  VJP: fftshift(g)."""
    return _shift("ifftshift", x, axes)


def _transform(name, x, s, axes, norm):
    """Check the arguments, move ``axes`` to the end, transform, move back; with the VJP."""
    kind = name[:-1] if name[-1] in "2n" else name  # fft2, fftn -> fft
    if norm not in _NORMS:
        raise ValueError(f"{name}: norm must be one of {_NORMS}, got {norm!r}")
    axes = tuple(normalize_axis(name, a, x.ndim) for a in _as_tuple(axes))
    if name.endswith("2") and len(axes) != 2:
        raise ValueError(f"{name}: axes must be two axes, got {axes} (use {kind}n for any number)")
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: axes {axes} repeat an axis")
    if kind == "rfft" and x.is_complex:
        raise TypeError(f"{name}: needs a real input, got {x.dtype} of shape {x.shape}; use fft for complex "
                        "signals")
    in_lengths = tuple(x.shape[a] for a in axes)
    if s is None:  # irfft's default output length is 2(m-1): the even signal that filled m bins
        s = in_lengths[:-1] + (2 * (in_lengths[-1] - 1),) if kind == "irfft" else in_lengths
    s = _as_tuple(s)
    if len(s) != len(axes) or not all(isinstance(k, (int, np.integer)) and k >= 1 for k in s):
        expected = "n must be an integer >= 1" if len(axes) == 1 else f"s must be {len(axes)} integers >= 1"
        raise ValueError(f"{name}: {expected}, got {s[0] if len(axes) == len(s) == 1 else s} "
                         f"(input of shape {x.shape}, {x.dtype}, axes {axes})")
    s = tuple(int(k) for k in s)

    xp = get_array_module(x.data)
    real = np.result_type(x.dtype, np.float32) if x.dtype.kind != "c" else x.data.real.dtype
    cplx = np.result_type(real, np.complex64)  # float32 -> complex64 on both backends
    last = tuple(range(x.ndim - len(axes), x.ndim))
    a = _move(xp, x.data, axes, last)
    if kind == "fft":
        out = xp.fft.fftn(a, s, last, norm).astype(cplx, copy=False)
        vjp = lambda g: xp.fft.ifftn(g, None, last, _DUAL_NORM[norm])
    elif kind == "ifft":
        out = xp.fft.ifftn(a, s, last, norm).astype(cplx, copy=False)
        vjp = lambda g: xp.fft.fftn(g, None, last, _DUAL_NORM[norm])
    elif kind == "rfft":
        out = xp.fft.rfftn(a, s, last, norm).astype(cplx, copy=False)
        vjp = lambda g: _irfftn(xp, _weight_bins(g, s[-1], 0.5), s, last, _DUAL_NORM[norm], owned=True)
    else:
        out = _irfftn(xp, a, s, last, norm).astype(real, copy=False)
        vjp = lambda g: _weight_bins(xp.fft.rfftn(g, None, last, _DUAL_NORM[norm]), s[-1], 2.0)

    def backward(g):
        return _move(xp, _fit(xp, vjp(_move(xp, g, axes, last)), in_lengths), last, axes)
    return _move(xp, out, last, axes), (backward,)


def _as_tuple(value):
    """A tuple of lengths or axes, from one number or a sequence."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _move(xp, a, source, destination):
    """``a`` with axes ``source`` moved to ``destination``; ``a`` itself when nothing moves (CuPy
    copies any view it is asked to transform, even a contiguous one)."""
    return a if source == destination else xp.moveaxis(a, source, destination)


def _irfftn(xp, a, s, last, norm, owned=False):
    """irfft over the last axes as ifft over all but the last, then irfft along the last.

    cuFFT's multi-axis C2R transform assumes a fully Hermitian input; spelling it out keeps
    NumPy's meaning on both backends for any input (gradients are not Hermitian). cuFFT's C2R
    also overwrites its input, so CuPy copies it first; an ``owned`` temporary is handed over as is.
    """
    if len(last) > 1:
        a = xp.fft.ifftn(a, s[:-1], last[:-1], norm)
        owned = True
    if owned and xp is not np:
        import cupyx.scipy.fft
        return cupyx.scipy.fft.irfft(a, s[-1], last[-1], norm, overwrite_x=True)
    return xp.fft.irfft(a, s[-1], last[-1], norm)


def _weight_bins(g, n, inner):
    """g with its bins along the last axis scaled by ``inner``, except DC and (n even) Nyquist, kept as they
    are."""
    return g * _bin_weights(get_array_module(g), g.shape[-1], n % 2 == 0, inner, g.real.dtype)


@functools.lru_cache(maxsize=64)
def _bin_weights(xp, bins, even, inner, dtype):
    """The weights of ``_weight_bins`` as one vector, kept per shape (one multiply instead of three
    kernels)."""
    weights = np.full(bins, inner, dtype=dtype)
    weights[0] = 1
    if even:
        weights[-1] = 1
    return xp.asarray(weights)


def _fit(xp, a, lengths):
    """Crop or zero-pad the last len(lengths) axes of ``a`` to ``lengths`` (the adjoint of the reverse)."""
    k = len(lengths)
    if a.shape[a.ndim - k:] == lengths:
        return a
    out = xp.zeros(a.shape[:a.ndim - k] + lengths, dtype=a.dtype)
    common = (Ellipsis,) + tuple(slice(0, min(p, q)) for p, q in zip(a.shape[a.ndim - k:], lengths))
    out[common] = a[common]
    return out


def _shift(name, x, axes):
    """fftshift or ifftshift over ``axes``, with the VJP: the other one."""
    if axes is not None:
        axes = tuple(normalize_axis(name, a, x.ndim) for a in _as_tuple(axes))
    xp = get_array_module(x.data)
    forward, inverse = xp.fft.fftshift, xp.fft.ifftshift
    if name == "ifftshift":
        forward, inverse = inverse, forward
    return forward(x.data, axes), (lambda g: inverse(g, axes),)
