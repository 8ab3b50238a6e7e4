"""softmax, log_softmax and cross-entropy from logits, each a single stable primitive."""
from __future__ import annotations

from .. import checks
from ..backend import get_array_module
from ..deferred_checks import require
from .function import normalize_axis, primitive
from .tensor import Tensor


def _log_softmax_array(x, axis):
    if x.size == 0:  # nothing to normalise (max has no identity): the empty result
        return x.copy()
    xp = get_array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


@primitive("softmax")
def softmax(x, axis=-1):
    """s = exp(x - max) / sum exp(x - max);  dL/dx = s (g - sum(g s))."""
    checks.real("softmax", x)
    axis = normalize_axis("softmax", axis, x.ndim, x.shape)
    s = get_array_module(x.data).exp(_log_softmax_array(x.data, axis))
    return s, (lambda g: s * (g - (g * s).sum(axis=axis, keepdims=True)),)


@primitive("log_softmax")
def log_softmax(x, axis=-1):
    """x - logsumexp(x);  dL/dx = g - softmax(x) sum(g)."""
    checks.real("log_softmax", x)
    axis = normalize_axis("log_softmax", axis, x.ndim, x.shape)
    out = _log_softmax_array(x.data, axis)
    xp = get_array_module(x.data)
    return out, (lambda g: g - xp.exp(out) * g.sum(axis=axis, keepdims=True),)


@primitive("cross_entropy")
def cross_entropy(logits, labels, label_smoothing: float = 0.0, reduction: str = "mean"):
    """Cross-entropy of integer class labels under softmax(logits), from logits (stable).

    logits (N, C), labels (N,) integers in [0, C). With smoothing eps the target is
    q = (1 - eps) onehot(label) + eps / C and loss_i = -sum_c q_c log_softmax(logits_i)_c
    (Szegedy et al., 2016). dL/dlogits_i = softmax(logits_i) - q_i (divided by N for 'mean').
    """
    y = labels.data if isinstance(labels, Tensor) else labels
    xp = get_array_module(logits.data)
    y = xp.asarray(y)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
    if logits.data.dtype.kind != "f":
        raise TypeError(f"cross_entropy: logits must be floating point, got {logits.dtype} of shape "
                        f"{logits.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integers (class indices), got {y.dtype} labels of "
                        f"shape {tuple(y.shape)} for logits of shape {logits.shape}")
    if y.shape != logits.shape[:1]:
        raise ValueError(f"cross_entropy: labels of shape {tuple(y.shape)} do not match logits of shape "
                         f"{logits.shape}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    label_smoothing = checks.number("cross_entropy", "label_smoothing", label_smoothing, 0, 1, high_open=True)
    n, c = logits.shape
    if n == 0 and reduction != "none":  # PyTorch: the mean over no examples is NaN, the sum 0
        value = xp.asarray(float("nan") if reduction == "mean" else 0.0, dtype=logits.dtype)
        return value, (lambda g: xp.zeros_like(logits.data),)
    if n:  # on the GPU, read when the caller chooses (deferred_checks): min and max only on error
        require(((y < 0) | (y >= c)).any(), f"cross_entropy: labels must be in [0, {c}) for logits of shape "
                f"{logits.shape}", lambda: f", got values from {int(y.min())} to {int(y.max())}")
    logp = _log_softmax_array(logits.data, 1)
    rows = xp.arange(n)
    picked = logp[rows, y]
    per_example = -picked if label_smoothing == 0 else \
        -(1 - label_smoothing) * picked - label_smoothing * logp.mean(axis=1)
    scale = 1.0 / max(n, 1) if reduction == "mean" else 1.0
    out = per_example if reduction == "none" else per_example.sum() * scale

    def vjp(g):
        d = xp.exp(logp)
        if label_smoothing:
            d -= label_smoothing / c
        d[rows, y] -= 1 - label_smoothing
        return d * (g[:, None] if reduction == "none" else g * scale)
    return out.astype(logits.dtype, copy=False), (vjp,)
