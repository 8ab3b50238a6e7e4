"""The multi-head self-attention layer (Vaswani et al., 2017): the baseline the FFT mixers replace
(the op itself: minifb/autograd/attention.py)."""
from __future__ import annotations

from .. import checks
from ..autograd.attention import self_attention
from .activation import Dropout
from .linear import Linear
from .module import Module


class MultiHeadSelfAttention(Module):
    """softmax(Q K^T / sqrt(d)) V per head on x of shape (B, N, D), D = heads * d.

    One Linear makes Q, K and V together (``qkv``, D -> 3 E), a second mixes the heads (``proj``,
    E -> D); E = heads * d is ``qkv_dim``, D by default (LRA's configurations set it apart).
    Dropout p acts on the attention weights and on the output, as in the ViT reference code.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, bias: bool = True,
                 qkv_dim: int | None = None):
        dim = checks.integer("MultiHeadSelfAttention", "dim", dim, 1)
        heads = checks.integer("MultiHeadSelfAttention", "heads", heads, 1)
        checks.number("MultiHeadSelfAttention", "dropout", dropout, 0, 1)
        if qkv_dim is not None:
            checks.integer("MultiHeadSelfAttention", "qkv_dim", qkv_dim, 1)
        super().__init__()
        qkv_dim = dim if qkv_dim is None else qkv_dim
        if qkv_dim % heads:
            raise ValueError(f"MultiHeadSelfAttention: qkv_dim {qkv_dim} is not divisible by heads {heads}")
        self.dim, self.heads, self.head_dim, self.qkv_dim = dim, heads, qkv_dim // heads, qkv_dim
        self.qkv = Linear(dim, 3 * qkv_dim, bias=bias)
        self.attn_drop = Dropout(dropout)
        self.proj = Linear(qkv_dim, dim, bias=bias)
        self.proj_drop = Dropout(dropout)

    def forward(self, x):
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ValueError(f"MultiHeadSelfAttention(dim={self.dim}): expected input (B, N, {self.dim}), "
                             f"got shape {tuple(x.shape)}")
        out = self_attention(self.qkv(x), self.heads, self.attn_drop.p, self.training)
        return self.proj_drop(self.proj(out))

    def extra_repr(self):
        inner = f", qkv_dim={self.qkv_dim}" if self.qkv_dim != self.dim else ""
        return f"dim={self.dim}, heads={self.heads}{inner}, dropout={self.attn_drop.p}"
