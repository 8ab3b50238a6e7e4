"""Linear, Embedding and the transformer MLP block (the op ``linear``: minifb/autograd/linalg.py)."""
from __future__ import annotations

import math

from .. import checks
from ..autograd.linalg import linear
from ..autograd.shape import getitem
from ..autograd.tensor import Tensor
from ..backend import get_array_module
from ..deferred_checks import require
from . import init
from .activation import GELU, Dropout
from .module import Module, Parameter


class Linear(Module):
    """y = x W^T + b, W (out, in). PyTorch's initialisation: W ~ kaiming_uniform(a=sqrt 5),
    which is U(+-1/sqrt(in)), and b ~ U(+-1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        in_features = checks.integer("Linear", "in_features", in_features, 1)
        out_features = checks.integer("Linear", "out_features", out_features, 1)
        checks.flag("Linear", "bias", bias)
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(init.kaiming_uniform((out_features, in_features), a=math.sqrt(5)))
        self.bias = Parameter(init.uniform((out_features,), 1 / math.sqrt(in_features))) if bias else None

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: row i of the weight (num_embeddings, dim) for each integer index i.

    Initialised N(0, 1) as in PyTorch; the gradient scatter-adds into the rows that were used.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        num_embeddings = checks.integer("Embedding", "num_embeddings", num_embeddings, 1)
        embedding_dim = checks.integer("Embedding", "embedding_dim", embedding_dim, 1)
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
    """The transformer feed-forward block: Linear(dim, hidden), GELU, Dropout, Linear(hidden, dim),
    Dropout."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        checks.integer("MLP", "dim", dim, 1)
        checks.integer("MLP", "hidden", hidden, 1)
        checks.number("MLP", "dropout", dropout, 0, 1)
        super().__init__()
        self.fc1 = Linear(dim, hidden)
        self.act = GELU()
        self.drop1 = Dropout(dropout)
        self.fc2 = Linear(hidden, dim)
        self.drop2 = Dropout(dropout)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))

