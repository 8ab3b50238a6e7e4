"""Tensor: an array (numpy or cupy) plus what autograd needs to know about it.

A tensor made by the user is a *leaf*; when ``requires_grad`` is set, ``backward`` leaves
``dL/dx`` in its ``.grad`` (a plain array of the same shape, dtype and device). A tensor made by
an op carries the op's tape node in ``_node``. The methods here are a thin front end: the math of
every op, forward and backward, lives in the op modules beside this file.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import tape


_NUMERIC = "biufc"  # bool, signed and unsigned integers, floating, complex: what a tensor can hold


def _numeric_dtype(who: str, dtype) -> np.dtype:
    """``dtype`` as a NumPy dtype of numbers, or an error naming ``who`` (no strings, objects, dates)."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{who}: {dtype!r} is not a data type") from None
    if dtype.kind not in _NUMERIC:
        raise TypeError(f"{who}: a tensor holds numbers (bool, integer, floating or complex), not {dtype}")
    return dtype


def _host_array(data) -> np.ndarray:
    """Python data (numbers, nested lists of one shape) as a NumPy array of numbers, or a clear error."""
    if data is None or isinstance(data, (str, bytes)):
        raise TypeError(f"tensor: cannot make a tensor from {data!r}; expected numbers or (nested) lists of "
                        f"numbers")
    try:
        array = np.asarray(data)
    except ValueError:  # NumPy's "inhomogeneous shape": lists of different lengths
        raise ValueError("tensor: the nested lists are ragged (rows of different lengths); "
                         "a tensor needs every row of one length") from None
    if array.dtype.kind not in _NUMERIC:
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} data holding "
                        f"{array.dtype} values; expected numbers")
    return array


class Tensor:
    __array_priority__ = 1000  # make ndarray + Tensor call Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None, device: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        if device is None:
            device = backend.device_of(data) if backend.is_array(data) else backend.get_default_device()
        xp = backend.xp_for(device)
        if dtype is not None:
            dtype = _numeric_dtype("tensor", dtype)
        if not backend.is_array(data):
            python_data = not isinstance(data, np.generic)  # a NumPy scalar keeps its dtype
            data = _host_array(data)
            if python_data and dtype is None and data.dtype in (np.float64, np.complex128):
                # Python floats make float32 tensors (complex: complex64), as in training
                data = data.astype(np.float32 if data.dtype == np.float64 else np.complex64)
        elif data.dtype.kind not in _NUMERIC:
            raise TypeError(f"tensor: cannot hold {data.dtype} data (shape {tuple(data.shape)}); "
                            f"expected numbers (bool, integer, floating or complex)")
        if backend.device_of(data) != device:
            data = backend.to_device(data, device)
        data = xp.asarray(data, dtype=dtype)
        if requires_grad and data.dtype.kind not in "fc":
            raise TypeError(f"Tensor: requires_grad needs a floating or complex dtype, got {data.dtype} "
                            f"(shape {tuple(data.shape)}); convert with dtype=np.float32 first")
        self.data = data
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None

    @classmethod
    def _wrap(cls, data, requires_grad: bool) -> "Tensor":
        """Fast constructor for op outputs: no conversion, no checks."""
        t = cls.__new__(cls)
        t.data, t.requires_grad, t.grad, t._node = data, requires_grad, None, None
        return t

    # ---- what it is -------------------------------------------------------------------------
    shape = property(lambda self: tuple(self.data.shape))
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: int(self.data.size))
    device = property(lambda self: backend.device_of(self.data))
    is_leaf = property(lambda self: self._node is None)
    is_complex = property(lambda self: self.data.dtype.kind == "c")

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(backend.asnumpy(self.data), precision=4, threshold=20, separator=", ",
                               prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{grad})"

    # ---- autograd -----------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Compute dL/dx for every leaf x with requires_grad, where L is this tensor.

        A non-scalar tensor needs ``grad``, the gradient of some scalar loss w.r.t. it.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no input of its graph has "
                               "requires_grad=True)")
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward: a tensor of shape {self.shape} is not a scalar; pass grad= of "
                                   "that shape")
            grad = xp.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else grad
            grad = backend.to_device(grad, self.device) if backend.is_array(grad) else xp.asarray(grad)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward: grad has shape {tuple(grad.shape)}, the tensor has shape "
                                 f"{self.shape}")
        tape.backward(self, grad, retain_graph=retain_graph)

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor._wrap(self.data, False)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad; use detach() "
                               "first")
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(f"requires_grad_: needs a floating or complex dtype, got {self.dtype} (shape "
                            f"{self.shape})")
        self.requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    # ---- moving and converting ----------------------------------------------------------------
    def to(self, device: str) -> "Tensor":
        """This tensor on ``device`` ('cpu' or 'cuda'); differentiable (gradients move back)."""
        from .shape import to_device
        return to_device(self, device)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def numpy(self) -> np.ndarray:
        """A numpy copy of the data (from the GPU if needed)."""
        return backend.asnumpy(self.data)

    def __dlpack__(self, *, stream=None, **options):
        """The data through DLPack, shared (``torch.from_dlpack(t)``, ``numpy.from_dlpack(t)``): see
        dlpack.py."""
        return self.data.__dlpack__(stream=stream, **options)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def item(self):
        if self.size != 1:
            raise ValueError(f"item: tensor of shape {self.shape} has {self.size} elements, not 1")
        return self.data.reshape(-1)[0].item()

    def astype(self, dtype) -> "Tensor":
        from .shape import astype
        return astype(self, dtype)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    # ---- operators and methods: see the op modules -------------------------------------------
    def __add__(self, o): return arithmetic.add(self, o)
    def __radd__(self, o): return arithmetic.add(o, self)
    def __sub__(self, o): return arithmetic.sub(self, o)
    def __rsub__(self, o): return arithmetic.sub(o, self)
    def __mul__(self, o): return arithmetic.mul(self, o)
    def __rmul__(self, o): return arithmetic.mul(o, self)
    def __truediv__(self, o): return arithmetic.div(self, o)
    def __rtruediv__(self, o): return arithmetic.div(o, self)
    def __pow__(self, o): return arithmetic.pow(self, o)
    def __rpow__(self, o): return arithmetic.pow(o, self)
    def __neg__(self): return arithmetic.neg(self)
    def __matmul__(self, o): return linalg.matmul(self, o)
    def __rmatmul__(self, o): return linalg.matmul(o, self)
    def __getitem__(self, index): return shape_ops.getitem(self, index)
    def __abs__(self): return unary.abs(self)
    def __mod__(self, o): return rounding.remainder(self, o)
    def __rmod__(self, o): return rounding.remainder(o, self)

    # comparisons give plain boolean arrays: they have no gradient
    def _cmp(self, o, op):
        return getattr(self.data, op)(o.data if isinstance(o, Tensor) else o)
    def __lt__(self, o): return self._cmp(o, "__lt__")
    def __le__(self, o): return self._cmp(o, "__le__")
    def __gt__(self, o): return self._cmp(o, "__gt__")
    def __ge__(self, o): return self._cmp(o, "__ge__")
    __hash__ = object.__hash__

    def exp(self): return unary.exp(self)
    def log(self): return unary.log(self)
    def sqrt(self): return unary.sqrt(self)
    def tanh(self): return unary.tanh(self)
    def sigmoid(self): return unary.sigmoid(self)
    def relu(self): return unary.relu(self)
    def abs(self): return unary.abs(self)
    def sin(self): return trigonometric.sin(self)
    def cos(self): return trigonometric.cos(self)
    def tan(self): return trigonometric.tan(self)
    def arcsin(self): return trigonometric.arcsin(self)
    def arccos(self): return trigonometric.arccos(self)
    def arctan(self): return trigonometric.arctan(self)
    def sinh(self): return hyperbolic.sinh(self)
    def cosh(self): return hyperbolic.cosh(self)
    def arcsinh(self): return hyperbolic.arcsinh(self)
    def arccosh(self): return hyperbolic.arccosh(self)
    def arctanh(self): return hyperbolic.arctanh(self)
    def log1p(self): return logarithm.log1p(self)
    def expm1(self): return logarithm.expm1(self)
    def log2(self): return logarithm.log2(self)
    def log10(self): return logarithm.log10(self)
    def square(self): return powers.square(self)
    def reciprocal(self): return powers.reciprocal(self)
    def sign(self): return rounding.sign(self)
    def floor(self): return rounding.floor(self)
    def ceil(self): return rounding.ceil(self)
    def round(self, decimals=0): return rounding.round(self, decimals)
    def sum(self, axis=None, keepdims=False): return reduction.sum(self, axis, keepdims)
    def std(self, axis=None, keepdims=False, ddof=0): return reduction.std(self, axis, keepdims, ddof)
    def prod(self, axis=None, keepdims=False): return product.prod(self, axis, keepdims)
    def cumsum(self, axis=None): return cumulative.cumsum(self, axis)
    def cumprod(self, axis=None): return cumulative.cumprod(self, axis)
    def mean(self, axis=None, keepdims=False): return reduction.mean(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return reduction.var(self, axis, keepdims, ddof)
    def max(self, axis=None, keepdims=False): return reduction.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return reduction.min(self, axis, keepdims)
    def reshape(self, *shape): return shape_ops.reshape(self, _sizes(shape))
    def transpose(self, *axes): return shape_ops.transpose(self, _sizes(axes) or None)
    permute = transpose
    def flatten(self, start=0, end=-1): return shape_ops.flatten(self, start, end)
    def squeeze(self, axis=None): return shape_ops.squeeze(self, axis)
    def unsqueeze(self, axis): return shape_ops.unsqueeze(self, axis)
    def expand(self, *shape): return shape_ops.expand(self, _sizes(shape))
    def ravel(self): return arrange.ravel(self)
    def flip(self, axis=None): return arrange.flip(self, axis)
    def roll(self, shift, axis=None): return arrange.roll(self, shift, axis)
    def repeat(self, repeats, axis=None): return arrange.repeat(self, repeats, axis)
    def tile(self, reps): return arrange.tile(self, reps)
    def moveaxis(self, source, destination): return arrange.moveaxis(self, source, destination)
    def diagonal(self, offset=0, axis1=0, axis2=1): return triangle.diagonal(self, offset, axis1, axis2)
    def trace(self, offset=0, axis1=0, axis2=1): return triangle.trace(self, offset, axis1, axis2)
    def conj(self): return complex_ops.conj(self)
    @property
    def real(self): return complex_ops.real(self)
    @property
    def imag(self): return complex_ops.imag(self)
    @property
    def T(self): return shape_ops.transpose(self, None)


def _sizes(args):
    """The sizes (or axes) of ``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` alike: one sequence."""
    return args[0] if len(args) == 1 and not isinstance(args[0], (int, np.integer)) else args


def tensor(data, requires_grad: bool = False, dtype=None, device: str | None = None) -> Tensor:
    """Make a leaf tensor (``minifb.tensor([1., 2.], requires_grad=True)``)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


# The op modules import Tensor from here, so they are imported after the class exists.
from . import arithmetic, linalg, reduction, unary  # noqa: E402
from . import arrange, cumulative, hyperbolic, logarithm, powers, product, rounding  # noqa: E402
from . import triangle, trigonometric  # noqa: E402
from . import complex as complex_ops  # noqa: E402
from . import shape as shape_ops  # noqa: E402
