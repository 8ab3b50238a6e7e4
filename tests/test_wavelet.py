"""Haar wavelets: outputs and gradients against dense Haar matrices built element by element,
gradients against finite differences, perfect reconstruction, norm preservation, adjoint = inverse,
and bad input."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minifb as mf
from minifb.autograd import gradcheck


# ---- the dense reference --------------------------------------------------------------------------------

def haar_rows(length):
    """The (K, length) approximation and detail matrices of one level, K = ceil(length/2); an odd
    signal's padded zero has no column."""
    k_count = (length + 1) // 2
    approx, detail = np.zeros((k_count, length)), np.zeros((k_count, length))
    for k in range(k_count):
        for j, sign in ((2 * k, 1.0), (2 * k + 1, -1.0)):
            if j < length:
                approx[k, j] = 1 / math.sqrt(2)
                detail[k, j] = sign / math.sqrt(2)
    return approx, detail


def wavedec_matrices(length, levels):
    """Matrices taking a signal to [a_J, d_J, ..., d_1]."""
    current = np.eye(length)
    details = []
    for _ in range(levels):
        approx, detail = haar_rows(current.shape[0])
        details.append(detail @ current)
        current = approx @ current
    return [current] + details[::-1]


def along(matrix, x, axis):
    return np.moveaxis(np.tensordot(matrix, x, axes=([1], [axis])), 0, axis)


def backward_of(coeffs, weights):
    """sum_i <w_i, c_i> backpropagated: the gradient of each input of the coefficients."""
    loss = sum((c * mf.tensor(w, device=c.device)).sum() for c, w in zip(coeffs, weights))
    loss.backward()


# ---- one and several levels, 1-D ----------------------------------------------------------------------

@pytest.mark.parametrize("length,levels", [(8, 1), (8, 3), (7, 1), (7, 2), (5, 3), (2, 1)])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_wavedec_matches_dense_haar_matrices(device, length, levels, axis):
    rng = np.random.default_rng(0)
    ax = axis % 3
    shape = [3, 2]
    shape.insert(ax, length)
    x = rng.standard_normal(shape)
    t = mf.tensor(x, requires_grad=True, device=device)
    coeffs = mf.haar_wavedec(t, levels, axis=axis)
    matrices = wavedec_matrices(length, levels)
    assert len(coeffs) == levels + 1
    for c, m in zip(coeffs, matrices):
        np.testing.assert_allclose(c.numpy(), along(m, x, ax), atol=1e-12)
    weights = [rng.standard_normal(c.shape) for c in coeffs]
    backward_of(coeffs, weights)
    expected = sum(along(m.T, w, ax) for m, w in zip(matrices, weights))  # the gradient through the dense matrices
    np.testing.assert_allclose(mf.asnumpy(t.grad), expected, atol=1e-12)


@pytest.mark.parametrize("length", [6, 7])
def test_dwt_and_idwt_gradcheck(device, length):
    rng = np.random.default_rng(1)
    x = mf.tensor(rng.standard_normal((2, length, 3)), device=device)
    gradcheck(lambda t: mf.concatenate(mf.haar_dwt(t, axis=1), axis=1), x)
    a, d = (mf.tensor(rng.standard_normal((2, 4, 3)), device=device) for _ in range(2))
    for crop in (7, None):  # an odd signal's padded zero cropped, or kept
        gradcheck(lambda a, d: mf.haar_idwt(a, d, axis=-2, length=crop), a, d)


@pytest.mark.parametrize("length,levels", [(8, 3), (11, 3)])
def test_wavedec_and_waverec_gradcheck(device, length, levels):
    x = mf.tensor(np.random.default_rng(2).standard_normal((length, 2)), device=device)
    gradcheck(lambda t: mf.concatenate(mf.haar_wavedec(t, levels, axis=0), axis=0), x)
    coeffs = [mf.tensor(c, device=device) for c in mf.haar_wavedec(x, levels, axis=0)]
    gradcheck(lambda *c: mf.haar_waverec(c, axis=0, length=length), *coeffs)


def test_float32_stays_float32(device):
    x = mf.tensor(np.ones((4, 6), dtype=np.float32), requires_grad=True, device=device)
    coeffs = mf.haar_wavedec2(x, 1)
    assert all(c.dtype == np.float32 for c in [coeffs[0], *coeffs[1]])
    mf.haar_waverec2(coeffs).sum().backward()
    assert x.grad.dtype == np.float32


# ---- 2-D ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(4, 6), (5, 7)])
def test_dwt2_matches_dense_haar_matrices(device, shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2,) + shape)
    t = mf.tensor(x, requires_grad=True, device=device)
    ll, lh, hl, hh = mf.haar_dwt2(t, axes=(1, 2))
    a0, d0 = haar_rows(shape[0])
    a1, d1 = haar_rows(shape[1])
    expected = [a0 @ x @ a1.T, a0 @ x @ d1.T, d0 @ x @ a1.T, d0 @ x @ d1.T]  # LL, LH, HL, HH
    outputs = (ll, lh, hl, hh)
    for out, e in zip(outputs, expected):
        np.testing.assert_allclose(out.numpy(), e, atol=1e-12)
    weights = [rng.standard_normal(e.shape) for e in expected]
    backward_of(outputs, weights)
    grad = sum(l.T @ w @ r for (l, r), w in zip([(a0, a1), (a0, d1), (d0, a1), (d0, d1)], weights))
    np.testing.assert_allclose(mf.asnumpy(t.grad), grad, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 6), (5, 3)])
def test_idwt2_inverts_dwt2_and_gradcheck(device, shape):
    x = mf.tensor(np.random.default_rng(5).standard_normal((2,) + shape), device=device)
    parts = mf.haar_dwt2(x, axes=(1, 2))
    np.testing.assert_allclose(mf.haar_idwt2(*parts, axes=(1, 2), shape=shape).numpy(), x.numpy(), atol=1e-12)
    assert gradcheck(lambda *p: mf.haar_idwt2(*p, axes=(1, 2), shape=shape), *parts)


@pytest.mark.parametrize("shape", [(4, 4), (5, 6)])
def test_wavedec2_and_waverec2_gradcheck(device, shape):
    x = mf.tensor(np.random.default_rng(4).standard_normal(shape + (2,)), device=device)
    axes = (0, 1)

    def flat(t):
        ll, *levels = mf.haar_wavedec2(t, 2, axes=axes)
        return mf.concatenate([ll.reshape(-1)] + [c.reshape(-1) for level in levels for c in level])
    gradcheck(flat, x)
    ll, *levels = mf.haar_wavedec2(x, 2, axes=axes)
    parts = [mf.tensor(ll, device=device)] + [mf.tensor(c, device=device) for level in levels for c in level]

    def rebuild(ll, *details):
        return mf.haar_waverec2([ll] + [details[i:i + 3] for i in range(0, len(details), 3)], axes=axes, shape=shape)
    gradcheck(rebuild, *parts)


# ---- properties -----------------------------------------------------------------------------------------

signal_shapes = st.tuples(st.integers(1, 3), st.integers(2, 20), st.integers(1, 3))


def random_signal(data, shape):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed")).standard_normal(shape)


@given(data=st.data(), shape=signal_shapes, levels=st.integers(1, 4))
def test_perfect_reconstruction_and_norm(device, data, shape, levels):
    length = shape[1]
    levels = min(levels, max(1, math.ceil(math.log2(length))))  # the last level still needs two samples
    x = random_signal(data, shape)
    coeffs = mf.haar_wavedec(mf.tensor(x, device=device), levels, axis=1)
    energy = sum(float(np.sum(c.numpy() ** 2)) for c in coeffs)
    np.testing.assert_allclose(energy, np.sum(x**2), rtol=1e-12)
    back = mf.haar_waverec(coeffs, axis=1, length=length)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


@given(data=st.data(), shape=signal_shapes, levels=st.integers(1, 3))
def test_adjoint_equals_inverse(device, data, shape, levels):
    """The backward of the decomposition, fed coefficients c, gives waverec(c)."""
    length = shape[1]
    levels = min(levels, max(1, math.ceil(math.log2(length))))
    x = mf.tensor(random_signal(data, shape), requires_grad=True, device=device)
    coeffs = mf.haar_wavedec(x, levels, axis=1)
    weights = [random_signal(data, c.shape) for c in coeffs]
    backward_of(coeffs, weights)
    inverse = mf.haar_waverec([mf.tensor(w, device=device) for w in weights], axis=1, length=length)
    np.testing.assert_allclose(mf.asnumpy(x.grad), inverse.numpy(), atol=1e-12)


@given(data=st.data(), rows=st.integers(2, 9), cols=st.integers(2, 9), levels=st.integers(1, 3))
def test_2d_reconstruction_and_norm(device, data, rows, cols, levels):
    levels = min(levels, math.ceil(math.log2(min(rows, cols))))
    x = random_signal(data, (rows, cols))
    coeffs = mf.haar_wavedec2(mf.tensor(x, device=device), levels)
    arrays = [coeffs[0]] + [c for level in coeffs[1:] for c in level]
    np.testing.assert_allclose(sum(float(np.sum(c.numpy() ** 2)) for c in arrays), np.sum(x**2), rtol=1e-12)
    np.testing.assert_allclose(mf.haar_waverec2(coeffs, shape=(rows, cols)).numpy(), x, atol=1e-12)


# ---- errors ---------------------------------------------------------------------------------------------

def test_bad_input_raises(device):
    x = mf.tensor(np.ones((3, 8)), device=device)
    with pytest.raises(ValueError, match="haar_dwt: axis 2 is out of range"):
        mf.haar_dwt(x, axis=2)
    with pytest.raises(ValueError, match=r"haar_idwt: approx and detail must have one shape, got \(3, 4\) and \(3, 3"):
        mf.haar_idwt(x[:, :4], x[:, :3])
    with pytest.raises(ValueError, match="haar_idwt: length must be 7 or 8 .* got 5"):
        mf.haar_idwt(x[:, :4], x[:, :4], length=5)
    with pytest.raises(ValueError, match=r"haar_wavedec: 4 level\(s\) need a length above 8 along axis 1"):
        mf.haar_wavedec(x, 4)
    with pytest.raises(ValueError, match="haar_wavedec: levels must be an integer >= 1, got 0"):
        mf.haar_wavedec(x, 0)
    with pytest.raises(ValueError, match="haar_waverec: needs .* at least one detail"):
        mf.haar_waverec([x])
    with pytest.raises(ValueError, match=r"haar_dwt2: the two axes must differ, got \(1, -1\)"):
        mf.haar_dwt2(x, axes=(1, -1))
    with pytest.raises(ValueError, match="haar_wavedec2: 3 level.* along axis 0"):
        mf.haar_wavedec2(x, 3)
