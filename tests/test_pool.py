"""Pooling: forward against loop-by-loop references, gradients against finite differences."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minifb as mf
from minifb.autograd import adaptive_avg_pool2d, avg_pool2d, gradcheck, max_pool2d
from minifb.layers import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d


def naive_pool(x, kernel, stride, reduce):
    """reduce(window) for every window at (p sh, q sw), one output element at a time."""
    (kh, kw), (sh, sw) = kernel, stride
    n, c, h, w = x.shape
    out_h, out_w = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.zeros((n, c, out_h, out_w))
    for s in range(n):
        for ch in range(c):
            for p in range(out_h):
                for q in range(out_w):
                    out[s, ch, p, q] = reduce(x[s, ch, p * sh:p * sh + kh, q * sw:q * sw + kw])
    return out


def naive_max_pool_gradient(x, g, kernel, stride):
    """Each output's gradient goes to the first (row-major) largest element of its window."""
    (kh, kw), (sh, sw) = kernel, stride
    dx = np.zeros_like(x)
    for s, ch, p, q in np.ndindex(g.shape):
        window = x[s, ch, p * sh:p * sh + kh, q * sw:q * sw + kw]
        i, j = np.unravel_index(np.argmax(window), window.shape)  # argmax returns the first maximum
        dx[s, ch, p * sh + i, q * sw + j] += g[s, ch, p, q]
    return dx


def naive_adaptive_avg_pool(x, out_h, out_w):
    """PyTorch's bins: [floor(i H / Ho), ceil((i + 1) H / Ho))."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, out_h, out_w))
    for p in range(out_h):
        for q in range(out_w):
            rows = slice(p * h // out_h, math.ceil((p + 1) * h / out_h))
            cols = slice(q * w // out_w, math.ceil((q + 1) * w / out_w))
            out[:, :, p, q] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


def distinct_values(shape, seed):
    """Values at least 0.1 apart (no ties, so max pooling is differentiable at every point)."""
    size = math.prod(shape)
    return np.random.default_rng(seed).permutation(size).reshape(shape) * 0.1 - size * 0.05


# (x shape, kernel, stride): square and not, overlapping windows, leftover rows/columns.
POOL_CASES = [
    ((2, 3, 6, 6), 2, None),
    ((2, 2, 7, 5), 3, 2),
    ((2, 3, 5, 7), (2, 3), (1, 2)),
    ((1, 2, 5, 6), 1, 2),
]


@pytest.mark.parametrize("shape, kernel, stride", POOL_CASES)
def test_max_pool2d_gradient_matches_finite_differences(device, shape, kernel, stride):
    x = mf.tensor(distinct_values(shape, 0), requires_grad=True, device=device)
    assert gradcheck(lambda x: max_pool2d(x, kernel, stride), x)


@pytest.mark.parametrize("shape, kernel, stride", POOL_CASES)
def test_avg_pool2d_gradient_matches_finite_differences(device, shape, kernel, stride):
    x = mf.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True, device=device)
    assert gradcheck(lambda x: avg_pool2d(x, kernel, stride), x)


def pool_geometry(data):
    kernel = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)),
             data.draw(st.integers(kernel[0], 7)), data.draw(st.integers(kernel[1], 7)))
    return shape, kernel, stride


@given(data=st.data())
def test_max_and_avg_pool2d_forward_match_the_definition(device, data):
    shape, kernel, stride = pool_geometry(data)
    x = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).standard_normal(shape)
    xt = mf.tensor(x, device=device)
    np.testing.assert_allclose(max_pool2d(xt, kernel, stride).numpy(), naive_pool(x, kernel, stride, np.max))
    np.testing.assert_allclose(avg_pool2d(xt, kernel, stride).numpy(), naive_pool(x, kernel, stride, np.mean),
                               rtol=1e-12, atol=1e-12)


@given(data=st.data())
def test_max_pool2d_ties_send_the_gradient_to_the_first_maximum(device, data):
    """Small integers make many ties, inside a window and between overlapping windows."""
    shape, kernel, stride = pool_geometry(data)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    xt = mf.tensor(x, requires_grad=True, device=device)
    out = max_pool2d(xt, kernel, stride)
    g = rng.standard_normal(out.shape)
    out.backward(mf.tensor(g, device=device))
    np.testing.assert_allclose(mf.asnumpy(xt.grad), naive_max_pool_gradient(x, g, kernel, stride), rtol=1e-12)


@pytest.mark.parametrize("output_size", [1, 2, (3, 2), (4, 5), (9, 7)])
def test_adaptive_avg_pool2d_forward_and_gradient(device, output_size):
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6))
    xt = mf.tensor(x, requires_grad=True, device=device)
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    np.testing.assert_allclose(adaptive_avg_pool2d(xt, output_size).numpy(), naive_adaptive_avg_pool(x, out_h, out_w),
                               rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x: adaptive_avg_pool2d(x, output_size), xt)


def test_global_average_pool_is_the_mean_over_the_image(device):
    x = np.random.default_rng(3).standard_normal((2, 4, 5, 3)).astype(np.float32)
    out = adaptive_avg_pool2d(mf.tensor(x, device=device), 1)
    assert out.dtype == np.float32 and out.shape == (2, 4, 1, 1)
    np.testing.assert_allclose(out.numpy(), x.mean(axis=(2, 3), keepdims=True), rtol=1e-6)


def test_pooling_keeps_float32(device):
    xt = mf.tensor(np.random.default_rng(4).standard_normal((2, 2, 4, 4)).astype(np.float32), requires_grad=True,
                   device=device)
    for pool in (lambda x: max_pool2d(x, 2), lambda x: avg_pool2d(x, 2)):
        out = pool(xt)
        out.sum().backward()
        assert out.dtype == np.float32 and xt.grad.dtype == np.float32
        xt.grad = None


@pytest.mark.parametrize("op", [max_pool2d, avg_pool2d])
@pytest.mark.parametrize("shape, kwargs, message", [
    ((2, 3, 4), {"kernel": 2}, r"expected x of shape \(N, C, H, W\), got \(2, 3, 4\)"),
    ((1, 1, 3, 5), {"kernel": 4}, r"kernel \(4, 4\) is larger than the input's \(3, 5\) \(x \(1, 1, 3, 5\)\)"),
    ((1, 1, 4, 4), {"kernel": 2, "stride": 0}, r"stride must be an int or a pair of ints >= 1, got 0"),
    ((1, 1, 4, 4), {"kernel": (2, 2, 2)}, r"kernel must be an int or a pair"),
])
def test_pooling_rejects_bad_input(device, op, shape, kwargs, message):
    x = mf.tensor(np.zeros(shape), device=device)
    with pytest.raises(ValueError, match=f"{op.__name__}: {message}"):
        op(x, **kwargs)


def test_max_pool2d_rejects_complex_input(device):
    with pytest.raises(TypeError, match="max_pool2d: expected a real floating-point tensor .* got complex128"):
        max_pool2d(mf.tensor(np.zeros((1, 1, 2, 2), np.complex128), device=device), 2)


def test_adaptive_avg_pool2d_rejects_bad_input(device):
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: expected x of shape \(N, C, H, W\), got \(3, 4\)"):
        adaptive_avg_pool2d(mf.tensor(np.zeros((3, 4)), device=device), 1)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size must be .* >= 1, got 0"):
        adaptive_avg_pool2d(mf.tensor(np.zeros((1, 1, 3, 4)), device=device), 0)


def test_pooling_layers(device):
    x = np.random.default_rng(5).standard_normal((2, 3, 8, 6)).astype(np.float32)
    xt = mf.tensor(x, device=device)
    cases = [
        (MaxPool2d(2), "MaxPool2d(kernel_size=(2, 2), stride=(2, 2))", naive_pool(x, (2, 2), (2, 2), np.max)),
        (AvgPool2d(3, stride=2), "AvgPool2d(kernel_size=(3, 3), stride=(2, 2))",
         naive_pool(x, (3, 3), (2, 2), np.mean)),
        (AdaptiveAvgPool2d((2, 3)), "AdaptiveAvgPool2d(output_size=(2, 3))", naive_adaptive_avg_pool(x, 2, 3)),
    ]
    for layer, text, expected in cases:
        assert repr(layer) == text and layer.num_parameters() == 0
        np.testing.assert_allclose(layer(xt).numpy(), expected, rtol=1e-5, atol=1e-6)
