"""conv2d and Conv2d: forward against a loop-by-loop reference, gradients against finite differences."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minifb as mf
from minifb.autograd import conv as conv_module
from minifb.autograd import conv2d, gradcheck
from minifb.layers import Conv2d


def naive_conv2d(x, w, b, stride, padding):
    """The definition, one output element at a time:
    out[n, o, p, q] = b[o] + sum over c, i, j of w[o, c, i, j] x_pad[n, c, p sh + i, q sw + j]."""
    (sh, sw), (ph, pw) = stride, padding
    n, c, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    x_pad = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=x.dtype)
    x_pad[:, :, ph:ph + h, pw:pw + wd] = x
    out_h, out_w = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, c_out, out_h, out_w), dtype=np.result_type(x, w))
    for s in range(n):
        for o in range(c_out):
            for p in range(out_h):
                for q in range(out_w):
                    patch = x_pad[s, :, p * sh:p * sh + kh, q * sw:q * sw + kw]
                    out[s, o, p, q] = (patch * w[o]).sum() + (0.0 if b is None else b[o])
    return out


def tensors_on(device, *arrays, requires_grad=True):
    return [mf.tensor(a, requires_grad=requires_grad, device=device) for a in arrays]


# (x shape, w shape, stride, padding): strides 1/2/3, paddings 0/1/2, kernels 1/2/3, non-square inputs.
CASES = [
    ((2, 3, 5, 7), (4, 3, 3, 3), 1, 1),
    ((2, 2, 7, 6), (3, 2, 3, 3), 2, 0),
    ((2, 3, 6, 5), (2, 3, 1, 1), 2, 2),
    ((2, 2, 5, 6), (3, 2, 3, 3), (2, 1), (2, 0)),
    ((2, 3, 7, 5), (2, 3, 1, 3), 1, (0, 1)),
    ((2, 2, 7, 6), (2, 2, 2, 2), 3, 0),  # even kernel; the stride leaves rows and columns unused
]


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CASES)
def test_conv2d_gradients_match_finite_differences(device, x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(1)
    x, w, b = tensors_on(device, rng.standard_normal(x_shape), rng.standard_normal(w_shape),
                         rng.standard_normal(w_shape[0]))
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding), x, w, b)


@pytest.mark.parametrize("x_shape, w_shape, stride, padding", CASES[:2])
def test_conv2d_without_bias_and_with_a_constant_input(device, x_shape, w_shape, stride, padding):
    """The first layer's input needs no gradient: only w's is computed, and it is still right."""
    rng = np.random.default_rng(2)
    (x,) = tensors_on(device, rng.standard_normal(x_shape), requires_grad=False)
    (w,) = tensors_on(device, rng.standard_normal(w_shape))
    assert gradcheck(lambda w: conv2d(x, w, stride=stride, padding=padding), w)
    out = conv2d(x, w, stride=stride, padding=padding)
    out.sum().backward()
    assert x.grad is None and w.grad is not None


@given(data=st.data())
def test_conv2d_forward_matches_the_definition(device, data):
    n, c, c_out = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    kh, kw = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    stride = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    padding = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
    h = data.draw(st.integers(max(1, kh - 2 * padding[0]), 8))
    wd = data.draw(st.integers(max(1, kw - 2 * padding[1]), 8))
    with_bias = data.draw(st.booleans())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, w, b = rng.standard_normal((n, c, h, wd)), rng.standard_normal((c_out, c, kh, kw)), rng.standard_normal(c_out)
    xt, wt, bt = tensors_on(device, x, w, b, requires_grad=False)
    out = conv2d(xt, wt, bt if with_bias else None, stride, padding)
    np.testing.assert_allclose(out.numpy(), naive_conv2d(x, w, b if with_bias else None, stride, padding),
                               rtol=1e-12, atol=1e-12)


def test_conv2d_complex_gradients_follow_the_pytorch_convention(device):
    rng = np.random.default_rng(7)
    x, w, b = (rng.standard_normal(s) + 1j * rng.standard_normal(s) for s in ((2, 2, 5, 6), (3, 2, 3, 3), (3,)))
    xt, wt, bt = tensors_on(device, x, w, b)
    np.testing.assert_allclose(conv2d(xt, wt, bt, 2, 1).numpy(), naive_conv2d(x, w, b, (2, 2), (1, 1)), rtol=1e-12,
                               atol=1e-12)
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, stride=2, padding=1), xt, wt, bt)


def test_conv2d_float32_stays_float32(device):
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((2, 3, 6, 6), (4, 3, 3, 3), (4,)))
    xt, wt, bt = tensors_on(device, x, w, b)
    out = conv2d(xt, wt, bt, padding=1)
    out.sum().backward()
    assert out.dtype == np.float32 and xt.grad.dtype == wt.grad.dtype == bt.grad.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), naive_conv2d(x, w, b, (1, 1), (1, 1)), rtol=1e-4, atol=1e-4)


def test_conv2d_in_several_chunks_of_the_batch(device, monkeypatch):
    """A small column budget splits the batch into chunks of one or two samples: same results."""
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((5, 2, 5, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    monkeypatch.setitem(conv_module.COLUMN_BUDGET, device, 2 * (2 * 9 * 5 * 6))  # two samples' columns
    xt, wt, bt = tensors_on(device, x, w, b)
    np.testing.assert_allclose(conv2d(xt, wt, bt, padding=1).numpy(), naive_conv2d(x, w, b, (1, 1), (1, 1)),
                               rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, padding=1), xt, wt, bt, full=False, directions=4)


def test_conv2d_accepts_non_contiguous_input(device):
    rng = np.random.default_rng(5)
    x_nhwc, w = rng.standard_normal((2, 6, 5, 3)), rng.standard_normal((2, 3, 3, 3))
    x = mf.tensor(x_nhwc, device=device).permute(0, 3, 1, 2)  # NCHW view of NHWC data
    out = conv2d(x, mf.tensor(w, device=device), padding=1)
    np.testing.assert_allclose(out.numpy(), naive_conv2d(x_nhwc.transpose(0, 3, 1, 2), w, None, (1, 1), (1, 1)),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("x_shape, w_shape, b_shape, kwargs, message", [
    ((2, 3, 5, 5), (4, 2, 3, 3), None, {}, r"x \(2, 3, 5, 5\) has 3 channels but w \(4, 2, 3, 3\) expects 2"),
    ((2, 3, 2, 2), (4, 3, 3, 3), None, {}, r"kernel \(3, 3\) is larger than the padded input \(2, 2\)"),
    ((2, 3, 2, 2), (4, 3, 5, 5), None, {"padding": 1}, r"kernel \(5, 5\) is larger than the padded input \(4, 4\)"),
    ((3, 5, 5), (4, 3, 3, 3), None, {}, r"expected x of shape \(N, C, H, W\).*got x \(3, 5, 5\)"),
    ((2, 3, 5, 5), (4, 3, 3), None, {}, r"w of shape \(Cout, C, kh, kw\).*w \(4, 3, 3\)"),
    ((2, 3, 5, 5), (4, 3, 3, 3), (3,), {}, r"bias of shape \(3,\) does not match w \(4, 3, 3, 3\)"),
    ((2, 3, 5, 5), (4, 3, 3, 3), None, {"stride": 0}, r"stride must be an int or a pair of ints >= 1, got 0"),
    ((2, 3, 5, 5), (4, 3, 3, 3), None, {"padding": (1, -1)}, r"padding must be .* >= 0"),
])
def test_conv2d_rejects_bad_input_naming_the_shapes(device, x_shape, w_shape, b_shape, kwargs, message):
    x, w = tensors_on(device, np.zeros(x_shape), np.zeros(w_shape))
    b = None if b_shape is None else mf.tensor(np.zeros(b_shape), device=device)
    with pytest.raises(ValueError, match="conv2d: .*" + message):
        conv2d(x, w, b, **kwargs)


def test_conv2d_rejects_mixed_dtypes(device):
    x = mf.tensor(np.zeros((1, 1, 3, 3), np.float32), device=device)
    w = mf.tensor(np.zeros((1, 1, 3, 3)), device=device)
    with pytest.raises(TypeError, match="conv2d: x is float32 but w is float64"):
        conv2d(x, w)


def test_conv2d_layer_matches_the_op_and_pytorch_initialisation(device):
    layer = Conv2d(3, 5, kernel_size=3, stride=2, padding=1)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (5, 3, 3, 3) and layer.bias.shape == (5,)
    bound = 1 / math.sqrt(3 * 3 * 3)  # kaiming_uniform(a=sqrt 5) and the bias share PyTorch's bound 1/sqrt(fan_in)
    assert 0.9 * bound < np.abs(layer.weight.numpy()).max() <= bound  # 135 draws come close to the bound
    assert np.abs(layer.bias.numpy()).max() <= bound
    assert "Conv2d(3, 5, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=True)" == repr(layer)
    layer.to(device)
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 6)).astype(np.float32)
    out = layer(mf.tensor(x, device=device))
    expected = naive_conv2d(x, layer.weight.numpy(), layer.bias.numpy(), (2, 2), (1, 1))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert layer.weight.grad.shape == (5, 3, 3, 3) and layer.bias.grad.shape == (5,)
    np.testing.assert_allclose(mf.asnumpy(layer.bias.grad), np.full(5, 2 * 4 * 3), rtol=1e-6)  # d sum / d b = N Ho Wo


def test_conv2d_layer_without_bias(device):
    layer = Conv2d(2, 3, (1, 3), bias=False).to(device)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    x = mf.tensor(np.ones((1, 2, 4, 4), np.float32), device=device)
    assert layer(x).shape == (1, 3, 4, 2)
