"""Counter-based random numbers on the GPU whose state lives in device memory (Philox4x32-10).

Philox (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) turns a 64-bit key
and a 128-bit counter into four random 32-bit words by ten rounds of multiply-and-xor; element i
of a draw uses the counter ``offset + i``, so every element is independent of every other and of
the thread that computes it. The key (the seed) and the offset sit in a two-word device array:
a draw reads them there and a second, one-thread kernel advances the offset by the number of
elements drawn. Nothing is read on the host, so a training step captured in a CUDA graph draws
new numbers on every replay, and an eager step and a replayed one draw the same numbers from the
same state. (CuPy's own generator keeps its offset on the host: a replay would repeat its masks.)

``minifb.seed(s)`` sets the key to s and the offset to 0.
"""
from __future__ import annotations

import numpy as np

from . import backend

_PHILOX = r"""
__device__ inline void minifb_philox_block(unsigned int c[4], unsigned int k0, unsigned int k1) {
    for (int round = 0; round < 10; ++round) {  // Philox4x32's round, ten times, the key bumped between
        unsigned int hi0 = __umulhi(0xD2511F53u, c[0]), lo0 = 0xD2511F53u * c[0];
        unsigned int hi1 = __umulhi(0xCD9E8D57u, c[2]), lo1 = 0xCD9E8D57u * c[2];
        unsigned int c1 = c[1], c3 = c[3];
        c[0] = hi1 ^ c1 ^ k0; c[1] = lo1; c[2] = hi0 ^ c3 ^ k1; c[3] = lo0;
        k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
    }
}

__device__ inline unsigned int minifb_philox(unsigned long long counter, unsigned long long key) {
    unsigned int c[4] = {(unsigned int)counter, (unsigned int)(counter >> 32), 0u, 0u};
    minifb_philox_block(c, (unsigned int)key, (unsigned int)(key >> 32));
    return c[0] ^ c[2];  // two words of the block folded into one
}
"""

# U[0, 1) with 24 random bits (float32) or 32 bits (float64): exact, never 1.
_UNIFORM = """
    unsigned int r = minifb_philox(state[1] + i, state[0]);
    u = sizeof(T) == 4 ? (T)(r >> 8) * (T)(1.0 / 16777216.0) : (T)r * (T)(1.0 / 4294967296.0);
"""

_state = None


def state():
    """The device array [key, offset] (uint64), made on first use and kept: graphs hold its address."""
    global _state
    if _state is None:
        cupy = backend.xp_for("cuda")
        _state = cupy.asarray(np.array([backend.current_seed(), 0], dtype=np.uint64))
    return _state


def seed(key: int) -> None:
    """Key ``key``, offset 0 (called by ``minifb.seed`` once CuPy is loaded)."""
    if _state is not None:
        _state[...] = backend.xp_for("cuda").asarray(np.array([key % 2**64, 0], dtype=np.uint64))


def uniform(shape, dtype=np.float32):
    """U[0, 1) samples of ``shape`` on the GPU, float32 or float64, advancing the device offset."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"philox.uniform: dtype must be float32 or float64, got {dtype}")
    cupy = backend.xp_for("cuda")
    out = cupy.empty(shape, dtype=dtype)
    s = state()
    draw = backend.elementwise_kernel("raw uint64 state", "T u", _UNIFORM, "minifb_philox_uniform", _PHILOX)
    draw(s, out)
    advance(out.size)
    return out


def advance(count: int) -> None:
    """Move the device offset on by ``count`` counters (one thread; after the draw, in stream order)."""
    step = backend.elementwise_kernel("uint64 count", "raw uint64 state", "state[1] += count;",
                                      "minifb_philox_advance")
    step(np.uint64(count), state(), size=1)
