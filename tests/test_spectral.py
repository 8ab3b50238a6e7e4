"""The FFT family: outputs and gradients against a dense DFT-matrix reference, gradients against
finite differences, round trips, Parseval, agreement with numpy.fft, dtypes and bad input.

The dense reference is written from the definition (loops over exp(-2 pi i jk/N)), independently
of minifb's code. Its gradient is exact because every transform is linear over the reals: for
L = sum Re(conj(w) f(x)), dL/dRe x_i = L(e_i) and dL/dIm x_i = L(i e_i).
"""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minifb as mf
from minifb.autograd import gradcheck

given_settings = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NORMS = ("backward", "ortho", "forward")
KINDS = ("fft", "ifft", "rfft", "irfft")
# Input length 6 (or 5) along the axis; n smaller and larger than it, odd and even.
N_CASES = (None, 3, 4, 9, 10)


# ---- the dense reference --------------------------------------------------------------------------------

def dft_matrix(n, sign):
    """exp(sign 2 pi i jk / n), element by element."""
    m = np.empty((n, n), dtype=complex)
    for k in range(n):
        for j in range(n):
            m[k, j] = np.exp(sign * 2j * np.pi * j * k / n)
    return m


def scale(n, norm, inverse):
    forward = {"backward": 1.0, "ortho": 1 / math.sqrt(n), "forward": 1 / n}
    backward = {"backward": 1 / n, "ortho": 1 / math.sqrt(n), "forward": 1.0}
    return (backward if inverse else forward)[norm]


def fit(x, n):
    """Crop or zero-pad the last axis to n."""
    out = np.zeros(x.shape[:-1] + (n,), dtype=x.dtype)
    m = min(n, x.shape[-1])
    out[..., :m] = x[..., :m]
    return out


def dense_1d(kind, x, n, norm):
    """The transform of the last axis of x, from the DFT matrix."""
    if n is None:
        n = 2 * (x.shape[-1] - 1) if kind == "irfft" else x.shape[-1]
    if kind in ("fft", "rfft"):
        out = fit(x, n) @ dft_matrix(n, -1).T * scale(n, norm, inverse=False)
        return out[..., : n // 2 + 1] if kind == "rfft" else out
    if kind == "ifft":
        return fit(x, n) @ dft_matrix(n, +1).T * scale(n, norm, inverse=True)
    half = fit(x.astype(complex), n // 2 + 1)  # irfft: rebuild the full spectrum by Hermitian symmetry
    full = np.empty(x.shape[:-1] + (n,), dtype=complex)
    for k in range(n):
        if k == 0 or 2 * k == n:
            full[..., k] = half[..., k].real
        elif k < n / 2:
            full[..., k] = half[..., k]
        else:
            full[..., k] = np.conj(half[..., n - k])
    return (full @ dft_matrix(n, +1).T * scale(n, norm, inverse=True)).real


def dense(kind, x, s, axes, norm):
    """One axis or two (``kind`` ending in 2): rfft2 is rfft along axes[1] then fft along axes[0];
    irfft2 is ifft along axes[0] then irfft along axes[1]."""
    def along(k, a, n, axis):
        return np.moveaxis(dense_1d(k, np.moveaxis(a, axis, -1), n, norm), -1, axis)
    if not kind.endswith("2"):
        return along(kind, x, s, axes)
    s = (None, None) if s is None else s
    base = kind[:-1]
    if base == "rfft":
        return along("fft", along("rfft", x, s[1], axes[1]), s[0], axes[0])
    if base == "irfft":
        return along("irfft", along("ifft", x, s[0], axes[0]), s[1], axes[1])
    return along(base, along(base, x, s[1], axes[1]), s[0], axes[0])


def dense_n(kind, x, s, axes, norm):
    """The n-axis forms: rfftn is rfft along the last of ``axes``, then fft along the others; irfftn is
    ifft along all but the last, then irfft along the last; fftn and ifftn transform every axis."""
    base = kind[:-1]
    s = (None,) * len(axes) if s is None else s
    if base == "irfft" and s[-1] is None:
        s = s[:-1] + (2 * (x.shape[axes[-1]] - 1),)
    first = {"rfft": "rfft", "irfft": "ifft"}.get(base, base)
    rest = {"rfft": "fft", "irfft": "ifft"}.get(base, base)
    order = [(axes[-1], s[-1], first)] + [(a, n, rest) for a, n in zip(axes[:-1], s[:-1])]
    if base == "irfft":  # the irfft along the last axis comes last
        order = order[1:] + [(axes[-1], s[-1], "irfft")]
    for axis, n, k in order:
        x = np.moveaxis(dense_1d(k, np.moveaxis(x, axis, -1), n, norm), -1, axis)
    return x


def dense_gradient(f, x, w):
    """dL/dRe x + i dL/dIm x for L = sum Re(conj(w) f(x)) with a real-linear f: L at each unit input."""
    grad = np.zeros(x.shape, dtype=x.dtype)
    units = (1.0, 1j) if np.iscomplexobj(x) else (1.0,)
    for index in np.ndindex(x.shape):
        for unit in units:
            e = np.zeros(x.shape, dtype=x.dtype)
            e[index] = unit
            grad[index] += np.sum((np.conj(w) * f(e)).real) * unit
    return grad


def minifb_gradient(f, x, w, device):
    t = mf.tensor(x, requires_grad=True, device=device)
    y = f(t)
    weighted = y * mf.tensor(np.conj(w), device=device)
    (weighted.real if y.is_complex else weighted).sum().backward()
    return y.numpy(), mf.asnumpy(t.grad)


def signal(rng, shape, kind):
    x = rng.standard_normal(shape)
    return x if kind == "rfft" else x + 1j * rng.standard_normal(shape)


# ---- gradients and outputs, every transform, norm and n ------------------------------------------------

@pytest.mark.parametrize("length", [5, 6])
@pytest.mark.parametrize("n", N_CASES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("kind", KINDS)
def test_one_axis_matches_dense_reference_and_finite_differences(device, kind, norm, n, length):
    rng = np.random.default_rng(1)
    x = signal(rng, (2, length, 3), kind)
    op = getattr(mf, kind)
    f = lambda t: op(t, n=n, axis=1, norm=norm)  # noqa: E731
    expected = dense(kind, x, n, 1, norm)
    w = signal(rng, expected.shape, "fft" if np.iscomplexobj(expected) else "rfft")
    out, grad = minifb_gradient(f, x, w, device)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    np.testing.assert_allclose(grad, dense_gradient(lambda e: dense(kind, e, n, 1, norm), x, w), atol=1e-12)
    gradcheck(f, mf.tensor(x, device=device))


@pytest.mark.parametrize("s", [None, (3, 4), (5, 7), (6, 2)])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("kind", ["fft2", "ifft2", "rfft2", "irfft2"])
def test_two_axes_match_dense_reference_and_finite_differences(device, kind, norm, s):
    rng = np.random.default_rng(2)
    x = signal(rng, (4, 2, 5), kind[:-1])
    axes = (2, 0)
    f = lambda t: getattr(mf, kind)(t, s=s, axes=axes, norm=norm)  # noqa: E731
    expected = dense(kind, x, s, axes, norm)
    w = signal(rng, expected.shape, "fft" if np.iscomplexobj(expected) else "rfft")
    out, grad = minifb_gradient(f, x, w, device)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    np.testing.assert_allclose(grad, dense_gradient(lambda e: dense(kind, e, s, axes, norm), x, w), atol=1e-12)
    gradcheck(f, mf.tensor(x, device=device))


N_AXES_CASES = [  # shape, s, axes (None: NumPy's defaults)
    ((3, 2, 4), None, None), ((3, 2, 4), (4, 3), None), ((4, 2, 5), (3, 4, 6), (2, 0, 1)),
    ((4, 2, 5), None, (1,)), ((2, 3, 4), (5, 2), (-1, 0)),
]


@pytest.mark.parametrize("shape,s,axes", N_AXES_CASES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("kind", ["fftn", "ifftn", "rfftn", "irfftn"])
def test_n_axes_match_dense_reference_and_finite_differences(device, kind, norm, shape, s, axes):
    rng = np.random.default_rng(3)
    x = signal(rng, shape, kind[:-1])
    f = lambda t: getattr(mf, kind)(t, s=s, axes=axes, norm=norm)  # noqa: E731
    full_axes = axes if axes is not None else tuple(range(len(shape) - (len(s) if s else len(shape)), len(shape)))
    full_axes = tuple(a % len(shape) for a in full_axes)
    expected = dense_n(kind, x, s, full_axes, norm)
    w = signal(rng, expected.shape, "fft" if np.iscomplexobj(expected) else "rfft")
    out, grad = minifb_gradient(f, x, w, device)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    np.testing.assert_allclose(grad, dense_gradient(lambda e: dense_n(kind, e, s, full_axes, norm), x, w),
                               atol=1e-12)
    gradcheck(f, mf.tensor(x, device=device))


@pytest.mark.parametrize("kind", KINDS)
def test_real_input_to_complex_transforms_and_irfft(device, kind):
    """A real tensor into fft, ifft or irfft gets the real part of the complex gradient."""
    x = np.random.default_rng(3).standard_normal((3, 7))
    f = lambda t: getattr(mf, kind)(t, n=8, norm="ortho")  # noqa: E731
    gradcheck(f, mf.tensor(x, device=device))
    expected = dense(kind, x, 8, -1, "ortho")
    w = signal(np.random.default_rng(4), expected.shape, "fft" if np.iscomplexobj(expected) else "rfft")
    _, grad = minifb_gradient(f, x, w, device)
    np.testing.assert_allclose(grad, dense_gradient(lambda e: dense(kind, e, 8, -1, "ortho"), x, w), atol=1e-12)


@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
def test_shifts(device, name):
    x = np.random.default_rng(5).standard_normal((3, 5, 4))
    for axes in (None, 1, (0, 2)):
        out = getattr(mf, name)(mf.tensor(x, device=device), axes=axes)
        np.testing.assert_array_equal(out.numpy(), getattr(np.fft, name)(x, axes=axes))
        gradcheck(lambda t: getattr(mf, name)(t, axes=axes), mf.tensor(x, device=device))
    back = mf.ifftshift(mf.fftshift(mf.tensor(x, device=device)))
    np.testing.assert_array_equal(back.numpy(), x)


# ---- properties ----------------------------------------------------------------------------------------

shapes_and_axis = st.integers(1, 3).flatmap(
    lambda ndim: st.tuples(st.lists(st.integers(1, 9), min_size=ndim, max_size=ndim).map(tuple),
                           st.integers(-ndim, ndim - 1)))


def random_signal(data, shape, real=False):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    return rng.standard_normal(shape) if real else rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


@given_settings
@given(data=st.data(), shape_axis=shapes_and_axis, norm=st.sampled_from(NORMS))
def test_ifft_inverts_fft(device, data, shape_axis, norm):
    shape, axis = shape_axis
    x = random_signal(data, shape)
    back = mf.ifft(mf.fft(mf.tensor(x, device=device), axis=axis, norm=norm), axis=axis, norm=norm)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


@given_settings
@given(data=st.data(), shape_axis=shapes_and_axis, norm=st.sampled_from(NORMS))
def test_irfft_inverts_rfft_for_odd_and_even_lengths(device, data, shape_axis, norm):
    shape, axis = shape_axis
    x = random_signal(data, shape, real=True)
    n = shape[axis]
    back = mf.irfft(mf.rfft(mf.tensor(x, device=device), axis=axis, norm=norm), n=n, axis=axis, norm=norm)
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


@given_settings
@given(data=st.data(), shape_axis=shapes_and_axis)
def test_parseval_for_ortho(device, data, shape_axis):
    """sum |x|^2 = sum |X|^2; for rfft every bin but DC and Nyquist stands for two."""
    shape, axis = shape_axis
    x = random_signal(data, shape)
    spectrum = mf.fft(mf.tensor(x, device=device), axis=axis, norm="ortho").numpy()
    np.testing.assert_allclose(np.sum(np.abs(spectrum) ** 2), np.sum(np.abs(x) ** 2), rtol=1e-12)
    n = shape[axis]
    half = np.moveaxis(mf.rfft(mf.tensor(x.real, device=device), axis=axis, norm="ortho").numpy(), axis, -1)
    weights = np.full(half.shape[-1], 2.0)
    weights[0] = 1
    if n % 2 == 0:
        weights[-1] = 1
    np.testing.assert_allclose(np.sum(weights * np.abs(half) ** 2), np.sum(x.real**2), rtol=1e-12)


@given_settings
@given(data=st.data(), shape_axis=shapes_and_axis, kind=st.sampled_from(KINDS), norm=st.sampled_from(NORMS),
       n=st.none() | st.integers(1, 12))
def test_agrees_with_numpy_fft(device, data, shape_axis, kind, norm, n):
    shape, axis = shape_axis
    if kind == "irfft" and n is None and shape[axis] == 1:
        n = 1  # the default 2(m-1) would be 0
    x = random_signal(data, shape, real=kind == "rfft")
    out = getattr(mf, kind)(mf.tensor(x, device=device), n=n, axis=axis, norm=norm)
    np.testing.assert_allclose(out.numpy(), getattr(np.fft, kind)(x, n=n, axis=axis, norm=norm), rtol=1e-10, atol=1e-10)


@given_settings
@given(data=st.data(), kind=st.sampled_from(["fft2", "ifft2", "rfft2", "irfft2"]), norm=st.sampled_from(NORMS),
       shape=st.lists(st.integers(1, 6), min_size=2, max_size=3).map(tuple),
       s=st.none() | st.tuples(st.integers(1, 7), st.integers(1, 7)))
def test_two_axis_forms_agree_with_numpy_fft(device, data, kind, norm, shape, s):
    if kind == "irfft2" and s is None and shape[-1] == 1:
        s = (shape[-2], 1)
    x = random_signal(data, shape, real=kind == "rfft2")
    out = getattr(mf, kind)(mf.tensor(x, device=device), s=s, norm=norm)
    np.testing.assert_allclose(out.numpy(), getattr(np.fft, kind)(x, s=s, axes=(-2, -1), norm=norm),
                               rtol=1e-10, atol=1e-10)


@given_settings
@given(data=st.data(), kind=st.sampled_from(["fftn", "ifftn", "rfftn", "irfftn"]), norm=st.sampled_from(NORMS),
       shape=st.lists(st.integers(2, 5), min_size=1, max_size=4).map(tuple))
def test_n_axis_forms_agree_with_numpy_fft(device, data, kind, norm, shape):
    axes = data.draw(st.permutations(range(len(shape))), label="axes")[:data.draw(st.integers(1, len(shape)))]
    s = data.draw(st.none() | st.tuples(*[st.integers(1, 6) for _ in axes]), label="s")
    x = random_signal(data, shape, real=kind == "rfftn")
    out = getattr(mf, kind)(mf.tensor(x, device=device), s=s, axes=axes, norm=norm)
    np.testing.assert_allclose(out.numpy(), getattr(np.fft, kind)(x, s=s, axes=axes, norm=norm),
                               rtol=1e-10, atol=1e-10)


def test_n_axis_forms_need_an_axis(device):
    x = mf.tensor(np.ones((2, 3)), device=device)
    with pytest.raises(ValueError, match="fftn: axes is empty"):
        mf.fftn(x, axes=())
    with pytest.raises(ValueError, match="rfftn: no axes to transform in a tensor of shape \\(\\)"):
        mf.rfftn(mf.tensor(1.0, device=device))


# ---- dtypes and errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_single_precision(device, kind):
    x = np.random.default_rng(6).standard_normal((4, 10)).astype(np.float32)
    t = mf.tensor(x, requires_grad=True, device=device)
    y = getattr(mf, kind)(t, norm="ortho")
    assert y.dtype == (np.float32 if kind == "irfft" else np.complex64)
    (y.real if y.is_complex else y).sum().backward()
    assert t.grad.dtype == np.float32
    z = mf.tensor(x.astype(np.complex64), requires_grad=True, device=device)
    if kind != "rfft":
        assert getattr(mf, kind)(z).dtype == (np.float32 if kind == "irfft" else np.complex64)


def test_rfft_of_complex_input_raises(device):
    z = mf.tensor(np.ones(4, dtype=np.complex128), device=device)
    with pytest.raises(TypeError, match=r"rfft: needs a real input, got complex128 of shape \(4,\)"):
        mf.rfft(z)
    with pytest.raises(TypeError, match="rfft2: needs a real input"):
        mf.rfft2(mf.tensor(np.ones((2, 2), dtype=np.complex64), device=device))


@pytest.mark.parametrize("kind", KINDS)
def test_bad_n_axis_and_norm_raise(device, kind):
    x = mf.tensor(np.ones((3, 4)), device=device)
    op = getattr(mf, kind)
    with pytest.raises(ValueError, match=f"{kind}: n must be an integer >= 1, got 0"):
        op(x, n=0)
    with pytest.raises(ValueError, match=f"{kind}: n must be an integer >= 1, got -3"):
        op(x, n=-3)
    with pytest.raises(ValueError, match=f"{kind}: axis 2 is out of range for a tensor with 2 dimension"):
        op(x, axis=2)
    with pytest.raises(ValueError, match=f"{kind}: norm must be one of"):
        op(x, norm="unitary")


def test_irfft_default_length_of_a_single_bin_raises(device):
    with pytest.raises(ValueError, match=r"irfft: n must be an integer >= 1, got 0 \(input of shape \(2, 1\)"):
        mf.irfft(mf.tensor(np.ones((2, 1), dtype=complex), device=device))


def test_two_axis_errors(device):
    x = mf.tensor(np.ones((3, 4)), device=device)
    with pytest.raises(ValueError, match="fft2: axes .* repeat an axis"):
        mf.fft2(x, axes=(1, -1))
    with pytest.raises(ValueError, match=r"ifft2: s must be 2 integers >= 1, got \(4,\)"):
        mf.ifft2(x, s=(4,))
    with pytest.raises(ValueError, match="rfft2: axis -3 is out of range"):
        mf.rfft2(x, axes=(-3, -1))


def test_fftnet_filter_chain_gradcheck(device):
    """The global FFTNet mixing path in one graph: rfft over tokens, a real filter, modReLU, irfft (ortho)."""
    rng = np.random.default_rng(7)
    x = mf.tensor(rng.standard_normal((2, 6, 3)), device=device)
    w = mf.tensor(rng.uniform(0.5, 1.5, size=(4, 1)), device=device)
    b = mf.tensor(np.full((4, 1), -0.1), device=device)

    def mix(x, w, b):
        spectrum = mf.rfft(x, axis=1, norm="ortho") * w
        return mf.irfft(mf.mod_relu(spectrum, b), n=6, axis=1, norm="ortho")
    gradcheck(mix, x, w, b)
