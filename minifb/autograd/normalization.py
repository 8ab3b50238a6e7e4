"""batch_norm and layer_norm, each one primitive with its analytic VJP (faster than composing).

Both normalise x_hat = (x - mu) / sqrt(var + eps) and apply y = w x_hat + b. With the
statistics computed from x itself (n values per statistic), the chain rule through mu and var
collapses to (Ioffe & Szegedy, 2015, section 3; Ba et al., 2016):

    dL/dx = (1 / sqrt(var + eps)) (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)),   dx_hat = w g
    dL/dw = sum g x_hat,    dL/db = sum g      (over everything the statistic does not keep)

Sums over leading axes are written as products with a ones vector: CuPy reduces over non-last
axes very slowly, while cuBLAS does ``ones @ a`` at full speed (and NumPy's BLAS is fast too).
On CuPy, layer_norm with weight and bias runs as one kernel per pass (a thread block per row)
instead of a dozen elementwise kernels and reductions: the same equations, fewer launches.
"""
from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..backend import device_of, get_array_module, matmul
from .function import primitive, sum_leading


def _sum_per_channel(a):
    """Sum of a (N, C, L) array over N and L: (C,), as matrix-vector products (no slow axis reduction)."""
    xp = get_array_module(a)
    return sum_leading(matmul(a, xp.ones(a.shape[2], dtype=a.dtype)), 1)


def _check_affine(name, x, weight, bias, features) -> None:
    """Raise unless weight and bias (when given) have ``features`` entries."""
    for label, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (features,):
            raise ValueError(f"{name}: {label} must have shape ({features},) for input of shape {x.shape}, "
                             f"got {tuple(t.shape)}")


@primitive("batch_norm", inputs=3)
def batch_norm(x, weight=None, bias=None, running_mean=None, running_var=None, training: bool = True,
               momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalisation over the channel axis 1 of x, shaped (N, C) or (N, C, *spatial).

    Training: mu, var (biased) over every axis but 1; the running statistics (raw arrays of shape
    (C,), updated in place when given) follow PyTorch: r <- (1 - momentum) r + momentum s, with
    the unbiased variance var n / (n - 1). Evaluation (``training=False``): mu, var are the running
    statistics, constants, and y is an affine map of x (dL/dx = g w / sqrt(var + eps)).
    """
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C) or (N, C, *spatial), got shape {x.shape}")
    channels = x.shape[1]
    _check_affine("batch_norm", x, weight, bias, channels)
    checks.real("batch_norm", x)
    momentum = checks.number("batch_norm", "momentum", momentum, 0, 1)
    eps = checks.number("batch_norm", "eps", eps, 0, low_open=True)
    checks.flag("batch_norm", "training", training)
    xp = get_array_module(x.data)
    for label, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is not None and (tuple(r.shape) != (channels,) or device_of(r) != x.device):
            raise ValueError(f"batch_norm: {label} must be a ({channels},) array on {x.device}, "
                             f"got shape {tuple(r.shape)} on {device_of(r)}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation mode (training=False) needs running_mean and running_var")

    n_batch = x.shape[0]
    x3 = x.data.reshape(n_batch, channels, math.prod(x.shape[2:]))  # (N, C, L): statistics over N and L
    n = n_batch * x3.shape[2]
    if training:
        if n < 2:
            raise ValueError("batch_norm: training needs more than 1 value per channel, got input of shape "
                             f"{x.shape}")
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

    def grad_x(g):
        g3 = g.reshape(x3.shape)
        dx_hat = g3 if w is None else g3 * w[:, None]
        if training:
            mean_dx_hat = _sum_per_channel(dx_hat) / n
            mean_dx_hat_x_hat = _sum_per_channel(dx_hat * x_hat) / n
            dx = (dx_hat - mean_dx_hat[:, None] - x_hat * mean_dx_hat_x_hat[:, None]) * inv_std[:, None]
        else:
            dx = dx_hat * inv_std[:, None]
        return dx.reshape(x.shape)

    def grad_weight(g):
        return _sum_per_channel(g.reshape(x3.shape) * x_hat)

    def grad_bias(g):
        return _sum_per_channel(g.reshape(x3.shape))
    return out.reshape(x.shape), (grad_x, grad_weight, grad_bias)


@primitive("layer_norm", inputs=3)
def layer_norm(x, weight=None, bias=None, eps: float = 1e-5):
    """Layer normalisation over the last axis of x (Ba et al., 2016); weight and bias: (D,)."""
    if x.ndim < 1:
        raise ValueError("layer_norm: input must have at least 1 dimension (the normalised last axis)")
    _check_affine("layer_norm", x, weight, bias, x.shape[-1])
    checks.real("layer_norm", x)
    eps = checks.number("layer_norm", "eps", eps, 0, low_open=True)
    xp = get_array_module(x.data)
    if xp is not np and weight is not None and bias is not None and x.size \
            and x.dtype == weight.dtype == bias.dtype and x.dtype in (np.float32, np.float64):
        return _layer_norm_cuda(x, weight, bias, eps)
    mean = x.data.mean(axis=-1, keepdims=True)
    centered = x.data - mean
    var = (centered * centered).mean(axis=-1, keepdims=True)
    inv_std = 1 / xp.sqrt(var + eps)
    x_hat = centered * inv_std
    w = weight.data if weight is not None else None
    out = x_hat if w is None else x_hat * w
    if bias is not None:
        out = out + bias.data

    def grad_x(g):
        dx_hat = g if w is None else g * w
        return (dx_hat - dx_hat.mean(axis=-1, keepdims=True)
                - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)) * inv_std
    return out, (grad_x, lambda g: sum_leading(g * x_hat, g.ndim - 1), lambda g: sum_leading(g, g.ndim - 1))


# ---- layer_norm on CuPy: one thread block per row ---------------------------------------------------

_LAYER_NORM_SOURCE = r"""
// Sum of v over the threads of the block (blockDim.x a multiple of 32, at most 1024).
__device__ REAL block_sum(REAL v, REAL* shared) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();  // the previous call's result in shared[0] has been read by every thread
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x >> 5) ? shared[lane] : (REAL)0;
        for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
        if (lane == 0) shared[0] = v;
    }
    __syncthreads();
    return shared[0];
}

// y = (x - mean) inv_std w + b for one row of length d; saves mean and inv_std for the backward pass.
extern "C" __global__ void layer_norm_forward(const REAL* x, const REAL* w, const REAL* b, REAL* y,
                                              REAL* mean_out, REAL* inv_std_out, int d, REAL eps) {
    __shared__ REAL shared[32];
    const REAL* row = x + (size_t)blockIdx.x * d;
    REAL* out = y + (size_t)blockIdx.x * d;
    REAL s = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) s += row[j];
    REAL mean = block_sum(s, shared) / d;
    REAL q = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) { REAL c = row[j] - mean; q += c * c; }
    REAL inv_std = (REAL)1 / sqrt(block_sum(q, shared) / d + eps);
    for (int j = threadIdx.x; j < d; j += blockDim.x) out[j] = (row[j] - mean) * inv_std * w[j] + b[j];
    if (threadIdx.x == 0) { mean_out[blockIdx.x] = mean; inv_std_out[blockIdx.x] = inv_std; }
}

// dx = inv_std (dx_hat - mean(dx_hat) - x_hat mean(dx_hat x_hat)), dx_hat = g w, for one row.
extern "C" __global__ void layer_norm_backward(const REAL* g, const REAL* x, const REAL* w,
                                               const REAL* mean_in, const REAL* inv_std_in, REAL* dx, int d) {
    __shared__ REAL shared[32];
    size_t start = (size_t)blockIdx.x * d;
    REAL mean = mean_in[blockIdx.x], inv_std = inv_std_in[blockIdx.x];
    REAL s1 = 0, s2 = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        REAL dx_hat = g[start + j] * w[j];
        s1 += dx_hat;
        s2 += dx_hat * (x[start + j] - mean) * inv_std;
    }
    REAL mean_dx_hat = block_sum(s1, shared) / d;
    REAL mean_dx_hat_x_hat = block_sum(s2, shared) / d;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        REAL x_hat = (x[start + j] - mean) * inv_std;
        dx[start + j] = (g[start + j] * w[j] - mean_dx_hat - x_hat * mean_dx_hat_x_hat) * inv_std;
    }
}
"""
_layer_norm_modules = {}


def _layer_norm_kernels(dtype):
    """The compiled forward and backward kernels for float32 or float64 (built once per dtype)."""
    if dtype not in _layer_norm_modules:
        import cupy
        source = _LAYER_NORM_SOURCE.replace("REAL", "float" if dtype == np.float32 else "double")
        module = cupy.RawModule(code=source)
        _layer_norm_modules[dtype] = (module.get_function("layer_norm_forward"),
                                      module.get_function("layer_norm_backward"))
    return _layer_norm_modules[dtype]


def _layer_norm_cuda(x, weight, bias, eps):
    """layer_norm with weight and bias on CuPy: the equations of the module docstring, fused per row."""
    import cupy
    d = x.shape[-1]
    rows = x.size // d
    dtype = x.dtype.type
    forward, backward = _layer_norm_kernels(dtype)
    threads = min(1024, (d + 31) // 32 * 32)
    x2 = cupy.ascontiguousarray(x.data).reshape(rows, d)
    w, b = cupy.ascontiguousarray(weight.data), cupy.ascontiguousarray(bias.data)
    out = cupy.empty_like(x2)
    mean = cupy.empty(rows, dtype)
    inv_std = cupy.empty(rows, dtype)
    forward((rows,), (threads,), (x2, w, b, out, mean, inv_std, np.int32(d), dtype(eps)))

    def rows_of(g):
        return cupy.ascontiguousarray(g).reshape(rows, d)

    def grad_x(g):
        dx = cupy.empty_like(x2)
        backward((rows,), (threads,), (rows_of(g), x2, w, mean, inv_std, dx, np.int32(d)))
        return dx.reshape(x.shape)

    def grad_weight(g):
        return sum_leading(rows_of(g) * ((x2 - mean[:, None]) * inv_std[:, None]), 1)

    def grad_bias(g):
        return sum_leading(rows_of(g), 1)
    return out.reshape(x.shape), (grad_x, grad_weight, grad_bias)
