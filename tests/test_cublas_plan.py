"""minifb.cublas's mapping of row-major NumPy/CuPy layouts onto cuBLAS's column-major GEMM, checked on
the CPU: the planned call's arithmetic, emulated on the operands' own memory, must give a @ b."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from numpy.lib.stride_tricks import as_strided

from minifb import cublas


def emulate(gemm, dtype):
    """What cublasGemmStridedBatchedEx computes for ``gemm``: C (m x n, column-major, ldc = m) =
    op(first) op(second) per batch entry, each operand read at its leading dimension and batch stride."""
    def read(operand, rows, cols):
        stored = (cols, rows) if operand.transposed else (rows, cols)
        item = operand.array.itemsize
        x = as_strided(operand.array, shape=(gemm.batch,) + stored,
                       strides=(operand.stride * item, item, operand.ld * item))
        return x.swapaxes(-1, -2) if operand.transposed else x
    for operand in (gemm.first, gemm.second):  # cuBLAS's own rule for leading dimensions
        stored_rows = (gemm.k if operand is gemm.first else gemm.n) if operand.transposed else \
            (gemm.m if operand is gemm.first else gemm.k)
        assert operand.ld >= max(1, stored_rows)
    c = read(gemm.first, gemm.m, gemm.k) @ read(gemm.second, gemm.k, gemm.n)
    out = np.empty(gemm.out_shape, dtype)
    item = out.itemsize
    as_strided(out, shape=(gemm.batch, gemm.m, gemm.n), strides=(gemm.m * gemm.n * item, item, gemm.m * item))[...] = c
    return out


def layouts(shape, rng, dtype):
    """The same values in several memory layouts: contiguous, stored transposed, a strided slice, reversed."""
    x = rng.standard_normal(shape).astype(dtype)
    yield x
    yield np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)
    wide = np.zeros(shape[:-1] + (2 * shape[-1],), dtype)
    wide[..., ::2] = x
    yield wide[..., ::2]
    yield np.ascontiguousarray(x[..., ::-1, :])[..., ::-1, :]
    if len(shape) > 2:
        yield np.ascontiguousarray(np.moveaxis(x, 0, -3 if len(shape) > 3 else 0))


SHAPES = [((5, 7), (7, 3)), ((4, 5, 7), (7, 3)), ((5, 7), (4, 7, 3)), ((4, 5, 7), (4, 7, 3)),
          ((2, 3, 5, 7), (2, 3, 7, 3)), ((3, 1, 5, 7), (1, 4, 7, 3)), ((1, 7), (7, 1)), ((6, 1), (1, 4)),
          ((2, 1, 4), (2, 4, 1))]


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
@pytest.mark.parametrize("shapes", SHAPES)
def test_planned_gemm_computes_the_product_in_every_layout(shapes, dtype):
    rng = np.random.default_rng(0)
    for a in layouts(shapes[0], rng, dtype):
        for b in layouts(shapes[1], rng, dtype):
            if a.shape != shapes[0] or b.shape != shapes[1]:
                continue
            gemm = cublas.plan(a, b, np)
            np.testing.assert_allclose(emulate(gemm, dtype), a @ b, rtol=1e-5, atol=1e-5)


def test_contiguous_and_transposed_operands_are_not_copied():
    a = np.ones((4, 5, 7), np.float32)
    b = np.ones((3, 7), np.float32).T  # a transposed view
    gemm = cublas.plan(a, b, np)
    assert gemm.second.array is a and gemm.first.array is b and gemm.first.transposed
    assert gemm.second.stride == 35 and gemm.first.stride == 0  # b is broadcast over the batch


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(0, 3), st.booleans(), st.booleans())
def test_planned_gemm_random_sizes(m, k, n, batch, transpose_a, transpose_b):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    lead = (batch,) if batch else ()
    a = rng.standard_normal(lead + (m, k))
    b = rng.standard_normal(lead + (k, n))
    if transpose_a:
        a = np.ascontiguousarray(a.swapaxes(-1, -2)).swapaxes(-1, -2)
    if transpose_b:
        b = np.ascontiguousarray(b.swapaxes(-1, -2)).swapaxes(-1, -2)
    np.testing.assert_allclose(emulate(cublas.plan(a, b, np), a.dtype), a @ b, rtol=1e-12, atol=1e-12)


def test_vectors_as_matmul_passes_them():
    """matmul turns a 1-D left operand into a row view (1, k) and a 1-D right one into a column (k, 1)."""
    rng = np.random.default_rng(1)
    v, w, m = rng.standard_normal(7), rng.standard_normal(7), rng.standard_normal((7, 3))
    np.testing.assert_allclose(emulate(cublas.plan(v[None, :], m, np), v.dtype)[0], v @ m)
    np.testing.assert_allclose(emulate(cublas.plan(m.T, w[:, None], np), w.dtype)[:, 0], m.T @ w)
    np.testing.assert_allclose(emulate(cublas.plan(v[None, :], w[:, None], np), w.dtype)[0, 0], v @ w)
