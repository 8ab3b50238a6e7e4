"""2-D pooling of NCHW tensors: max, average, and adaptive average.

max_pool2d and avg_pool2d visit the kh*kw offsets of the window in turn; at each offset the
strided view ``x[:, :, i::sh, j::sw]`` holds that offset's value for every output pixel at once,
so there is no loop over pixels and the same code runs on NumPy and CuPy. Their VJPs add the
gradient back through the same views, one offset at a time, so overlapping windows accumulate.
On CuPy, max pooling runs as two kernels instead (the maximum and its offset in one pass; the
gradient as a gather over the windows that contain each pixel).

adaptive_avg_pool2d is linear and separable: with A_h (Ho, H) and A_w (Wo, W) averaging over
PyTorch's bins (start = floor(i H / Ho), end = ceil((i + 1) H / Ho)), out = A_h x A_w^T per
channel, one matrix product with M = kron(A_h, A_w) on the flattened image; its VJP is g M.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..backend import elementwise_kernel, get_array_module, matmul
from .conv import INT32_LIMIT, as_pair, output_size
from .function import primitive


@primitive("max_pool2d")
def max_pool2d(x, kernel, stride=None):
    """out[n, c, p, q] = max over the window at (p sh, q sw) of x[n, c];  the gradient goes to the
    window's largest element (the first one, in row-major order, when several are equal).

    ``kernel`` and ``stride`` (default: ``kernel``) are an int or an (height, width) pair.
    """
    windows = _Windows("max_pool2d", x, kernel, stride)
    if x.dtype.kind != "f":
        raise TypeError(f"max_pool2d: expected a real floating-point tensor (complex numbers have no order), "
                        f"got {x.dtype}")
    xp = get_array_module(x.data)
    x_data = xp.ascontiguousarray(x.data)
    if xp is not np and x.size <= INT32_LIMIT:  # the kernels index in 32 bits
        forward, backward = _max_pool_cuda, _max_pool_backward_cuda
    else:
        forward, backward = _max_pool_views, _max_pool_backward_views
    out, argmax = forward(x_data, windows)
    return out, (lambda g: backward(g, argmax, windows, x.shape),)


def _max_pool_views(x, windows):
    """Maximum and the offset k = i kw + j of the first maximum of each window, offset by offset."""
    xp = get_array_module(x)
    out = argmax = None
    for k, view in enumerate(windows.views(x)):
        if out is None:
            out, argmax = view.copy(), xp.zeros(view.shape, dtype=windows.offset_type)
        else:
            larger = view > out  # strictly: on ties the earlier offset keeps the gradient
            out = xp.where(larger, view, out)
            argmax = xp.where(larger, windows.offset_type.type(k), argmax)
    return out, argmax


def _max_pool_backward_views(g, argmax, windows, shape):
    """Each output's gradient, added to the input at its window's argmax, offset by offset."""
    xp = get_array_module(g)
    dx = xp.zeros(shape, dtype=g.dtype)
    for k, view in enumerate(windows.views(dx)):
        view += xp.where(argmax == k, g, 0)
    return dx


def _max_pool_cuda(x, windows):
    xp = get_array_module(x)
    shape = x.shape[:2] + (windows.out_h, windows.out_w)
    out, argmax = xp.empty(shape, dtype=x.dtype), xp.empty(shape, dtype=windows.offset_type)
    kernel = elementwise_kernel("raw T x", "T out, U argmax", MAX_POOL_FORWARD_SOURCE,
                                "minifb_max_pool_forward",
                                windows.cuda_constants())
    kernel(x, out, argmax)
    return out, argmax


def _max_pool_backward_cuda(g, argmax, windows, shape):
    xp = get_array_module(g)
    dx = xp.empty(shape, dtype=g.dtype)
    kernel = elementwise_kernel("raw T g, raw U argmax", "T dx", MAX_POOL_BACKWARD_SOURCE,
                                "minifb_max_pool_backward",
                                windows.cuda_constants())
    kernel(xp.ascontiguousarray(g), argmax, dx)
    return dx


@primitive("avg_pool2d")
def avg_pool2d(x, kernel, stride=None):
    """out[n, c, p, q] = mean over the window at (p sh, q sw) of x[n, c];  every element of a window
    gets g / (kh kw).  ``kernel`` and ``stride`` (default: ``kernel``) are an int or a pair.
    """
    windows = _Windows("avg_pool2d", x, kernel, stride)
    xp = get_array_module(x.data)
    scale = 1.0 / (windows.kernel[0] * windows.kernel[1])
    out = None
    for view in windows.views(x.data):
        out = view.copy() if out is None else out + view  # out + view: avoids writing into x
    out *= scale

    def vjp(g):
        dx = xp.zeros_like(x.data, dtype=g.dtype)
        share = g * scale
        for view in windows.views(dx):
            view += share
        return dx
    return out, (vjp,)


@primitive("adaptive_avg_pool2d")
def adaptive_avg_pool2d(x, output_size):
    """Average over a (Ho, Wo) grid of bins that cover the image (``output_size`` = 1: global average).

    Bins along an axis of length H: [floor(i H / Ho), ceil((i + 1) H / Ho)) for i < Ho, as in
    PyTorch.  out = x_flat M^T with M = kron(A_h, A_w);  dL/dx = g_flat M.
    """
    _check_image("adaptive_avg_pool2d", x)
    out_h, out_w = as_pair("adaptive_avg_pool2d", "output_size", output_size, 1)
    n, c, h, w = x.shape
    xp = get_array_module(x.data)
    averaging = _averaging_matrix(xp, h, w, out_h, out_w, x.data.real.dtype)  # (Ho*Wo, H*W)
    out = matmul(x.data.reshape(n * c, h * w), averaging.T).reshape(n, c, out_h, out_w)

    def vjp(g):
        return matmul(g.reshape(n * c, out_h * out_w), averaging).reshape(x.shape)
    return out, (vjp,)


@functools.lru_cache(maxsize=32)
def _averaging_matrix(xp, h, w, out_h, out_w, dtype):
    """The (Ho*Wo, H*W) matrix of bin averages on the device, made once per geometry (no copy to the
    device inside a training step, which a CUDA graph could not replay)."""
    return xp.asarray(np.kron(_bin_averages(h, out_h), _bin_averages(w, out_w)), dtype=dtype)


def _bin_averages(size: int, bins: int) -> np.ndarray:
    """(bins, size) matrix whose row i averages PyTorch's adaptive-pooling bin i."""
    matrix = np.zeros((bins, size))
    for i in range(bins):
        start, end = (i * size) // bins, math.ceil((i + 1) * size / bins)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _check_image(name: str, x) -> None:
    if x.ndim != 4:
        raise ValueError(f"{name}: expected x of shape (N, C, H, W), got {x.shape}")
    if x.dtype.kind not in "fc":
        raise TypeError(f"{name}: expected a floating-point tensor, got {x.dtype}")


class _Windows:
    """The pooling windows of one call: kernel, stride, output size, and the strided views."""

    def __init__(self, name, x, kernel, stride):
        _check_image(name, x)
        self.kernel = as_pair(name, "kernel", kernel, 1)
        self.stride = self.kernel if stride is None else as_pair(name, "stride", stride, 1)
        if self.kernel[0] > x.shape[2] or self.kernel[1] > x.shape[3]:
            raise ValueError(f"{name}: kernel {self.kernel} is larger than the input's {tuple(x.shape[2:])} "
                             f"(x {x.shape})")
        self.height, self.width = x.shape[2:]
        self.out_h = output_size(self.height, self.kernel[0], self.stride[0], 0)
        self.out_w = output_size(self.width, self.kernel[1], self.stride[1], 0)
        self.offset_type = np.min_scalar_type(self.kernel[0] * self.kernel[1] - 1)  # uint8 for small windows

    def cuda_constants(self) -> str:
        """The sizes as C++ constants (the kernels are compiled once per geometry, as in conv.py)."""
        values = dict(HEIGHT=self.height, WIDTH=self.width, OUT_H=self.out_h, OUT_W=self.out_w,
                      K_H=self.kernel[0], K_W=self.kernel[1], STRIDE_H=self.stride[0],
                      STRIDE_W=self.stride[1])
        return "".join(f"constexpr int {name} = {value};\n" for name, value in values.items())

    def views(self, a):
        """For each offset (i, j) of the window, row-major: a[:, :, i + p sh, j + q sw] over (p, q)."""
        (sh, sw), (kh, kw) = self.stride, self.kernel
        for i in range(kh):
            for j in range(kw):
                yield a[:, :, i:i + sh * (self.out_h - 1) + 1:sh, j:j + sw * (self.out_w - 1) + 1:sw]


# ---- CUDA kernels (CuPy only) -----------------------------------------------------------------
# One thread per output (forward) or per input pixel (backward, a gather: no atomics); 32-bit
# index arithmetic with the geometry as compile-time constants, as in conv.py.
MAX_POOL_FORWARD_SOURCE = """
    int k = (int)i;                        // output index, layout (N, C, Ho, Wo)
    const int q = k % OUT_W;   k /= OUT_W;
    const int p = k % OUT_H;
    const int plane = k / OUT_H;           // n * C + c
    const int corner = (plane * HEIGHT + p * STRIDE_H) * WIDTH + q * STRIDE_W;
    T best = x[corner];
    int best_offset = 0;
    for (int di = 0; di < K_H; ++di) {
        for (int dj = 0; dj < K_W; ++dj) {
            const T value = x[corner + di * WIDTH + dj];
            if (value > best) {            // strictly: ties keep the first offset
                best = value;
                best_offset = di * K_W + dj;
            }
        }
    }
    out = best;
    argmax = best_offset;
"""

MAX_POOL_BACKWARD_SOURCE = """
    int k = (int)i;                        // dx index, layout (N, C, H, W)
    const int x_ = k % WIDTH;   k /= WIDTH;
    const int y = k % HEIGHT;
    const int plane = k / HEIGHT;
    // the windows that contain row y start at p STRIDE_H in (y - K_H, y]; likewise for columns
    const int p_first = y < K_H ? 0 : (y - K_H) / STRIDE_H + 1;
    const int p_last = min(y / STRIDE_H, OUT_H - 1);
    const int q_first = x_ < K_W ? 0 : (x_ - K_W) / STRIDE_W + 1;
    const int q_last = min(x_ / STRIDE_W, OUT_W - 1);
    T total = (T)0;
    for (int p = p_first; p <= p_last; ++p) {
        for (int q = q_first; q <= q_last; ++q) {
            const int o = (plane * OUT_H + p) * OUT_W + q;
            if ((int)argmax[o] == (y - p * STRIDE_H) * K_W + (x_ - q * STRIDE_W)) total += g[o];
        }
    }
    dx = total;
"""
