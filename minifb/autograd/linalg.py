"""Matrix products: ``matmul`` with NumPy's rules (1-D operands, batching, broadcast batch axes) and
``linear``, the affine map of a layer."""
from __future__ import annotations

import math

from ..backend import matmul as array_matmul
from .function import broadcast_shape, conj, primitive, sum_leading, unbroadcast


@primitive("matmul", inputs=2)
def matmul(a, b):
    """a @ b;  dL/da = g @ conj(b)^T,  dL/db = conj(a)^T @ g (summed over broadcast batch axes).

    A 1-D ``a`` is a row (1, k) and a 1-D ``b`` a column (k, 1), removed again from the result.
    """
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and "
                         f"{b.shape}")
    A = a.data[None, :] if a.ndim == 1 else a.data
    B = b.data[:, None] if b.ndim == 1 else b.data
    if A.shape[-1] != B.shape[-2]:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not match "
                         f"({A.shape[-1]} columns against {B.shape[-2]} rows)")
    broadcast_shape("matmul (batch axes)", A.shape[:-2], B.shape[:-2])
    out2 = array_matmul(A, B)
    out = out2
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]

    def grad_a(g):
        g2 = g.reshape(out2.shape)
        return unbroadcast(array_matmul(g2, conj(B).swapaxes(-1, -2)), A.shape).reshape(a.shape)

    def grad_b(g):
        g2 = g.reshape(out2.shape)
        return unbroadcast(array_matmul(conj(A).swapaxes(-1, -2), g2), B.shape).reshape(b.shape)
    return out, (grad_a, grad_b)


@primitive("linear", inputs=3)
def linear(x, weight, bias=None):
    """y = x W^T + b over the last axis of x (any leading axes), as one primitive.

    With x flattened to X (M, in) and g to G (M, out):  dL/dX = G conj(W),  dL/dW = G^T conj(X),
    dL/db = sum of the rows of G (``sum_leading``: CuPy sums over a leading axis slowly).
    """
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                         f"(expected (..., {weight.shape[1] if weight.ndim == 2 else 'in'}) and (out, in))")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
    m = math.prod(x.shape[:-1])  # not -1: reshape cannot infer it when a size is 0
    x2 = x.data.reshape(m, weight.shape[1])
    out = array_matmul(x2, weight.data.T)
    if bias is not None:
        out += bias.data

    def rows(g):
        return g.reshape(m, weight.shape[0])
    return out.reshape(x.shape[:-1] + (weight.shape[0],)), (
        lambda g: array_matmul(rows(g), conj(weight.data)).reshape(x.shape),
        lambda g: array_matmul(rows(g).T, conj(x2)),
        lambda g: sum_leading(rows(g), 1))
