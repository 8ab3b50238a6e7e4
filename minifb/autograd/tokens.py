"""Ops on token sequences (B, N, D) that the windowed and hybrid mixers need, each one primitive:
``gate_heads`` (a per-head blend of two branches), ``frame_tokens`` (overlapping frames of tokens)
and its adjoint ``overlap_add_tokens``."""
from __future__ import annotations

from .. import checks
from ..backend import get_array_module
from .function import primitive, unbroadcast


@primitive("gate_heads", inputs=3)
def gate_heads(alpha, global_out, local_out):
    """alpha global + (1 - alpha) local for tokens (B, N, D) and one weight per head, alpha (B, H); one
    primitive.

    With head h owning channels h d .. (h + 1) d - 1 (d = D/H) and g = dL/d(out):
    dL/dglobal = alpha g,  dL/dlocal = (1 - alpha) g,  dL/dalpha_h = sum over tokens and the head's
    channels of g global - g local.
    """
    if (global_out.shape != local_out.shape or global_out.ndim != 3 or alpha.ndim != 2
            or alpha.shape[0] != global_out.shape[0] or global_out.shape[2] % alpha.shape[1]):
        raise ValueError("gate_heads: expected alpha (B, H) and two token arrays (B, N, D) with D a "
                         f"multiple of H, got {tuple(alpha.shape)}, {tuple(global_out.shape)} and "
                         f"{tuple(local_out.shape)}")
    b, n, d = global_out.shape
    h = alpha.shape[1]
    a = alpha.data.reshape(b, 1, h, 1)
    glob, loc = global_out.data.reshape(b, n, h, d // h), local_out.data.reshape(b, n, h, d // h)
    out = (a * glob + (1 - a) * loc).reshape(b, n, d)

    def per_head(g):
        return g.reshape(b, n, h, d // h)

    def grad_alpha(g):
        g = per_head(g)
        return (unbroadcast(g * glob, a.shape) - unbroadcast(g * loc, a.shape)).reshape(b, h)
    return out, (grad_alpha, lambda g: (per_head(g) * a).reshape(b, n, d),
                 lambda g: (per_head(g) * (1 - a)).reshape(b, n, d))


@primitive("frame_tokens")
def frame_tokens(x, window: int, frames: int):
    """Frames of ``window`` tokens every hop = window/2 tokens from x (B, N, D), after hop zeros in
    front and zeros behind up to (frames + 1) hops: (B, frames, window, D), one primitive.

    frames[:, f, t] = padded[:, f hop + t]. Its adjoint, and so its VJP, is ``overlap_add_tokens``.
    """
    _check_frames("frame_tokens", x.shape, window, frames, x.shape[1] if x.ndim == 3 else None, 3)
    n = x.shape[1]
    return _frame(x.data, window, frames), (lambda g: _overlap_add(g, n),)


@primitive("overlap_add_tokens")
def overlap_add_tokens(pieces, n: int):
    """The adjoint of ``frame_tokens``: frames (B, frames, window, D) summed back onto the padded
    token axis where they were cut, cropped to the n tokens after the first hop: (B, n, D)."""
    window, frames = (pieces.shape[2], pieces.shape[1]) if pieces.ndim == 4 else (0, 0)
    _check_frames("overlap_add_tokens", pieces.shape, window, frames, n, 4)
    return _overlap_add(pieces.data, n), (lambda g: _frame(g, window, frames),)


def _check_frames(name, shape, window, frames, n, ndim):
    """Frames of an even window >= 2 every window/2 tokens must cover all n tokens after the first hop."""
    checks.integer(name, "window", window)
    checks.integer(name, "frames", frames, 0)
    if n is not None:
        checks.integer(name, "n", n)
    if len(shape) != ndim or window < 2 or window % 2 or n is None or not 0 < n <= frames * (window // 2):
        raise ValueError(f"{name}: expected "
                         f"{'tokens (B, N, D)' if ndim == 3 else 'frames (B, frames, window, D)'} with an "
                         f"even window >= 2 and N <= frames * window/2, got shape {tuple(shape)}, window "
                         f"{window}, frames {frames}, N {n}")


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
