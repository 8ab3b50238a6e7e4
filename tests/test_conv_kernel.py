"""The implicit-GEMM forward convolution (minifb/autograd/conv_kernel.cu) against the im2col path.

On the CPU the kernel is compiled as C++ and run through tests/cuda_emulator (skipped without a C++20
compiler); on a GPU it runs through conv2d with set_implicit_gemm(True), forward and backward.
"""
import pathlib
import subprocess

import numpy as np
import pytest

import minifb as mf
from conftest import cpp20_compiler
from minifb import backend
from minifb.autograd import conv
from minifb.autograd.conv import _Geometry, conv2d

EMULATOR = pathlib.Path(__file__).with_name("cuda_emulator")
# (batch, C, H, W, Cout, kh, kw, stride, padding): partial tiles of pixels, channels and K, strides
GEOMETRIES = [
    (3, 3, 8, 8, 70, 3, 3, (1, 1), (1, 1)),     # K = 27 < one K step; Cout past one tile of 64
    (2, 5, 9, 7, 64, 3, 2, (2, 1), (1, 0)),     # rectangular kernel, stride and padding per axis
]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", GEOMETRIES)
def test_emulated_implicit_gemm_matches_im2col(tmp_path, shape, dtype):
    compiler = cpp20_compiler(tmp_path)
    n, c, h, w, c_out, kh, kw, stride, padding = shape
    geometry = _Geometry(c, h, w, c_out, kh, kw, stride, padding)
    (tmp_path / "geometry.h").write_text(geometry.cuda_constants())
    build = subprocess.run([compiler, "-std=c++20", "-O1", "-pthread", f"-I{tmp_path}", f"-I{EMULATOR}",
                            f"-I{conv.IMPLICIT_GEMM_SOURCE.parent}", str(EMULATOR / "conv_main.cpp"),
                            "-o", str(tmp_path / "conv_main")], capture_output=True, text=True)
    assert build.returncode == 0, f"the kernel does not compile:\n{build.stderr[-4000:]}"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight = rng.standard_normal((c_out, c, kh, kw)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype)
    x.tofile(tmp_path / "x.bin")
    np.ascontiguousarray(weight.reshape(c_out, -1).T).tofile(tmp_path / "w_t.bin")
    bias.tofile(tmp_path / "bias.bin")
    for has_bias in (1, 0):
        subprocess.run([str(tmp_path / "conv_main"), str(n), str(has_bias), "f" if dtype == np.float32 else "d"],
                       cwd=tmp_path, check=True, timeout=120)
        out = np.fromfile(tmp_path / "out.bin", dtype).reshape(n, c_out, geometry.out_h, geometry.out_w)
        expected = conv2d(mf.tensor(x.astype(np.float64)), mf.tensor(weight.astype(np.float64)),
                          mf.tensor(bias.astype(np.float64)) if has_bias else None, stride, padding).numpy()
        tolerance = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance * np.abs(expected).max())


@pytest.fixture
def implicit_gemm():
    if not backend.cuda_available():
        pytest.skip("no CUDA GPU with CuPy on this machine")
    previous = conv.implicit_gemm_enabled()
    conv.set_implicit_gemm(True)
    yield
    conv.set_implicit_gemm(previous)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", GEOMETRIES + [(16, 64, 32, 32, 64, 3, 3, (1, 1), (1, 1)),
                                                (8, 256, 8, 8, 256, 3, 3, (1, 1), (1, 1))])
def test_implicit_gemm_on_the_gpu_matches_im2col(implicit_gemm, shape):
    import cupy
    n, c, h, w, c_out, kh, kw, stride, padding = shape
    rng = np.random.default_rng(1)
    x, weight, bias = (rng.standard_normal(s) for s in ((n, c, h, w), (c_out, c, kh, kw), (c_out,)))
    for dtype, tolerance in ((np.float32, 1e-4), (np.float64, 1e-12)):
        args = [mf.tensor(cupy.asarray(a, dtype=dtype), requires_grad=True) for a in (x, weight, bias)]
        assert conv._takes_implicit_gemm(args[0].data, _Geometry(c, h, w, c_out, kh, kw, stride, padding))
        out = conv2d(*args, stride=stride, padding=padding)
        g = cupy.asarray(rng.standard_normal(out.shape), dtype=dtype)
        out.backward(g)
        conv.set_implicit_gemm(False)
        plain = [mf.tensor(a.data.copy(), requires_grad=True) for a in args]
        expected = conv2d(*plain, stride=stride, padding=padding)
        expected.backward(g)
        conv.set_implicit_gemm(True)
        scale = float(abs(expected.data).max())
        np.testing.assert_allclose(backend.asnumpy(out.data), backend.asnumpy(expected.data),
                                   rtol=tolerance, atol=tolerance * scale)
        for got, want in zip(args, plain):  # the backward pass is im2col's either way
            np.testing.assert_allclose(backend.asnumpy(got.grad), backend.asnumpy(want.grad), rtol=1e-10, atol=1e-10)


@pytest.mark.gpu
def test_implicit_gemm_gradcheck_float64(implicit_gemm):
    import cupy
    from minifb.autograd.gradcheck import gradcheck
    rng = np.random.default_rng(2)
    x, weight, bias = (mf.tensor(cupy.asarray(rng.standard_normal(s))) for s in ((2, 3, 6, 5), (4, 3, 3, 3), (4,)))
    gradcheck(lambda a, b, c: conv2d(a, b, c, stride=(2, 1), padding=1), x, weight, bias)
