"""Token mixers: finite-difference gradients, dense-matrix references, and the limit cases."""
import math

import numpy as np
import pytest

import minifb as mf
from minifb.autograd import gradcheck
from minifb.layers import functional_call
from minifb.autograd.tokens import frame_tokens, gate_heads, overlap_add_tokens
from minifb.layers.fft_mixer import FFTMixer, WindowedFFTMixer, hann_window
from minifb.layers.fnet_mixer import FNetMixer
from minifb.layers.wavelet_mixer import HybridMixer, WaveletMixer
from minifb.testing import cast

B, D, H = 2, 4, 2


def tokens(device, n, seed=0, scale=1.0):
    data = scale * np.random.default_rng(seed).standard_normal((B, n, D))
    return mf.tensor(data, dtype=np.float64, device=device)


def float64(module, device):
    return cast(module, np.float64).to(device)


def zero_(linear, bias=0.0):
    """Make a Linear output the constant ``bias``."""
    linear.weight.data[...] = 0
    linear.bias.data[...] = bias


MIXERS = {
    "fft-odd": lambda: FFTMixer(D, 7, H),
    "fft-even": lambda: FFTMixer(D, 6, H),
    "fft-windowed": lambda: WindowedFFTMixer(D, 9, H, window=4),
    "wavelet": lambda: WaveletMixer(D, 9, H, levels=2),
    "hybrid": lambda: HybridMixer(D, 7, H, levels=2),
    "fnet": lambda: FNetMixer(D, 7),
    "fnet-unnormalised": lambda: FNetMixer(D, 6, norm="backward"),
}


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_gradients_wrt_input_and_parameters(device, name):
    mixer = float64(MIXERS[name](), device)
    names = [n for n, _ in mixer.named_parameters()]
    params = [p for _, p in mixer.named_parameters()]

    def mix(x, *weights):
        return functional_call(mixer, dict(zip(names, weights)), x)
    gradcheck(mix, tokens(device, mixer.num_tokens), *params, directions=2, max_full=64)


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_mixers_keep_shape_and_float32(device, name):
    mixer = MIXERS[name]().to(device)
    x = tokens(device, mixer.num_tokens).astype(np.float32)
    y = mixer(x)
    assert y.shape == x.shape and y.dtype == np.float32
    with pytest.raises(ValueError, match=type(mixer).__name__):
        mixer(tokens(device, mixer.num_tokens + 1))


# ---- FFTMixer against a dense DFT written out here ------------------------------------------------

def _gelu(a):
    return a * 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))


def _linear(a, layer):
    return a @ mf.asnumpy(layer.weight).T + mf.asnumpy(layer.bias)


def dense_fft_mixer(x, mixer):
    """FFTNet's equations with explicit DFT matrices (ortho), for x (B, N, D) in numpy."""
    b, n, d = x.shape
    f = n // 2 + 1
    h = mixer.heads
    j, k = np.arange(n), np.arange(f)
    forward = np.exp(-2j * np.pi * np.outer(k, j) / n) / math.sqrt(n)                  # (F, N)
    weights = np.where((k == 0) | ((n % 2 == 0) & (k == n // 2)), 1.0, 2.0)            # Hermitian fold
    inverse = (np.exp(2j * np.pi * np.outer(j, k) / n) * weights) / math.sqrt(n)        # (N, F)
    layers = mixer.filter.modulation
    c = x.mean(axis=1)
    m = np.tanh(_linear(_gelu(_linear(c, layers[0])), layers[2])).reshape(b, h, f, 1)
    filt = mf.asnumpy(mixer.filter.w_base)[None] + m                                   # (B, H, F, 1)
    bias = mf.asnumpy(mixer.filter.bias)[None]
    heads = x.reshape(b, n, h, d // h).transpose(0, 2, 1, 3)                            # (B, H, N, d)
    y = np.einsum("fn,bhnd->bhfd", forward, heads) * filt
    r = np.abs(y)
    z = np.maximum(r + bias, 0) * y / np.maximum(r, 1e-3)
    out = np.einsum("nf,bhfd->bhnd", inverse, z).real
    return out.transpose(0, 2, 1, 3).reshape(b, n, d)


@pytest.mark.parametrize("n", [6, 7])
def test_fft_mixer_matches_dense_dft(device, n):
    mixer = float64(FFTMixer(D, n, H), device)
    mixer.filter.bias.data[...] = mf.backend.xp_for(device).asarray(np.linspace(-0.6, 0.2, (n // 2 + 1) * H).reshape(H, -1, 1))
    x = tokens(device, n, scale=0.7)
    np.testing.assert_allclose(mf.asnumpy(mixer(x)), dense_fft_mixer(mf.asnumpy(x), mixer), rtol=1e-10, atol=1e-12)


def test_fft_mixer_without_modulation_and_bias_is_the_identity(device):
    mixer = float64(FFTMixer(D, 7, H), device)
    zero_(mixer.filter.modulation[2])
    mixer.filter.bias.data[...] = 0  # ReLU(|Y| + 0) Y / |Y| = Y (all |Y| here are far above 1e-3)
    x = tokens(device, 7)
    np.testing.assert_allclose(mf.asnumpy(mixer(x)), mf.asnumpy(x), rtol=1e-12, atol=1e-12)


def test_fft_mixer_with_a_very_negative_bias_outputs_zero(device):
    mixer = float64(FFTMixer(D, 7, H), device)
    zero_(mixer.filter.modulation[2])
    mixer.filter.bias.data[...] = -1e6  # ReLU(|Y| + b) = 0 for every bin
    assert not mf.asnumpy(mixer(tokens(device, 7))).any()


# ---- the windowed mixer ---------------------------------------------------------------------------

def identity_filters(mixer):
    for spectral in [mixer.global_mixer.filter] + ([mixer.local_filter] if hasattr(mixer, "local_filter") else []):
        zero_(spectral.modulation[2])
        spectral.bias.data[...] = 0


# ---- FNet against dense DFT matrices ------------------------------------------------------------

def dft_matrix(n):
    return np.exp(-2j * np.pi * np.outer(np.arange(n), np.arange(n)) / n)


@pytest.mark.parametrize("norm, n", [("ortho", 7), ("backward", 6)])
def test_fnet_is_the_real_part_of_the_2d_dft(device, norm, n):
    """y_b = Re(F_N x_b F_D) (F symmetric), scaled by 1/sqrt(N D) for 'ortho'; no parameters."""
    mixer = FNetMixer(D, n, norm=norm)
    x = tokens(device, n)
    scale = 1 / math.sqrt(n * D) if norm == "ortho" else 1.0
    expected = np.real(dft_matrix(n) @ mf.asnumpy(x) @ dft_matrix(D)) * scale
    np.testing.assert_allclose(mf.asnumpy(mixer(x)), expected, rtol=1e-10, atol=1e-12)
    assert mixer.num_parameters() == 0
    with pytest.raises(ValueError, match="FNetMixer: norm must be one of"):
        FNetMixer(D, n, norm="forward")


@pytest.mark.parametrize("n, window", [(9, 4), (16, 8), (5, 16)])
def test_windowed_local_branch_reconstructs_exactly(device, n, window):
    """Identity filters and a gate closed on the local branch (alpha = sigmoid(-50)): out = x."""
    mixer = float64(WindowedFFTMixer(D, n, H, window), device)
    identity_filters(mixer)
    zero_(mixer.gate.mlp[2], bias=-50.0)
    x = tokens(device, n, seed=3)
    np.testing.assert_allclose(mf.asnumpy(mixer(x)), mf.asnumpy(x), rtol=1e-10, atol=1e-12)


def test_windowed_mixer_is_local(device):
    """With the gate on the local branch, a token only moves outputs within one window of it."""
    n, window = 24, 4
    mixer = float64(WindowedFFTMixer(D, n, H, window), device)
    zero_(mixer.gate.mlp[2], bias=-50.0)
    zero_(mixer.local_filter.modulation[2])  # no context path: the local filter then acts frame by frame
    x = tokens(device, n, seed=4)
    bumped = x.numpy().copy()
    bumped[:, 12] += 1.0
    change = np.abs(mf.asnumpy(mixer(mf.tensor(bumped, device=device))) - mf.asnumpy(mixer(x))).max(axis=(0, 2))
    assert change[12] > 1e-3
    # The global branch still enters with weight sigmoid(-50) ~ 2e-22.
    assert change[:12 - window].max() < 1e-15 and change[12 + window + 1:].max() < 1e-15


@pytest.mark.parametrize("n, window", [(9, 4), (5, 16)])
def test_framing_and_overlap_add(device, n, window):
    """Frames against slices of the zero-padded tokens; each primitive is the other's adjoint,
    <frame(x), y> = <x, overlap_add(y)>; gradients against finite differences."""
    mixer = WindowedFFTMixer(D, n, H, window)
    hop, frames = window // 2, mixer.num_frames
    x = tokens(device, n, seed=5)
    framed = frame_tokens(x, window, frames)
    padded = np.zeros((B, mixer.padded_tokens, D))
    padded[:, hop:hop + n] = x.numpy()
    expected = np.stack([padded[:, f * hop:f * hop + window] for f in range(frames)], axis=1)
    np.testing.assert_array_equal(mf.asnumpy(framed), expected)
    y = np.random.default_rng(6).standard_normal(expected.shape)
    added = mf.asnumpy(overlap_add_tokens(mf.tensor(y, device=device), n))
    assert added.shape == (B, n, D)
    np.testing.assert_allclose(np.vdot(expected, y), np.vdot(x.numpy(), added), rtol=1e-12)
    gradcheck(lambda t: frame_tokens(t, window, frames), x)
    gradcheck(lambda t: overlap_add_tokens(t, n), mf.tensor(y, device=device))
    with pytest.raises(ValueError, match=r"frame_tokens: expected tokens \(B, N, D\) with an even window"):
        frame_tokens(x, window, 1 if n > window // 2 else 0)
    with pytest.raises(ValueError, match=r"overlap_add_tokens: expected frames .* got shape \(2, 4\)"):
        overlap_add_tokens(mf.tensor(np.ones((B, 4)), device=device), n)


def test_gate_heads(device):
    """Per-head fusion against the formula written per head; gradients against finite differences."""
    rng = np.random.default_rng(8)
    alpha, glob, loc = rng.uniform(0, 1, (B, H)), rng.standard_normal((B, 3, D)), rng.standard_normal((B, 3, D))
    heads = [slice(h * (D // H), (h + 1) * (D // H)) for h in range(H)]
    expected = np.concatenate([alpha[:, None, h, None] * glob[..., c] + (1 - alpha[:, None, h, None]) * loc[..., c]
                               for h, c in enumerate(heads)], axis=-1)
    tensors = [mf.tensor(a, device=device) for a in (alpha, glob, loc)]
    np.testing.assert_allclose(mf.asnumpy(gate_heads(*tensors)), expected, rtol=1e-12)
    gradcheck(gate_heads, *tensors)
    with pytest.raises(ValueError, match=r"gate_heads: expected alpha \(B, H\) .* got \(2, 3\), \(2, 3, 4\)"):
        gate_heads(mf.tensor(np.ones((B, 3)), device=device), tensors[1], tensors[2])


def test_hann_window_squares_overlap_to_a_positive_sum():
    w = hann_window(16)
    assert w[0] == 0 and w[8] == pytest.approx(1.0)
    overlap = w[:8] ** 2 + w[8:] ** 2
    assert overlap.min() >= 0.5 - 1e-12 and overlap.max() <= 1 + 1e-12


# ---- the wavelet and hybrid mixers ---------------------------------------------------------------

def dense_haar_level(length):
    """(ceil(L/2) x L) approximation and detail matrices of one orthonormal Haar level (odd L: zero-padded)."""
    half = -(-length // 2)
    a, d = np.zeros((half, length)), np.zeros((half, length))
    for k in range(half):
        for j, sign in ((2 * k, 1), (2 * k + 1, -1)):
            if j < length:
                a[k, j], d[k, j] = 1 / math.sqrt(2), sign / math.sqrt(2)
    return a, d


def test_wavelet_mixer_scales_each_subband_as_dense_haar(device):
    n, levels = 9, 2
    mixer = float64(WaveletMixer(D, n, H, levels=levels), device)
    bias = np.linspace(-1.5, 1.2, H * (levels + 1))          # one scale per (head, sub-band)
    zero_(mixer.scales[2])
    mixer.scales[2].bias.data[...] = mf.backend.xp_for(device).asarray(bias)
    scale = (1 + np.tanh(bias)).reshape(H, levels + 1)
    x = tokens(device, n, seed=5)
    # Reference: analysis matrices of both levels, scale per head, synthesis by the transposes
    # (orthogonal up to the padded zeros, which the crop removes).
    a1, d1 = dense_haar_level(n)            # 9 -> 5
    a2, d2 = dense_haar_level(a1.shape[0])  # 5 -> 3
    bands = [a2 @ a1, d2 @ a1, d1]          # [a_2, d_2, d_1] as maps from the 9 tokens
    xs = mf.asnumpy(x).reshape(B, n, H, D // H)
    expected = sum(np.einsum("mn,mk,bkhd->bnhd", band, band, xs) * scale[None, None, :, i, None]
                   for i, band in enumerate(bands))
    np.testing.assert_allclose(mf.asnumpy(mixer(x)), expected.reshape(B, n, D), rtol=1e-10, atol=1e-12)


def test_wavelet_mixer_with_unit_scales_is_the_identity(device):
    mixer = float64(WaveletMixer(D, 65, H, levels=3), device)
    zero_(mixer.scales[2])
    x = tokens(device, 65)
    np.testing.assert_allclose(mf.asnumpy(mixer(x)), mf.asnumpy(x), rtol=1e-12, atol=1e-12)


def test_hybrid_of_identities_is_the_identity(device):
    mixer = float64(HybridMixer(D, 7, H, levels=2), device)
    identity_filters(mixer)
    zero_(mixer.wavelet_mixer.scales[2])
    x = tokens(device, 7)
    np.testing.assert_allclose(mf.asnumpy(mixer(x)), mf.asnumpy(x), rtol=1e-12, atol=1e-12)


def test_bad_configurations_are_rejected():
    with pytest.raises(ValueError, match="FFTMixer: dim 6 must be a multiple of heads 4"):
        FFTMixer(6, 5, 4)
    with pytest.raises(ValueError, match="window must be an even number"):
        WindowedFFTMixer(4, 9, 2, window=5)
    with pytest.raises(ValueError, match="WaveletMixer: 4 Haar level"):
        WaveletMixer(4, 8, 2, levels=4)


# ---- the attention baseline -----------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.0, 0.5])
def test_self_attention_primitive(device, p):
    """The fused attention against the definition (with the dropout mask drawn from the same seed),
    and its gradient against finite differences; the mask is redrawn from that seed on every call."""
    from minifb.autograd.dropout import dropout
    from minifb.autograd.attention import self_attention
    heads, n, dim = 2, 5, 6
    qkv = mf.tensor(np.random.default_rng(7).standard_normal((B, n, 3 * dim)), device=device)

    def attend(t):
        mf.seed(11)
        return self_attention(t, heads, p)
    q, k, v = (qkv.numpy()[..., i * dim:(i + 1) * dim].reshape(B, n, heads, -1).transpose(0, 2, 1, 3) for i in range(3))
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dim // heads)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    mf.seed(11)  # the mask dropout draws for the weights: 0 or 1 / (1 - p)
    mask = dropout(mf.tensor(np.ones(weights.shape), device=device), p).numpy()
    expected = (weights * mask @ v).transpose(0, 2, 1, 3).reshape(B, n, dim)
    np.testing.assert_allclose(mf.asnumpy(attend(qkv)), expected, rtol=1e-12, atol=1e-12)
    gradcheck(attend, qkv)
    with pytest.raises(ValueError, match=r"self_attention: expected packed projections .* got shape \(2, 5, 16\)"):
        self_attention(mf.tensor(np.ones((B, n, 16)), device=device), heads)
