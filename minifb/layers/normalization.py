"""BatchNorm1d, BatchNorm2d and LayerNorm: thin modules around the fused primitives."""
from __future__ import annotations

import numpy as np

from .. import checks
from ..autograd.normalization import batch_norm, layer_norm
from .module import Module, Parameter


class _BatchNorm(Module):
    """Batch normalisation over channel axis 1 (Ioffe & Szegedy, 2015), PyTorch's defaults.

    Training mode normalises with the batch statistics and updates running_mean/running_var
    (momentum 0.1, unbiased variance); eval mode normalises with the running statistics.
    Parameters weight (init 1) and bias (init 0); buffers running_mean, running_var and
    num_batches_tracked, named as in PyTorch so state dicts map one to one.
    """

    expected_ndim: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        name = type(self).__name__
        num_features = checks.integer(name, "num_features", num_features, 1)
        eps = checks.number(name, "eps", eps, 0, low_open=True)
        momentum = checks.number(name, "momentum", momentum, 0, 1)
        checks.flag(name, "affine", affine)
        super().__init__()
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        self.weight = Parameter(np.ones(num_features, np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, np.float32)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, np.float32))
        self.register_buffer("running_var", np.ones(num_features, np.float32))
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64))

    def forward(self, x):
        if x.ndim not in self.expected_ndim or x.shape[1] != self.num_features:
            shapes = " or ".join(f"{n}-d" for n in self.expected_ndim)
            raise ValueError(f"{type(self).__name__}({self.num_features}): expected a {shapes} input with "
                             f"{self.num_features} channels on axis 1, got shape {tuple(x.shape)}")
        if self.training:
            self.num_batches_tracked += 1
        return batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                          training=self.training, momentum=self.momentum, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs."""

    expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of NCHW images."""

    expected_ndim = (4,)


class LayerNorm(Module):
    """Normalise over the last axis of size D (Ba et al., 2016); weight init 1, bias init 0."""

    def __init__(self, dim: int, eps: float = 1e-5, elementwise_affine: bool = True):
        dim = checks.integer("LayerNorm", "dim", dim, 1)
        eps = checks.number("LayerNorm", "eps", eps, 0, low_open=True)
        checks.flag("LayerNorm", "elementwise_affine", elementwise_affine)
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = Parameter(np.ones(dim, np.float32)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(dim, np.float32)) if elementwise_affine else None

    def forward(self, x):
        if x.ndim < 1 or x.shape[-1] != self.dim:
            raise ValueError(f"LayerNorm({self.dim}): expected the last axis of size {self.dim}, got shape "
                             f"{tuple(x.shape)}")
        return layer_norm(x, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"({self.dim},), eps={self.eps}, elementwise_affine={self.weight is not None}"
