"""gradcheck: compare backward with central finite differences, in float64 / complex128.

    L(x) = sum Re(conj(w) * f(x))                   (w: a fixed random weight; complex if f is)
    numeric:   (L(x + eps v) - L(x - eps v)) / (2 eps)
    analytic:  sum Re(conj(x.grad) * v)              (x.grad = dL/dRe x + i dL/dIm x)

Two checks per input: along a few random unit directions v (cheap at any size), and element
by element (the full gradient of L, which for a random w exercises the full Jacobian), where
v runs over the real and, for a complex input, the imaginary unit of each element.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .reduction import sum as _sum
from .tape import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Backward disagrees with finite differences."""


def _promote(t: Tensor) -> Tensor:
    kind = t.data.dtype.kind
    if kind == "c":
        data = t.data.astype(np.complex128)
    elif kind == "f":
        data = t.data.astype(np.float64)
    else:
        return t  # integer arguments (labels, indices) pass through unchecked
    return Tensor(data.copy(), requires_grad=True)


def gradcheck(f, *inputs, eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7,
              directions: int = 3, full: bool | None = None, max_full: int = 256, seed: int = 0) -> bool:
    """Check the gradients of ``f(*inputs)`` with respect to every floating-point input.

    ``f`` returns a tensor (real or complex, any shape). ``full`` checks every element (by default
    when the input has at most ``max_full`` elements). Returns True, or raises
    :class:`GradcheckError` naming the input, the worst element and both values.
    """
    xs = [_promote(x) if isinstance(x, Tensor) else x for x in inputs]
    checked = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no floating-point Tensor among the inputs")
    rng = np.random.default_rng(seed)
    loss = _projected_loss(f, xs, rng)
    for i in checked:
        xs[i].grad = None
    loss(*xs).backward()
    for i in checked:
        x = xs[i]
        grad = x.grad if x.grad is not None else backend.get_array_module(x.data).zeros_like(x.data)
        slope = _Slope(loss, xs, i, grad, eps)
        check_directions(slope, x, rng, directions, rtol, atol)
        if full if full is not None else x.size <= max_full:
            check_elements(slope, x, rtol, atol)
    return True


def _projected_loss(f, xs, rng):
    """L(*args) = sum Re(conj(w) f(*args)) for a fixed random w of f's output shape (complex if f is)."""
    with no_grad():
        out = f(*xs)  # only its shape and kind are needed here
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    w = rng.standard_normal(out.shape)
    if out.is_complex:
        w = w + 1j * rng.standard_normal(out.shape)
    w = backend.get_array_module(out.data).asarray(w)

    def loss(*args) -> Tensor:
        y = f(*args)
        return _sum((y * w.conj()).real if y.is_complex else y * w)
    return loss


class _Slope:
    """The derivative of the loss along a direction v of input ``i``, two ways."""

    def __init__(self, loss, xs, i, grad, eps):
        self.loss, self.xs, self.i, self.grad, self.eps = loss, xs, i, grad, eps

    def analytic(self, v) -> float:
        """From backward: sum Re(conj(grad) v)."""
        return float((self.grad.conj() * v).real.sum())

    def numeric(self, v) -> float:
        """Central difference (L(x + eps v) - L(x - eps v)) / (2 eps)."""
        base = self.xs[self.i].data
        return (self._value(base + self.eps * v) - self._value(base - self.eps * v)) / (2 * self.eps)

    def _value(self, perturbed) -> float:
        args = list(self.xs)
        args[self.i] = Tensor(perturbed)
        with no_grad():
            return float(self.loss(*args).item())

    def describe(self, x) -> str:
        return f"gradcheck: input {self.i} (shape {x.shape}, {x.dtype})"


def check_directions(slope: _Slope, x: Tensor, rng, directions: int, rtol: float, atol: float) -> None:
    """Along ``directions`` random unit vectors (complex for a complex input): cheap at any size."""
    xp = backend.get_array_module(x.data)
    for k in range(directions):
        v = rng.standard_normal(x.shape)
        if x.is_complex:
            v = v + 1j * rng.standard_normal(x.shape)
        v = xp.asarray(v / max(np.linalg.norm(v), 1e-12)).astype(x.data.dtype)
        a, n = slope.analytic(v), slope.numeric(v)
        if not np.isclose(a, n, rtol=rtol, atol=atol):
            raise GradcheckError(f"{slope.describe(x)}: along random direction {k} backward gives {a:.10g}, "
                                 f"finite differences {n:.10g}")


def check_elements(slope: _Slope, x: Tensor, rtol: float, atol: float) -> None:
    """Element by element (the real and, for a complex input, the imaginary unit of each): the full
    gradient, which for the random projection exercises the full Jacobian. Reports the worst one."""
    xp = backend.get_array_module(x.data)
    worst = None
    for flat in range(x.size):
        for unit in ([1.0, 1j] if x.is_complex else [1.0]):
            v = xp.zeros(x.size, dtype=x.data.dtype)
            v[flat] = unit
            a, n = slope.analytic(v.reshape(x.shape)), slope.numeric(v.reshape(x.shape))
            err = abs(a - n) - rtol * abs(n)
            if err > atol and (worst is None or err > worst[0]):
                worst = (err, flat, unit, a, n)
    if worst is not None:
        _, flat, unit, a, n = worst
        where = tuple(int(j) for j in np.unravel_index(flat, x.shape)) if x.shape else ()
        part = "imaginary part" if unit == 1j else "element"
        raise GradcheckError(f"{slope.describe(x)}: worst {part} {where}: backward gives {a:.10g}, "
                             f"finite differences {n:.10g}")
