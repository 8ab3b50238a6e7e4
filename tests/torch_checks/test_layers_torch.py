"""minifb.layers against torch.nn: outputs, input gradients, parameter gradients and buffers.

The minifb layer is built first (its own initialisation), its state dict is copied into the
PyTorch layer (names map one to one, see minifb.testing.torch_state_dict), and both run on the
same input, in float64 (~1e-8 relative) and float32 (~1e-4).
"""
import numpy as np
import pytest
import torch
from torch import nn

import minifb.layers as L
from minifb.reference import move_constant_parameters
from minifb.testing import ATTENTION_TO_TORCH
import torch_models as T
from torch_models import TorchMLP, TorchSelfAttention

DTYPES = ["float64", "float32"]


def normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias, dtype, check):
    check.module(L.Linear(5, 3, bias=bias), nn.Linear(5, 3, bias=bias), normal(2, 4, 5), dtype=dtype, name="Linear")


@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_with_repeated_indices(dtype, check):
    indices = np.array([[1, 3, 1], [0, 3, 3]])
    check.module(L.Embedding(5, 4), nn.Embedding(5, 4), indices, dtype=dtype, name="Embedding")


@pytest.mark.parametrize("dtype", DTYPES)
def test_mlp(dtype, check):
    check.module(L.MLP(6, 10, dropout=0.1), TorchMLP(6, 10, dropout=0.1), normal(2, 3, 6), dtype=dtype, name="MLP")


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm(dtype, check):
    mf_norm = L.LayerNorm(6)
    rng = np.random.default_rng(1)
    mf_norm.weight.data[...] = rng.standard_normal(6)  # away from the initial 1 and 0
    mf_norm.bias.data[...] = rng.standard_normal(6)
    check.module(mf_norm, nn.LayerNorm(6), normal(2, 3, 6) * 3 + 1, dtype=dtype, name="LayerNorm")


BATCH_NORMS = [("BatchNorm1d-2d", L.BatchNorm1d, nn.BatchNorm1d, (8, 3)),
               ("BatchNorm1d-3d", L.BatchNorm1d, nn.BatchNorm1d, (4, 3, 5)),
               ("BatchNorm2d", L.BatchNorm2d, nn.BatchNorm2d, (4, 3, 5, 2))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("case", BATCH_NORMS, ids=[c[0] for c in BATCH_NORMS])
def test_batch_norm(case, training, dtype, check):
    """Training: batch statistics, running statistics updated (compared afterwards); eval: the running ones."""
    name, mf_layer, torch_layer, shape = case
    mf_norm = mf_layer(3)
    rng = np.random.default_rng(2)
    mf_norm.weight.data[...] = rng.standard_normal(3)
    mf_norm.bias.data[...] = rng.standard_normal(3)
    mf_norm.running_mean[...] = rng.standard_normal(3)
    mf_norm.running_var[...] = rng.uniform(0.5, 2.0, 3)
    check.module(mf_norm, torch_layer(3), normal(*shape) * 2 + 0.5, dtype=dtype, training=training, name=name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_self_attention_against_torch_multihead_attention(dtype, check):
    check.module(L.MultiHeadSelfAttention(12, 3, dropout=0.1), TorchSelfAttention(12, 3, dropout=0.1),
                 normal(2, 5, 12), dtype=dtype, renames=ATTENTION_TO_TORCH, name="MultiHeadSelfAttention")


def test_self_attention_against_a_functional_reference(check):
    """The same attention written out with torch.nn.functional.scaled_dot_product_attention."""
    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.proj = nn.Linear(8, 24), nn.Linear(8, 8)

        def forward(self, x):
            b, n, d = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, 2, 4).permute(2, 0, 3, 1, 4)
            out = nn.functional.scaled_dot_product_attention(q, k, v)
            return self.proj(out.transpose(1, 2).reshape(b, n, d))

    check.module(L.MultiHeadSelfAttention(8, 2), Reference(), normal(3, 4, 8), name="attention (functional)")


ACTIVATIONS = [("ReLU", L.ReLU(), nn.ReLU()), ("GELU", L.GELU(), nn.GELU()),
               ("GELU-tanh", L.GELU("tanh"), nn.GELU("tanh")), ("Identity", L.Identity(), nn.Identity()),
               ("Flatten", L.Flatten(), nn.Flatten()), ("Dropout-eval", L.Dropout(0.5), nn.Dropout(0.5))]


@pytest.mark.parametrize("case", ACTIVATIONS, ids=[c[0] for c in ACTIVATIONS])
def test_parameter_free_layers(case, check):
    name, mf_layer, torch_layer = case
    check.module(mf_layer, torch_layer, normal(2, 3, 4), name=name)


CONVS = [("3x3", dict(kernel_size=3)), ("stride-padding", dict(kernel_size=(3, 2), stride=2, padding=1)),
         ("no-bias", dict(kernel_size=1, bias=False))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONVS, ids=[c[0] for c in CONVS])
def test_conv2d(case, dtype, check):
    _, options = case
    check.module(L.Conv2d(3, 4, **options), nn.Conv2d(3, 4, **options), normal(2, 3, 8, 7), dtype=dtype, name="Conv2d")


POOLS = [("MaxPool2d", L.MaxPool2d(2), nn.MaxPool2d(2)), ("MaxPool2d-3-2", L.MaxPool2d(3, 2), nn.MaxPool2d(3, 2)),
         ("AvgPool2d", L.AvgPool2d(2), nn.AvgPool2d(2)),
         ("AdaptiveAvgPool2d", L.AdaptiveAvgPool2d((2, 3)), nn.AdaptiveAvgPool2d((2, 3)))]


@pytest.mark.parametrize("case", POOLS, ids=[c[0] for c in POOLS])
def test_pools(case, check):
    name, mf_layer, torch_layer = case
    check.module(mf_layer, torch_layer, normal(2, 3, 8, 7), name=name)


# ---- the token mixers and the feedback adapter, one at a time (the models test them together) -----

MIXERS = [("FFTMixer", lambda d, n, h: L.FFTMixer(d, n, h), lambda d, n, h: T.TorchFFTMixer(d, n, h)),
          ("WindowedFFTMixer", lambda d, n, h: L.WindowedFFTMixer(d, n, h, 4),
           lambda d, n, h: T.TorchWindowedFFTMixer(d, n, h, 4)),
          ("WaveletMixer", lambda d, n, h: L.WaveletMixer(d, n, h, 2), lambda d, n, h: T.TorchWaveletMixer(d, n, h, 2)),
          ("HybridMixer", lambda d, n, h: L.HybridMixer(d, n, h, 2), lambda d, n, h: T.TorchHybridMixer(d, n, h, 2)),
          ("FNetMixer", lambda d, n, h: L.FNetMixer(d, n), lambda d, n, h: T.TorchFNetMixer())]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tokens", [9, 10])
@pytest.mark.parametrize("case", MIXERS, ids=[c[0] for c in MIXERS])
def test_token_mixers(case, tokens, dtype, check):
    """Odd and even token counts; W_base and the modReLU bias moved off their constant start."""
    name, mf_mixer, torch_mixer = case
    mixer = mf_mixer(6, tokens, 2)
    move_constant_parameters(mixer, np.random.default_rng(3))
    check.module(mixer, torch_mixer(6, tokens, 2), normal(2, tokens, 6), dtype=dtype, name=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 9, 6), (3, 8, 5)])
def test_fnet_unnormalised_against_torch_fft2(shape, dtype, check):
    """FNet's own transform, the unnormalised DFT: Re(FFT2) over tokens and channels."""
    mixer = L.FNetMixer(shape[2], shape[1], norm="backward")
    check.op(mixer, lambda x: torch.fft.fft2(x, dim=(1, 2)).real, normal(*shape).astype(dtype), name="FNetMixer")


@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_with_a_narrower_qkv_width(dtype, check):
    """LRA's configurations: Q, K, V of width 8 in a model of width 12 (qkv Linear 12 -> 24, proj 8 -> 12)."""
    check.module(L.MultiHeadSelfAttention(12, 2, qkv_dim=8), T.TorchNarrowAttention(12, 2, 8), normal(2, 5, 12),
                 dtype=dtype, name="MultiHeadSelfAttention(qkv_dim=8)")


ADAPTERS = [("feature maps", 1, (2, 3, 4, 5)), ("vectors", -1, (2, 3)), ("tokens", -1, (2, 4, 3))]


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("case", ADAPTERS, ids=[c[0] for c in ADAPTERS])
def test_context_adapter(case, activation, check):
    """act(W [h; z] + b), z broadcast over positions: minifb's split product against the concatenation."""
    _, axis, shape = case
    torch_activation = {"relu": torch.relu, "sigmoid": torch.sigmoid}[activation]
    check.module(L.ContextAdapter(3, 2, axis, activation), T.TorchContextAdapter(3, 2, axis, torch_activation),
                 normal(*shape), normal(2, 2, seed=1), name=f"ContextAdapter({activation})")
