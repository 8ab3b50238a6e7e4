"""Every op of minifb.autograd against PyTorch: forward values and input gradients.

Each case gives the minifb function, its PyTorch twin and how to draw the inputs; it runs in
float64 (tolerance ~1e-8 relative) and float32 (~1e-4), on every device. Inputs stay away from
the points where an op has a kink (ReLU at 0, ties in max, |z| at 0) because random draws miss
them.
"""
import inspect
import pathlib
import re
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import minifb as mf


def real(*shape):
    return ("real", shape)


def positive(*shape):
    return ("positive", shape)


def cplx(*shape):
    return ("complex", shape)


def zeros(*shape):
    """Normal values with about a third of them exactly 0 (products through zeros)."""
    return ("zeros", shape)


def draw(spec, dtype, rng):
    kind, shape = spec
    if kind == "positive":
        return rng.uniform(0.5, 2.0, shape).astype(dtype)
    x = rng.standard_normal(shape)
    if kind == "zeros":
        return np.where(rng.random(shape) < 0.35, 0.0, x).astype(dtype)
    if kind == "complex":
        return (x + 1j * rng.standard_normal(shape)).astype(np.result_type(dtype, np.complex64))
    return x.astype(dtype)


# (id, minifb function, PyTorch function, input specs)
CASES = [
    # arithmetic, with broadcasting and complex values
    ("add", mf.add, torch.add, [real(3, 1, 4), real(5, 4)]),
    ("sub", mf.sub, torch.sub, [real(5, 4), real(3, 1, 1)]),
    ("mul", mf.mul, torch.mul, [real(2, 3), real(3)]),
    ("mul-complex", mf.mul, torch.mul, [cplx(2, 3), cplx(2, 1)]),
    ("mul-complex-real", mf.mul, torch.mul, [cplx(4), real(4)]),
    ("div", mf.div, torch.div, [real(3, 4), positive(4)]),
    ("div-complex", mf.div, torch.div, [cplx(3, 4), cplx(4)]),
    ("neg", mf.neg, torch.neg, [cplx(2, 3)]),
    ("pow", mf.pow, torch.pow, [positive(3, 4), real(4)]),
    ("pow-scalar", lambda a: a ** 3, lambda a: a ** 3, [real(5)]),
    ("rsub-scalar", lambda a: 2.5 - a * 0.5, lambda a: 2.5 - a * 0.5, [real(5)]),
    # linear algebra
    ("matmul", mf.matmul, torch.matmul, [real(2, 3, 4), real(4, 5)]),
    ("matmul-batch-broadcast", mf.matmul, torch.matmul, [real(2, 1, 3, 4), real(5, 4, 2)]),
    ("matmul-vector-matrix", mf.matmul, torch.matmul, [real(4), real(3, 4, 2)]),
    ("matmul-matrix-vector", mf.matmul, torch.matmul, [real(3, 4), real(4)]),
    ("matmul-complex", mf.matmul, torch.matmul, [cplx(3, 4), cplx(4, 2)]),
    ("linear", mf.linear, F.linear, [real(2, 3, 4), real(5, 4), real(5)]),
    ("linear-no-bias", mf.linear, F.linear, [real(3, 4), real(2, 4)]),
    # elementwise
    ("exp", mf.exp, torch.exp, [real(3, 4)]),
    ("exp-complex", mf.exp, torch.exp, [cplx(3, 4)]),
    ("log", mf.log, torch.log, [positive(3, 4)]),
    ("log-complex", mf.log, torch.log, [cplx(3, 4)]),
    ("sqrt", mf.sqrt, torch.sqrt, [positive(3, 4)]),
    ("tanh", mf.tanh, torch.tanh, [real(3, 4)]),
    ("tanh-complex", mf.tanh, torch.tanh, [cplx(3, 4)]),
    ("sigmoid", mf.sigmoid, torch.sigmoid, [real(3, 4)]),
    ("relu", mf.relu, torch.relu, [real(3, 4)]),
    ("gelu", mf.gelu, F.gelu, [real(3, 4)]),
    ("gelu-tanh", lambda x: mf.gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh"), [real(3, 4)]),
    ("abs", mf.abs, torch.abs, [real(3, 4)]),
    ("abs-complex", mf.abs, torch.abs, [cplx(3, 4)]),
    ("sin", mf.sin, torch.sin, [real(3, 4)]),
    ("sin-complex", mf.sin, torch.sin, [cplx(3, 4)]),
    ("cos", mf.cos, torch.cos, [real(3, 4)]),
    ("tan", mf.tan, torch.tan, [real(3, 4)]),
    ("tan-complex", lambda z: mf.tan(z * 0.3), lambda z: torch.tan(z * 0.3), [cplx(3, 4)]),
    ("arcsin", lambda x: mf.arcsin(x * 0.3), lambda x: torch.asin(x * 0.3), [real(3, 4)]),
    ("arccos", lambda x: mf.arccos(x * 0.3), lambda x: torch.acos(x * 0.3), [real(3, 4)]),
    ("arccos-complex", lambda z: mf.arccos(z * 0.3), lambda z: torch.acos(z * 0.3), [cplx(3, 4)]),
    ("arctan", mf.arctan, torch.atan, [real(3, 4)]),
    ("arctan2", mf.arctan2, torch.atan2, [real(3, 4), real(4)]),
    ("sinh", mf.sinh, torch.sinh, [real(3, 4)]),
    ("cosh", mf.cosh, torch.cosh, [real(3, 4)]),
    ("cosh-complex", mf.cosh, torch.cosh, [cplx(3, 4)]),
    ("arcsinh", mf.arcsinh, torch.asinh, [real(3, 4)]),
    ("arccosh", lambda x: mf.arccosh(x + 1.0), lambda x: torch.acosh(x + 1.0), [positive(3, 4)]),
    ("arccosh-complex", mf.arccosh, torch.acosh, [cplx(3, 4)]),
    ("arctanh", lambda x: mf.arctanh(x * 0.3), lambda x: torch.atanh(x * 0.3), [real(3, 4)]),
    ("log1p", mf.log1p, torch.log1p, [positive(3, 4)]),
    ("expm1", mf.expm1, torch.expm1, [real(3, 4)]),
    ("log2", mf.log2, torch.log2, [positive(3, 4)]),
    ("log10", mf.log10, torch.log10, [positive(3, 4)]),
    ("log10-complex", mf.log10, torch.log10, [cplx(3, 4)]),
    ("logaddexp", mf.logaddexp, torch.logaddexp, [real(3, 4), real(3, 1)]),
    ("square", mf.square, torch.square, [real(3, 4)]),
    ("reciprocal", mf.reciprocal, torch.reciprocal, [positive(3, 4)]),
    ("reciprocal-complex", mf.reciprocal, torch.reciprocal, [cplx(3, 4)]),
    ("sign", mf.sign, torch.sign, [real(3, 4)]),
    ("floor", mf.floor, torch.floor, [real(3, 4)]),
    ("ceil", mf.ceil, torch.ceil, [real(3, 4)]),
    ("round", mf.round, torch.round, [real(3, 4)]),
    ("round-decimals", lambda x: mf.round(x, 1), lambda x: torch.round(x, decimals=1), [real(3, 4)]),
    ("remainder", mf.remainder, torch.remainder, [real(3, 4), positive(4)]),
    ("remainder-operator", lambda a, b: a % b, lambda a, b: a % b, [positive(3, 4), real(3, 1)]),
    # complex numbers
    ("complex", mf.complex, torch.complex, [real(3, 4), real(3, 4)]),
    ("real", mf.real, torch.real, [cplx(3, 4)]),
    ("imag", mf.imag, torch.imag, [cplx(3, 4)]),
    ("conj", mf.conj, lambda z: torch.conj(z) * 1, [cplx(3, 4)]),
    ("angle", mf.angle, torch.angle, [cplx(3, 4)]),
    # reductions
    ("sum", mf.sum, torch.sum, [real(3, 4)]),
    ("sum-axes-keepdims", lambda x: mf.sum(x, (0, 2), keepdims=True), lambda x: torch.sum(x, (0, 2), keepdim=True),
     [real(2, 3, 4)]),
    ("sum-complex", lambda z: mf.sum(z, 1), lambda z: torch.sum(z, 1), [cplx(3, 4)]),
    ("mean", lambda x: mf.mean(x, -1), lambda x: torch.mean(x, -1), [real(3, 4)]),
    ("mean-complex", mf.mean, torch.mean, [cplx(3, 4)]),
    ("var", lambda x: mf.var(x, 1), lambda x: torch.var(x, 1, correction=0), [real(3, 5)]),
    ("var-ddof1-keepdims", lambda x: mf.var(x, (0, 1), keepdims=True, ddof=1),
     lambda x: torch.var(x, (0, 1), keepdim=True, correction=1), [real(3, 5, 2)]),
    ("var-complex", lambda z: mf.var(z, 0), lambda z: torch.var(z, 0, correction=0), [cplx(4, 3)]),
    ("std", lambda x: mf.std(x, 1), lambda x: torch.std(x, 1, correction=0), [real(3, 5)]),
    ("std-ddof1-keepdims", lambda x: mf.std(x, (0, 2), keepdims=True, ddof=1),
     lambda x: torch.std(x, (0, 2), keepdim=True, correction=1), [real(3, 5, 2)]),
    ("std-complex", lambda z: mf.std(z, 0), lambda z: torch.std(z, 0, correction=0), [cplx(4, 3)]),
    ("prod", lambda x: mf.prod(x, 1), lambda x: torch.prod(x, 1), [zeros(6, 3)]),
    ("prod-all", mf.prod, torch.prod, [real(2, 3)]),
    ("prod-complex", lambda z: mf.prod(z, 0), lambda z: torch.prod(z, 0), [cplx(4, 3)]),
    ("cumsum", lambda x: mf.cumsum(x, 1), lambda x: torch.cumsum(x, 1), [real(3, 5)]),
    ("cumprod", lambda x: mf.cumprod(x, 1), lambda x: torch.cumprod(x, 1), [zeros(6, 5)]),
    ("cumprod-complex", lambda z: mf.cumprod(z, 0), lambda z: torch.cumprod(z, 0), [cplx(4, 3)]),
    ("diff", lambda x: mf.diff(x, 2, 0), lambda x: torch.diff(torch.diff(x, dim=0), dim=0), [real(5, 3)]),
    ("max", lambda x: mf.max(x, 1), lambda x: torch.amax(x, 1), [real(3, 5)]),
    ("max-all", mf.max, torch.amax, [real(3, 5)]),
    ("min-keepdims", lambda x: mf.min(x, 0, keepdims=True), lambda x: torch.amin(x, 0, keepdim=True), [real(3, 5)]),
    ("logsumexp", lambda x: mf.logsumexp(x, 1), lambda x: torch.logsumexp(x, 1), [real(3, 5)]),
    ("logsumexp-keepdims", lambda x: mf.logsumexp(x, (0, 2), keepdims=True),
     lambda x: torch.logsumexp(x, (0, 2), keepdim=True), [real(2, 3, 4)]),
    # softmax and losses
    ("softmax", mf.softmax, lambda x: torch.softmax(x, -1), [real(3, 5)]),
    ("softmax-axis0", lambda x: mf.softmax(x, 0), lambda x: torch.softmax(x, 0), [real(3, 5)]),
    ("log_softmax", lambda x: mf.log_softmax(x, 1), lambda x: torch.log_softmax(x, 1), [real(2, 5, 3)]),
    # choosing
    ("maximum", mf.maximum, torch.maximum, [real(3, 4), real(4)]),
    ("minimum", mf.minimum, torch.minimum, [real(3, 1), real(3, 4)]),
    ("clip", lambda x: mf.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7), [real(4, 5)]),
    ("clip-low", lambda x: mf.clip(x, low=0.1), lambda x: torch.clamp(x, min=0.1), [real(4, 5)]),
    # moving values around
    ("reshape", lambda x: mf.reshape(x, (4, -1)), lambda x: torch.reshape(x, (4, -1)), [real(2, 3, 4)]),
    ("transpose", lambda x: mf.transpose(x, (2, 0, 1)), lambda x: torch.permute(x, (2, 0, 1)), [cplx(2, 3, 4)]),
    ("permute", lambda x: mf.permute(x, (1, 2, 0)), lambda x: torch.permute(x, (1, 2, 0)), [real(2, 3, 4)]),
    ("swapaxes", lambda x: mf.swapaxes(x, 0, 2), lambda x: torch.swapaxes(x, 0, 2), [real(2, 3, 4)]),
    ("expand", lambda x: mf.expand(x, (2, 3, 4)), lambda x: x.expand(2, 3, 4), [real(3, 1)]),
    ("squeeze", lambda x: mf.squeeze(x, 1), lambda x: torch.squeeze(x, 1), [real(3, 1, 4)]),
    ("unsqueeze", lambda x: mf.unsqueeze(x, -1), lambda x: torch.unsqueeze(x, -1), [real(3, 4)]),
    ("flatten", lambda x: mf.flatten(x, 1), lambda x: torch.flatten(x, 1), [real(2, 3, 4)]),
    ("getitem-slices", lambda x: x[1:, ::2, None, -1], lambda x: x[1:, ::2, None, -1], [real(3, 5, 4)]),
    ("getitem-repeated-indices", lambda x: x[[0, 2, 0, 0], 1:], lambda x: x[[0, 2, 0, 0], 1:], [real(3, 4)]),
    ("getitem-mask", lambda x: mf.getitem(x, np.array([True, False, True])),
     lambda x: x[torch.tensor([True, False, True], device=x.device)], [real(3, 4)]),
    ("concatenate", lambda a, b: mf.concatenate([a, b], 1), lambda a, b: torch.cat([a, b], 1),
     [real(2, 3), real(2, 5)]),
    ("stack", lambda a, b: mf.stack([a, b], -1), lambda a, b: torch.stack([a, b], -1), [real(2, 3), real(2, 3)]),
    ("split-equal", lambda x: mf.split(x, 3, 1), lambda x: torch.split(x, 2, 1), [real(2, 6)]),
    ("split-indices", lambda x: mf.split(x, [1, 4], 0), lambda x: torch.split(x, [1, 3, 1], 0), [real(5, 2)]),
    ("pad", lambda x: mf.pad(x, ((0, 0), (1, 2), (3, 0))), lambda x: F.pad(x, (3, 0, 1, 2)), [real(2, 3, 4)]),
    ("flip", lambda x: mf.flip(x, (0, 2)), lambda x: torch.flip(x, (0, 2)), [real(2, 3, 4)]),
    ("roll", lambda x: mf.roll(x, 2, 1), lambda x: torch.roll(x, 2, 1), [real(2, 5)]),
    ("roll-flat", lambda x: mf.roll(x, -3), lambda x: torch.roll(x, -3), [real(2, 5)]),
    ("repeat", lambda x: mf.repeat(x, 2, 1), lambda x: torch.repeat_interleave(x, 2, 1), [real(2, 3)]),
    ("repeat-counts", lambda x: mf.repeat(x, [0, 3, 1], 0),
     lambda x: torch.repeat_interleave(x, torch.tensor([0, 3, 1], device=x.device), 0), [real(3, 2)]),
    ("tile", lambda x: mf.tile(x, (2, 1, 3)), lambda x: torch.tile(x, (2, 1, 3)), [real(2, 3)]),
    ("moveaxis", lambda x: mf.moveaxis(x, (0, 1), (2, 0)), lambda x: torch.movedim(x, (0, 1), (2, 0)),
     [real(2, 3, 4)]),
    ("ravel", mf.ravel, torch.ravel, [real(2, 3)]),
    ("tril", lambda x: mf.tril(x, -1), lambda x: torch.tril(x, -1), [real(2, 4, 3)]),
    ("triu", lambda x: mf.triu(x, 1), lambda x: torch.triu(x, 1), [real(4, 5)]),
    ("diagonal", lambda x: mf.diagonal(x, 1, 2, 0), lambda x: torch.diagonal(x, 1, 2, 0), [real(3, 2, 4)]),
    ("trace", mf.trace, torch.trace, [real(4, 3)]),
    # contractions
    ("outer", mf.outer, torch.outer, [real(3), real(4)]),
    ("tensordot", lambda a, b: mf.tensordot(a, b, ([0, 2], [1, 0])),
     lambda a, b: torch.tensordot(a, b, ([0, 2], [1, 0])), [real(2, 3, 4), real(4, 2, 5)]),
    ("tensordot-complex", lambda a, b: mf.tensordot(a, b, 1), lambda a, b: torch.tensordot(a, b, 1),
     [cplx(2, 3), cplx(3, 4)]),
    ("einsum", lambda a, b: mf.einsum("bij,jk->bik", a, b), lambda a, b: torch.einsum("bij,jk->bik", a, b),
     [real(2, 3, 4), real(4, 5)]),
    ("einsum-diagonal", lambda a: mf.einsum("iij->ji", a), lambda a: torch.einsum("iij->ji", a), [real(3, 3, 2)]),
    ("einsum-ellipsis-complex", lambda a, b: mf.einsum("...ij,...j->...i", a, b),
     lambda a, b: torch.einsum("...ij,...j->...i", a, b), [cplx(2, 3, 4), cplx(4)]),
    # normalisation (training mode: batch statistics)
    ("batch_norm", lambda x, w, b: mf.batch_norm(x, w, b),
     lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [real(4, 3, 2, 5), real(3), real(3)]),
    ("batch_norm-no-affine", lambda x: mf.batch_norm(x), lambda x: F.batch_norm(x, None, None, training=True),
     [real(6, 2)]),
    ("layer_norm", mf.layer_norm, lambda x, w, b: F.layer_norm(x, (5,), w, b), [real(2, 3, 5), real(5), real(5)]),
    # convolution and pooling, NCHW
    ("conv2d", mf.conv2d, F.conv2d, [real(2, 3, 7, 6), real(4, 3, 3, 3), real(4)]),
    ("conv2d-stride-padding", lambda x, w: mf.conv2d(x, w, stride=(2, 1), padding=(1, 2)),
     lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 2)), [real(2, 2, 7, 6), real(3, 2, 3, 2)]),
    ("conv2d-1x1", lambda x, w, b: mf.conv2d(x, w, b, stride=2), lambda x, w, b: F.conv2d(x, w, b, stride=2),
     [real(1, 4, 5, 5), real(2, 4, 1, 1), real(2)]),
    ("max_pool2d", lambda x: mf.max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2), [real(2, 3, 6, 4)]),
    ("max_pool2d-overlapping", lambda x: mf.max_pool2d(x, 3, 2), lambda x: F.max_pool2d(x, 3, 2), [real(2, 2, 7, 8)]),
    ("avg_pool2d", lambda x: mf.avg_pool2d(x, (2, 3)), lambda x: F.avg_pool2d(x, (2, 3)), [real(2, 3, 6, 7)]),
    ("adaptive_avg_pool2d", lambda x: mf.adaptive_avg_pool2d(x, (3, 2)), lambda x: F.adaptive_avg_pool2d(x, (3, 2)),
     [real(2, 3, 7, 5)]),
    ("adaptive_avg_pool2d-global", lambda x: mf.adaptive_avg_pool2d(x, 1), lambda x: F.adaptive_avg_pool2d(x, 1),
     [real(2, 3, 4, 5)]),
    # the mixers' primitives
    ("self_attention", lambda qkv: mf.self_attention(qkv, 2), lambda qkv: torch_attention(qkv, 2), [real(2, 5, 12)]),
    ("gate_heads", mf.gate_heads, lambda a, g, l: torch_gate_heads(a, g, l), [real(2, 3), real(2, 4, 6), real(2, 4, 6)]),
    ("frame_tokens", lambda x: mf.frame_tokens(x, 4, 3), lambda x: torch_frames(x, 4, 3), [real(2, 5, 3)]),
    ("overlap_add_tokens", lambda p: mf.overlap_add_tokens(p, 5), lambda p: torch_overlap_add(p, 5),
     [real(2, 3, 4, 3)]),
]


def torch_attention(qkv, heads):
    """Scaled dot-product attention per head from packed projections (B, N, 3D)."""
    b, n, width = qkv.shape
    q, k, v = qkv.reshape(b, n, 3, heads, width // (3 * heads)).permute(2, 0, 3, 1, 4)
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, width // 3)


def torch_gate_heads(alpha, glob, loc):
    a = alpha.repeat_interleave(glob.shape[2] // alpha.shape[1], dim=1)[:, None, :]
    return a * glob + (1 - a) * loc


def torch_frames(x, window, frames):
    """hop zeros in front and zeros behind up to (frames + 1) hops, then unfold: (B, frames, window, D)."""
    hop = window // 2
    padded = F.pad(x, (0, 0, hop, (frames + 1) * hop - hop - x.shape[1]))
    return padded.unfold(1, window, hop).permute(0, 1, 3, 2)


def torch_overlap_add(pieces, n):
    b, frames, window, d = pieces.shape
    hop = window // 2
    out = pieces.new_zeros(b, (frames + 1) * hop, d)
    for f in range(frames):
        out[:, f * hop:f * hop + window] += pieces[:, f]
    return out[:, hop:hop + n]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_torch(case, dtype, check):
    name, mf_fn, torch_fn, specs = case
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = [draw(spec, dtype, rng) for spec in specs]
    check.op(mf_fn, torch_fn, *arrays, name=f"{name} ({dtype})")


def test_pow_at_zero_matches_torch(check):
    """x^0 at x = 0 and 0^y at y >= 0: PyTorch's gradients there are the limits, 0."""
    x, y = np.array([0.0, 0.0, 2.0, 0.0]), np.array([0.0, 1.5, 0.0, 2.0])
    check.op(mf.pow, torch.pow, x, y, name="pow at zero")


BINARY = {"add": (mf.add, torch.add), "sub": (mf.sub, torch.sub), "mul": (mf.mul, torch.mul),
          "div": (mf.div, torch.div), "pow": (mf.pow, torch.pow), "maximum": (mf.maximum, torch.maximum)}


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       name=st.sampled_from(sorted(BINARY)), seed=st.integers(0, 2**16))
def test_broadcasting_matches_torch(shapes, name, seed, check):
    """Drawn shapes (0-d, size 1, broadcast both ways); values in [0.5, 2] keep pow and div smooth."""
    rng = np.random.default_rng(seed)
    a, b = (rng.uniform(0.5, 2.0, shape) for shape in shapes.input_shapes)
    check.op(*BINARY[name], a, b, name=f"{name} {shapes.input_shapes}")


@given(shapes=hnp.mutually_broadcastable_shapes(signature="(m,n),(n,p)->(m,p)", max_dims=2, max_side=4),
       seed=st.integers(0, 2**16))
def test_matmul_batch_broadcasting_matches_torch(shapes, seed, check):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(shape) for shape in shapes.input_shapes)
    check.op(mf.matmul, torch.matmul, a, b, name=f"matmul {shapes.input_shapes}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_matches_torch(label_smoothing, reduction, dtype, check):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 5)).astype(dtype)
    labels = rng.integers(0, 5, 6)
    check.op(lambda x: mf.cross_entropy(x, labels, label_smoothing=label_smoothing, reduction=reduction),
             lambda x: F.cross_entropy(x, torch.tensor(labels, device=x.device), label_smoothing=label_smoothing,
                                       reduction=reduction),
             logits, name=f"cross_entropy({label_smoothing}, {reduction})")


def test_where_matches_torch(check):
    rng = np.random.default_rng(2)
    condition = rng.random((3, 4)) > 0.5
    check.op(lambda a, b: mf.where(condition, a, b),
             lambda a, b: torch.where(torch.tensor(condition, device=a.device), a, b),
             rng.standard_normal((3, 4)), rng.standard_normal((1, 4)), name="where")


def test_astype_gradient_is_cast_back(check):
    x = np.random.default_rng(3).standard_normal((3, 4))
    check.op(lambda t: mf.tanh(mf.astype(t, np.float32)) * 2.0, lambda t: torch.tanh(t.float()) * 2.0, x,
             rtol=1e-5, atol=1e-6, name="astype")


def test_float32_stays_float32_with_python_scalars(check):
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    check.op(lambda t: (t * 0.1 + 2.0) / 3.0 - t ** 2.0, lambda t: (t * 0.1 + 2.0) / 3.0 - t ** 2.0, x,
             name="float32 with scalars")


def test_torch_complex_backward_follows_the_minifb_convention(check):
    """PyTorch's backward(g) on a complex output means L = sum Re(conj(g) y), and leaves
    dL/dRe z + i dL/dIm z in z.grad, as minifb does: check both statements on y = z^2."""
    rng = np.random.default_rng(5)
    z0 = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    g = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    z = torch.tensor(z0, requires_grad=True)
    (z * z).backward(torch.tensor(g))
    # dL/dRe z and dL/dIm z of L = sum Re(conj(g) z^2), by central differences
    loss = lambda w: np.sum((np.conj(g) * w * w).real)
    eps = 1e-6
    d_re = np.array([(loss(z0 + eps * e) - loss(z0 - eps * e)) / (2 * eps) for e in np.eye(4)])
    d_im = np.array([(loss(z0 + 1j * eps * e) - loss(z0 - 1j * eps * e)) / (2 * eps) for e in np.eye(4)])
    check.close("torch convention", z.grad, d_re + 1j * d_im, rtol=1e-7, atol=1e-8)
    check.op(lambda t: t * t, lambda t: t * t, z0, name="z^2")


def test_to_device_moves_the_gradient_back(device, check):
    """From the test's device to the CPU (a no-op on the CPU); the gradient returns to the device."""
    x = np.random.default_rng(6).standard_normal((3, 4))
    check.op(lambda t: mf.to_device(t, "cpu") * 2.0, lambda t: t.cpu() * 2.0, x, name="to_device")


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_dropout_scales_the_kept_elements(p, check):
    """minifb's mask (read off its output) applied in PyTorch: x m / (1 - p), and its gradient."""
    x = np.random.default_rng(7).uniform(0.5, 2.0, (40, 5))
    kept = mf.asnumpy(mf.dropout(mf.tensor(x, device=check.device), p).data) != 0
    mf.seed(0)  # the same mask again inside check.op
    check.op(lambda t: mf.dropout(t, p), lambda t: t * torch.tensor(kept, device=t.device) / (1 - p), x,
             name=f"dropout({p})")
    check.op(lambda t: mf.dropout(t, 0.5, training=False), lambda t: t, x, name="dropout eval")


NOT_OPS = {"enable_grad", "gradcheck", "is_grad_enabled", "no_grad", "tape_length", "tensor",
           "detect_anomaly", "is_anomaly_enabled", "set_detect_anomaly", "from_dlpack"}


def test_every_op_is_cross_checked():
    """Each function exported by minifb.autograd is called as mf.<name> in one of these tests."""
    folder = pathlib.Path(__file__).parent
    sources = (folder / "test_ops_torch.py").read_text() + (folder / "test_spectral_torch.py").read_text()
    ops = {n for n, v in vars(mf.autograd).items() if inspect.isfunction(v) and not n.startswith("_")} - NOT_OPS
    missing = sorted(n for n in ops if not re.search(rf"\bmf\.{n}\b", sources))
    assert not missing, f"ops without a PyTorch cross-check: {missing}"
