"""NumPy or CuPy: the one module that knows which.

Every array in minifb is a ``numpy.ndarray`` (device ``'cpu'``) or a ``cupy.ndarray``
(device ``'cuda'``). Code that works on arrays asks for the array module of its inputs,
``xp = get_array_module(a, b)`` (the Chainer idea), and then writes ``xp.exp``, ``xp.fft``...
once for both backends.

CuPy is imported only when ``'cuda'`` is first asked for, so the CPU path needs neither CuPy
nor a GPU.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading

import numpy as np

from . import cublas

DEVICES = ("cpu", "cuda")
_INSTALL_HINT = (
    "install CuPy for your CUDA version, e.g. `pip install minifb[cuda12]` (cupy-cuda12x) or "
    "`pip install minifb[cuda13]` (cupy-cuda13x), on a machine with an NVIDIA GPU"
)

_default_device = "cpu"
_cupy = None
_rng = np.random.default_rng(0)  # minifb's generator: parameters are drawn here on every device
_seed = 0


def _import_cupy():
    """Import CuPy on first use and check that a GPU answers; say how to install otherwise."""
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError as e:
            raise RuntimeError(f"device 'cuda' needs CuPy, which is not installed: {_INSTALL_HINT}") from e
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # CUDA driver missing or broken
            raise RuntimeError(f"device 'cuda': CuPy is installed but no CUDA GPU is usable ({e}); "
                               f"{_INSTALL_HINT}") from e
        if count < 1:
            raise RuntimeError(f"device 'cuda': CuPy found no CUDA GPU; {_INSTALL_HINT}")
        _cupy = cupy
        if os.environ.get("MINIFB_TF32", "0") == "1":
            set_tf32(True)
    return _cupy


def loaded_cupy():
    """The cupy module if 'cuda' has been used in this process, else None (never imports it)."""
    return _cupy


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one GPU (never raises)."""
    try:
        _import_cupy()
        return True
    except RuntimeError:
        return False


def check_device(device: str) -> str:
    """Validate a device name, returning it; 'cuda' also checks that CuPy and a GPU are there."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {DEVICES}")
    if device == "cuda":
        _import_cupy()
    return device


def set_default_device(device: str) -> None:
    """Device of new tensors made without an explicit ``device=`` ('cpu' or 'cuda')."""
    global _default_device
    _default_device = check_device(device)


def get_default_device() -> str:
    return _default_device


@contextlib.contextmanager
def default_device(device: str):
    """``with default_device('cuda'): ...`` makes new tensors on that device inside the block."""
    previous = get_default_device()
    set_default_device(device)
    try:
        yield
    finally:
        set_default_device(previous)


def xp_for(device: str):
    """The array module (numpy or cupy) of a device name."""
    return np if check_device(device) == "cpu" else _cupy


def is_cupy_array(a) -> bool:
    """True for a cupy array. An array that CuPy made before minifb was asked for 'cuda' loads CuPy
    here (checked by its type's module name first, so that NumPy data never imports CuPy)."""
    if _cupy is None:
        if not type(a).__module__.startswith("cupy"):
            return False
        _import_cupy()
    return isinstance(a, _cupy.ndarray)


def is_array(a) -> bool:
    """True for a numpy or a cupy array (not for scalars, lists or tensors)."""
    return isinstance(a, np.ndarray) or is_cupy_array(a)


def device_of(a) -> str:
    """'cuda' for a cupy array, 'cpu' for anything else."""
    return "cuda" if is_cupy_array(a) else "cpu"


def get_array_module(*arrays):
    """numpy, or cupy when any argument is a cupy array (arguments may be scalars or None)."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def to_device(a, device: str):
    """Move an array to 'cpu' (numpy) or 'cuda' (cupy); a no-op when it is already there."""
    check_device(device)
    if device == "cpu":
        return asnumpy(a)
    return _cupy.asarray(a)


def asnumpy(a):
    """A numpy array of ``a`` (a numpy/cupy array, a minifb Tensor, or anything array-like)."""
    a = getattr(a, "data", a) if hasattr(a, "requires_grad") else a
    if is_cupy_array(a):
        return _cupy.asnumpy(a)
    return np.asarray(a)


def seed(s: int) -> None:
    """Seed minifb's generator (parameter init, shuffling) and CuPy's, when CuPy is loaded.

    Parameters are always drawn from one NumPy generator and then moved, so a model built
    after ``seed(s)`` is identical on 'cpu' and 'cuda'. On the GPU, dropout draws from
    ``minifb.philox``, whose device-side state this resets too.
    """
    global _rng, _seed
    _rng, _seed = np.random.default_rng(s), s
    np.random.seed(s % 2**32)
    if _cupy is not None:
        _cupy.random.seed(s % 2**32)
        from . import philox  # the GPU's own generator (philox imports this module)
        philox.seed(s)


def current_seed() -> int:
    """The seed of the last ``seed()`` call (0 at start)."""
    return _seed


def generator() -> np.random.Generator:
    """minifb's seeded NumPy generator."""
    return _rng


def get_rng_state() -> dict:
    """The generator state, for checkpoints (a plain dict of the bit generator's state)."""
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    _rng.bit_generator.state = state


def set_tf32(enabled: bool) -> None:
    """Let cuBLAS use TF32 tensor cores for every float32 matmul on the GPU (faster, ~1e-3 relative).

    Three switches, because products take three paths to cuBLAS. Inside ``graph_safe()`` they go
    through ``minifb.cublas``, which reads ``cublas.tf32``. Outside it, through CuPy: 2-D products (``dot``,
    ``matmul`` of
    matrices: Linear, the convolution GEMMs) pass an explicit compute type, which CuPy reads from
    ``CUPY_TF32`` once, at the first float32 product of the process, and then keeps: changing the
    variable later does nothing, so the compute type is set directly. Batched products pass the
    legacy compute type, which follows the math mode of CuPy's cuBLAS handle. All are set once here,
    never per call. Gradient checks run in float64 and are not affected. Also set by ``MINIFB_TF32=1``.
    """
    _import_cupy()
    from cupy._core import _routines_linalg
    from cupy.cuda import cublas as cupy_cublas, device

    # set_compute_type falls back to the default (with a warning) on GPUs older than compute 8.0
    compute_type = (getattr(_routines_linalg, "COMPUTE_TYPE_TF32", 7) if enabled
                    else getattr(_routines_linalg, "COMPUTE_TYPE_DEFAULT", 1))
    _routines_linalg.set_compute_type(np.float32, compute_type)    # complex64 shares this entry
    cupy_cublas.setMathMode(device.get_cublas_handle(), 3 if enabled else 0)  # 3: CUBLAS_TF32_TENSOR_OP_MATH
    os.environ["CUPY_TF32"] = "1" if enabled else "0"  # for code that reads it (CuPy's own kernels)
    cublas.tf32 = bool(enabled)  # minifb's own products (minifb.cublas), inside graph_safe()


def tf32_enabled() -> bool:
    """Whether float32 matmuls on the GPU may use TF32 (False while CuPy is not loaded)."""
    if _cupy is None:
        return False
    from cupy._core import _routines_linalg
    return _routines_linalg.get_compute_type(np.float32) == getattr(_routines_linalg, "COMPUTE_TYPE_TF32", 7)


_graph_safe = threading.local()


@contextlib.contextmanager
def graph_safe():
    """Inside the block, GPU work takes the forms that a CUDA graph can capture and replay: matrix
    products through ``minifb.cublas``, dropout masks from ``minifb.philox``, Adam's step count and
    learning rate read from device memory. ``minifb.cuda_graph`` runs every call of a step in it,
    eager or recorded, so both compute the same numbers; outside it, the usual CuPy calls run."""
    previous = getattr(_graph_safe, "on", False)
    _graph_safe.on = True
    try:
        yield
    finally:
        _graph_safe.on = previous


def is_graph_safe() -> bool:
    """True inside ``graph_safe()``."""
    return getattr(_graph_safe, "on", False)


def matmul(a, b):
    """``a @ b`` (NumPy's rules) for numpy or cupy arrays; inside ``graph_safe()``, GPU products of
    floating or complex arrays go through ``minifb.cublas`` (CuPy's own cannot be captured)."""
    if _cupy is not None and getattr(_graph_safe, "on", False) and isinstance(a, _cupy.ndarray) \
            and isinstance(b, _cupy.ndarray) and a.dtype == b.dtype and a.dtype in cublas.SUPPORTED \
            and a.ndim and b.ndim:
        return cublas.matmul(a, b)
    return a @ b


def synchronize() -> None:
    """Wait for queued GPU work (for timing); a no-op on the CPU."""
    if _cupy is not None:
        _cupy.cuda.Device().synchronize()


def peak_pool_hook():
    """A CuPy memory hook (``with hook: ...``) whose ``peak`` is the high-water mark of the bytes in use
    in CuPy's default memory pool while it was active, and ``start`` the bytes in use when it began."""
    cupy = _import_cupy()

    class PeakPoolBytes(cupy.cuda.MemoryHook):
        name = "PeakPoolBytes"

        def __enter__(self):
            self.start = self.current = self.peak = cupy.get_default_memory_pool().used_bytes()
            return super().__enter__()

        def malloc_postprocess(self, **kwargs):
            self.current += kwargs["mem_size"]
            self.peak = max(self.peak, self.current)

        def free_postprocess(self, **kwargs):
            self.current -= kwargs["mem_size"]
    return PeakPoolBytes()


@functools.cache
def elementwise_kernel(in_params: str, out_params: str, operation: str, name: str, preamble: str = ""):
    """A ``cupy.ElementwiseKernel``, built once for each distinct source and kept (building one is slow)."""
    return _import_cupy().ElementwiseKernel(in_params, out_params, operation, name, preamble=preamble)


class Switch:
    """An on/off setting (a kernel that is off by default, say): on when the environment variable
    ``variable`` is "1" when minifb is imported, then changed by :meth:`set`."""

    def __init__(self, variable: str):
        self.variable = variable
        self.on = os.environ.get(variable, "0") == "1"

    def set(self, on: bool) -> None:
        """Turn the setting on (True) or off (False)."""
        self.on = bool(on)

    def is_on(self) -> bool:
        return self.on
