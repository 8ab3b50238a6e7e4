"""Multi-head softmax self-attention (Vaswani et al., 2017): the baseline the FFT mixers replace."""
from __future__ import annotations

import math

from ..autograd.loss import softmax
from .activation import Dropout
from .linear import Linear
from .module import Module


class MultiHeadSelfAttention(Module):
    """softmax(Q K^T / sqrt(d)) V per head on x of shape (B, N, D), D = heads * d.

    One Linear makes Q, K and V together (``qkv``, D -> 3D), a second mixes the heads (``proj``).
    Dropout p acts on the attention weights and on the output, as in the ViT reference code.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"MultiHeadSelfAttention: dim {dim} is not divisible by heads {heads}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.scale = 1 / math.sqrt(self.head_dim)
        self.qkv = Linear(dim, 3 * dim, bias=bias)
        self.attn_drop = Dropout(dropout)
        self.proj = Linear(dim, dim, bias=bias)
        self.proj_drop = Dropout(dropout)

    def forward(self, x):
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"MultiHeadSelfAttention(dim={self.dim}): expected input (B, N, {self.dim}), got shape {tuple(x.shape)}")
        b, n, _ = x.shape
        # (B, N, 3D) -> (3, B, heads, N, d): q, k and v, each split into heads
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        weights = softmax((q * self.scale) @ k.transpose(0, 1, 3, 2), axis=-1)  # (B, heads, N, N)
        out = self.attn_drop(weights) @ v                                         # (B, heads, N, d)
        out = out.transpose(0, 2, 1, 3).reshape(b, n, self.dim)
        return self.proj_drop(self.proj(out))

    def extra_repr(self):
        return f"dim={self.dim}, heads={self.heads}, dropout={self.attn_drop.p}"
