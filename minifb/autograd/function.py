"""What every op shares: turning arguments into tensors, recording on the tape, broadcasting.

An op in minifb is a plain function written in this shape (HIPS autograd's primitive + VJP)::

    def mul(a, b):
        a, b = tensors("mul", a, b)
        out = a.data * b.data
        def vjp(g):                    # g = dL/d(out); return dL/da, dL/db
            return unbroadcast(g * conj(b.data), a.shape), unbroadcast(g * conj(a.data), b.shape)
        return record("mul", out, (a, b), vjp)

The forward computes with the array module of its inputs, so one function serves NumPy and CuPy.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import backend
from . import anomaly, tape
from .tensor import Tensor


def record(name: str, out, inputs: tuple, vjp) -> Tensor:
    """Wrap the array ``out`` in a Tensor; when any input needs a gradient, put a node on the tape."""
    requires_grad = tape.is_grad_enabled() and any(t.requires_grad for t in inputs)
    if isinstance(out, np.generic):  # NumPy gives scalars for 0-d results; a tensor holds an array
        out = np.asarray(out)
    if anomaly.enabled:
        anomaly.check_forward(name, out, inputs)
    result = Tensor._wrap(out, requires_grad)
    if requires_grad:
        result._node = tape.Node(name, inputs, vjp)
    return result


def _scalar_array(value, like):
    """A Python/NumPy scalar as a 0-d array of ``like``'s kind, without promoting float32."""
    xp = backend.get_array_module(like.data)
    dtype = like.data.dtype
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real) and dtype.kind != "c":
        dtype = np.result_type(dtype, np.complex64)
    elif dtype.kind not in "fc":  # integer or bool tensor with a float scalar: numpy's rule
        dtype = np.result_type(dtype, value)
    return xp.asarray(value, dtype=dtype)


def tensors(name: str, *args) -> tuple:
    """Turn the arguments of op ``name`` into Tensors on one device.

    Python scalars take the dtype of the tensor beside them (float32 stays float32); arrays are
    wrapped; inputs on different devices raise, naming the op and the devices.
    """
    like = next((a for a in args if isinstance(a, Tensor)), None)
    out = []
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif like is not None and isinstance(a, numbers.Number):
            out.append(Tensor._wrap(_scalar_array(a, like), False))
        else:
            out.append(Tensor(a, device=like.device if like is not None and not backend.is_array(a) else None))
    if len({type(t.data) for t in out}) > 1 and len({t.device for t in out}) > 1:  # cheap test first
        shapes = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in out)
        raise ValueError(f"{name}: inputs are on different devices ({shapes}); move them with .to(device)")
    return tuple(out)


def broadcast_shape(name: str, *shapes) -> tuple:
    """The broadcast shape, or an error naming the op and the shapes."""
    distinct = {tuple(s) for s in shapes if len(s)}  # the common cases first: equal shapes, scalars
    if len(distinct) <= 1:
        return distinct.pop() if distinct else ()
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{name}: shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be broadcast together") from None


def sum_leading(a, n: int):
    """Sum of ``a`` over its first ``n`` axes, as ``ones @ a.reshape(rows, -1)`` for float/complex data.

    CuPy reduces over non-last axes very slowly (a (4M, 64) array summed over axis 0: ~100 ms), while
    cuBLAS does the same sum as a matrix-vector product at full speed; NumPy's BLAS is fast at it too.
    """
    if n == 0:
        return a
    if a.dtype.kind not in "fc":
        return a.sum(axis=tuple(range(n)))
    xp = backend.get_array_module(a)
    rows = math.prod(a.shape[:n])
    return backend.matmul(xp.ones(rows, dtype=a.dtype), a.reshape(rows, math.prod(a.shape[n:]))).reshape(a.shape[n:])


def sum_axes(a, axes):
    """Sum of ``a`` over ``axes`` (a sorted tuple), fast on CuPy whichever axes they are.

    Trailing axes are summed directly (CuPy is fast over the last axes); each remaining run of
    neighbouring axes is summed as a batched matrix-vector product ``ones @ a.reshape(pre, k, post)``
    (see ``sum_leading``), from the right so the reshapes stay valid.
    """
    axes = list(axes)
    if not axes:
        return a
    if a.dtype.kind not in "fc":
        return a.sum(axis=tuple(axes))
    trailing = []
    while axes and axes[-1] == a.ndim - 1 - len(trailing):
        trailing.insert(0, axes.pop())
    if trailing:
        a = a.sum(axis=tuple(trailing))
    xp = backend.get_array_module(a)
    while axes:
        stop = axes.pop() + 1
        start = stop - 1
        while axes and axes[-1] == start - 1:
            start = axes.pop()
        pre, k, post = math.prod(a.shape[:start]), math.prod(a.shape[start:stop]), math.prod(a.shape[stop:])
        summed = backend.matmul(xp.ones(k, dtype=a.dtype), a.reshape(pre, k, post))
        a = summed.reshape(a.shape[:start] + a.shape[stop:])
    return a


def unbroadcast(g, shape):
    """Sum ``g`` down to ``shape``: the adjoint of broadcasting ``shape`` up to ``g.shape``."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = [i for i in range(g.ndim) if i < lead or (shape[i - lead] == 1 and g.shape[i] != 1)]
    if axes == list(range(len(axes))):  # the usual case (bias gradients): only leading axes to sum
        return sum_leading(g, len(axes)).reshape(shape)
    return sum_axes(g, tuple(axes)).reshape(shape)


def conj(a):
    """Complex conjugate, free for real arrays (the PyTorch convention needs it in every VJP)."""
    return a.conj() if a.dtype.kind == "c" else a


def normalize_axis(name: str, axis: int, ndim: int, shape=None) -> int:
    """A non-negative axis, or an error naming the op, the axis and the shape (or number of dimensions)."""
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        of = f"of shape {tuple(shape)}" if shape is not None else f"with {ndim} dimension(s)"
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor {of}")
    return int(axis) % ndim


def normalize_axes(name: str, axis, ndim: int, shape=None):
    """None (all axes) or a sorted tuple of non-negative axes."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    result = tuple(sorted(normalize_axis(name, a, ndim, shape) for a in axes))
    if len(set(result)) != len(result):
        of = f" for a tensor of shape {tuple(shape)}" if shape is not None else ""
        raise ValueError(f"{name}: repeated axis in {axis}{of}")
    return result
