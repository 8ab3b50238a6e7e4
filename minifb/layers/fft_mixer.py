"""FFTNet token mixing: adaptive spectral filters along the token axis, drop-in replacements for
self-attention on x of shape (B, N, D).

Method (docs/design.md, "FFTNet token mixing"), with H heads of width d = D/H and F = N//2 + 1:

    X = rFFT_tokens(x), norm "ortho"                       (B, F, H, d) complex
    c = mean over tokens of x                               (B, D)
    m = tanh(W2 GELU(W1 c + b1) + b2)                       W1: D -> D, W2: D -> H F;  (B, F, H, 1)
    Y = X (W_base + m)                                      W_base (H, F, 1), initialised 1
    Z = ReLU(|Y| + b) Y / max(|Y|, 1e-3)                    modReLU, b (H, F, 1) initialised -0.1
    out = irFFT_tokens(Z, n = N), norm "ortho"              (B, N, D)

The filter is real: it changes magnitudes and keeps phases. Heads need no transposes here: the
FFT runs along the token axis of (B, N, D) directly and a head is a group of d channels, so only
the small filter parameters are laid out as (F, H, 1) against (B, F, H, d).

The windowed variant adds a local branch (Hann-windowed frames, per-frame filters, overlap-add)
and fuses the two with a per-head gate alpha = sigmoid(MLP(c)): alpha global + (1 - alpha) local.
"""
from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..autograd.complex_activation import filtered_mod_relu
from ..autograd.shape import swapaxes
from ..autograd.spectral import irfft, rfft
from ..autograd.tokens import frame_tokens, gate_heads, overlap_add_tokens
from ..autograd.unary import sigmoid, tanh
from ..backend import to_device
from .activation import GELU
from .linear import Linear
from .module import Module, Parameter, Sequential


def context_mlp(dim: int, out_features: int) -> Sequential:
    """Linear(dim, dim), GELU, Linear(dim, out_features): the small network that reads the context c."""
    return Sequential(Linear(dim, dim), GELU(), Linear(dim, out_features))


def fft_macs(length: int, transforms: int) -> int:
    """Multiply-accumulates of ``transforms`` real FFTs (or inverses) of ``length`` points: n log2 n each.

    A complex radix-2 FFT of n points has (n/2) log2 n butterflies, each one complex multiply-add
    (4 real MACs), so 2 n log2 n; a real FFT costs half. Other lengths use the same formula.
    """
    return int(round(transforms * length * math.log2(length))) if length > 1 else 0


def check_tokens(name: str, x, num_tokens: int, dim: int) -> None:
    if x.ndim != 3 or x.shape[1] != num_tokens or x.shape[2] != dim:
        raise ValueError(f"{name}: expected tokens of shape (B, {num_tokens}, {dim}), got {tuple(x.shape)}")


def check_heads(name: str, dim: int, heads: int, num_tokens: int) -> None:
    """dim, heads and num_tokens are sizes >= 1, and heads divides dim."""
    checks.integer(name, "dim", dim, 1)
    checks.integer(name, "heads", heads, 1)
    checks.integer(name, "num_tokens", num_tokens, 1)
    if dim % heads:
        raise ValueError(f"{name}: dim {dim} must be a multiple of heads {heads}")


class SpectralFilter(Module):
    """The adaptive filter and modReLU of FFTNet on a spectrum X of shape (..., F, H, d):
    Z = modReLU(X (W_base + tanh(MLP(c))), b), with W_base (H, F, 1) = 1 and b (H, F, 1) = -0.1 at
    initialisation. c has shape (..., D); the leading axes of c and X match."""

    def __init__(self, dim: int, heads: int, frequencies: int):
        super().__init__()
        self.heads, self.frequencies = heads, frequencies
        self.modulation = context_mlp(dim, heads * frequencies)
        self.w_base = Parameter(np.ones((heads, frequencies, 1), np.float32))
        self.bias = Parameter(np.full((heads, frequencies, 1), -0.1, np.float32))

    def forward(self, spectrum, context):
        h, f = self.heads, self.frequencies
        lead = tuple(context.shape[:-1])
        # m: (..., H*F) -> (..., H, F, 1) as in the method; the filter W_base + m then turns to
        # (..., F, H, 1) to face the spectrum. Filter and modReLU are one primitive: no stored X W.
        m = tanh(self.modulation(context)).reshape(lead + (h, f, 1))
        weight = swapaxes(self.w_base + m, -3, -2)
        return filtered_mod_relu(spectrum, weight, swapaxes(self.bias, 0, 1), eps=1e-3)


class FFTMixer(Module):
    """Global FFTNet token mixing, (B, N, D) -> (B, N, D) (equations in the module docstring)."""

    def __init__(self, dim: int, num_tokens: int, heads: int):
        super().__init__()
        check_heads("FFTMixer", dim, heads, num_tokens)
        self.dim, self.num_tokens, self.heads = dim, num_tokens, heads
        self.frequencies = num_tokens // 2 + 1
        self.filter = SpectralFilter(dim, heads, self.frequencies)

    def forward(self, x, context=None):
        """``context``: the token mean of x (B, D) when the caller has it already (the gated mixers)."""
        check_tokens("FFTMixer", x, self.num_tokens, self.dim)
        b, n, d = x.shape
        if context is None:
            context = x.mean(axis=1)                                          # (B, D)
        spectrum = rfft(x, axis=1, norm="ortho").reshape(b, self.frequencies, self.heads, d // self.heads)
        filtered = self.filter(spectrum, context).reshape(b, self.frequencies, d)
        return irfft(filtered, n=n, axis=1, norm="ortho")

    def macs(self, x_shape, context_shape=None) -> int:
        """The rFFT and the inverse along tokens, for every channel (the MLP's Linears count apart; a
        context handed in costs nothing)."""
        b, n, d = x_shape
        return 2 * fft_macs(n, b * d)

    def extra_repr(self):
        return f"dim={self.dim}, num_tokens={self.num_tokens}, heads={self.heads}"


class HeadGate(Module):
    """Per-head fusion of a global and a local branch: alpha = sigmoid(MLP(c)), one value per head,
    out = alpha global + (1 - alpha) local (alpha broadcast over tokens and the head's channels)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.mlp = context_mlp(dim, heads)

    def forward(self, global_out, local_out, context):
        return gate_heads(sigmoid(self.mlp(context)), global_out, local_out)


def hann_window(length: int) -> np.ndarray:
    """The periodic Hann window w_n = (1 - cos(2 pi n / L)) / 2 (Blackman & Tukey, 1958).

    With hop L/2 its squares sum to between 1/2 and 1 wherever two frames overlap."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


class WindowedFFTMixer(Module):
    """FFTNet with a local, windowed branch fused to the global one, (B, N, D) -> (B, N, D).

    Local branch (a short-time Fourier transform along tokens, Allen & Rabiner, 1977):
      1. pad w/2 zeros before the tokens and enough after them for whole frames; cut frames of
         w tokens every hop = w/2 tokens (every token then lies in two frames);
      2. per frame f: context c_f = mean of its tokens, spectrum rFFT(hann * frame) (ortho), and
         the filter and modReLU of the global mixer with their own W_base, b and modulation MLP,
         read from c_f: a filter per frame;
      3. irFFT (n = w, ortho), multiply by the window again, overlap-add, and divide by the summed
         squared window, so an identity filter gives back x exactly; crop the padding.
    Fusion: alpha = sigmoid(MLP(c)) per head, out = alpha global + (1 - alpha) local.
    """

    def __init__(self, dim: int, num_tokens: int, heads: int, window: int = 16):
        super().__init__()
        check_heads("WindowedFFTMixer", dim, heads, num_tokens)
        if checks.integer("WindowedFFTMixer", "window", window) < 2 or window % 2:
            raise ValueError("WindowedFFTMixer: window must be an even number >= 2 (hop = window/2), got "
                             f"{window}")
        self.dim, self.num_tokens, self.heads, self.window = dim, num_tokens, heads, window
        self.hop = window // 2
        # Tokens after padding: hop in front, then up to a whole number of hops (>= hop behind).
        chunks = -(-(num_tokens + 2 * self.hop) // self.hop)
        self.padded_tokens = chunks * self.hop
        self.num_frames = chunks - 1
        self.frequencies = window // 2 + 1
        self.global_mixer = FFTMixer(dim, num_tokens, heads)
        self.local_filter = SpectralFilter(dim, heads, self.frequencies)
        self.gate = HeadGate(dim, heads)
        hann = hann_window(window)
        squared = np.zeros(self.padded_tokens)
        for f in range(self.num_frames):
            squared[f * self.hop:f * self.hop + window] += hann ** 2
        # Constants, not state: the window (w, 1) and 1 / summed squared window (N, 1), per device and dtype.
        self._host_constants = (hann.reshape(window, 1),
                                (1 / squared[self.hop:self.hop + num_tokens]).reshape(num_tokens, 1))
        self._constants = {}

    def _window_and_norm(self, x):
        key = (x.device, x.dtype.str)
        if key not in self._constants:
            self._constants[key] = tuple(to_device(a.astype(x.dtype), x.device) for a in self._host_constants)
        return self._constants[key]

    def _local(self, x):
        b, n, d = x.shape
        w, frames = self.window, self.num_frames
        window, inverse_norm = self._window_and_norm(x)
        framed = frame_tokens(x, w, frames)                                    # (B, frames, w, D)
        context = framed.mean(axis=2)                                          # (B, frames, D)
        spectrum = rfft(framed * window, axis=2, norm="ortho").reshape(b, frames, self.frequencies,
                                                                       self.heads, d // self.heads)
        filtered = self.local_filter(spectrum, context).reshape(b, frames, self.frequencies, d)
        pieces = irfft(filtered, n=w, axis=2, norm="ortho") * window           # (B, frames, w, D)
        return overlap_add_tokens(pieces, n) * inverse_norm

    def forward(self, x):
        check_tokens("WindowedFFTMixer", x, self.num_tokens, self.dim)
        context = x.mean(axis=1)  # one token mean for the global filter and the gate
        return self.gate(self.global_mixer(x, context), self._local(x), context)

    def macs(self, x_shape) -> int:
        """The local branch's rFFTs and inverses of w points per frame and channel (the global
        mixer and the Linears count apart)."""
        b, n, d = x_shape
        return 2 * fft_macs(self.window, b * self.num_frames * d)

    def extra_repr(self):
        return (f"dim={self.dim}, num_tokens={self.num_tokens}, heads={self.heads}, window={self.window}, "
                f"hop={self.hop}")

