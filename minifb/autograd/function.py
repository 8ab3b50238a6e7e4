"""What every op shares: turning arguments into tensors, broadcasting, recording on the tape.

An op in minifb is a plain function that states its forward and its VJP side by side, and
:func:`primitive` does the rest (teenygrad's Function.apply, HIPS autograd's defvjp with
unbroadcast_f)::

    @primitive("mul", inputs=2, broadcast=True)
    def mul(a, b):                     # the docstring gives the equations: a * b; dL/da = g conj(b), ...
        return a.data * b.data, (lambda g: g * conj(b.data), lambda g: g * conj(a.data))

The forward computes with the array module of its inputs, so one function serves NumPy and CuPy.
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers

import numpy as np

from .. import backend
from . import anomaly, tape
from .tensor import Tensor


def primitive(name: str, inputs: int | None = 1, broadcast: bool = False):
    """Decorator: the op ``name`` from a function that states only its mathematics.

    The wrapper turns the first ``inputs`` arguments of the op (None: all its positional
    arguments) into Tensors on one device (:func:`tensors`; an input whose default is None may be
    left out), with ``broadcast`` checks that their shapes broadcast together, and calls the
    function with them. The function returns ``(out, vjps)`` for :func:`record`: the output array
    and one VJP per input, g = dL/d(out) -> dL/d(input) (None for an input that never has a
    gradient). Only the VJPs of inputs that need a gradient run. A VJP that shares work between
    the inputs is one function instead, g -> a gradient per given input (it reads
    ``requires_grad`` itself). With ``broadcast`` every gradient is summed back to its input's
    shape.
    The function may also return a Tensor, which the op returns as it is.
    """
    def decorate(forward):
        parameters = list(inspect.signature(forward).parameters.values())[:inputs or 0]
        names = [p.name for p in parameters]
        optional = any(p.default is None for p in parameters)

        @functools.wraps(forward)
        def op(*args, **kwargs):
            rest = ()
            if inputs is not None and len(args) != inputs:
                if len(args) > inputs:
                    args, rest = args[:inputs], args[inputs:]
                else:
                    args = _keyword_inputs(name, args, kwargs, names, parameters)
            if optional and any(a is None for a in args):
                given = _without_none(name, args, parameters)
                present = tuple(t for t in given if t is not None)
            else:
                given = present = tensors(name, *args)
            if broadcast:
                _check_broadcast(name, present)
            result = forward(*given, *rest, **kwargs) if rest or kwargs else forward(*given)
            if isinstance(result, Tensor):
                return result
            out, vjps = result
            if len(present) < len(given) and not callable(vjps):
                vjps = [f for t, f in zip(given, vjps) if t is not None]
            return record(name, out, present, vjps, broadcast)
        return op
    return decorate


def _keyword_inputs(name, args, kwargs, names, parameters) -> tuple:
    """``args`` with the inputs given by keyword (or left at their default None) appended."""
    extra = []
    for key, parameter in zip(names[len(args):], parameters[len(args):]):
        if key in kwargs:
            extra.append(kwargs.pop(key))
        elif parameter.default is None:
            extra.append(None)
        else:
            raise TypeError(f"{name}: missing input {key!r}")
    return args + tuple(extra)


def _without_none(name, args, parameters) -> tuple:
    """Tensors for the given inputs, None where an optional input was left out (a None given for an
    input that is not optional goes to :func:`tensors`, which refuses it naming the op)."""
    left_out = [a is None and p.default is None for a, p in zip(args, parameters)]
    found = iter(tensors(name, *[a for a, out in zip(args, left_out) if not out]))
    return tuple(None if out else next(found) for out in left_out)


def _check_broadcast(name, inputs) -> None:
    """Raise, naming the op and the shapes, unless the inputs' shapes broadcast together."""
    first = inputs[0].data.shape
    if len(inputs) == 2:  # the usual case: equal shapes, or a scalar beside a tensor
        other = inputs[1].data.shape
        if other == first or not other or not first:
            return
    broadcast_shape(name, *[t.data.shape for t in inputs])


def _any_requires_grad(inputs) -> bool:
    for t in inputs:
        if t.requires_grad:
            return True
    return False


def record(name: str, out, inputs: tuple, vjp, broadcast: bool = False) -> Tensor:
    """Wrap the array ``out`` in a Tensor; when any input needs a gradient, link a node to it.

    ``vjp``: g -> a gradient per input, or a sequence of per-input VJPs (see :func:`primitive`;
    ``broadcast`` sums their results back to the inputs' shapes). An op with several outputs
    records each one.
    """
    if isinstance(out, np.generic):  # NumPy gives scalars for 0-d results; a tensor holds an array
        out = np.asarray(out)
    if anomaly.enabled:
        anomaly.check_forward(name, out, inputs)
    if not (tape._state.enabled and _any_requires_grad(inputs)):
        return Tensor._wrap(out, False)
    result = Tensor._wrap(out, True)
    if not callable(vjp):
        vjp = _per_input(inputs, vjp, broadcast)
    elif broadcast:
        vjp = _unbroadcasting(inputs, vjp)
    result._node = tape.Node(name, inputs, vjp)
    return result


def _per_input(inputs, vjps, broadcast: bool):
    """One VJP from per-input ones: only those of inputs that need a gradient run."""
    if broadcast:
        def vjp(g):
            return [None if f is None or not x.requires_grad else unbroadcast(f(g), x.data.shape)
                    for x, f in zip(inputs, vjps)]
    else:
        def vjp(g):
            return [None if f is None or not x.requires_grad else f(g) for x, f in zip(inputs, vjps)]
    return vjp


def _unbroadcasting(inputs, joint):
    """A VJP that sums each gradient of ``joint`` back to its input's shape."""
    def vjp(g):
        return [None if d is None else unbroadcast(d, x.data.shape) for x, d in zip(inputs, joint(g))]
    return vjp


_PLAIN_NUMBERS = (float, int, bool)  # exact types: no abstract-class checks on the hot path


def _scalar_array(value, like):
    """A Python/NumPy scalar in ``like``'s kind, without promoting float32: a NumPy scalar of that dtype
    where arrays take it as a kernel argument (NumPy; CuPy inside ``backend.graph_safe()``, where a
    copy to the device could not be replayed), else a 0-d CuPy array."""
    dtype = like.data.dtype
    if type(value) in _PLAIN_NUMBERS:
        if dtype.kind not in "fc":  # integer or bool tensor with a Python number: NumPy's rule
            dtype = np.result_type(dtype, value)
    elif isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        if dtype.kind != "c":
            dtype = np.result_type(dtype, np.complex64)
    elif dtype.kind not in "fc":
        dtype = np.result_type(dtype, value)
    if type(like.data) is np.ndarray or backend.is_graph_safe():
        return dtype.type(value)
    return backend.get_array_module(like.data).asarray(value, dtype=dtype)


def tensors(name: str, *args) -> tuple:
    """Turn the arguments of op ``name`` into Tensors on one device.

    Python scalars take the dtype of the tensor beside them (float32 stays float32); arrays are
    wrapped; inputs on different devices raise, naming the op and the devices.
    """
    kind = None
    for a in args:  # the usual case first: tensors only, all of one array type
        if not isinstance(a, Tensor) or (kind is not None and type(a.data) is not kind):
            return _convert(name, args)
        kind = type(a.data)
    return args


def _convert(name: str, args) -> tuple:
    if len(args) == 2:  # the next most usual case: a tensor and a Python number (x * 0.5, 1 - x)
        first, second = args
        if isinstance(first, Tensor) and type(second) in _PLAIN_NUMBERS:
            return first, Tensor._wrap(_scalar_array(second, first), False)
        if isinstance(second, Tensor) and type(first) in _PLAIN_NUMBERS:
            return Tensor._wrap(_scalar_array(first, second), False), second
    like = next((a for a in args if isinstance(a, Tensor)), None)
    out, placed = [], []  # placed: the tensors whose device matters (not the scalar constants)
    for a in args:
        if isinstance(a, Tensor):
            out.append(a)
        elif like is not None and isinstance(a, numbers.Number):
            out.append(Tensor._wrap(_scalar_array(a, like), False))
            continue
        else:
            try:
                device = like.device if like is not None and not backend.is_array(a) else None
                out.append(Tensor(a, device=device))
            except (TypeError, ValueError) as e:  # name the op the user called, not the conversion
                message = str(e).removeprefix("tensor: ")
                raise type(e)(f"{name}: argument {len(out)}: {message}") from None
        placed.append(out[-1])
    if len({type(t.data) for t in placed}) > 1 and len({t.device for t in placed}) > 1:  # cheap test first
        shapes = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in placed)
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
        raise ValueError(f"{name}: shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be broadcast "
                         "together") from None


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
    return backend.matmul(xp.ones(rows, dtype=a.dtype),
                          a.reshape(rows, math.prod(a.shape[n:]))).reshape(a.shape[n:])


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
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an integer, got {axis!r} ({type(axis).__name__})")
    if not -ndim <= axis < ndim:
        of = f"of shape {tuple(shape)}" if shape is not None else f"with {ndim} dimension(s)"
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor {of}")
    return int(axis) % ndim


def integers(name: str, what: str, value) -> tuple:
    """One integer or a tuple/list of them as a tuple, or an error naming the op and ``what``."""
    values = (value,) if isinstance(value, (int, np.integer)) else value
    if not isinstance(values, (tuple, list)) or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{name}: {what} must be an integer or a tuple of integers, got {value!r}")
    return tuple(int(v) for v in values)


def normalize_axes(name: str, axis, ndim: int, shape=None):
    """None (all axes) or a sorted tuple of non-negative axes."""
    if axis is None:
        return None
    if not isinstance(axis, (int, np.integer, tuple, list)):
        raise TypeError(f"{name}: axis must be None, an integer or a tuple of integers, got {axis!r} "
                        f"({type(axis).__name__})")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    result = tuple(sorted(normalize_axis(name, a, ndim, shape) for a in axes))
    if len(set(result)) != len(result):
        of = f" for a tensor of shape {tuple(shape)}" if shape is not None else ""
        raise ValueError(f"{name}: repeated axis in {axis}{of}")
    return result
