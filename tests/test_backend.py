"""The backend: devices, moving tensors, conversion to NumPy, seeding, and the message when CuPy is missing."""
import sys

import numpy as np
import pytest

import minifb as mf
from minifb import backend


def test_the_default_device_is_the_cpu():
    assert mf.get_default_device() == "cpu"
    x = mf.tensor([1.0, 2.0])
    assert x.device == "cpu" and isinstance(x.data, np.ndarray)


def test_default_device_block(device):
    with mf.default_device(device):
        assert mf.get_default_device() == device
        assert mf.tensor([1.0]).device == device
    assert mf.get_default_device() == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        mf.set_default_device("tpu")
    assert mf.get_default_device() == "cpu"


def test_dtypes_of_new_tensors(device):
    assert mf.tensor([1.0, 2.0], device=device).dtype == np.float32  # Python floats: float32, as in training
    assert mf.tensor([1.0, 2j], device=device).dtype == np.complex64
    assert mf.tensor(np.ones(2), device=device).dtype == np.float64  # arrays keep their dtype
    assert mf.tensor(np.float64(1.5), device=device).dtype == np.float64  # and so do NumPy scalars
    assert mf.tensor([1, 2], device=device).dtype == np.int64
    assert mf.tensor([1.0], dtype=np.float64, device=device).dtype == np.float64


def test_to_moves_data_and_gradients_back(device):
    x = mf.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
    y = x.to(device)
    assert y.device == device and backend.device_of(y.data) == device
    (y * y).sum().backward()
    assert isinstance(x.grad, np.ndarray)
    np.testing.assert_allclose(x.grad, [2.0, -4.0, 6.0])
    assert y.to(device) is y  # already there: nothing to do
    back = y.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(back.data, x.data)


def test_asnumpy(device, xp):
    data = xp.asarray([[1.0, 2.0]])
    for thing in (data, mf.tensor(data), [[1.0, 2.0]]):
        out = mf.asnumpy(thing)
        assert isinstance(out, np.ndarray)
        np.testing.assert_array_equal(out, [[1.0, 2.0]])
    t = mf.tensor(data, device=device)
    assert isinstance(t.numpy(), np.ndarray) and t[0, 1].item() == 2.0


def test_seeding_reproduces_the_generator():
    mf.seed(7)
    first = backend.generator().standard_normal(4)
    state = backend.get_rng_state()
    after = backend.generator().standard_normal(4)
    mf.seed(7)
    np.testing.assert_array_equal(backend.generator().standard_normal(4), first)
    backend.set_rng_state(state)
    np.testing.assert_array_equal(backend.generator().standard_normal(4), after)
    mf.seed(8)
    assert not np.array_equal(backend.generator().standard_normal(4), first)


def test_get_array_module(device, xp):
    assert backend.get_array_module(np.ones(1), None, 2.0) is np
    assert backend.get_array_module(np.ones(1), xp.ones(1)) is xp
    assert backend.xp_for(device) is xp


def test_cuda_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail as if it were not installed
    with pytest.raises(RuntimeError, match=r"device 'cuda' needs CuPy, which is not installed: .*pip install minifb\[cuda12\]"):
        mf.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="pip install"):
        mf.set_default_device("cuda")
    assert mf.get_default_device() == "cpu"
    assert not mf.cuda_available()
    mf.synchronize()  # a no-op without a GPU


def test_repr_and_len(device):
    x = mf.tensor(np.array([[1.0, 2.0]]), requires_grad=True, device=device)
    text = repr(x)
    assert text.startswith("tensor([[1., 2.]], dtype=float64") and "requires_grad=True" in text
    assert ("device='cuda'" in text) == (device == "cuda")
    assert len(x) == 1 and x.shape == (1, 2) and x.ndim == 2 and x.size == 2
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(mf.tensor(1.0, device=device))
