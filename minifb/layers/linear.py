"""Linear, Embedding and the transformer MLP block."""
from __future__ import annotations

import math

from ..autograd.function import conj, record, sum_leading, tensors
from ..autograd.shape import getitem
from ..autograd.tensor import Tensor
from ..backend import get_array_module, matmul
from ..deferred_checks import require
from . import init
from .activation import GELU, Dropout
from .module import Module, Parameter


def linear(x, weight, bias=None):
    """y = x W^T + b over the last axis of x (any leading axes), as one primitive.

    With x flattened to X (M, in) and g to G (M, out):  dL/dX = G conj(W),  dL/dW = G^T conj(X),
    dL/db = sum of the rows of G (``sum_leading``: CuPy sums over a leading axis slowly).
    """
    inputs = tensors("linear", *(t for t in (x, weight, bias) if t is not None))
    x, weight = inputs[0], inputs[1]
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                         f"(expected (..., {weight.shape[1] if weight.ndim == 2 else 'in'}) and (out, in))")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    x2 = x.data.reshape(-1, weight.shape[1])
    out = matmul(x2, weight.data.T)
    if bias is not None:
        out += inputs[2].data

    def vjp(g):
        g2 = g.reshape(-1, weight.shape[0])
        grads = [matmul(g2, conj(weight.data)).reshape(x.shape) if x.requires_grad else None,
                 matmul(g2.T, conj(x2)) if weight.requires_grad else None]
        if bias is not None:
            grads.append(sum_leading(g2, 1) if inputs[2].requires_grad else None)
        return tuple(grads)
    return record("linear", out.reshape(x.shape[:-1] + (weight.shape[0],)), inputs, vjp)


class Linear(Module):
    """y = x W^T + b, W (out, in). PyTorch's initialisation: W ~ kaiming_uniform(a=sqrt 5),
    which is U(+-1/sqrt(in)), and b ~ U(+-1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.kaiming_uniform((out_features, in_features), a=math.sqrt(5)))
        self.bias = Parameter(init.uniform((out_features,), 1 / math.sqrt(in_features))) if bias else None

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i of the weight (num_embeddings, dim) for each integer index i.

    Initialised N(0, 1) as in PyTorch; the gradient scatter-adds into the rows that were used.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = Parameter(init.normal((num_embeddings, embedding_dim)))

    def forward(self, indices):
        idx = indices.data if isinstance(indices, Tensor) else indices
        xp = get_array_module(self.weight.data)
        idx = xp.asarray(idx)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {idx.dtype}")
        if idx.size:  # on the GPU, read when the caller chooses (minifb.deferred_checks)
            require(((idx < 0) | (idx >= self.num_embeddings)).any(),
                    f"Embedding: indices must be in [0, {self.num_embeddings})",
                    lambda: f", got values from {int(idx.min())} to {int(idx.max())}", IndexError)
        return getitem(self.weight, idx)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class MLP(Module):
    """The transformer feed-forward block: Linear(dim, hidden), GELU, Dropout, Linear(hidden, dim), Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = Linear(dim, hidden)
        self.act = GELU()
        self.drop1 = Dropout(dropout)
        self.fc2 = Linear(hidden, dim)
        self.drop2 = Dropout(dropout)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))

