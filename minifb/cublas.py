"""Matrix products on the GPU through cuBLAS, called directly so that CUDA graphs can capture them.

CuPy refuses any cuBLAS call while a stream is being captured into a CUDA graph, although cuBLAS
itself supports capture (given a workspace of its own, set with ``cublasSetWorkspace``). minifb
captures whole training steps, and every step is mostly matrix products, so it calls
``cublasGemmStridedBatchedEx`` itself, through ctypes, with a handle and a workspace of its own.
The same path runs in eager mode, so a replayed step computes exactly what an eager step does.

cuBLAS is column-major and NumPy row-major. A row-major matrix X (r x c) with row stride ``ld``
is, read column-major, X^T with leading dimension ``ld``; so C = A B (row-major) is computed as
C^T = B^T A^T (column-major), with no copies. A transposed view (column stride ``ld``, unit row
stride) is passed as the stored matrix with the transpose flag. Batch axes must be addressable
with one stride per operand (stride 0 broadcasts one matrix over the batch); anything else is
made contiguous first (a copy, which a graph captures too).

TF32 (``backend.set_tf32``) picks cuBLAS's TF32 compute type for float32 products.
"""
from __future__ import annotations

import ctypes
import math
import threading
from typing import NamedTuple

import numpy as np

_OP_N, _OP_T = 0, 1
_GEMM_DEFAULT = -1
_DATA_TYPE = {np.dtype(np.float32): 0, np.dtype(np.float64): 1,
              np.dtype(np.complex64): 4, np.dtype(np.complex128): 5}
_COMPUTE_32F, _COMPUTE_32F_TF32, _COMPUTE_64F = 68, 77, 70
_SCALAR = {np.dtype(np.float32): ctypes.c_float * 1, np.dtype(np.float64): ctypes.c_double * 1,
           np.dtype(np.complex64): ctypes.c_float * 2, np.dtype(np.complex128): ctypes.c_double * 2}
WORKSPACE_BYTES = 32 * 2**20  # cuBLAS's recommendation for Hopper GPUs

SUPPORTED = frozenset(_DATA_TYPE)
tf32 = False  # set by backend.set_tf32


class _Library:
    """libcublas (the one CuPy loaded), one handle, and a workspace of our own."""

    def __init__(self, cupy):
        import cupy_backends.cuda.libs.cublas  # noqa: F401  (loads libcublas into the process)
        self.lib = ctypes.CDLL(_loaded_library("libcublas.so"))
        self.lib.cublasGemmStridedBatchedEx.argtypes = [
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_longlong,
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_longlong,
            ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_longlong,
            ctypes.c_int, ctypes.c_int, ctypes.c_int]
        handle = ctypes.c_void_p()
        _check(self.lib.cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        self.handle = handle
        self.workspace = cupy.cuda.memory.alloc(WORKSPACE_BYTES)  # kept for the life of the process
        self.stream = None
        self.scalars = {dt: (_scalar(dt, 1), _scalar(dt, 0)) for dt in _DATA_TYPE}

    def bind(self, stream_ptr: int) -> None:
        """Point the handle at the current stream; setting a stream resets the workspace, so set it again."""
        if stream_ptr != self.stream:
            _check(self.lib.cublasSetStream_v2(self.handle, ctypes.c_void_p(stream_ptr)), "cublasSetStream")
            _check(self.lib.cublasSetWorkspace_v2(self.handle, ctypes.c_void_p(self.workspace.ptr),
                                                  ctypes.c_size_t(WORKSPACE_BYTES)), "cublasSetWorkspace")
            self.stream = stream_ptr


def _loaded_library(stem: str) -> str:
    """The path of a shared library already mapped into this process (so ctypes gets CuPy's copy)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.rstrip("\n").split(" ")[-1]
            if stem in path.rsplit("/", 1)[-1]:
                return path
    return stem + ".13"  # let the dynamic loader search


def _scalar(dtype, value):
    out = _SCALAR[dtype]()
    out[0] = value
    return out


def _check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"matmul: {what} failed with cuBLAS status {status}")


_library = None
_lock = threading.Lock()


def _get(cupy) -> _Library:
    global _library
    if _library is None:
        with _lock:
            if _library is None:
                _library = _Library(cupy)
    return _library


class Operand(NamedTuple):
    """One operand as cuBLAS reads it: the array, whether it is passed transposed, its leading
    dimension and batch stride (elements; 0: the same matrix for every batch entry)."""
    array: object
    transposed: bool
    ld: int
    stride: int


class Gemm(NamedTuple):
    """The arguments of one ``cublasGemmStridedBatchedEx`` call computing ``a @ b`` into a new C-contiguous
    array of ``out_shape`` (before 1-D operands' axes are dropped again)."""
    first: Operand   # cuBLAS's A: our b (C^T = B^T A^T)
    second: Operand  # cuBLAS's B: our a
    m: int
    n: int
    k: int
    batch: int
    out_shape: tuple


def plan(a, b, xp) -> Gemm:
    """How cuBLAS computes ``a @ b`` (both at least 2-D), copying an operand only when its batch axes or
    its matrices cannot be described by one leading dimension and one stride. ``xp`` makes the copies."""
    m, k = a.shape[-2:]
    n = b.shape[-1]
    batch_shape = tuple(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    return Gemm(_operand(b, batch_shape, xp), _operand(a, batch_shape, xp), n, m, k, math.prod(batch_shape),
                batch_shape + (m, n))


def _operand(a, batch_shape, xp) -> Operand:
    """A row-major matrix (r x c, row stride ld) is, read column-major, its transpose with leading
    dimension ld: passed as is. A transposed view (column stride ld) is the stored matrix: passed with
    the transpose flag."""
    item = a.itemsize
    rows, cols = a.shape[-2:]
    s_rows, s_cols = a.strides[-2] // item, a.strides[-1] // item
    batched = math.prod(a.shape[:-2]) > 1
    if batched and tuple(a.shape[:-2]) != batch_shape:  # a partial broadcast: lay it out in full
        return _operand(xp.ascontiguousarray(xp.broadcast_to(a, batch_shape + (rows, cols))), batch_shape, xp)
    stride = 0
    if batched:
        sizes = [(st // item, size) for st, size in zip(a.strides[:-2], a.shape[:-2]) if size > 1]
        uniform = all(sizes[i][0] == sizes[i + 1][0] * sizes[i + 1][1] for i in range(len(sizes) - 1))
        stride = sizes[-1][0] if uniform and sizes[-1][0] > 0 else None
    if stride is not None and min(a.strides) >= 0:
        if (s_cols == 1 or cols == 1) and s_rows >= max(cols, 1):
            return Operand(a, False, s_rows, stride)
        if (s_rows == 1 or rows == 1) and s_cols >= max(rows, 1):
            return Operand(a, True, s_cols, stride)
    a = xp.ascontiguousarray(a)
    return Operand(a, False, max(cols, 1), rows * cols if batched else 0)


def matmul(a, b):
    """``a @ b`` for CuPy float32/64 and complex64/128 arrays of equal dtype (NumPy's matmul rules)."""
    import cupy
    vector_a, vector_b = a.ndim == 1, b.ndim == 1
    gemm = plan(a[None, :] if vector_a else a, b[:, None] if vector_b else b, cupy)
    out = cupy.empty(gemm.out_shape, dtype=a.dtype)
    if out.size:
        if gemm.k == 0:
            out.fill(0)
        else:
            _execute(cupy, gemm, out)
    if vector_a:
        out = out[..., 0, :]
    if vector_b:
        out = out[..., 0]
    return out


def _execute(cupy, gemm: Gemm, out) -> None:
    lib = _get(cupy)
    lib.bind(cupy.cuda.get_current_stream().ptr)
    dtype = out.dtype
    kind = _DATA_TYPE[dtype]
    if dtype in (np.float64, np.complex128):
        compute = _COMPUTE_64F
    else:
        compute = _COMPUTE_32F_TF32 if tf32 and dtype == np.float32 else _COMPUTE_32F
    one, zero = lib.scalars[dtype]
    first, second = gemm.first, gemm.second
    status = lib.lib.cublasGemmStridedBatchedEx(
        lib.handle, _OP_T if first.transposed else _OP_N, _OP_T if second.transposed else _OP_N,
        gemm.m, gemm.n, gemm.k,
        one,
        first.array.data.ptr, kind, first.ld, first.stride,
        second.array.data.ptr, kind, second.ld, second.stride,
        zero,
        out.data.ptr, kind, gemm.m, gemm.m * gemm.n,
        gemm.batch, compute, _GEMM_DEFAULT)
    _check(status, f"cublasGemmStridedBatchedEx ({dtype}, batch {gemm.batch}, m {gemm.m}, n {gemm.n}, "
                   f"k {gemm.k})")
