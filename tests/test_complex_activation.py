"""modReLU and the magnitude GELU: outputs against the formulas in NumPy, gradients against finite
differences (complex and real inputs, broadcast bias, magnitudes above and below eps, z = 0), dtypes,
errors. Drawn values stay away from the kinks |z| = eps and |z| + b = 0."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minifb as mf
from minifb.autograd import gradcheck
from minifb.autograd.complex_activation import filtered_mod_relu

given_settings = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
GAP = 0.05  # distance kept from every kink, far beyond gradcheck's step


def away(values, kink):
    """Values within GAP of ``kink`` moved to 2 GAP beyond it."""
    return np.where(np.abs(values - kink) < GAP, kink + 2 * GAP, values)


def draw_case(data, eps):
    """z (complex128) and a bias b whose shape broadcasts into z's, with |z| clear of eps and of -b."""
    z_shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), label="z shape")
    b_shape = data.draw(hnp.broadcastable_shapes(z_shape, max_dims=len(z_shape)), label="b shape")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    b = rng.uniform(-1, 1, size=b_shape)
    r = away(away(rng.uniform(GAP, 2, size=z_shape), eps), -b)
    r = away(r, 0.0)  # moving away from -b may have come near 0 (where the phase is undefined)
    z = r * np.exp(1j * rng.uniform(-math.pi, math.pi, size=z_shape))
    return z, b


def mod_relu_reference(z, b, eps):
    r = np.abs(z)
    return np.maximum(r + b, 0) * z / np.maximum(r, eps)


def mod_gelu_reference(z, eps):
    r = np.abs(z)
    gelu = r * 0.5 * (1 + np.vectorize(math.erf, otypes=[float])(r / math.sqrt(2)))
    return gelu * z / np.maximum(r, eps)


@given_settings
@given(data=st.data(), eps=st.sampled_from([1e-3, 0.5]))
def test_mod_relu_forward_and_gradients(device, data, eps):
    z, b = draw_case(data, eps)
    out = mf.mod_relu(mf.tensor(z, device=device), mf.tensor(b, device=device), eps=eps)
    np.testing.assert_allclose(out.numpy(), mod_relu_reference(z, b, eps), rtol=1e-12, atol=1e-12)
    gradcheck(lambda z, b: mf.mod_relu(z, b, eps=eps), mf.tensor(z, device=device), mf.tensor(b, device=device))


@given_settings
@given(data=st.data(), eps=st.sampled_from([1e-3, 0.5]))
def test_mod_gelu_forward_and_gradients(device, data, eps):
    z, _ = draw_case(data, eps)
    out = mf.mod_gelu(mf.tensor(z, device=device), eps=eps)
    np.testing.assert_allclose(out.numpy(), mod_gelu_reference(z, eps), rtol=1e-12, atol=1e-12)
    gradcheck(lambda z: mf.mod_gelu(z, eps=eps), mf.tensor(z, device=device))


def test_real_input(device):
    """A real z: its phase is its sign."""
    z = np.array([[-1.3, 0.2, 0.7], [0.9, 2.1, -0.4]])
    b = np.array([0.2, 0.3, -0.1])
    gradcheck(mf.mod_relu, mf.tensor(z, device=device), mf.tensor(b, device=device))
    gradcheck(mf.mod_gelu, mf.tensor(z, device=device))
    np.testing.assert_allclose(mf.mod_relu(mf.tensor(z, device=device), mf.tensor(b, device=device)).numpy(),
                               mod_relu_reference(z, b, 1e-3), rtol=1e-12)


def test_gradient_at_zero(device):
    """Below eps the output is ReLU(r + b) z / eps, whose derivative at z = 0 is ReLU(b) / eps
    (GELU(r) z / eps: 0). Finite differences are ill-conditioned there (curvature ~ 1/eps), so the
    gradient is compared with that value: dL/dz = w ReLU(b) / eps for L = sum Re(conj(w) out)."""
    z = np.array([0.0, 1.0 + 1.0j, 0.0])
    b = np.array([0.3, -0.2, -0.4])
    w = np.array([0.5 - 1.0j, 1.0, 2.0 + 0.5j])
    for op, gain in ((lambda t: mf.mod_relu(t, mf.tensor(b, device=device)), np.maximum(b, 0) / 1e-3),
                     (mf.mod_gelu, np.zeros(3))):
        t = mf.tensor(z, requires_grad=True, device=device)
        (op(t) * mf.tensor(np.conj(w), device=device)).real.sum().backward()
        grad = mf.asnumpy(t.grad)
        np.testing.assert_allclose(grad[[0, 2]], (w * gain)[[0, 2]], rtol=1e-12, atol=1e-12)


def test_fftnet_shapes_and_single_precision(device):
    """A (B, H, F, d) complex64 spectrum with a float32 (H, F, 1) bias, as in FFTNet: single precision throughout."""
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((2, 3, 5, 4)) + 1j * rng.standard_normal((2, 3, 5, 4))).astype(np.complex64)
    zt = mf.tensor(z, requires_grad=True, device=device)
    bt = mf.tensor(np.full((3, 5, 1), -0.1, dtype=np.float32), requires_grad=True, device=device)
    out = mf.mod_relu(zt, bt)
    assert out.dtype == np.complex64 and out.shape == z.shape
    out.real.sum().backward()
    assert zt.grad.dtype == np.complex64 and bt.grad.dtype == np.float32 and bt.grad.shape == (3, 5, 1)
    assert mf.mod_gelu(zt).dtype == np.complex64


def test_bad_input_raises(device):
    z = mf.tensor(np.ones((2, 3), dtype=complex), device=device)
    with pytest.raises(TypeError, match=r"mod_relu: the bias b must be real, got complex128 of shape \(3,\)"):
        mf.mod_relu(z, mf.tensor(np.ones(3, dtype=complex), device=device))
    with pytest.raises(ValueError, match=r"mod_relu: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        mf.mod_relu(z, mf.tensor(np.ones(4), device=device))


@given_settings
@given(data=st.data(), eps=st.sampled_from([1e-3, 0.5]))
def test_filtered_mod_relu_forward_and_gradients(device, data, eps):
    """modReLU(z w, b) as one primitive: the output against the formula at y = z w, gradients for
    z, the broadcast real filter w and the bias against finite differences."""
    y, b = draw_case(data, eps)
    w_shape = data.draw(hnp.broadcastable_shapes(y.shape, max_dims=y.ndim), label="w shape")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="filter seed"))
    w = rng.choice([-1, 1], size=w_shape) * rng.uniform(0.5, 1.5, size=w_shape)
    z = y / w  # so that y = z w stays clear of the kinks, as draw_case made it
    y = z * w
    args = [mf.tensor(a, device=device) for a in (z, w, b)]
    out = filtered_mod_relu(*args, eps=eps)
    np.testing.assert_allclose(out.numpy(), mod_relu_reference(y, b, eps), rtol=1e-12, atol=1e-12)
    gradcheck(lambda z, w, b: filtered_mod_relu(z, w, b, eps=eps), *args)


def test_filtered_mod_relu_single_precision_and_errors(device):
    """FFTNet's shapes: a complex64 (B, F, H, d) spectrum, float32 (B, F, H, 1) filter and (F, H, 1) bias."""
    rng = np.random.default_rng(0)
    z = mf.tensor((rng.standard_normal((2, 5, 3, 4)) + 1j * rng.standard_normal((2, 5, 3, 4))).astype(np.complex64),
                  requires_grad=True, device=device)
    w = mf.tensor(rng.uniform(0.5, 1.5, (2, 5, 3, 1)).astype(np.float32), requires_grad=True, device=device)
    b = mf.tensor(np.full((5, 3, 1), -0.1, dtype=np.float32), requires_grad=True, device=device)
    out = filtered_mod_relu(z, w, b)
    assert out.dtype == np.complex64 and out.shape == z.shape
    out.real.sum().backward()
    assert (z.grad.dtype, w.grad.dtype, b.grad.dtype) == (np.complex64, np.float32, np.float32)
    assert w.grad.shape == (2, 5, 3, 1) and b.grad.shape == (5, 3, 1)
    with pytest.raises(TypeError, match=r"filtered_mod_relu: the filter w and the bias b must be real"):
        filtered_mod_relu(z, mf.tensor(np.ones(4, dtype=complex), device=device), b)
    with pytest.raises(ValueError, match=r"filtered_mod_relu: shapes .* cannot be broadcast"):
        filtered_mod_relu(z, mf.tensor(np.ones(7), device=device), b)
