"""gradcheck itself: it passes right VJPs, catches wrong ones and says where they are wrong."""
import numpy as np
import pytest

import minifb as mf
from minifb.autograd import GradcheckError, gradcheck
from minifb.autograd.function import record, tensors


def square_with_wrong_vjp_at(bad_element):
    """x^2 whose VJP is right everywhere but at one flat position (a deliberately broken op)."""
    def op(x):
        (x,) = tensors("bad_square", x)

        def vjp(g):
            grad = 2 * g * x.data
            grad.reshape(-1)[bad_element] *= 1.01
            return (grad,)
        return record("bad_square", x.data * x.data, (x,), vjp)
    return op


def scale_with_conjugation_forgotten(c):
    """z * c with the VJP written as g * c instead of g * conj(c): right for real c only."""
    def op(z):
        (z,) = tensors("bad_scale", z)
        return record("bad_scale", z.data * c, (z,), lambda g: (g * c,))
    return op


def test_a_correct_op_passes(device):
    x = mf.tensor(np.linspace(-1, 1, 6).reshape(2, 3), device=device)
    assert gradcheck(lambda t: (t * t).exp(), x)


def test_a_wrong_vjp_is_caught_and_located(device):
    x = mf.tensor(np.arange(1.0, 7.0).reshape(2, 3), device=device)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2, 3\), float64\)"):
        gradcheck(square_with_wrong_vjp_at(4), x)
    with pytest.raises(GradcheckError, match=r"worst element \(1, 1\): backward gives .*finite differences"):
        gradcheck(square_with_wrong_vjp_at(4), x, directions=0)


def test_the_second_input_is_named(device):
    a = mf.tensor(np.ones(3), device=device)
    b = mf.tensor(np.arange(1.0, 4.0), device=device)
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(3,\).*worst element \(2,\)"):
        gradcheck(lambda a, b: a + square_with_wrong_vjp_at(2)(b), a, b, directions=0)


def test_random_directions_catch_errors_on_large_inputs(device):
    x = mf.tensor(np.linspace(0.5, 2.0, 1000), device=device)  # too large for the element-wise check
    with pytest.raises(GradcheckError, match="along random direction"):
        gradcheck(lambda t: square_with_wrong_vjp_at(slice(None, None, 2))(t), x)


def test_complex_inputs_and_outputs(device):
    z = mf.tensor(np.array([1 + 2j, -0.5 + 1j]), device=device)
    assert gradcheck(lambda t: t * (2 - 3j), z)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2,\), complex128\): worst"):
        gradcheck(scale_with_conjugation_forgotten(2 - 3j), z, directions=0)
    # with a real constant forgetting conj does no harm: the check must pass
    assert gradcheck(scale_with_conjugation_forgotten(2.0), z)


def test_a_wrong_imaginary_part_is_caught(device):
    def op(z):  # Re(z) with the VJP of z itself: wrong only through the imaginary unit
        (z,) = tensors("bad_real", z)
        return record("bad_real", z.data.real.copy(), (z,), lambda g: (g * (1 + 1j),))
    z = mf.tensor(np.array([1 + 2j]), device=device)
    with pytest.raises(GradcheckError, match=r"worst imaginary part \(0,\)"):
        gradcheck(op, z, directions=0)


def test_inputs_are_checked_in_double_precision(device):
    seen = []
    x = mf.tensor(np.ones(3, np.float32), device=device)
    z = mf.tensor(np.ones(2, np.complex64), device=device)

    def f(a, b):
        seen.append((a.dtype, b.dtype))
        return a.sum() + mf.real(b).sum()
    assert gradcheck(f, x, z)
    assert set(seen) == {(np.dtype(np.float64), np.dtype(np.complex128))}
    assert x.dtype == np.float32 and x.grad is None  # the caller's tensors are left alone


def test_integer_arguments_pass_through(device):
    logits = mf.tensor(np.array([[0.1, 0.2, -0.3], [1.0, 0.0, 0.5]]), device=device)
    labels = mf.tensor(np.array([2, 0]), device=device)
    assert gradcheck(lambda x, y: mf.cross_entropy(x, y), logits, labels)


def test_bad_calls(device):
    with pytest.raises(ValueError, match="gradcheck: no floating-point Tensor"):
        gradcheck(lambda y: y, mf.tensor(np.array([1, 2]), device=device))
    with pytest.raises(TypeError, match="gradcheck: f must return a Tensor, got float"):
        gradcheck(lambda x: 1.0, mf.tensor(np.ones(2), device=device))
