"""Modules around parameter-free functions: ReLU, GELU, Dropout, Identity, Flatten."""
from __future__ import annotations

from .. import checks
from ..autograd.dropout import dropout
from ..autograd.shape import flatten
from ..autograd.unary import gelu, relu
from .module import Module


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return relu(x)


class GELU(Module):
    """x Phi(x) (Hendrycks & Gimpel, 2016); approximate='tanh' uses the tanh formula."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Dropout(Module):
    """Inverted dropout with probability p while training; the identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        self.p = checks.number("Dropout", "p", p, 0, 1)

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Identity(Module):
    """Returns its input (a placeholder where a layer is switched off)."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge axes start_dim..end_dim (by default all but the batch axis) into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        checks.integer("Flatten", "start_dim", start_dim)
        checks.integer("Flatten", "end_dim", end_dim)
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
