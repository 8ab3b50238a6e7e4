"""Ops that move values without changing them: reshape, transpose, expand, squeeze, unsqueeze,
flatten, indexing, concatenate, stack, split, pad, and the device/dtype moves.

Their VJPs move the gradient back the same way: reshape back, transpose by the inverse
permutation, sum over expanded axes, scatter-add into the indexed places.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..backend import get_array_module
from .function import normalize_axis, primitive, tensors, unbroadcast
from .tensor import Tensor, _numeric_dtype


def _shape(name, shape) -> tuple:
    """A shape as a tuple of ints (one int alone is a 1-d shape), or an error naming the op."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if not isinstance(shape, (tuple, list)) or any(isinstance(s, bool) or not isinstance(s, (int, np.integer))
                                                   for s in shape):
        raise TypeError(f"{name}: shape must be integers, got {shape!r}")
    return tuple(int(s) for s in shape)


@primitive("reshape")
def reshape(x, shape):
    """The same values in a new shape (one entry may be -1)."""
    shape = _shape("reshape", shape)
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into "
                         f"{shape}") from None
    return out, (lambda g: g.reshape(x.shape),)


@primitive("transpose")
def transpose(x, axes=None):
    """Permute the axes (None: reverse them);  the VJP applies the inverse permutation."""
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    if not isinstance(axes, (tuple, list)):
        raise TypeError(f"transpose: axes must be None or a tuple of integers, got {axes!r}")
    axes = tuple(normalize_axis("transpose", a, x.ndim, x.shape) for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of shape "
                         f"{x.shape}")
    inverse = tuple(np.argsort(axes))
    return x.data.transpose(axes), (lambda g: g.transpose(inverse),)


permute = transpose


def swapaxes(x, a, b):
    """Exchange axes ``a`` and ``b``: a transpose, whose VJP swaps them back."""
    (x,) = tensors("swapaxes", x)
    axes = list(range(x.ndim))
    a, b = (normalize_axis("swapaxes", i, x.ndim, x.shape) for i in (a, b))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


@primitive("expand")
def expand(x, shape):
    """Broadcast to ``shape`` (a view);  the VJP sums over the broadcast axes."""
    shape = _shape("expand", shape)
    try:
        out = get_array_module(x.data).broadcast_to(x.data, shape)
    except ValueError:
        raise ValueError(f"expand: a tensor of shape {x.shape} cannot be broadcast to {shape}") from None
    return out, (lambda g: unbroadcast(g, x.shape),)


def squeeze(x, axis=None):
    """Drop axes of length 1 (all of them, or the given ones)."""
    (x,) = tensors("squeeze", x)
    if axis is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        axis = (axis,) if isinstance(axis, (int, np.integer)) else axis
        if not isinstance(axis, (tuple, list)):
            raise TypeError(f"squeeze: axis must be None, an integer or a tuple of integers, got {axis!r}")
        axes = {normalize_axis("squeeze", a, x.ndim, x.shape) for a in axis}
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} has length {x.shape[a]}, not 1")
        shape = tuple(s for i, s in enumerate(x.shape) if i not in axes)
    return reshape(x, shape)


def unsqueeze(x, axis):
    """Insert an axis of length 1 at ``axis`` (in the result's numbering)."""
    (x,) = tensors("unsqueeze", x)
    axis = normalize_axis("unsqueeze", axis, x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x, start=0, end=-1):
    """Merge axes start..end (inclusive) into one."""
    (x,) = tensors("flatten", x)
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = (normalize_axis("flatten", i, x.ndim, x.shape) for i in (start, end))
    if start > end:
        raise ValueError(f"flatten: start axis {start} comes after end axis {end}")
    merged = math.prod(x.shape[start:end + 1])  # not -1: reshape cannot infer it when a size is 0
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def _index_arrays(index, xp):
    """Tensors inside an index become arrays; report whether any advanced (array) index is used."""
    parts = index if isinstance(index, tuple) else (index,)
    parts = tuple(p.data if isinstance(p, Tensor) else p for p in parts)
    parts = tuple(xp.asarray(p) if isinstance(p, list) or backend.is_array(p) else p for p in parts)
    # Integer arrays may repeat an index (the VJP must then add); boolean masks cannot.
    advanced = any(hasattr(p, "dtype") and p.dtype.kind in "iu" and p.ndim > 0 for p in parts)
    return (parts if isinstance(index, tuple) else parts[0]), advanced


@primitive("getitem")
def getitem(x, index):
    """x[index] with slices, integers, None, Ellipsis, boolean masks and integer arrays.

    The VJP writes g into a zero array at the same places; with integer arrays an index may
    repeat, so it scatter-adds (``xp.add.at``) instead of assigning.
    """
    xp = get_array_module(x.data)
    index, advanced = _index_arrays(index, xp)
    try:
        out = x.data[index]
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} does not fit a tensor of shape {x.shape}: {e}") from None

    def vjp(g):
        full = xp.zeros_like(x.data, dtype=g.dtype)
        if advanced:
            xp.add.at(full, index, g)
        else:
            full[index] = g
        return full
    return out, (vjp,)


def _sequence(name, xs):
    """The tensors to join: a list or tuple (one tensor alone is a common slip: say so)."""
    if not isinstance(xs, (list, tuple)):
        raise TypeError(f"{name}: needs a list or tuple of tensors, got {type(xs).__name__}")
    return xs


def concatenate(xs, axis=0):
    """Join tensors along an existing axis;  the VJP splits g back into the pieces."""
    xs = tuple(_sequence("concatenate", xs))
    if not xs:
        raise ValueError("concatenate: needs at least one tensor")
    return _concatenate(*xs, axis=axis)


@primitive("concatenate", inputs=None)
def _concatenate(*xs, axis):
    """concatenate(xs, axis) of the tensors ``xs``."""
    axis = normalize_axis("concatenate", axis, xs[0].ndim)
    for t in xs[1:]:
        outside = [i for i in range(t.ndim) if i != axis]
        if t.ndim != xs[0].ndim or any(t.shape[i] != xs[0].shape[i] for i in outside):
            raise ValueError(f"concatenate: shapes {[t.shape for t in xs]} differ outside axis {axis}")
    xp = get_array_module(xs[0].data)
    out = xp.concatenate([t.data for t in xs], axis=axis)
    bounds = np.cumsum([t.shape[axis] for t in xs])[:-1].tolist()
    return out, lambda g: xp.split(g, bounds, axis=axis)


def stack(xs, axis=0):
    """Join tensors of one shape along a new axis."""
    xs = tensors("stack", *_sequence("stack", xs))
    if not xs or any(t.shape != xs[0].shape for t in xs):
        raise ValueError(f"stack: needs one or more tensors of one shape, got {[t.shape for t in xs]}")
    axis = normalize_axis("stack", axis, xs[0].ndim + 1)
    return concatenate([unsqueeze(t, axis) for t in xs], axis=axis)


def split(x, sections, axis=0):
    """Split into equal parts (an int) or at the given indices (a list), like ``numpy.split``."""
    (x,) = tensors("split", x)
    axis = normalize_axis("split", axis, x.ndim, x.shape)
    n = x.shape[axis]
    if isinstance(sections, (int, np.integer)):
        if sections <= 0 or n % sections:
            raise ValueError(f"split: axis {axis} of length {n} cannot be split into {sections} equal parts")
        bounds = list(range(0, n, n // sections)) + [n]
    elif isinstance(sections, (list, tuple)) and all(
            isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in sections):
        bounds = [0] + [int(b) for b in sections] + [n]
        if any(lo > hi for lo, hi in zip(bounds[:-1], bounds[1:])):
            raise ValueError(f"split: the indices {list(sections)} must increase within [0, {n}] along "
                             f"axis {axis} of shape {x.shape} (they are where pieces start, as in "
                             f"numpy.split, not sizes)")
    else:
        raise TypeError(f"split: sections must be an integer or a list of indices, got {sections!r}")
    slicer = [slice(None)] * x.ndim
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        slicer[axis] = slice(lo, hi)
        parts.append(getitem(x, tuple(slicer)))
    return parts


@primitive("pad")
def pad(x, pad_width, value=0.0):
    """Constant padding, ``pad_width`` as in ``numpy.pad`` ((before, after) per axis);  the VJP crops."""
    if x.ndim == 0:
        return x  # a 0-d tensor has no axis to pad
    widths = np.asarray(pad_width, dtype=object)
    integers = all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) for w in widths.ravel())
    if widths.size == 0 or not integers:
        raise TypeError(f"pad: pad_width must be integers, got {pad_width!r}")
    try:
        pw = np.broadcast_to(widths.astype(int), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {x.shape} "
                         f"(give (before, after) per axis)") from None
    if (pw < 0).any():
        raise ValueError(f"pad: negative pad widths {pad_width} (use slicing to crop)")
    if isinstance(value, bool) or not isinstance(value, (int, float, complex, np.number)):
        raise TypeError(f"pad: value must be a number, got {value!r}")
    xp = get_array_module(x.data)
    out = xp.pad(x.data, [tuple(p) for p in pw.tolist()], mode="constant", constant_values=value)
    crop = tuple(slice(int(lo), int(lo) + s) for (lo, _), s in zip(pw, x.shape))
    return out, (lambda g: g[crop],)


@primitive("to")
def to_device(x, device):
    """Move to 'cpu' or 'cuda'; the gradient is moved back."""
    if device not in backend.DEVICES:
        raise ValueError(f"to_device: unknown device {device!r}: expected one of {backend.DEVICES}")
    backend.check_device(device)
    source = x.device
    if device == source:
        return x
    out = backend.to_device(x.data, device)
    return out, (lambda g: backend.to_device(g, source),)


@primitive("astype")
def astype(x, dtype):
    """Cast to ``dtype``; the gradient is cast back (complex to real keeps the real part)."""
    out = x.data.astype(_numeric_dtype("astype", dtype))
    if out.dtype == x.data.dtype:
        return x
    if out.dtype.kind not in "fc":
        return Tensor._wrap(out, False)  # integers carry no gradient
    return out, (lambda g: g,)  # tape.accumulate casts back
