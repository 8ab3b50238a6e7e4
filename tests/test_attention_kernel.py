"""The memory-efficient attention kernel (minifb/autograd/attention_kernel.py) against the plain
reference (minifb.autograd.attention.attention_reference): forward and the three input gradients, with
and without dropout (the reference gets the mask the kernel draws, from its NumPy twin), float64
gradient checks of the kernel itself, its memory (no N x N buffer) and its random state.

On the CPU: the mask's NumPy twin, and the CUDA kernels themselves compiled as C++ and run on the
CPU (tests/cuda_emulator; skipped without a C++20 compiler). On a GPU, the rest:
PYTHONPATH=. python -m pytest -q tests/test_attention_kernel.py
"""
import math
import pathlib
import subprocess

import numpy as np
import pytest

import minifb as mf
from conftest import cpp20_compiler
from minifb import backend
from minifb.autograd import attention_kernel as ak
from minifb.autograd.gradcheck import gradcheck
from minifb.autograd.attention import attention_reference
from minifb.layers.attention import MultiHeadSelfAttention


# ---- the mask's NumPy twin (CPU) -------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_keeps_one_minus_p_of_the_weights(p):
    mask = ak.dropout_mask(seed=3, offset=0, batch=2, heads=3, n=128, p=p)
    assert mask.shape == (2, 3, 128, 128)
    assert set(np.unique(mask)) <= {0.0, 1 / (1 - p)}
    kept = (mask > 0).mean()
    assert abs(kept - (1 - p)) < 4 * math.sqrt(p * (1 - p) / mask.size)  # four standard deviations
    assert abs(mask.mean() - 1) < 4 * math.sqrt(p / (1 - p) / mask.size)  # E[mask] = 1: no rescaling needed


def test_dropout_mask_depends_on_seed_offset_and_position():
    base = ak.dropout_mask(1, 0, 1, 2, 64, 0.5)
    np.testing.assert_array_equal(base, ak.dropout_mask(1, 0, 1, 2, 64, 0.5))   # a function of its arguments
    for other in (ak.dropout_mask(2, 0, 1, 2, 64, 0.5), ak.dropout_mask(1, 1, 1, 2, 64, 0.5),
                  ak.dropout_mask(1, 2**32, 1, 2, 64, 0.5)):                   # the high words count too
        assert 0.4 < (other != base).mean() < 0.6                               # independent: half differ
    assert 0.4 < (base[0, 0] != base[0, 1]).mean() < 0.6                        # heads differ
    assert 0.4 < (base[0, 0, 0] != base[0, 0, 1]).mean() < 0.6                  # rows differ
    # neighbouring elements are uncorrelated
    keep = (base > 0).astype(float).ravel()
    assert abs(np.corrcoef(keep[:-1], keep[1:])[0, 1]) < 0.05


def test_dropout_threshold_bounds():
    assert ak.dropout_threshold(0.0) == 0
    assert ak.dropout_threshold(0.5) == 2**31
    assert ak.dropout_threshold(1 - 1e-12) == 2**32 - 1


def test_kernel_is_off_unless_asked_for_and_never_taken_on_the_cpu():
    import os
    from minifb.autograd.attention import self_attention
    assert ak.enabled() == (os.environ.get("MINIFB_ATTENTION_KERNEL", "0") == "1")
    qkv = mf.tensor(np.random.default_rng(0).standard_normal((1, 4, 3 * 64)).astype(np.float32), requires_grad=True)
    assert not ak.supports(qkv.data, 1)  # NumPy arrays stay on the reference
    previous = ak.enabled()
    try:
        ak.set_enabled(True)
        assert self_attention(qkv, 1)._node.name == "self_attention"
    finally:
        ak.set_enabled(previous)


# ---- the kernels compiled for the CPU ----------------------------------------------------------------

EMULATOR = pathlib.Path(__file__).with_name("cuda_emulator")


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    """The attention kernels built for the CPU; skipped where no C++20 compiler (with <barrier>) is found."""
    folder = tmp_path_factory.mktemp("attention_emulator")
    compiler = cpp20_compiler(folder)
    binary = folder / "attention_main"
    build = subprocess.run([compiler, "-std=c++20", "-O1", "-pthread", f"-I{EMULATOR}",
                            f"-I{pathlib.Path(ak.SOURCE).parent}", str(EMULATOR / "attention_main.cpp"),
                            "-o", str(binary)], capture_output=True, text=True)
    assert build.returncode == 0, f"the kernels do not compile:\n{build.stderr[-4000:]}"
    return binary


@pytest.mark.parametrize("b, n, heads, d, p, dtype", [
    (1, 5, 1, 32, 0.0, np.float32),      # one partial tile
    (2, 130, 2, 64, 0.0, np.float32),    # three tiles, the last with 2 tokens
    (2, 100, 2, 64, 0.5, np.float32),    # dropout: the mask must be dropout_mask's
    (1, 70, 2, 32, 0.3, np.float64),
])
def test_emulated_kernels_match_reference(emulated, tmp_path, b, n, heads, d, p, dtype):
    qkv = projections(b, n, heads, d, seed=n).astype(dtype)
    g = np.random.default_rng(1).standard_normal((b, n, heads * d)).astype(dtype)
    qkv.tofile(tmp_path / "qkv.bin")
    g.tofile(tmp_path / "g.bin")
    seed, offset = 2**40 + 3, 2**33 + 5
    subprocess.run([str(emulated), *map(str, (b, n, heads, d, p, seed, offset)), "f" if dtype == np.float32 else "d"],
                   cwd=tmp_path, check=True, timeout=120)
    out = np.fromfile(tmp_path / "out.bin", dtype).reshape(b, n, heads * d)
    grad = np.fromfile(tmp_path / "grad.bin", dtype).reshape(qkv.shape)
    x = mf.tensor(qkv.astype(np.float64), requires_grad=True)
    expected = attention_reference(x, heads, ak.dropout_mask(seed, offset, b, heads, n, p) if p else None)
    (expected * mf.tensor(g.astype(np.float64))).sum().backward()
    tolerance = 2e-5 if dtype == np.float32 else 1e-12
    assert_close("output", out, expected.numpy(), tolerance)
    dim = heads * d
    for i, part in enumerate("qkv"):
        assert_close(f"d{part}", grad[..., i * dim:(i + 1) * dim], x.grad[..., i * dim:(i + 1) * dim], 2 * tolerance)


# ---- the kernel on the GPU ---------------------------------------------------------------------------

@pytest.fixture
def cp():
    if not backend.cuda_available():
        pytest.skip("no CUDA GPU with CuPy on this machine")
    import cupy
    return cupy


def projections(b, n, heads, d, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((b, n, 3 * heads * d))


def reference(qkv64, heads, mask=None):
    """Output and gradient of sum(w * out) of the reference, in float64 on the CPU, for a fixed w."""
    x = mf.tensor(qkv64, requires_grad=True)
    out = attention_reference(x, heads, mask)
    w = np.random.default_rng(1).standard_normal(out.shape)
    (out * mf.tensor(w)).sum().backward()
    return out.numpy(), backend.asnumpy(x.grad), w


def kernel(cp, qkv, heads, w, p=0.0, rng=None, dtype=np.float32):
    x = mf.tensor(cp.asarray(qkv, dtype=dtype), requires_grad=True)
    out = ak.fused_attention(x, heads, p, training=p > 0, rng=rng)
    (out * mf.tensor(cp.asarray(w, dtype=dtype))).sum().backward()
    return backend.asnumpy(out.data), backend.asnumpy(x.grad)


def assert_close(name, got, expected, tolerance):
    """Relative to the largest entry (or 1 where all are smaller, e.g. the zero dQ of one token): the
    error of float32 sums does not depend on each element's size."""
    error = np.abs(got - expected).max() / max(np.abs(expected).max(), 1.0)
    assert error < tolerance, f"{name}: largest error {error:.2e} of the largest entry (tolerance {tolerance:.0e})"


def check_against_reference(cp, b, n, heads, d, p=0.0, scale=1.0):
    qkv = projections(b, n, heads, d, seed=n + d, scale=scale)
    rng, mask = None, None
    if p > 0:
        seed, offset = 12345 + n, 2**32 + 7
        rng = cp.asarray(np.array([seed, offset], np.uint64))
        mask = ak.dropout_mask(seed, offset, b, heads, n, p)
    out_ref, grad_ref, w = reference(qkv, heads, mask)
    out, grad = kernel(cp, qkv, heads, w, p, rng)
    assert_close("output", out, out_ref, 2e-5)
    dim = heads * d
    for i, part in enumerate("qkv"):
        assert_close(f"d{part}", grad[..., i * dim:(i + 1) * dim], grad_ref[..., i * dim:(i + 1) * dim], 5e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [1, 5, 64, 100, 129, 256])
@pytest.mark.parametrize("d", [32, 64])
def test_kernel_matches_reference(cp, n, d):
    check_against_reference(cp, 2, n, 3, d)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [7, 64, 200])
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_kernel_dropout_matches_reference_with_its_mask(cp, n, p):
    check_against_reference(cp, 2, n, 2, 64, p)


@pytest.mark.gpu
def test_kernel_with_large_scores(cp):
    """Scores of several hundred: the online softmax's rescaling must not overflow or lose rows."""
    check_against_reference(cp, 1, 300, 2, 32, scale=6.0)


@pytest.mark.gpu
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_kernel_gradcheck_float64(cp, p):
    rng = cp.asarray(np.array([5, 9], np.uint64))  # a fixed mask: every evaluation draws the same
    qkv = mf.tensor(cp.asarray(projections(1, 70, 2, 32, seed=4)))  # 70 tokens: two tiles, the second partial
    gradcheck(lambda t: ak.fused_attention(t, 2, p, training=True, rng=rng), qkv, directions=4)


@pytest.mark.gpu
def test_kernel_float64_matches_reference_closely(cp):
    qkv = projections(2, 90, 2, 64, seed=8)
    out_ref, grad_ref, w = reference(qkv, 2)
    out, grad = kernel(cp, qkv, 2, w, dtype=np.float64)
    assert_close("output", out, out_ref, 1e-12)
    assert_close("gradient", grad, grad_ref, 1e-12)


@pytest.mark.gpu
def test_kernel_memory_grows_as_n_d(cp):
    """At N = 4096 the reference's weights alone take B H N^2 floats (384 MiB here); the kernel's
    forward + backward needs a few arrays of qkv's size."""
    b, n, heads, d = 1, 4096, 6, 64
    x = mf.tensor(cp.asarray(projections(b, n, heads, d), dtype=cp.float32), requires_grad=True)
    w = mf.tensor(cp.ones((b, n, heads * d), dtype=cp.float32))
    cp.cuda.Device().synchronize()
    with backend.peak_pool_hook() as hook:
        (ak.fused_attention(x, heads) * w).sum().backward()
        cp.cuda.Device().synchronize()
    extra = hook.peak - hook.start
    assert extra < 6 * x.data.nbytes, f"{extra / 2**20:.1f} MiB for qkv of {x.data.nbytes / 2**20:.1f} MiB"


@pytest.mark.gpu
def test_dropout_state_moves_on_and_follows_the_seed(cp):
    x = mf.tensor(cp.asarray(projections(1, 80, 2, 32), dtype=cp.float32))
    mf.seed(4)
    first, second = (backend.asnumpy(ak.fused_attention(x, 2, 0.5).data) for _ in range(2))
    assert not np.array_equal(first, second)            # a new mask on every call
    mf.seed(4)
    np.testing.assert_array_equal(backend.asnumpy(ak.fused_attention(x, 2, 0.5).data), first)
    state = ak._rng_state(cp)
    seed, offset = (int(v) for v in backend.asnumpy(state))
    assert (seed, offset) == (4, 1)
    eval_mode = backend.asnumpy(ak.fused_attention(x, 2, 0.5, training=False).data)
    assert int(backend.asnumpy(state)[1]) == 1           # no dropout, no draw
    out_ref, _, _ = reference(backend.asnumpy(x.data).astype(np.float64), 2)
    assert_close("eval output", eval_mode, out_ref, 2e-5)


@pytest.mark.gpu
def test_dropout_mask_is_drawn_again_in_a_replayed_graph(cp):
    """seed and offset are read on the device: replaying a captured forward pass gives new masks."""
    x = mf.tensor(cp.asarray(projections(1, 64, 2, 32), dtype=cp.float32))
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        ak.fused_attention(x, 2, 0.5)      # compiled, and the pool holds blocks of these sizes
        stream.synchronize()
        stream.begin_capture()
        out = ak.fused_attention(x, 2, 0.5)
        graph = stream.end_capture()
        graph.launch()
        stream.synchronize()
        first = backend.asnumpy(out.data)
        graph.launch()
        stream.synchronize()
        second = backend.asnumpy(out.data)
    assert not np.array_equal(first, second)


@pytest.mark.gpu
def test_layer_uses_the_kernel_when_switched_on(cp):
    layer = MultiHeadSelfAttention(128, 2).to("cuda")
    x = mf.tensor(cp.asarray(np.random.default_rng(2).standard_normal((2, 50, 128)), dtype=cp.float32))
    previous = ak.enabled()
    try:
        ak.set_enabled(False)
        plain = backend.asnumpy(layer(x).data)
        ak.set_enabled(True)
        y = layer(mf.tensor(x.data, requires_grad=True))
        assert y._node.inputs[0]._node.name == "fused_attention"   # proj(fused_attention(qkv(x)))
        assert_close("layer output", backend.asnumpy(y.data), plain, 2e-5)
    finally:
        ak.set_enabled(previous)


@pytest.mark.gpu
def test_kernel_rejects_what_it_cannot_take(cp):
    with pytest.raises(ValueError, match=r"fused_attention: expected CUDA float32/float64 projections"):
        ak.fused_attention(mf.tensor(cp.ones((1, 4, 3 * 48), cp.float32)), 1)   # d = 48
    with pytest.raises(ValueError, match=r"fused_attention: dropout probability must be in \[0, 1\)"):
        ak.fused_attention(mf.tensor(cp.ones((1, 4, 3 * 64), cp.float32)), 1, p=1.0)
