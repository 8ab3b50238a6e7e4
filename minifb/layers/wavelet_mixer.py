"""Wavelet token mixing: a local counterpart of FFTNet's global spectral filter, and the hybrid of both.

WaveletMixer (docs/design.md, "FFTNet token mixing", variants), on x of shape (B, N, D) with H heads:

    [a_J, d_J, ..., d_1] = Haar DWT of x along tokens, J levels     (Haar, 1910; Mallat, 1989)
    s = 1 + tanh(MLP(c)),  c = mean over tokens of x                 s: (B, H, J + 1)
    coefficient set k of head h is multiplied by s[h, k]              (k = 0: a_J, k = j: d_{J+1-j})
    out = inverse DWT, cropped to N tokens

The Haar analysis pads one zero to odd lengths at each level and the synthesis crops it again
(minifb.autograd.wavelet), so any number of tokens works (the CIFAR ViT has 65). With s = 1 the
mixer is the identity: the transform is orthogonal.

HybridMixer fuses the global FFT mixer and a WaveletMixer with the per-head gate of the windowed
FFT mixer: alpha = sigmoid(MLP(c)), out = alpha global + (1 - alpha) wavelet.
"""
from __future__ import annotations

from .. import checks
from ..autograd.shape import expand
from ..autograd.wavelet import haar_wavedec, haar_waverec
from ..autograd.unary import tanh
from .fft_mixer import FFTMixer, HeadGate, check_heads, check_tokens, context_mlp
from .module import Module


def haar_lengths(length: int, levels: int) -> list[int]:
    """Lengths of the signal entering each Haar level: N, ceil(N/2), ... (J entries)."""
    lengths = [length]
    for _ in range(levels - 1):
        lengths.append(-(-lengths[-1] // 2))
    return lengths


class WaveletMixer(Module):
    """Context-scaled Haar sub-bands along tokens, (B, N, D) -> (B, N, D) (module docstring)."""

    def __init__(self, dim: int, num_tokens: int, heads: int, levels: int = 3):
        super().__init__()
        check_heads("WaveletMixer", dim, heads, num_tokens)
        checks.integer("WaveletMixer", "levels", levels, 1)
        if not isinstance(levels, int) or levels < 1 or num_tokens <= 2 ** (levels - 1):
            raise ValueError(f"WaveletMixer: {levels} Haar level(s) need more than "
                             f"{2 ** (max(levels, 1) - 1)} tokens and levels >= 1, got "
                             f"num_tokens={num_tokens}, levels={levels}")
        self.dim, self.num_tokens, self.heads, self.levels = dim, num_tokens, heads, levels
        self.scales = context_mlp(dim, heads * (levels + 1))

    def forward(self, x, context=None):
        """``context``: the token mean of x (B, D) when the caller has it already (the hybrid mixer)."""
        check_tokens("WaveletMixer", x, self.num_tokens, self.dim)
        b, n, d = x.shape
        h = self.heads
        if context is None:
            context = x.mean(axis=1)
        sets = self.levels + 1
        scale = 1 + tanh(self.scales(context)).reshape(b, h, 1, sets)
        # Each head's scales repeated over its d/H channels, (B, D, J + 1): a coefficient set then
        # takes its scales as one (B, 1, D) slice, with no head split of the coefficients.
        per_channel = expand(scale, (b, h, d // h, sets)).reshape(b, d, sets)
        coeffs = haar_wavedec(x, self.levels, axis=1)                          # [a_J, d_J, ..., d_1]
        scaled = [c * per_channel[:, None, :, k] for k, c in enumerate(coeffs)]
        return haar_waverec(scaled, axis=1, length=n)

    def macs(self, x_shape, context_shape=None) -> int:
        """Analysis and synthesis: 2 MACs per output coefficient and level, both ways (a context
        handed in costs nothing)."""
        b, n, d = x_shape
        per_channel = sum(2 * (length + length % 2) for length in haar_lengths(n, self.levels))
        return 2 * b * d * per_channel

    def extra_repr(self):
        return f"dim={self.dim}, num_tokens={self.num_tokens}, heads={self.heads}, levels={self.levels}"


class HybridMixer(Module):
    """Global FFT filter and local wavelet scaling fused per head, (B, N, D) -> (B, N, D)."""

    def __init__(self, dim: int, num_tokens: int, heads: int, levels: int = 3):
        check_heads("HybridMixer", dim, heads, num_tokens)
        super().__init__()
        self.dim, self.num_tokens, self.heads = dim, num_tokens, heads
        self.global_mixer = FFTMixer(dim, num_tokens, heads)
        self.wavelet_mixer = WaveletMixer(dim, num_tokens, heads, levels)
        self.gate = HeadGate(dim, heads)

    def forward(self, x):
        check_tokens("HybridMixer", x, self.num_tokens, self.dim)
        context = x.mean(axis=1)  # one token mean for both branches and the gate
        return self.gate(self.global_mixer(x, context), self.wavelet_mixer(x, context), context)

    def extra_repr(self):
        return f"dim={self.dim}, num_tokens={self.num_tokens}, heads={self.heads}"
