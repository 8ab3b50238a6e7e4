"""Inverted dropout (Srivastava et al., 2014): zero each element with probability p, scale the rest.

    y = x m / (1 - p),   m_i ~ Bernoulli(1 - p);   dL/dx = g m / (1 - p)

Scaling at training time keeps E[y] = x, so evaluation is the identity. The mask is drawn with
the array's own module: minifb's seeded NumPy generator on the CPU, ``cupy.random`` on the GPU
(seeded by ``minifb.seed`` too), so no mask ever crosses the bus. In a step captured as a CUDA graph
(``backend.graph_safe``) the GPU draws from ``minifb.philox``, whose state is in device memory, so
that every replay draws new masks.
"""
from __future__ import annotations

import numpy as np

from .. import checks, philox
from ..backend import elementwise_kernel, generator, get_array_module, is_graph_safe
from .function import primitive


def _uniform(xp, shape, dtype):
    """U[0, 1) samples of ``shape`` drawn on the array's device."""
    if xp is np:
        return generator().random(shape, dtype=dtype)
    if is_graph_safe():
        return philox.uniform(shape, dtype)
    return xp.random.random_sample(shape, dtype=dtype)


@primitive("dropout")
def dropout(x, p: float = 0.5, training: bool = True):
    """Zero elements with probability ``p`` and scale the others by 1/(1 - p); identity unless
    ``training``."""
    p = checks.number("dropout", "p", p, 0, 1)
    checks.flag("dropout", "training", training)
    if not training or p == 0.0:
        return x
    xp = get_array_module(x.data)
    real_dtype = x.data.real.dtype
    if p == 1.0:
        mask = xp.zeros(x.shape, dtype=real_dtype)
        out = x.data * mask
    elif xp is not np and x.dtype in (np.float32, np.float64):
        # the mask and the output in one kernel (instead of compare, cast, scale, multiply)
        kernel = elementwise_kernel("T x, T u, T p, T scale", "T y, T mask",
                                    "mask = u >= p ? scale : (T)0; y = x * mask;", "minifb_dropout")
        out, mask = kernel(x.data, _uniform(xp, x.shape, x.dtype), p, 1 / (1 - p))
    else:
        keep = _uniform(xp, x.shape,
                        real_dtype if real_dtype in (np.float32, np.float64) else np.float64) >= p
        mask = keep.astype(real_dtype) * (1 / (1 - p))  # a Python float keeps float32 float32
        out = x.data * mask
    return out, (lambda g: g * mask,)
