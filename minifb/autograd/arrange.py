"""Ops that rearrange or copy values without changing them: flip roll repeat tile moveaxis ravel.

Their VJPs undo the move (flip back, roll back, transpose back) or, where a value was copied,
add up the gradients of its copies (repeat, tile).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..backend import get_array_module
from .function import integers, normalize_axes, normalize_axis, primitive
from .shape import reshape, transpose
from .tensor import Tensor


@primitive("flip")
def flip(x, axis=None):
    """Reverse the order along ``axis`` (None: every axis);  dL/dx = flip(g)."""
    axes = normalize_axes("flip", axis, x.ndim, x.shape)
    xp = get_array_module(x.data)
    return xp.flip(x.data, axes), (lambda g: xp.flip(g, axes),)


@primitive("roll")
def roll(x, shift, axis=None):
    """Shift cyclically by ``shift`` along ``axis`` (None: the flattened tensor, shape kept, as NumPy);
    dL/dx = roll(g, -shift)."""
    shifts = integers("roll", "shift", shift)
    if axis is not None:
        axes = integers("roll", "axis", axis)
        axis = tuple(normalize_axis("roll", a, x.ndim, x.shape) for a in axes)
        if len(shifts) != len(axis) and len(shifts) != 1:
            raise ValueError(f"roll: {len(shifts)} shifts for {len(axis)} axes {axis}")
    elif len(shifts) != 1:
        raise ValueError(f"roll: {len(shifts)} shifts need as many axes, got axis=None")
    xp = get_array_module(x.data)
    back = tuple(-int(s) for s in shifts)
    return xp.roll(x.data, shifts, axis), (lambda g: xp.roll(g, back, axis),)


@primitive("repeat")
def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (None: of the flattened tensor), as
    ``numpy.repeat``; ``repeats`` is one count or one per element. The VJP adds up each element's copies."""
    xp = get_array_module(x.data)
    if axis is None:
        data, axis, in_shape = x.data.reshape(-1), 0, x.shape
    else:
        axis = normalize_axis("repeat", axis, x.ndim, x.shape)
        data, in_shape = x.data, x.shape
    counts = np.asarray(backend.asnumpy(repeats.data if isinstance(repeats, Tensor) else repeats))
    n = data.shape[axis]
    if counts.dtype.kind not in "iu" or counts.ndim > 1 or (counts < 0).any() or counts.size not in (1, n):
        raise ValueError(f"repeat: repeats must be one integer >= 0 or {n} of them (axis {axis} of shape "
                         f"{tuple(data.shape)}), got {repeats!r}")
    out = xp.repeat(data, counts.tolist() if counts.ndim else int(counts), axis=axis)

    def vjp(g):
        g = xp.moveaxis(g, axis, 0)
        if counts.size == 1:  # each element's copies are neighbours: sum over a new axis of length r
            summed = g.reshape((n, int(counts.reshape(-1)[0])) + g.shape[1:]).sum(axis=1)
        else:  # sums over the runs of copies, as differences of the running sum
            running = xp.concatenate([xp.zeros((1,) + g.shape[1:], g.dtype), xp.cumsum(g, axis=0)])
            ends = xp.asarray(np.cumsum(counts))
            summed = running[ends] - running[ends - xp.asarray(counts)]
        return xp.moveaxis(summed, 0, axis).reshape(in_shape)
    return out, (vjp,)


@primitive("tile")
def tile(x, reps):
    """The tensor repeated ``reps`` times along each axis, as ``numpy.tile`` (x and reps padded with
    leading 1s to one length); an output axis of length r s reads as (r, s), and the VJP sums over r."""
    reps = integers("tile", "reps", reps)
    if not all(r >= 0 for r in reps):
        raise ValueError(f"tile: reps must be integers >= 0, got {reps}")
    d = max(len(reps), x.ndim)
    shape = (1,) * (d - x.ndim) + x.shape
    reps = (1,) * (d - len(reps)) + tuple(int(r) for r in reps)
    xp = get_array_module(x.data)
    out = xp.tile(x.data.reshape(shape), reps)

    def vjp(g):
        pairs = g.reshape(tuple(v for r, s in zip(reps, shape) for v in (r, s)))
        return pairs.sum(axis=tuple(range(0, 2 * d, 2))).reshape(x.shape)
    return out, (vjp,)


@primitive("moveaxis")
def moveaxis(x, source, destination):
    """Move axes ``source`` to positions ``destination`` (the others keep their order), as
    ``numpy.moveaxis``: a transpose, whose VJP applies the inverse permutation."""
    source = integers("moveaxis", "source", source)
    destination = integers("moveaxis", "destination", destination)
    if len(source) != len(destination):
        raise ValueError(f"moveaxis: {len(source)} source axes {source} but {len(destination)} "
                         f"destinations {destination}")
    source = [normalize_axis("moveaxis", a, x.ndim, x.shape) for a in source]
    destination = [normalize_axis("moveaxis", a, x.ndim, x.shape) for a in destination]
    if len(set(source)) != len(source) or len(set(destination)) != len(destination):
        raise ValueError(f"moveaxis: repeated axis in source {source} or destination {destination}")
    order = [a for a in range(x.ndim) if a not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(x, order)


@primitive("ravel")
def ravel(x):
    """The values as one axis (C order): a reshape to (size,)."""
    return reshape(x, (math.prod(x.shape),))
