"""Matrix product with NumPy's rules: 1-D operands, batching and broadcasting of batch axes."""
from __future__ import annotations

from ..backend import matmul as array_matmul
from .function import broadcast_shape, conj, primitive, unbroadcast


@primitive("matmul", inputs=2)
def matmul(a, b):
    """a @ b;  dL/da = g @ conj(b)^T,  dL/db = conj(a)^T @ g (summed over broadcast batch axes).

    A 1-D ``a`` is a row (1, k) and a 1-D ``b`` a column (k, 1), removed again from the result.
    """
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
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
