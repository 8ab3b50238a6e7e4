"""Step functions: sign floor ceil round, whose gradient is 0 (they are constant between their jumps,
as in PyTorch), and remainder (``%``), which is x itself between its jumps.
"""
from __future__ import annotations

from ..backend import get_array_module
from .function import primitive


def _step(name, x, f):
    """A piecewise-constant function: dL/dx = 0 (zeros, not None: x.grad is zeros, as in PyTorch)."""
    if x.is_complex and name != "sign":
        raise TypeError(f"{name}: complex numbers are not ordered (got {x.dtype} of shape {x.shape})")
    xp = get_array_module(x.data)
    return f(xp, x.data), (xp.zeros_like,)


@primitive("sign")
def sign(x):
    """-1, 0 or 1 by the sign of x (complex: x / |x|, 0 at 0);  dL/dx = 0."""
    return _step("sign", x, lambda xp, a: xp.sign(a))


@primitive("floor")
def floor(x):
    """The largest integer <= x;  dL/dx = 0."""
    return _step("floor", x, lambda xp, a: xp.floor(a))


@primitive("ceil")
def ceil(x):
    """The smallest integer >= x;  dL/dx = 0."""
    return _step("ceil", x, lambda xp, a: xp.ceil(a))


@primitive("round")
def round(x, decimals: int = 0):
    """x rounded to ``decimals`` decimal places (halves to even, as NumPy);  dL/dx = 0."""
    if not isinstance(decimals, int):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    return _step("round", x, lambda xp, a: xp.round(a, decimals))


@primitive("remainder", inputs=2, broadcast=True)
def remainder(a, b):
    """a - floor(a / b) b, with the sign of b (Python's ``%``, NumPy's remainder);
    dL/da = g,  dL/db = -g floor(a / b)."""
    if a.is_complex or b.is_complex:
        raise TypeError(f"remainder: complex numbers are not ordered (got {a.dtype} and {b.dtype})")
    quotient, out = get_array_module(a.data, b.data).divmod(a.data, b.data)
    return out, (lambda g: g, lambda g: -g * quotient)
