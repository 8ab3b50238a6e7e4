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

from ..autograd.complex_activation import filtered_mod_relu
from ..autograd.function import record, tensors, unbroadcast
from ..autograd.shape import swapaxes
from ..autograd.spectral import irfft, rfft
from ..autograd.unary import sigmoid, tanh
from ..backend import get_array_module, to_device
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


def check_heads(name: str, dim: int, heads: int) -> None:
    if heads < 1 or dim % heads:
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
        check_heads("FFTMixer", dim, heads)
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


def gate_heads(alpha, global_out, local_out):
    """alpha global + (1 - alpha) local for tokens (B, N, D) and one weight per head, alpha (B, H); one primitive.

    With head h owning channels h d .. (h + 1) d - 1 (d = D/H) and g = dL/d(out):
    dL/dglobal = alpha g,  dL/dlocal = (1 - alpha) g,  dL/dalpha_h = sum over tokens and the head's
    channels of g global - g local.
    """
    alpha, global_out, local_out = tensors("gate_heads", alpha, global_out, local_out)
    if (global_out.shape != local_out.shape or global_out.ndim != 3 or alpha.ndim != 2
            or alpha.shape[0] != global_out.shape[0] or global_out.shape[2] % alpha.shape[1]):
        raise ValueError(f"gate_heads: expected alpha (B, H) and two token arrays (B, N, D) with D a multiple of H, "
                         f"got {tuple(alpha.shape)}, {tuple(global_out.shape)} and {tuple(local_out.shape)}")
    b, n, d = global_out.shape
    h = alpha.shape[1]
    a = alpha.data.reshape(b, 1, h, 1)
    glob, loc = global_out.data.reshape(b, n, h, d // h), local_out.data.reshape(b, n, h, d // h)
    out = (a * glob + (1 - a) * loc).reshape(b, n, d)

    def vjp(g):
        g = g.reshape(b, n, h, d // h)
        grad_alpha = unbroadcast(g * glob, a.shape) - unbroadcast(g * loc, a.shape)
        return grad_alpha.reshape(b, h), (g * a).reshape(b, n, d), (g * (1 - a)).reshape(b, n, d)
    return record("gate_heads", out, (alpha, global_out, local_out), vjp)


def hann_window(length: int) -> np.ndarray:
    """The periodic Hann window w_n = (1 - cos(2 pi n / L)) / 2 (Blackman & Tukey, 1958).

    With hop L/2 its squares sum to between 1/2 and 1 wherever two frames overlap."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)


def frame_tokens(x, window: int, frames: int):
    """Frames of ``window`` tokens every hop = window/2 tokens from x (B, N, D), after hop zeros in
    front and zeros behind up to (frames + 1) hops: (B, frames, window, D), one primitive.

    frames[:, f, t] = padded[:, f hop + t]. Its adjoint, and so its VJP, is ``overlap_add_tokens``.
    """
    (x,) = tensors("frame_tokens", x)
    _check_frames("frame_tokens", x.shape, window, frames, x.shape[1] if x.ndim == 3 else None, 3)
    n = x.shape[1]
    return record("frame_tokens", _frame(x.data, window, frames), (x,), lambda g: (_overlap_add(g, n),))


def overlap_add_tokens(pieces, n: int):
    """The adjoint of ``frame_tokens``: frames (B, frames, window, D) summed back onto the padded
    token axis where they were cut, cropped to the n tokens after the first hop: (B, n, D)."""
    (pieces,) = tensors("overlap_add_tokens", pieces)
    window, frames = (pieces.shape[2], pieces.shape[1]) if pieces.ndim == 4 else (0, 0)
    _check_frames("overlap_add_tokens", pieces.shape, window, frames, n, 4)
    return record("overlap_add_tokens", _overlap_add(pieces.data, n), (pieces,),
                  lambda g: (_frame(g, window, frames),))


def _check_frames(name, shape, window, frames, n, ndim):
    """Frames of an even window >= 2 every window/2 tokens must cover all n tokens after the first hop."""
    if len(shape) != ndim or window < 2 or window % 2 or n is None or not 0 < n <= frames * (window // 2):
        raise ValueError(f"{name}: expected {'tokens (B, N, D)' if ndim == 3 else 'frames (B, frames, window, D)'} "
                         f"with an even window >= 2 and N <= frames * window/2, got shape {tuple(shape)}, "
                         f"window {window}, frames {frames}, N {n}")


def _frame(a, window, frames):
    """Pad, cut into hops, and join each hop to the next (every padded token lies in two frames)."""
    xp = get_array_module(a)
    b, n, d = a.shape
    hop = window // 2
    padded = xp.zeros((b, (frames + 1) * hop, d), dtype=a.dtype)
    padded[:, hop:hop + n] = a
    chunks = padded.reshape(b, frames + 1, hop, d)
    return xp.concatenate([chunks[:, :-1], chunks[:, 1:]], axis=2)


def _overlap_add(pieces, n):
    """Hop j gets the first half of frame j and the second half of frame j - 1; crop the padding."""
    xp = get_array_module(pieces)
    b, frames, window, d = pieces.shape
    hop = window // 2
    summed = xp.zeros((b, frames + 1, hop, d), dtype=pieces.dtype)
    summed[:, :-1] += pieces[:, :, :hop]
    summed[:, 1:] += pieces[:, :, hop:]
    return summed.reshape(b, (frames + 1) * hop, d)[:, hop:hop + n]


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
        check_heads("WindowedFFTMixer", dim, heads)
        if window < 2 or window % 2:
            raise ValueError(f"WindowedFFTMixer: window must be an even number >= 2 (hop = window/2), got {window}")
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
        self._host_constants = (hann.reshape(window, 1), (1 / squared[self.hop:self.hop + num_tokens]).reshape(num_tokens, 1))
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
        spectrum = rfft(framed * window, axis=2, norm="ortho").reshape(b, frames, self.frequencies, self.heads, d // self.heads)
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
        return f"dim={self.dim}, num_tokens={self.num_tokens}, heads={self.heads}, window={self.window}, hop={self.hop}"

