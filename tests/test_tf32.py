"""TF32 switch (backend.set_tf32): when on, every float32 product on the GPU rounds its inputs to TF32;
when off, none does. Needs CuPy and a GPU of compute capability >= 8.0 (skipped otherwise).

TF32 keeps 10 mantissa bits, so a product of random matrices is off its float64 value by ~1e-4
relative (norm of the error over norm of the result), float32 by ~1e-7: a threshold between the
two tells which one cuBLAS used.
"""
import numpy as np
import pytest

import minifb
from minifb import backend
from minifb.autograd.conv import conv2d
from minifb.autograd.linalg import linear

pytestmark = pytest.mark.gpu
TF32_SEEN = 3e-5  # relative error above this: the inputs were rounded to TF32


@pytest.fixture
def cp():
    if not backend.cuda_available():
        pytest.skip("no CUDA GPU with CuPy on this machine")
    import cupy
    if int(cupy.cuda.Device().compute_capability) < 80:
        pytest.skip("TF32 needs compute capability 8.0 or newer")
    yield cupy
    backend.set_tf32(False)


def relative_error(result, reference) -> float:
    result = backend.asnumpy(result).astype(np.float64)
    return float(np.linalg.norm(result - reference) / np.linalg.norm(reference))


def products(cp):
    """(name, float32 result on the GPU, float64 reference) for a 2-D, a batched and a broadcast
    product, a Linear layer, a convolution (its im2col GEMM) and a product inside graph_safe()."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 4, 256, 512))
    x, w = rng.standard_normal((8, 64, 16, 16)), rng.standard_normal((64, 64, 3, 3))
    f32 = lambda v: cp.asarray(v, dtype=cp.float32)
    conv_ref = conv2d(minifb.tensor(x), minifb.tensor(w), padding=1).data
    return [
        ("2-D", f32(a[0]) @ f32(b[0].T), a[0] @ b[0].T),
        ("batched", cp.matmul(f32(a), f32(b.swapaxes(-1, -2))), a @ b.swapaxes(-1, -2)),
        ("broadcast", cp.matmul(f32(a[0]), f32(b[0, 0].T)), a[0] @ b[0, 0].T),
        ("linear", linear(minifb.tensor(f32(a[0])), minifb.tensor(f32(b[0]))).data, a[0] @ b[0].T),
        ("conv2d", conv2d(minifb.tensor(f32(x)), minifb.tensor(f32(w)), padding=1).data, conv_ref),
        ("graph-safe batched", graph_safe_product(f32(a), f32(b.swapaxes(-1, -2))), a @ b.swapaxes(-1, -2)),
    ]


def graph_safe_product(a, b):
    """a @ b as a captured step computes it (minifb.cublas)."""
    with backend.graph_safe():
        return backend.matmul(a, b)


def test_tf32_on_rounds_every_float32_product(cp):
    backend.set_tf32(False)
    for name, result, reference in products(cp):  # CuPy has now fixed its compute type: the switch must still act
        assert relative_error(result, reference) < TF32_SEEN, f"{name}: TF32 used while off"
    backend.set_tf32(True)
    assert backend.tf32_enabled()
    for name, result, reference in products(cp):
        assert relative_error(result, reference) > TF32_SEEN, f"{name}: plain float32 while TF32 is on"
    backend.set_tf32(False)
    assert not backend.tf32_enabled()
    for name, result, reference in products(cp):
        assert relative_error(result, reference) < TF32_SEEN, f"{name}: TF32 still used after switching it off"


def test_tf32_leaves_float64_alone(cp):
    backend.set_tf32(True)
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3, 128, 128))
    assert relative_error(cp.asarray(a) @ cp.asarray(b), a @ b) < 1e-12
    assert relative_error(cp.matmul(cp.asarray(a), cp.asarray(b)), a @ b) < 1e-12
