"""minifb: a minimal deep-learning engine on NumPy and CuPy.

A tape-based reverse-mode autograd with a switchable NumPy/CuPy backend, FFT token mixing
(FFTNet) with Haar wavelets, and contextual feedback loops, trained on real data.
"""
from . import autograd, backend
from .autograd import *  # noqa: F401,F403  (Tensor, tensor, the ops, no_grad, gradcheck)
from .backend import (asnumpy, cuda_available, default_device, get_default_device, seed, set_default_device,
                      set_tf32, synchronize)

from .saving import load, save
from . import layers, models, optim  # noqa: E402  (after the autograd: the layers build on it)

__version__ = "0.1.0"
