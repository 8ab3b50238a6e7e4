"""Multi-head softmax self-attention (Vaswani et al., 2017) as one primitive: the baseline that the
FFT mixers replace. ``attention_kernel.py`` holds its fused CUDA form."""
from __future__ import annotations

import math

import numpy as np

from .. import checks
from ..backend import get_array_module, matmul
from . import attention_kernel
from .dropout import dropout
from .function import primitive, tensors
from .loss import softmax
from .tensor import Tensor


def self_attention(qkv, heads: int, p: float = 0.0, training: bool = True):
    """softmax(Q K^T / sqrt(d)) V per head from the packed projections qkv (B, N, 3D) -> (B, N, D),
    with dropout p on the attention weights while training; one primitive.

    Float32 on CUDA goes to the memory-efficient kernel (``attention_kernel.fused_attention``) when it
    is switched on (``attention_kernel.set_enabled``, ``MINIFB_ATTENTION_KERNEL=1``; off by default);
    everything else to ``attention_reference``, with the dropout mask drawn by ``dropout``.
    """
    (qkv,) = tensors("self_attention", qkv)
    checks.integer("self_attention", "heads", heads, 1)
    checks.number("self_attention", "p", p, 0, 1)
    checks.flag("self_attention", "training", training)
    if qkv.ndim != 3 or qkv.shape[2] % (3 * heads):
        raise ValueError(f"self_attention: expected packed projections (B, N, 3 * heads * d) "
                         f"for {heads} heads, got shape {tuple(qkv.shape)}")
    if attention_kernel.enabled() and qkv.dtype == np.float32 and attention_kernel.supports(qkv.data, heads):
        return attention_kernel.fused_attention(qkv, heads, p, training)
    mask = None
    if training and p > 0:
        b, n, _ = qkv.shape
        # The mask itself, as dropout draws it for an array of the weights' shape and dtype.
        mask = dropout(Tensor(get_array_module(qkv.data).ones((b, heads, n, n), dtype=qkv.dtype)), p).data
    return attention_reference(qkv, heads, mask)


@primitive("self_attention")
def attention_reference(qkv, heads: int, mask=None):
    """Self-attention written out, N x N weights and all: the reference the kernel is checked against.

    With S = (Q / sqrt(d)) K^T, A = softmax(S) M (M: the dropout mask ``mask`` (B, heads, N, N), 0 or
    1/(1 - p), or None for none), O = A V and G = dL/dO, per head (Vaswani et al., 2017):

        dL/dV = A^T G,   dL/dA = G V^T,   dL/dS = P (dL/dA M - sum_j (dL/dA M)_j P_j)   (P = softmax(S)),
        dL/dQ = dL/dS K / sqrt(d),   dL/dK = dL/dS^T Q / sqrt(d)

    The three gradients are written straight into one (B, N, 3D) array, in qkv's own layout.
    """
    xp = get_array_module(qkv.data)
    b, n, width = qkv.shape
    dim, head_dim = width // 3, width // (3 * heads)
    scale = 1 / math.sqrt(head_dim)
    # (B, N, 3D) -> (3, B, heads, N, d): views of q, k and v
    q, k, v = qkv.data.reshape(b, n, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    q_scaled = q * scale
    weights = softmax(Tensor(matmul(q_scaled, k.swapaxes(-1, -2))), axis=-1).data     # (B, heads, N, N)
    dropped = weights if mask is None else weights * mask
    out = matmul(dropped, v).transpose(0, 2, 1, 3).reshape(b, n, dim)

    def vjp(g):
        g = g.reshape(b, n, heads, head_dim).transpose(0, 2, 1, 3)               # (B, heads, N, d)
        grad = xp.empty((b, n, 3, heads, head_dim), dtype=qkv.dtype)
        grad_q, grad_k, grad_v = grad.transpose(2, 0, 3, 1, 4)                   # views into grad
        grad_v[...] = matmul(dropped.swapaxes(-1, -2), g)
        grad_dropped = matmul(g, v.swapaxes(-1, -2))
        grad_weights = grad_dropped if mask is None else grad_dropped * mask
        grad_scores = weights * (grad_weights - (grad_weights * weights).sum(axis=-1, keepdims=True))
        grad_q[...] = matmul(grad_scores, k) * scale
        grad_k[...] = matmul(grad_scores.swapaxes(-1, -2), q_scaled)
        return grad.reshape(b, n, width)
    return out, (vjp,)
