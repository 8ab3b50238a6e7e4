"""The arithmetic of minifb's GPU kernels for CUDA-graph steps, compiled for the host: Philox against
its published known-answer vectors, the device-state Adam update against the NumPy rule."""
import ctypes

import numpy as np
import pytest

import host_kernels
import minifb
from minifb import optim, philox

pytestmark = pytest.mark.skipif(not host_kernels.available(), reason="needs g++ to compile the kernel sources")

# Random123's known-answer tests for philox4x32-10: counter (4 words), key (2 words) -> 4 words.
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def test_philox_block_gives_the_published_answers():
    library = host_kernels.compile_library(philox._PHILOX + """
extern "C" void block(unsigned int* c, unsigned int k0, unsigned int k1) { minifb_philox_block(c, k0, k1); }
""")
    for counter, key, expected in KNOWN_ANSWERS:
        words = (ctypes.c_uint * 4)(*counter)
        library.block(words, ctypes.c_uint(key[0]), ctypes.c_uint(key[1]))
        assert tuple(words) == expected


@pytest.mark.parametrize("T", ["float32", "float64"])
def test_philox_uniform_kernel_draws_uniform_numbers_in_order(T):
    draw = host_kernels.elementwise("raw uint64 state", "T u", philox._UNIFORM, philox._PHILOX, T=T)
    dtype = np.float32 if T == "float32" else np.float64
    state = np.array([7, 0], np.uint64)
    first = np.empty(50_000, dtype)
    draw(state, first, size=first.size)
    state[1] = 1000  # an advanced offset continues the same stream
    later = np.empty(10, dtype)
    draw(state, later, size=later.size)
    np.testing.assert_array_equal(later, first[1000:1010])
    assert first.min() >= 0 and first.max() < 1
    assert abs(first.mean() - 0.5) < 0.01 and abs(first.var() - 1 / 12) < 0.005
    other = np.empty_like(first)
    draw(np.array([8, 0], np.uint64), other, size=other.size)
    assert abs(np.corrcoef(first, other)[0, 1]) < 0.02  # another key: another stream


@pytest.mark.parametrize("decoupled", [False, True])
def test_device_state_adam_kernel_matches_the_numpy_rule(decoupled):
    params = ("raw int64 step, raw float64 lr, T grad, float64 beta1_64, float64 beta2_64, T beta1, T beta2, "
              "T eps, float64 weight_decay, bool decoupled")
    update = host_kernels.elementwise(params, "T param, T m, T v", optim.ADAM_DEVICE_SOURCE, T="float64",
                                      scalars=("beta1_64", "beta2_64", "beta1", "beta2", "eps", "weight_decay",
                                               "decoupled"))
    rng = np.random.default_rng(0)
    start, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(4)]
    reference = minifb.tensor(start.copy(), requires_grad=True)
    rule = (optim.AdamW if decoupled else optim.Adam)([reference], lr=0.1, weight_decay=0.05)
    param, m, v = start.copy(), np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, 1):
        rule.lr = 0.1 / t
        reference.grad = g
        rule.step()
        update(np.array([t], np.int64), np.array([rule.lr]), g, 0.9, 0.999, 0.9, 0.999, 1e-8, 0.05, decoupled,
               param, m, v, size=5)
    np.testing.assert_allclose(param, reference.data, rtol=1e-14, atol=1e-15)
