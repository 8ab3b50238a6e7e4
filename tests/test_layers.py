"""The basic layers: gradients (w.r.t. input and every parameter) against finite differences, and
forward values against direct NumPy computations of their definitions."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minifb as mf
from minifb.autograd import batch_norm, dropout, gradcheck, layer_norm
from minifb.layers import (GELU, MLP, BatchNorm1d, BatchNorm2d, Dropout, Embedding, Flatten, Identity, LayerNorm,
                           Linear, MultiHeadSelfAttention, ReLU, functional_call)


def gradcheck_module(module, *inputs, **kwargs):
    """gradcheck of module(*inputs) w.r.t. the floating inputs and every parameter (all in float64)."""
    names, params = zip(*module.named_parameters())
    count = len(inputs)

    def f(*args):
        return functional_call(module, dict(zip(names, args[count:])), *args[:count])
    return gradcheck(f, *inputs, *params, **kwargs)


def randn(device, *shape, seed=0):
    return mf.tensor(np.random.default_rng(seed).standard_normal(shape), device=device)


def randomise(module, seed=1):
    """Random parameters (not the 1/0 initialisation of the norms, which would hide mistakes)."""
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = mf.backend.to_device(rng.standard_normal(p.shape), p.device)
    return module


# ---- Linear, Embedding, MLP ---------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(device, bias):
    layer = Linear(4, 3, bias=bias).to(device)
    assert gradcheck_module(layer, randn(device, 2, 3, 4))


def test_linear_gradients_for_complex_input(device):
    layer = Linear(3, 2).to(device)
    rng = np.random.default_rng(4)
    x = mf.tensor(rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3)), device=device)
    assert gradcheck_module(layer, x)


def test_linear_forward_and_init(device):
    layer = Linear(50, 7).to(device)
    x = randn(device, 5, 50).float()
    y = layer(x)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert y.dtype == np.float32 and y.shape == (5, 7)
    np.testing.assert_allclose(y.numpy(), x.numpy() @ w.T + b, rtol=1e-5, atol=1e-6)
    bound = 1 / math.sqrt(50)  # PyTorch's default: kaiming_uniform(a=sqrt 5) and U(+-1/sqrt(in))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound and np.abs(b).max() <= bound
    with pytest.raises(ValueError, match=r"linear: input of shape \(5, 49\) does not fit weight of shape \(7, 50\)"):
        layer(randn(device, 5, 49))


def test_embedding_gradient_with_repeated_indices(device):
    emb = Embedding(5, 3).to(device)
    idx = np.array([[0, 2, 2], [4, 0, 2]])
    names = ["weight"]
    assert gradcheck(lambda w: functional_call(emb, dict(zip(names, [w])), idx), emb.weight)
    out = emb(idx)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[idx])
    with pytest.raises(IndexError, match=r"Embedding: indices must be in \[0, 5\), got values from 0 to 5"):
        emb(np.array([0, 5]))
    with pytest.raises(TypeError, match="indices must be integers"):
        emb(np.array([0.0]))


def test_mlp_gradients(device):
    mlp = MLP(4, 6, dropout=0.0).to(device)
    assert gradcheck_module(mlp, randn(device, 2, 3, 4))


# ---- normalisation ------------------------------------------------------------------------------

sides = st.integers(1, 4)


@given(lead=st.lists(sides, max_size=2), features=sides, seed=st.integers(0, 2**16))
def test_layer_norm_primitive_on_drawn_shapes(device, lead, features, seed):
    shape = (*lead, features)
    x, w, b = (randn(device, *s, seed=seed + i) for i, s in enumerate([shape, (features,), (features,)]))
    assert gradcheck(layer_norm, x, w, b)


@given(batch=st.integers(2, 4), channels=sides, spatial=st.lists(sides, max_size=2), training=st.booleans(),
       seed=st.integers(0, 2**16))
def test_batch_norm_primitive_on_drawn_shapes(device, batch, channels, spatial, training, seed):
    x, w, b = (randn(device, *s, seed=seed + i) for i, s in enumerate([(batch, channels, *spatial), (channels,), (channels,)]))
    stats = np.random.default_rng(seed).uniform(0.5, 2.0, (2, channels))
    running_mean, running_var = (mf.backend.to_device(s, device) for s in stats)

    def f(x, w, b):
        return batch_norm(x, w, b, running_mean.copy(), running_var.copy(), training=training)
    assert gradcheck(f, x, w, b)

def test_layer_norm_gradients_and_values(device):
    ln = randomise(LayerNorm(5)).to(device)
    x = randn(device, 2, 3, 5)
    assert gradcheck_module(ln, x)
    v = x.numpy()
    expected = (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-5) * ln.weight.numpy() + ln.bias.numpy()
    np.testing.assert_allclose(ln(x).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert gradcheck(lambda x: layer_norm(x), x)  # without the affine part
    assert ln(x.float()).dtype == np.float32


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2)])
def test_batch_norm1d_gradients_train_and_eval(device, shape):
    bn = randomise(BatchNorm1d(3)).to(device)
    x = randn(device, *shape)
    assert gradcheck_module(bn, x)
    bn.eval()
    bn.running_var[...] = mf.backend.to_device(np.array([0.5, 1.0, 2.0], np.float32), device)
    assert gradcheck_module(bn, x)


def test_batch_norm2d_gradients(device):
    bn = randomise(BatchNorm2d(2)).to(device)
    assert gradcheck_module(bn, randn(device, 3, 2, 2, 3))
    assert gradcheck(lambda x: batch_norm(x), randn(device, 3, 2, 2, 3))  # no affine, no running stats


def test_batch_norm_running_stats_and_eval_against_numpy(device):
    bn = randomise(BatchNorm2d(3)).to(device)
    w, b = bn.weight.numpy().astype(np.float64), bn.bias.numpy().astype(np.float64)
    mean, var = np.zeros(3), np.ones(3)
    rng = np.random.default_rng(3)
    for _ in range(3):
        v = rng.normal(2.0, 3.0, (4, 3, 5, 5)).astype(np.float32)
        y = bn(mf.tensor(v, device=device)).numpy()
        mu, sigma2 = v.mean(axis=(0, 2, 3)), v.var(axis=(0, 2, 3))
        expected = (v - mu[:, None, None]) / np.sqrt(sigma2[:, None, None] + 1e-5) * w[:, None, None] + b[:, None, None]
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
        n = v.size / 3
        mean = 0.9 * mean + 0.1 * mu
        var = 0.9 * var + 0.1 * sigma2 * n / (n - 1)  # unbiased, as PyTorch
    np.testing.assert_allclose(mf.asnumpy(bn.running_mean), mean, rtol=1e-5)
    np.testing.assert_allclose(mf.asnumpy(bn.running_var), var, rtol=1e-5)
    assert int(bn.num_batches_tracked) == 3

    bn.eval()
    v = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    y = bn(mf.tensor(v, device=device)).numpy()
    expected = (v - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * w[:, None, None] + b[:, None, None]
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mf.asnumpy(bn.running_mean), mean, rtol=1e-5)  # eval does not update
    assert int(bn.num_batches_tracked) == 3


def test_batch_norm_errors(device):
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected a 4-d input with 3 channels on axis 1, got shape \(2, 4, 5, 5\)"):
        BatchNorm2d(3).to(device)(randn(device, 2, 4, 5, 5))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(3).to(device)(randn(device, 1, 3))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        batch_norm(randn(device, 2, 3), weight=randn(device, 4))
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        batch_norm(randn(device, 2, 3), training=False)


# ---- dropout and the small modules ---------------------------------------------------------------

def test_dropout_train_and_eval(device):
    p = 0.3
    drop = Dropout(p)
    x = mf.tensor(np.ones((200, 500), np.float32), requires_grad=True, device=device)
    y = drop(x)
    v = y.numpy()
    assert y.dtype == np.float32
    zeroed = np.mean(v == 0)
    assert abs(zeroed - p) < 0.01  # 100,000 draws: the standard error is 0.0015
    np.testing.assert_allclose(v[v != 0], 1 / (1 - p), rtol=1e-6)
    g = np.random.default_rng(0).standard_normal(v.shape).astype(np.float32)
    y.backward(mf.backend.to_device(g, device))
    np.testing.assert_allclose(mf.asnumpy(x.grad), g * v, rtol=1e-6)  # dy/dx = mask / (1 - p) = y / x here
    drop.eval()
    assert drop(x) is x
    assert Dropout(0.0)(x) is x
    assert np.all(dropout(x, 1.0).numpy() == 0)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        Dropout(1.5)


def test_dropout_masks_follow_the_seed(device):
    x = mf.tensor(np.ones(1000, np.float32), device=device)
    mf.seed(5)
    a = dropout(x, 0.5).numpy()
    b = dropout(x, 0.5).numpy()
    mf.seed(5)
    np.testing.assert_array_equal(dropout(x, 0.5).numpy(), a)
    assert not np.array_equal(a, b)


def test_activation_modules(device):
    x = randn(device, 2, 3, 4, 5)
    v = x.numpy()
    np.testing.assert_array_equal(ReLU()(x).numpy(), np.maximum(v, 0))
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(GELU()(x).numpy(), v * 0.5 * (1 + erf(v / math.sqrt(2))), rtol=1e-12)
    np.testing.assert_allclose(GELU("tanh")(x).numpy(), 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))),
                               rtol=1e-12)
    assert Identity()(x) is x
    assert Flatten()(x).shape == (2, 60) and Flatten(0, 1)(x).shape == (6, 4, 5)
    assert repr(GELU()) == "GELU(approximate='none')" and repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    with pytest.raises(ValueError, match="GELU: approximate must be"):
        GELU("fast")


# ---- attention --------------------------------------------------------------------------------

def attention_numpy(x, attn):
    """softmax(Q K^T / sqrt(d)) V per head, written directly from the definition."""
    b, n, dim = x.shape
    h, d = attn.heads, dim // attn.heads
    qkv = x @ attn.qkv.weight.numpy().T + attn.qkv.bias.numpy()
    q, k, v = (qkv[..., i * dim:(i + 1) * dim].reshape(b, n, h, d).transpose(0, 2, 1, 3) for i in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = (weights @ v).transpose(0, 2, 1, 3).reshape(b, n, dim)
    return out @ attn.proj.weight.numpy().T + attn.proj.bias.numpy()


def test_attention_gradients(device):
    attn = MultiHeadSelfAttention(4, 2).to(device)
    assert gradcheck_module(attn, randn(device, 2, 3, 4))


def test_attention_forward_against_numpy(device):
    attn = MultiHeadSelfAttention(12, 3, dropout=0.1).to(device).eval()
    x = randn(device, 2, 7, 12)
    np.testing.assert_allclose(attn(x).numpy(), attention_numpy(x.numpy(), attn), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"expected input \(B, N, 12\), got shape \(2, 7, 8\)"):
        attn(randn(device, 2, 7, 8))
    with pytest.raises(ValueError, match="dim 10 is not divisible by heads 3"):
        MultiHeadSelfAttention(10, 3)
