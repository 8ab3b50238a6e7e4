"""Memory-efficient multi-head self-attention on CUDA (tiled, online softmax, dropout in the kernel).

The same function as ``minifb.autograd.attention.self_attention``, softmax(Q K^T / sqrt(d)) V per head on
packed projections qkv (B, N, 3D), computed by the kernels of attention_kernel.cu (equations there,
FlashAttention's method): the N x N scores are made tile by tile in shared memory and never stored, so
memory grows as N d; the forward pass keeps only the output and one log-sum-exp per row, and the
backward pass makes the scores again. The plain ``self_attention`` stays the readable reference this
one is checked against (tests/test_attention_kernel.py).

Dropout on the attention weights is drawn inside the kernels from a counter-based hash of
(seed, offset, row, column) (``dropout_mask`` is its NumPy twin), so the backward pass regenerates the
forward's mask without storing it. seed and offset live in device memory: each forward pass that
drops copies them to a snapshot for its backward pass and moves the offset on, on the device, so a
captured CUDA graph draws a new mask on every replay. The seed comes from minifb's seed.

Switch: off unless ``set_enabled(True)`` or ``MINIFB_ATTENTION_KERNEL=1``; then the attention layer
uses it for float32 on CUDA when the head width is supported (``supports``).
"""
from __future__ import annotations

import functools
import math
import pathlib

import numpy as np

from .. import backend
from .function import primitive

SOURCE = pathlib.Path(__file__).with_name("attention_kernel.cu")
HEAD_DIMS = {"float": (32, 64), "double": (32, 64)}   # larger widths would spill registers
BLOCK = 64        # query rows and key columns of a tile
THREADS = 128
PAD = 4           # elements added to each shared-memory row
MAX_SHARED = 227 * 1024   # bytes of shared memory one block may ask for on compute 8.0 and newer
# set_enabled(True): the attention layer uses the kernel (float32 on CUDA); False: the plain reference
_switch = backend.Switch("MINIFB_ATTENTION_KERNEL")
set_enabled, enabled = _switch.set, _switch.is_on


def _ctype(dtype) -> str | None:
    return {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}.get(np.dtype(dtype))


def supports(qkv_data, heads: int) -> bool:
    """Whether the kernel can take these projections: a CuPy float32/float64 array (B, N, 3D) whose
    head width d = D / heads is one of HEAD_DIMS, with every index within 32 bits where it must be."""
    if not backend.is_cupy_array(qkv_data) or qkv_data.ndim != 3 or qkv_data.shape[2] % (3 * heads):
        return False
    ctype = _ctype(qkv_data.dtype)
    b, n, width = qkv_data.shape
    return (ctype is not None and width // (3 * heads) in HEAD_DIMS[ctype] and n > 0
            and b * heads * n < 2**31 and b * heads <= 65535)


def _shared_bytes(head_dim: int, itemsize: int) -> dict:
    """Bytes of dynamic shared memory of each kernel, as attention_kernel.cu lays them out."""
    row, score = head_dim + PAD, BLOCK + PAD
    return {"forward": (2 * BLOCK * row + max(BLOCK * row, BLOCK * score)) * itemsize,
            "backward_kv": (4 * BLOCK * row + BLOCK * score + 2 * BLOCK) * itemsize,
            "backward_q": (3 * BLOCK * row + max(BLOCK * row, BLOCK * score)) * itemsize}


@functools.cache
def _kernels(ctype: str, head_dim: int) -> dict:
    """The compiled kernels for one element type and head width (built once, cached)."""
    cupy = backend.xp_for("cuda")
    kinds = ("forward", "backward_kv", "backward_q", "delta")
    names = {kind: f"attention_{kind}<{ctype}, {head_dim}>" for kind in kinds}
    module = cupy.RawModule(code=SOURCE.read_text(), options=("--std=c++17",),
                            name_expressions=list(names.values()))
    kernels = {kind: module.get_function(name) for kind, name in names.items()}
    kernels["rng_advance"] = module.get_function("attention_rng_advance")
    itemsize = np.dtype(np.float32 if ctype == "float" else np.float64).itemsize
    for kind, size in _shared_bytes(head_dim, itemsize).items():
        if size > MAX_SHARED:
            raise ValueError(f"fused_attention: head width {head_dim} in {ctype} needs {size} bytes "
                             "of shared memory")
        kernels[kind].max_dynamic_shared_size_bytes = size
    return kernels


# ---- dropout: the random state on the device, and the mask the kernels draw ------------------------

_rng = {"generator": None, "states": {}}   # states: device id -> uint64 [seed, offset] on that device


def _rng_state(cupy):
    """This device's [seed, offset], made again whenever minifb.seed has made a new generator."""
    generator = backend.generator()
    if _rng["generator"] is not generator:  # minifb.seed(s) was called: start again from s
        _rng.update(generator=generator, states={})
    device = cupy.cuda.Device().id
    if device not in _rng["states"]:
        entropy = getattr(generator.bit_generator.seed_seq, "entropy", 0) or 0
        seed = int(entropy) % 2**64  # the seed itself: nothing is drawn from minifb's generator
        _rng["states"][device] = cupy.asarray(np.array([seed, 0], dtype=np.uint64))
    return _rng["states"][device]


def _rng_snapshot(cupy, kernels):
    """A copy of [seed, offset] for one forward pass and its backward; the offset then moves on, on the
    GPU."""
    snapshot = cupy.empty(2, dtype=np.uint64)
    kernels["rng_advance"]((1,), (1,), (_rng_state(cupy), snapshot))
    return snapshot


def _mix32(x):
    """Wellons' lowbias32 on uint32 arrays (wrapping arithmetic), as mix32 in the kernels."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def dropout_threshold(p: float) -> int:
    """The kernels keep an element when its 32-bit hash is at least this: with probability 1 - p."""
    return min(int(round(p * 2**32)), 2**32 - 1)


def dropout_mask(seed: int, offset: int, batch: int, heads: int, n: int, p: float) -> np.ndarray:
    """The mask the kernels draw for one call with this seed and offset, (B, heads, N, N) in NumPy:
    0 or 1 / (1 - p). For tests and for reading; the kernels never store it."""
    u = lambda v: np.uint32(v & 0xFFFFFFFF)
    with np.errstate(over="ignore"):
        key = _mix32(_mix32(_mix32(_mix32(u(seed)) ^ u(seed >> 32)) ^ u(offset)) ^ u(offset >> 32))
        rows = np.arange(batch * heads * n, dtype=np.uint32)                 # (b H + h) N + i
        row_keys = _mix32(key ^ _mix32(rows))
        columns = np.arange(n, dtype=np.uint32) * np.uint32(0x9E3779B9)
        hashes = _mix32(row_keys[:, None] + columns[None, :])
    keep = hashes >= np.uint32(dropout_threshold(p))
    return (keep / (1 - p)).reshape(batch, heads, n, n)


def _aligned(cupy, a):
    """``a`` itself when C-contiguous and 16-byte aligned (the kernels load 16 bytes at a time), else a
    copy."""
    return a if a.flags.c_contiguous and a.data.ptr % 16 == 0 else cupy.array(a, order="C")


# ---- the op ---------------------------------------------------------------------------------------

@primitive("fused_attention")
def fused_attention(qkv, heads: int, p: float = 0.0, training: bool = True, rng=None):
    """softmax(Q K^T / sqrt(d)) V per head on CUDA projections qkv (B, N, 3D) -> (B, N, D), dropout p on
    the weights while training, as ``self_attention`` (gradients in attention_kernel.cu's header).

    ``rng``: a CuPy uint64 array [seed, offset] to draw the mask from, as it is (for tests: every
    call then draws the same mask); by default minifb's state, moved on at every call.
    """
    if not supports(qkv.data, heads):
        raise ValueError(f"fused_attention: expected CUDA float32/float64 projections (B, N, 3 * {heads} * "
                         f"d) with d in {HEAD_DIMS['float']}, got {type(qkv.data).__name__} {qkv.dtype} "
                         f"of shape {tuple(qkv.shape)}")
    if not 0 <= p < 1:
        raise ValueError(f"fused_attention: dropout probability must be in [0, 1), got {p}")
    cupy = backend.xp_for("cuda")
    b, n, width = qkv.shape
    dim = width // 3
    head_dim = dim // heads
    dtype = qkv.data.dtype
    kernels = _kernels(_ctype(dtype), head_dim)
    data = _aligned(cupy, qkv.data)
    drop = training and p > 0
    if drop:
        rng = _rng_snapshot(cupy, kernels) if rng is None else rng
    else:
        rng = cupy.zeros(2, dtype=np.uint64)  # not read
    real = dtype.type
    scale = 1 / math.sqrt(head_dim)
    threshold = np.uint32(dropout_threshold(p) if drop else 0)
    keep_scale = real(1 / (1 - p) if drop else 1)
    grid = ((n + BLOCK - 1) // BLOCK, b * heads)
    shared = _shared_bytes(head_dim, dtype.itemsize)

    out = cupy.empty((b, n, dim), dtype=dtype)
    lse = cupy.empty((b, n, heads), dtype=dtype)  # log2 of each row's softmax denominator, plus its max
    kernels["forward"](grid, (THREADS,), (data, out, lse, rng, np.int32(n), np.int32(heads),
                                          real(scale * math.log2(math.e)), threshold, keep_scale),
                       shared_mem=shared["forward"])

    def vjp(g):
        g = _aligned(cupy, g.astype(dtype, copy=False))
        rows = b * n * heads
        delta = cupy.empty((b, n, heads), dtype=dtype)
        kernels["delta"](((rows + 255) // 256,), (256,), (g, out, delta, np.int32(rows)))
        grad = cupy.empty_like(data)
        args = (data, g, lse, delta, rng, grad, np.int32(n), np.int32(heads),
                real(scale * math.log2(math.e)), real(scale), threshold, keep_scale)
        kernels["backward_kv"](grid, (THREADS,), args, shared_mem=shared["backward_kv"])
        kernels["backward_q"](grid, (THREADS,), args, shared_mem=shared["backward_q"])
        return grad
    return out, (vjp,)
