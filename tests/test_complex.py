"""Complex tensors: gradients in PyTorch's convention, z.grad = dL/dRe z + i dL/dIm z.

First direct small examples that state the convention, then hypothesis-drawn gradchecks on complex
inputs (the checker perturbs real and imaginary parts and weighs complex outputs by a complex weight).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minifb as mf
from minifb.autograd import gradcheck


def ctensor(values, device, dtype=np.complex128):
    return mf.tensor(np.asarray(values, dtype=dtype), requires_grad=True, device=device)


def grad_of(t):
    return mf.asnumpy(t.grad)


# ---- the convention, by hand ----------------------------------------------------------------------------

def test_squared_modulus_has_gradient_2z(device):
    z = ctensor([1 + 2j, -0.5 + 0.25j], device)
    (z * z.conj()).real.sum().backward()
    np.testing.assert_allclose(grad_of(z), 2 * np.array([1 + 2j, -0.5 + 0.25j]))
    z.zero_grad()
    (mf.abs(z) ** 2).sum().backward()
    np.testing.assert_allclose(grad_of(z), 2 * np.array([1 + 2j, -0.5 + 0.25j]))


def test_real_imag_conj_and_a_constant_weight(device):
    z = ctensor([3 + 4j], device)
    mf.real(z).sum().backward()
    np.testing.assert_allclose(grad_of(z), [1 + 0j])
    z.zero_grad()
    mf.imag(z).sum().backward()
    np.testing.assert_allclose(grad_of(z), [1j])
    z.zero_grad()
    w = 0.5 - 2j
    mf.real(mf.conj(z) * w).sum().backward()  # Re(conj(z) w) = Re z Re w + Im z Im w: gradient w
    np.testing.assert_allclose(grad_of(z), [w])


def test_abs_and_angle(device):
    z = ctensor([3 + 4j], device)
    mf.abs(z).sum().backward()
    np.testing.assert_allclose(grad_of(z), [0.6 + 0.8j])
    w = ctensor([1 + 1j], device)
    mf.angle(w).sum().backward()  # d arg/dRe = -Im/|w|^2, d arg/dIm = Re/|w|^2
    np.testing.assert_allclose(grad_of(w), [-0.5 + 0.5j])


def test_a_real_tensor_times_a_complex_constant_gets_the_real_part(device):
    x = mf.tensor(np.array([1.0, 2.0]), requires_grad=True, device=device)
    c = 2.0 + 3.0j
    mf.real(x * c).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(grad_of(x), [2.0, 2.0])
    x.zero_grad()
    mf.imag(x * c).sum().backward()
    np.testing.assert_allclose(grad_of(x), [3.0, 3.0])


def test_complex_from_parts(device):
    re = mf.tensor(np.array([1.0, -2.0]), requires_grad=True, device=device)
    im = mf.tensor(np.array([0.5, 3.0]), requires_grad=True, device=device)
    z = mf.complex(re, im)
    np.testing.assert_array_equal(z.numpy(), [1 + 0.5j, -2 + 3j])
    (mf.abs(z) ** 2).sum().backward()
    np.testing.assert_allclose(grad_of(re), [2.0, -4.0])
    np.testing.assert_allclose(grad_of(im), [1.0, 6.0])


def test_zero_modulus_gives_zero_gradient_not_nan(device):
    z = ctensor([0j], device)
    (mf.abs(z) + mf.angle(z)).sum().backward()
    np.testing.assert_array_equal(grad_of(z), [0j])


def test_single_precision_stays_single(device):
    x = mf.tensor(np.ones(3, np.float32), device=device)
    assert mf.complex(x, x).dtype == np.complex64
    z = x * 1j
    assert z.dtype == np.complex64
    assert (z * (2 - 1j) + 1).dtype == np.complex64
    assert mf.abs(z).dtype == np.float32 and mf.angle(z).dtype == np.float32
    assert mf.real(z).dtype == np.float32 and mf.imag(z).dtype == np.float32


def test_real_and_conj_of_a_real_tensor_are_the_tensor(device):
    x = mf.tensor(np.ones(2), device=device)
    assert mf.real(x) is x and mf.conj(x) is x
    with pytest.raises(TypeError, match="imag: needs a complex tensor, got float64"):
        mf.imag(x)


# ---- gradchecks on drawn complex inputs ---------------------------------------------------------------------

def complex_values(data, shape, min_modulus=0.0, positive_real=False):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    z = rng.uniform(-2, 2, shape) + 1j * rng.uniform(-2, 2, shape)
    if positive_real:  # away from log's branch cut on the negative real axis
        z = np.abs(z.real) + 0.3 + 1j * z.imag
    modulus = np.abs(z)
    return np.where(modulus < min_modulus, z + min_modulus * (1 + 1j), z)  # away from |z| = 0


def pair_of_shapes(data):
    return data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)).input_shapes


def binary(op):
    def draw(data):
        sa, sb = pair_of_shapes(data)
        a, b = complex_values(data, sa), complex_values(data, sb, min_modulus=0.5)
        if data.draw(st.booleans(), label="real a"):
            a = a.real  # mixed real and complex inputs: the real one keeps the real part
        return (a, b), op
    return draw


def unary(op, **value_options):
    def draw(data):
        shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
        return (complex_values(data, shape, **value_options),), op
    return draw


def draw_from_parts(data):
    sa, sb = pair_of_shapes(data)
    return (complex_values(data, sa).real, complex_values(data, sb).imag), lambda re, im: mf.complex(re, im) ** 2


def draw_matmul(data):
    n, k, m = (data.draw(st.integers(1, 3), label=s) for s in "nkm")
    return (complex_values(data, (n, k)), complex_values(data, (k, m))), mf.matmul


def draw_binary_einsum(data):
    a, b = complex_values(data, (2, 3)), complex_values(data, (3, 3))
    return (a, b), lambda x, y: mf.einsum("ij,jk,kk->ik", x, y, y)


COMPLEX_OPS = {
    "add": binary(mf.add),
    "sub": binary(mf.sub),
    "mul": binary(mf.mul),
    "div": binary(mf.div),
    "neg": unary(mf.neg),
    "real": unary(mf.real),
    "imag": unary(mf.imag),
    "conj": unary(mf.conj),
    "abs": unary(mf.abs, min_modulus=0.3),
    "angle": unary(mf.angle, min_modulus=0.3),
    "exp": unary(mf.exp),
    "log": unary(mf.log, positive_real=True),
    "tanh": unary(lambda z: mf.tanh(z * 0.3)),  # small arguments: away from the poles at i pi/2
    "sum": unary(lambda z: z.sum(axis=0) if z.ndim else z.sum()),
    "var": unary(mf.var),
    "complex(re, im)": draw_from_parts,
    "matmul": draw_matmul,
    # small arguments keep the functions and their inverses away from poles and branch cuts
    "sin": unary(mf.sin),
    "cos": unary(mf.cos),
    "tan": unary(lambda z: mf.tan(z * 0.3)),
    "arcsin": unary(lambda z: mf.arcsin(z * 0.3)),
    "arccos": unary(lambda z: mf.arccos(z * 0.3)),
    "arctan": unary(lambda z: mf.arctan(z * 0.3)),
    "sinh": unary(mf.sinh),
    "cosh": unary(mf.cosh),
    "arcsinh": unary(lambda z: mf.arcsinh(z * 0.3)),
    "arccosh": unary(lambda z: mf.arccosh(z * 0.3 + 2)),  # the cut is the real axis below 1
    "arctanh": unary(lambda z: mf.arctanh(z * 0.3)),
    "log1p": unary(mf.log1p, positive_real=True),
    "expm1": unary(mf.expm1),
    "log2": unary(mf.log2, positive_real=True),
    "log10": unary(mf.log10, positive_real=True),
    "square": unary(mf.square),
    "reciprocal": unary(mf.reciprocal, min_modulus=0.5),
    "std": lambda data: ((complex_values(data, (3, 4)),), lambda z: mf.std(z, axis=0, ddof=1)),
    "prod": unary(lambda z: mf.prod(z, axis=0) if z.ndim else mf.prod(z)),
    "cumsum": unary(mf.cumsum),
    "cumprod": unary(lambda z: mf.cumprod(z * 0.5)),
    "einsum": draw_binary_einsum,
    "tensordot": lambda data: ((complex_values(data, (2, 3)), complex_values(data, (3, 2))),
                               lambda a, b: mf.tensordot(a, b, 1)),
    "outer": binary(mf.outer),
    "diagonal": lambda data: ((complex_values(data, (3, 4)),), lambda z: mf.diagonal(z, 1)),
}


@pytest.mark.parametrize("name", COMPLEX_OPS)
@given(data=st.data())
def test_complex_gradient(name, device, data):
    arrays, f = COMPLEX_OPS[name](data)
    assert gradcheck(f, *(mf.tensor(a, device=device) for a in arrays))
