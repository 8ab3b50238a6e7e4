"""The FFT family, the Haar wavelets and the complex activations against PyTorch.

The FFTs are checked against torch.fft for every norm, with n (or s) cropping and padding, odd
and even lengths, real and complex inputs; PyTorch's complex gradients use minifb's convention
(dL/dRe z + i dL/dIm z, see test_ops_torch). PyTorch has no Haar transform: the twins in
torch_models.py are written from docs/design.md's equations.
"""
import numpy as np
import pytest
import torch

import minifb as mf
import torch_models as T

NORMS = ["backward", "ortho", "forward"]
DTYPES = ["float64", "float32"]


def draw(shape, dtype, complex_=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if complex_:
        return (x + 1j * rng.standard_normal(shape)).astype(np.result_type(dtype, np.complex64))
    return x.astype(dtype)


# n: None (the input's length), shorter (crop), longer (zero-pad); lengths 6 (even) and 7 (odd)
ONE_AXIS = [(None, 6), (None, 7), (4, 7), (9, 6), (5, 5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n,length", ONE_AXIS)
@pytest.mark.parametrize("pair", [(mf.fft, torch.fft.fft), (mf.ifft, torch.fft.ifft)], ids=["fft", "ifft"])
@pytest.mark.parametrize("complex_", [True, False], ids=["complex", "real"])
def test_fft_ifft(complex_, pair, n, length, norm, dtype, check):
    ours, theirs = pair
    x = draw((3, length, 2), dtype, complex_)
    check.op(lambda t: ours(t, n=n, axis=1, norm=norm), lambda t: theirs(t, n=n, dim=1, norm=norm), x,
             name=f"{ours.__name__}(n={n}, {norm})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n,length", ONE_AXIS)
def test_rfft(n, length, norm, dtype, check):
    x = draw((2, 3, length), dtype)
    check.op(lambda t: mf.rfft(t, n=n, norm=norm), lambda t: torch.fft.rfft(t, n=n, norm=norm), x,
             name=f"rfft(n={n}, {norm})")


# (n, bins): n None (2 (bins - 1)), even, odd, longer than the bins give (padding), shorter (cropping)
IRFFT = [(None, 4), (6, 4), (7, 4), (12, 4), (4, 5), (5, 5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n,bins", IRFFT)
def test_irfft(n, bins, norm, dtype, check):
    """Also the imaginary parts that irfft ignores (DC, Nyquist): their gradient must be 0."""
    x = draw((bins, 3), dtype, complex_=True)
    check.op(lambda t: mf.irfft(t, n=n, axis=0, norm=norm), lambda t: torch.fft.irfft(t, n=n, dim=0, norm=norm), x,
             name=f"irfft(n={n}, {norm})")


# s: None, and cropping one axis while padding the other
TWO_AXES = [None, (3, 8)]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s", TWO_AXES)
@pytest.mark.parametrize("pair", [(mf.fft2, torch.fft.fft2), (mf.ifft2, torch.fft.ifft2)], ids=["fft2", "ifft2"])
def test_fft2_ifft2(pair, s, norm, check):
    ours, theirs = pair
    x = draw((2, 5, 6), "float64", complex_=True)
    check.op(lambda t: ours(t, s=s, axes=(1, 2), norm=norm), lambda t: theirs(t, s=s, dim=(1, 2), norm=norm), x,
             name=f"{ours.__name__}(s={s}, {norm})")


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s", TWO_AXES)
def test_rfft2(s, norm, check):
    x = draw((5, 2, 7), "float64")
    check.op(lambda t: mf.rfft2(t, s=s, axes=(0, 2), norm=norm),
             lambda t: torch.fft.rfft2(t, s=s, dim=(0, 2), norm=norm), x, name=f"rfft2(s={s}, {norm})")


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s", [None, (4, 7), (6, 6)])
def test_irfft2(s, norm, check):
    x = draw((2, 5, 4), "float64", complex_=True)
    check.op(lambda t: mf.irfft2(t, s=s, norm=norm), lambda t: torch.fft.irfft2(t, s=s, norm=norm), x,
             name=f"irfft2(s={s}, {norm})")


# (s, axes): all axes; three axes in another order, cropping and padding; the last len(s) axes
N_AXES = [(None, None), ((3, 6, 4), (2, 0, 1)), ((4, 5), None)]
N_PAIRS = [(mf.fftn, torch.fft.fftn), (mf.ifftn, torch.fft.ifftn), (mf.rfftn, torch.fft.rfftn),
           (mf.irfftn, torch.fft.irfftn)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s,axes", N_AXES)
@pytest.mark.parametrize("pair", N_PAIRS, ids=["fftn", "ifftn", "rfftn", "irfftn"])
def test_n_axis_transforms(pair, s, axes, norm, dtype, check):
    ours, theirs = pair
    x = draw((3, 4, 5), dtype, complex_=ours is not mf.rfftn)
    check.op(lambda t: ours(t, s=s, axes=axes, norm=norm), lambda t: theirs(t, s=s, dim=axes, norm=norm), x,
             name=f"{ours.__name__}(s={s}, axes={axes}, {norm})")


@pytest.mark.parametrize("axes", [None, 1, (0, 1)])
@pytest.mark.parametrize("pair", [(mf.fftshift, torch.fft.fftshift), (mf.ifftshift, torch.fft.ifftshift)],
                         ids=["fftshift", "ifftshift"])
def test_shifts(pair, axes, check):
    ours, theirs = pair
    x = draw((5, 4), "float64", complex_=True)
    check.op(lambda t: ours(t, axes=axes), lambda t: theirs(t, dim=axes), x, name=ours.__name__)


# ---- Haar wavelets -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("length", [8, 7])
def test_haar_dwt_and_inverse(length, dtype, check):
    x = draw((2, length, 3), dtype)
    check.op(lambda t: mf.haar_dwt(t, axis=1), lambda t: T.haar_dwt(t, 1), x, name="haar_dwt")
    a, d = draw((2, 4, 3), dtype, seed=1), draw((2, 4, 3), dtype, seed=2)
    check.op(lambda p, q: mf.haar_idwt(p, q, axis=1, length=length), lambda p, q: T.haar_idwt(p, q, 1, length), a, d,
             name="haar_idwt")


@pytest.mark.parametrize("length,levels", [(16, 3), (13, 2)])
def test_haar_multilevel(length, levels, check):
    x = draw((3, length), "float64")
    check.op(lambda t: mf.haar_wavedec(t, levels, axis=-1), lambda t: T.haar_wavedec(t, levels, -1), x,
             name="haar_wavedec")
    coeffs = [c.numpy(force=True) for c in T.haar_wavedec(torch.tensor(x), levels, -1)]
    check.op(lambda *c: mf.haar_waverec(c, axis=-1, length=length), lambda *c: T.haar_waverec(c, -1, length), *coeffs,
             name="haar_waverec")


@pytest.mark.parametrize("shape", [(2, 6, 8), (2, 5, 7)])
def test_haar_2d(shape, check):
    x = draw(shape, "float64")
    check.op(lambda t: mf.haar_dwt2(t), lambda t: T.haar_dwt2(t), x, name="haar_dwt2")
    parts = [p.numpy(force=True) for p in T.haar_dwt2(torch.tensor(x))]
    check.op(lambda *p: mf.haar_idwt2(*p, shape=shape[1:]), lambda *p: T.haar_idwt2(*p, shape=shape[1:]), *parts,
             name="haar_idwt2")


def test_haar_2d_multilevel(check):
    x = draw((2, 8, 8), "float64")  # a 2-level decomposition of 8 x 8 and back
    flat = lambda coeffs: [coeffs[0]] + [c for level in coeffs[1:] for c in level]
    check.op(lambda t: flat(mf.haar_wavedec2(t, 2)), lambda t: flat(T.haar_wavedec2(t, 2)), x, name="haar_wavedec2")
    coeffs = [c.numpy(force=True) for c in flat(T.haar_wavedec2(torch.tensor(x), 2))]
    nest = lambda c: [c[0]] + [tuple(c[i:i + 3]) for i in range(1, len(c), 3)]
    check.op(lambda *c: mf.haar_waverec2(nest(c), shape=(8, 8)), lambda *c: T.haar_waverec2(nest(c), shape=(8, 8)),
             *coeffs, name="haar_waverec2")


# ---- complex activations ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_mod_relu(dtype, check):
    """Some |z| below eps (the floor) and some |z| + b <= 0 (switched off)."""
    z = draw((4, 6), dtype, complex_=True)
    z[0, :2] *= 1e-4
    b = np.linspace(-1.5, 0.3, 6).astype(dtype)
    check.op(mf.mod_relu, T.mod_relu, z, b, name="mod_relu")


@pytest.mark.parametrize("dtype", DTYPES)
def test_mod_gelu(dtype, check):
    z = draw((4, 6), dtype, complex_=True)
    z[0, :2] *= 1e-4
    check.op(mf.mod_gelu, T.mod_gelu, z, name="mod_gelu")


def test_mod_relu_on_a_real_input(check):
    x = draw((3, 5), "float64")
    check.op(lambda t, b: mf.mod_relu(t, b), lambda t, b: T.mod_relu(t, b), x, np.array([-0.2]), name="mod_relu real")
