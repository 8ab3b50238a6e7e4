"""FNet token mixing (Lee-Thorp et al., 2021): the real part of a 2-D DFT over tokens and channels.

    y = Re(FFT2(x)),   x (B, N, D),  the DFT over the token axis N and the channel axis D

No parameters: the mixing is fixed, the ancestor of FFTNet's adaptive filter. Its gradient is that
of the composition: for real x and a real g = dL/dy, dL/dx = Re(F^H g) with F^H the adjoint
(minifb.autograd.spectral's fft2 VJP, then real's).

``norm``: FNet uses the unnormalised DFT ("backward"), inside post-norm blocks. Inside minifb's
pre-norm blocks, x + Mix(LN(x)), that transform would make the branch about sqrt(N D) times
larger than its input (32 x 32 times for 1,024 tokens of width 1,024); "ortho" (the default here,
1/sqrt(N D)) keeps a random input's scale, as the other mixers do. Both are the same mixing up to
one constant factor.
"""
from __future__ import annotations

from ..autograd.complex import real
from ..autograd.spectral import fft2
from .fft_mixer import check_tokens, fft_macs
from .module import Module

NORMS = ("ortho", "backward")


class FNetMixer(Module):
    """y = Re(FFT2(x)) over the token and channel axes of x (B, N, D); parameter-free."""

    def __init__(self, dim: int, num_tokens: int, norm: str = "ortho"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"FNetMixer: norm must be one of {NORMS}, got {norm!r}")
        self.dim, self.num_tokens, self.norm = dim, num_tokens, norm

    def forward(self, x):
        check_tokens("FNetMixer", x, self.num_tokens, self.dim)
        return real(fft2(x, axes=(1, 2), norm=self.norm))

    def macs(self, x_shape) -> int:
        """A complex 2-D FFT of N x D points per example: a complex FFT of n points costs 2 n log2 n
        (``fft_macs`` counts a real one as n log2 n), along D for every token and along N for every
        channel."""
        b, n, d = x_shape
        return 2 * (fft_macs(d, b * n) + fft_macs(n, b * d))

    def extra_repr(self):
        return f"dim={self.dim}, num_tokens={self.num_tokens}, norm={self.norm!r}"
