"""batch_norm and layer_norm, each one primitive with its analytic VJP (faster than composing).

Both normalise x_hat = (x - mu) / sqrt(var + eps) and apply y = w x_hat + b. With the
statistics computed from x itself (n values per statistic), the chain rule through mu and var
collapses to (Ioffe & Szegedy, 2015, section 3; Ba et al., 2016):

    dL/dx = (1 / sqrt(var + eps)) (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)),   dx_hat = w g
    dL/dw = sum g x_hat,    dL/db = sum g      (over everything the statistic does not keep)

Sums over leading axes are written as products with a ones vector: CuPy reduces over non-last
axes very slowly, while cuBLAS does ``ones @ a`` at full speed (and NumPy's BLAS is fast too).
"""
from __future__ import annotations

from ..backend import device_of, get_array_module
from .function import record, sum_leading, tensors


def _sum_per_channel(a):
    """Sum of a (N, C, L) array over N and L: (C,), as matrix-vector products (no slow axis reduction)."""
    xp = get_array_module(a)
    return sum_leading(a @ xp.ones(a.shape[2], dtype=a.dtype), 1)


def _affine_inputs(name, x, weight, bias, features):
    """The Tensors of (x, weight, bias) that are given, checking that weight and bias have ``features`` entries."""
    inputs = tensors(name, *(t for t in (x, weight, bias) if t is not None))
    for label, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (features,):
            raise ValueError(f"{name}: {label} must have shape ({features},) for input of shape {inputs[0].shape}, "
                             f"got {tuple(t.shape)}")
    return inputs


def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training: bool = True,
               momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalisation over the channel axis 1 of x, shaped (N, C) or (N, C, *spatial).

    Training: mu, var (biased) over every axis but 1; the running statistics (raw arrays of shape
    (C,), updated in place when given) follow PyTorch: r <- (1 - momentum) r + momentum s, with
    the unbiased variance var n / (n - 1). Evaluation (``training=False``): mu, var are the running
    statistics, constants, and y is an affine map of x (dL/dx = g w / sqrt(var + eps)).
    """
    if getattr(x, "ndim", 0) < 2:
        raise ValueError(f"batch_norm: input must be (N, C) or (N, C, *spatial), got shape {tuple(getattr(x, 'shape', ()))}")
    channels = x.shape[1]
    inputs = _affine_inputs("batch_norm", x, weight, bias, channels)
    x = inputs[0]
    xp = get_array_module(x.data)
    for label, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is not None and (tuple(r.shape) != (channels,) or device_of(r) != x.device):
            raise ValueError(f"batch_norm: {label} must be a ({channels},) array on {x.device}, "
                             f"got shape {tuple(r.shape)} on {device_of(r)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation mode (training=False) needs running_mean and running_var")

    n_batch = x.shape[0]
    x3 = x.data.reshape(n_batch, channels, -1)  # (N, C, L): every statistic is over N and L
    n = n_batch * x3.shape[2]
    if training:
        if n < 2:
            raise ValueError(f"batch_norm: training needs more than 1 value per channel, got input of shape {x.shape}")
        mean = _sum_per_channel(x3) / n
        centered = x3 - mean[:, None]
        var = _sum_per_channel(centered * centered) / n
        if running_mean is not None:
            running_mean[...] = ((1 - momentum) * running_mean + momentum * mean).astype(running_mean.dtype)
        if running_var is not None:
            unbiased = var * (n / (n - 1))
            running_var[...] = ((1 - momentum) * running_var + momentum * unbiased).astype(running_var.dtype)
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
        centered = x3 - mean[:, None]
    inv_std = 1 / xp.sqrt(var + eps)
    x_hat = centered * inv_std[:, None]
    w = weight.data if weight is not None else None
    out = x_hat if w is None else x_hat * w[:, None]
    if bias is not None:
        out = out + bias.data[:, None]

    def vjp(g):
        g3 = g.reshape(x3.shape)
        dx_hat = g3 if w is None else g3 * w[:, None]
        if training:
            mean_dx_hat = _sum_per_channel(dx_hat) / n
            mean_dx_hat_x_hat = _sum_per_channel(dx_hat * x_hat) / n
            dx = (dx_hat - mean_dx_hat[:, None] - x_hat * mean_dx_hat_x_hat[:, None]) * inv_std[:, None]
        else:
            dx = dx_hat * inv_std[:, None]
        grads = [dx.reshape(x.shape)]
        if weight is not None:
            grads.append(_sum_per_channel(g3 * x_hat) if weight.requires_grad else None)
        if bias is not None:
            grads.append(_sum_per_channel(g3) if bias.requires_grad else None)
        return tuple(grads)
    return record("batch_norm", out.reshape(x.shape), inputs, vjp)


def layer_norm(x, weight=None, bias=None, eps: float = 1e-5):
    """Layer normalisation over the last axis of x (Ba et al., 2016); weight and bias: (D,)."""
    if getattr(x, "ndim", 0) < 1:
        raise ValueError("layer_norm: input must have at least 1 dimension (the normalised last axis)")
    features = x.shape[-1]
    inputs = _affine_inputs("layer_norm", x, weight, bias, features)
    x = inputs[0]
    xp = get_array_module(x.data)
    mean = x.data.mean(axis=-1, keepdims=True)
    centered = x.data - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    inv_std = 1 / xp.sqrt(var + eps)
    x_hat = centered * inv_std
    w = weight.data if weight is not None else None
    out = x_hat if w is None else x_hat * w
    if bias is not None:
        out = out + bias.data

    def vjp(g):
        dx_hat = g if w is None else g * w
        dx = (dx_hat - dx_hat.mean(axis=-1, keepdims=True)
              - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)) * inv_std
        grads = [dx]
        if weight is not None:
            grads.append(sum_leading(g * x_hat, g.ndim - 1) if weight.requires_grad else None)
        if bias is not None:
            grads.append(sum_leading(g, g.ndim - 1) if bias.requires_grad else None)
        return tuple(grads)
    return record("layer_norm", out, inputs, vjp)
