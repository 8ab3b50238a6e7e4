"""Convolution and pooling layers for NCHW images: thin modules around minifb.autograd's ops.

Conv2d's weight has PyTorch's shape (out_channels, in_channels, kh, kw) and PyTorch's default
initialisation, so a state_dict maps one to one onto ``torch.nn.Conv2d``.
"""
from __future__ import annotations

import math

from .. import checks
from ..autograd.conv import as_pair, conv2d
from ..autograd.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from . import init
from .module import Module, Parameter


class Conv2d(Module):
    """y = conv2d(x, weight, bias, stride, padding) for x of shape (N, in_channels, H, W).

    Initialisation as in PyTorch: weight ~ kaiming_uniform(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)),
    and bias ~ U(+-1/sqrt(fan_in)), fan_in = in_channels * kh * kw.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True):
        in_channels = checks.integer("Conv2d", "in_channels", in_channels, 1)
        out_channels = checks.integer("Conv2d", "out_channels", out_channels, 1)
        checks.flag("Conv2d", "bias", bias)
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = as_pair("Conv2d", "kernel_size", kernel_size, 1)
        self.stride = as_pair("Conv2d", "stride", stride, 1)
        self.padding = as_pair("Conv2d", "padding", padding, 0)
        shape = (out_channels, in_channels, *self.kernel_size)
        self.weight = Parameter(init.kaiming_uniform(shape, a=math.sqrt(5)))
        if bias:
            fan_in, _ = init.fans(shape)
            self.bias = Parameter(init.uniform((out_channels,), 1 / math.sqrt(fan_in)))
        else:
            self.bias = None

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class _Pool2d(Module):
    """A pooling op over kernel_size windows, moved by stride (default: kernel_size)."""

    pool = None  # the op of minifb.autograd.pool, set by each subclass

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = as_pair(name, "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else as_pair(name, "stride", stride, 1)

    def forward(self, x):
        return self.pool(x, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """The maximum of each kernel_size window, moved by stride (default: kernel_size)."""

    pool = staticmethod(max_pool2d)


class AvgPool2d(_Pool2d):
    """The mean of each kernel_size window, moved by stride (default: kernel_size)."""

    pool = staticmethod(avg_pool2d)


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output_size (H, W) whatever the input size; 1 = global average."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = as_pair("AdaptiveAvgPool2d", "output_size", output_size, 1)

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
