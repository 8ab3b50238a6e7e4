"""2-D convolution (cross-correlation, as in every deep-learning library) by im2col + one GEMM.

    out[n, o, p, q] = b[o] + sum_{c, i, j} w[o, c, i, j] x_pad[n, c, p*sh + i, q*sw + j]

im2col copies every receptive field of the padded input into a column, giving the matrix
``col`` of shape (C*kh*kw, N*Ho*Wo); the convolution is then one matrix product
``w.reshape(Cout, C*kh*kw) @ col`` (Chellapilla et al., 2006; the way Caffe and Chainer do it).
The VJPs are matrix products too (``dw = g @ col^T``, ``dcol = w^T @ g``), and ``dx`` is col2im
of ``dcol``: the adjoint of im2col, which adds the overlapping patches back into the image.

Layout. The public API is NCHW, as in PyTorch, so weights map one to one. Inside, ``col`` puts
the batch next to the pixels, (C, kh, kw, N, Ho, Wo): im2col reads the NCHW input directly, the
product then lands in (Cout, N, Ho, Wo), and one transposing copy of the output (fused with
the bias add) brings it to NCHW. The backward pass makes the opposite copy of ``g``. Those copies
have the size of the output, a kh*kw-th of ``col``.

Implicit GEMM (CuPy, off by default: ``set_implicit_gemm(True)`` or ``MINIFB_CONV_IMPLICIT_GEMM=1``):
the forward pass as one kernel (conv_kernel.cu) that reads the columns straight from ``x`` tile by
tile and writes NCHW with the bias, without the column matrix or the layout copy. It is taken for
float32/float64 when TF32 is off (with TF32 on, cuBLAS's tensor-core GEMM is the faster path).

Memory. The forward pass keeps only ``x`` and ``w`` (as cuDNN does), and backward rebuilds the
columns. The batch is processed in chunks whose column matrix holds at most
``COLUMN_BUDGET[device]`` elements, so a training step needs a bounded amount of extra memory
however large the batch.

On CuPy, im2col, col2im and the two layout copies are custom kernels with 32-bit index
arithmetic (a chunk is kept below 2**31 elements; CuPy's own copies of transposed arrays index in
64 bits), compiled once per geometry with the sizes as constants. col2im is a gather: each
input pixel sums the columns it appeared in, so no atomics are needed and the result is
deterministic.
"""
from __future__ import annotations

import functools
import pathlib

import numpy as np

from .. import backend
from ..backend import elementwise_kernel, get_array_module, matmul
from .function import conj, primitive

# Elements of one chunk's column matrix. On the CPU 16 MiB in float32: small blocks are reused by
# the allocator (large ones come back as fresh pages, which cost more to touch than the GEMM) and
# stay nearer the caches. On the GPU 256 MiB: CuPy's pool reuses any size, and larger GEMMs are faster.
COLUMN_BUDGET = {"cpu": 2**22, "cuda": 2**26}
INT32_LIMIT = 2**31 - 1
IMPLICIT_GEMM_SOURCE = pathlib.Path(__file__).with_name("conv_kernel.cu")
# set_implicit_gemm(True): the forward pass on CuPy by the implicit-GEMM kernel; False: im2col + GEMM
_implicit_gemm = backend.Switch("MINIFB_CONV_IMPLICIT_GEMM")
set_implicit_gemm, implicit_gemm_enabled = _implicit_gemm.set, _implicit_gemm.is_on


def as_pair(name: str, what: str, value, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints as (height, width), each at least ``minimum``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2 \
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum
                       for v in pair):
        raise ValueError(f"{name}: {what} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _conv_without_channels(xp, x, w, b, shape):
    """conv2d with C = 0 or Cout = 0: out = b broadcast (0 without bias);  dL/db = sum of g, the others 0."""
    out = xp.zeros(shape, dtype=x.data.dtype)
    if b is not None:
        out += b.data[:, None, None]

    def vjp(g):
        grads = (xp.zeros_like(x.data), xp.zeros_like(w.data))
        return grads + (() if b is None else (g.sum(axis=(0, 2, 3)),))
    return out, vjp


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Positions of a kernel along one axis: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


@primitive("conv2d", inputs=3)
def conv2d(x, w, b=None, stride=1, padding=0):
    """Convolution of NCHW ``x`` (N, C, H, W) with ``w`` (Cout, C, kh, kw), plus bias ``b`` (Cout,).

    out = W col + b (im2col, see the module docstring);  dL/dW = g conj(col)^T,
    dL/db = sum of g over (N, Ho, Wo),  dL/dx = col2im(conj(W)^T g).
    ``stride`` and ``padding`` (zeros) are an int or an (height, width) pair.
    """
    stride = as_pair("conv2d", "stride", stride, 1)
    padding = as_pair("conv2d", "padding", padding, 0)
    _check_conv_inputs(x, w, b, padding)
    n, c, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    geometry = _Geometry(c, h, wd, c_out, kh, kw, stride, padding)
    xp = get_array_module(x.data)
    if c == 0 or c_out == 0:  # no channels in or out: a sum over nothing, the bias alone (empty gradients)
        return _conv_without_channels(xp, x, w, b, (n, c_out, geometry.out_h, geometry.out_w))
    w2 = w.data.reshape(c_out, -1)
    x_data = xp.ascontiguousarray(x.data)
    out = xp.empty((n, c_out, geometry.out_h, geometry.out_w), dtype=x.data.dtype)
    chunks = _chunks(n, geometry, x.device)
    if _takes_implicit_gemm(x_data, geometry):
        _implicit_gemm_forward(x_data, w2, None if b is None else b.data, geometry, out)
    else:
        for lo, hi in chunks:
            _to_nchw(matmul(w2, _im2col(x_data[lo:hi], geometry)), None if b is None else b.data, geometry,
                     out=out[lo:hi])

    def vjp(g):  # one pass over the chunks for all three gradients: they share the layout copy of g
        dx = xp.empty_like(x_data) if x.requires_grad else None
        dw = xp.zeros_like(w2) if w.requires_grad else None
        db = xp.zeros(c_out, dtype=g.dtype) if b is not None and b.requires_grad else None
        for lo, hi in chunks:
            g2 = _to_cnhw(g[lo:hi], geometry)
            if dw is not None:
                dw += matmul(g2, conj(_im2col(x_data[lo:hi], geometry)).T)
            if db is not None:
                db += g2.sum(axis=1)  # the last axis: a fast reduction on CuPy too
            if dx is not None:
                _col2im(matmul(conj(w2).T, g2), geometry, out=dx[lo:hi])
        return (dx, None if dw is None else dw.reshape(w.shape)) + (() if b is None else (db,))
    return out, vjp


def _check_conv_inputs(x, w, b, padding) -> None:
    """Raise, naming conv2d and the shapes, unless x, w and b make a valid convolution."""
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d: expected x of shape (N, C, H, W) and w of shape (Cout, C, kh, kw), "
                         f"got x {x.shape} and w {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"conv2d: x {x.shape} has {x.shape[1]} channels but w {w.shape} expects "
                         f"{w.shape[1]}")
    padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
    if w.shape[2] > padded[0] or w.shape[3] > padded[1]:
        raise ValueError(f"conv2d: kernel {w.shape[2:]} is larger than the padded input {padded} "
                         f"(x {x.shape}, padding {padding})")
    if b is not None and b.shape != (w.shape[0],):
        raise ValueError(f"conv2d: bias of shape {b.shape} does not match w {w.shape}; expected "
                         f"({w.shape[0]},)")
    for t, label in ((w, "w"), (b, "b")):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"conv2d: x is {x.dtype} but {label} is {t.dtype}; cast them to one dtype")
    if x.dtype.kind not in "fc":
        raise TypeError(f"conv2d: expected floating-point tensors, got {x.dtype}")


class _Geometry:
    """Sizes of one convolution: channels in and out, input and kernel size, stride, padding, output."""

    def __init__(self, channels, height, width, out_channels, kh, kw, stride, padding):
        self.channels, self.height, self.width, self.kh, self.kw = channels, height, width, kh, kw
        self.out_channels = out_channels
        self.stride, self.padding = stride, padding
        self.out_h = output_size(height, kh, stride[0], padding[0])
        self.out_w = output_size(width, kw, stride[1], padding[1])

    def cuda_constants(self) -> str:
        """The sizes as C++ constants: the CUDA kernels are compiled once per geometry, so their
        divisions are by constants, which the compiler turns into a multiply and a shift."""
        values = dict(CHANNELS=self.channels, HEIGHT=self.height, WIDTH=self.width,
                      OUT_CHANNELS=self.out_channels, OUT_H=self.out_h, OUT_W=self.out_w,
                      K_H=self.kh, K_W=self.kw, STRIDE_H=self.stride[0], STRIDE_W=self.stride[1],
                      PAD_H=self.padding[0], PAD_W=self.padding[1])
        return "".join(f"constexpr int {name} = {value};\n" for name, value in values.items())


def _chunks(n: int, geometry: _Geometry, device: str):
    """(lo, hi) ranges of the batch whose column matrices hold at most COLUMN_BUDGET[device] elements."""
    columns = geometry.channels * geometry.kh * geometry.kw * geometry.out_h * geometry.out_w
    per_sample = max(columns, geometry.channels * geometry.height * geometry.width)
    if per_sample > INT32_LIMIT:
        raise ValueError(f"conv2d: one sample needs {per_sample} elements of input or columns, "
                         f"more than 32-bit indexing allows; use smaller images or fewer channels")
    step = max(1, COLUMN_BUDGET[device] // per_sample)
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _takes_implicit_gemm(x, geometry: _Geometry) -> bool:
    """The implicit-GEMM kernel applies: switched on, a CuPy float array, TF32 off, 32-bit indices enough."""
    if not (_implicit_gemm.on and backend.is_cupy_array(x) and x.dtype in (np.float32, np.float64)):
        return False
    outputs = x.shape[0] * geometry.out_channels * geometry.out_h * geometry.out_w
    return max(x.size, outputs) <= INT32_LIMIT and not (x.dtype == np.float32 and backend.tf32_enabled())


@functools.cache
def _implicit_gemm_kernel(constants: str, ctype: str):
    """conv2d_forward<ctype> compiled for one geometry (its sizes as constants), kept."""
    cupy = backend.xp_for("cuda")
    name = f"conv2d_forward<{ctype}>"
    module = cupy.RawModule(code=constants + IMPLICIT_GEMM_SOURCE.read_text(), options=("--std=c++17",),
                            name_expressions=[name])
    return module.get_function(name)


def _implicit_gemm_forward(x, w2, bias, geometry: _Geometry, out):
    """out = conv(x, w) + bias by conv_kernel.cu: x contiguous NCHW, w2 (Cout, C kh kw), out NCHW."""
    cupy = backend.xp_for("cuda")
    ctype = "float" if x.dtype == np.float32 else "double"
    kernel = _implicit_gemm_kernel(geometry.cuda_constants(), ctype)
    w_t = cupy.ascontiguousarray(w2.T)  # (C kh kw, Cout): small, and the kernel's loads of it coalesce
    has_bias = bias is not None
    bias = cupy.ascontiguousarray(bias) if has_bias else w_t  # not read without a bias
    n = x.shape[0]
    pixels = n * geometry.out_h * geometry.out_w
    grid = ((pixels + 127) // 128, (geometry.out_channels + 63) // 64)
    shared = (2 * 16 * 64 + 2 * 16 * 128) * x.dtype.itemsize  # two buffers of the W^T and col tiles
    kernel(grid, (128,), (x, w_t, bias, out, np.int32(n), np.int32(has_bias)), shared_mem=shared)
    return out


def _im2col(x, geometry: _Geometry):
    """The columns of contiguous NCHW ``x``: shape (C*kh*kw, N*Ho*Wo), layout (C, kh, kw, N, Ho, Wo)."""
    g = geometry
    xp = get_array_module(x)
    n = x.shape[0]
    if xp is not np:
        col = xp.empty((g.channels * g.kh * g.kw, n * g.out_h * g.out_w), dtype=x.dtype)
        kernel = elementwise_kernel("raw T x, int32 batch", "raw T col", IM2COL_SOURCE, "minifb_im2col",
                                    g.cuda_constants())
        kernel(x, n, col, size=col.size)
        return col
    (sh, sw), (ph, pw) = g.stride, g.padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    col = np.empty((g.channels, g.kh, g.kw, n, g.out_h, g.out_w), dtype=x.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            window = x_pad[:, :, i:i + sh * g.out_h:sh, j:j + sw * g.out_w:sw]
            col[:, i, j] = window.transpose(1, 0, 2, 3)
    return col.reshape(g.channels * g.kh * g.kw, -1)


def _col2im(col, geometry: _Geometry, out):
    """Adjoint of im2col: add every column entry back to the input pixel it was copied from."""
    g = geometry
    xp = get_array_module(col)
    n = out.shape[0]
    if xp is not np:
        kernel = elementwise_kernel("raw T col, int32 batch", "T dx", COL2IM_SOURCE, "minifb_col2im",
                                    g.cuda_constants())
        kernel(xp.ascontiguousarray(col), n, out)
        return out
    (sh, sw), (ph, pw) = g.stride, g.padding
    col = col.reshape(g.channels, g.kh, g.kw, n, g.out_h, g.out_w)
    x_pad = np.zeros((n, g.channels, g.height + 2 * ph, g.width + 2 * pw), dtype=col.dtype)
    for i in range(g.kh):
        for j in range(g.kw):
            x_pad[:, :, i:i + sh * g.out_h:sh, j:j + sw * g.out_w:sw] += col[:, i, j].transpose(1, 0, 2, 3)
    out[...] = x_pad[:, :, ph:ph + g.height, pw:pw + g.width]
    return out


def _to_nchw(y, bias, geometry: _Geometry, out):
    """out[n, o] = y[o, n] + bias[o]: the product (Cout, N*Ho*Wo) into the NCHW output (bias may be None)."""
    xp = get_array_module(y)
    n = out.shape[0]
    if xp is not np:
        bias = xp.zeros(geometry.out_channels, dtype=y.dtype) if bias is None else xp.ascontiguousarray(bias)
        kernel = elementwise_kernel("raw T y, raw T bias, int32 batch", "T out", TO_NCHW_SOURCE,
                                    "minifb_conv_to_nchw", geometry.cuda_constants())
        kernel(y, bias, n, out)
        return out
    y = y.reshape(geometry.out_channels, n, -1).transpose(1, 0, 2)
    target = out.reshape(n, geometry.out_channels, -1)
    if bias is None:
        np.copyto(target, y)
    else:
        np.add(y, bias.reshape(-1, 1), out=target)
    return out


def _to_cnhw(g, geometry: _Geometry):
    """The NCHW gradient g as the matrix (Cout, N*Ho*Wo), the layout of the product."""
    xp = get_array_module(g)
    n = g.shape[0]
    if xp is not np:
        g2 = xp.empty((geometry.out_channels, g.size // geometry.out_channels), dtype=g.dtype)
        kernel = elementwise_kernel("T g, int32 batch", "raw T g2", TO_CNHW_SOURCE, "minifb_conv_to_cnhw",
                                    geometry.cuda_constants())
        kernel(xp.ascontiguousarray(g), n, g2)
        return g2
    return np.ascontiguousarray(g.reshape(n, geometry.out_channels, -1).transpose(1, 0, 2)).reshape(
        geometry.out_channels, -1)


# ---- CUDA kernels (CuPy only) -----------------------------------------------------------------
# One thread per element. Index arithmetic dominates these kernels, so it is 32-bit (`i`, CuPy's
# 64-bit element index, is cast to int once; sizes are checked by _chunks) and divides only by the
# geometry's compile-time constants (Geometry.cuda_constants); the batch is a runtime factor.
IM2COL_SOURCE = """
    const int pixels = OUT_H * OUT_W;
    const int rows = CHANNELS * K_H * K_W;
    const int k = (int)i;                  // enumerates (n, row, pixel): every divisor is a constant
    const int pixel = k % pixels;
    const int row = (k / pixels) % rows;   // (c, di, dj)
    const int n = k / (pixels * rows);
    const int p = pixel / OUT_W;
    const int q = pixel - p * OUT_W;
    const int c = row / (K_H * K_W);
    const int di = (row / K_W) % K_H;
    const int dj = row % K_W;
    const int y = p * STRIDE_H - PAD_H + di;
    const int x_ = q * STRIDE_W - PAD_W + dj;
    col[(row * batch + n) * pixels + pixel] =  // col layout (C, kh, kw, N, Ho, Wo)
        (y >= 0 && y < HEIGHT && x_ >= 0 && x_ < WIDTH) ? x[((n * CHANNELS + c) * HEIGHT + y) * WIDTH + x_] :
        (T)0;
"""

COL2IM_SOURCE = """
    int k = (int)i;                        // dx index, layout (N, C, H, W)
    const int x_ = k % WIDTH;    k /= WIDTH;
    const int y = k % HEIGHT;    k /= HEIGHT;
    const int c = k % CHANNELS;
    const int n = k / CHANNELS;
    T total = (T)0;
    for (int di = 0; di < K_H; ++di) {
        const int ys = y + PAD_H - di;     // = p * STRIDE_H for the output row p that saw this pixel
        if (ys < 0 || ys % STRIDE_H != 0) continue;
        const int p = ys / STRIDE_H;
        if (p >= OUT_H) continue;
        for (int dj = 0; dj < K_W; ++dj) {
            const int xs = x_ + PAD_W - dj;
            if (xs < 0 || xs % STRIDE_W != 0) continue;
            const int q = xs / STRIDE_W;
            if (q >= OUT_W) continue;
            total += col[((((c * K_H + di) * K_W + dj) * batch + n) * OUT_H + p) * OUT_W + q];
        }
    }
    dx = total;
"""


TO_NCHW_SOURCE = """
    const int pixels = OUT_H * OUT_W;
    const int k = (int)i;                  // out index, layout (N, Cout, Ho, Wo)
    const int pixel = k % pixels;
    const int o = (k / pixels) % OUT_CHANNELS;
    const int n = k / (pixels * OUT_CHANNELS);
    out = y[(o * batch + n) * pixels + pixel] + bias[o];
"""

TO_CNHW_SOURCE = """
    const int pixels = OUT_H * OUT_W;
    const int k = (int)i;                  // g index, layout (N, Cout, Ho, Wo); g2 is (Cout, N, Ho, Wo)
    const int pixel = k % pixels;
    const int o = (k / pixels) % OUT_CHANNELS;
    const int n = k / (pixels * OUT_CHANNELS);
    g2[(o * batch + n) * pixels + pixel] = g;
"""
