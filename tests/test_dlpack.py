"""Arrays shared with NumPy, PyTorch and CuPy without copies (DLPack both ways), and CuPy arrays
taken by minifb.tensor before minifb was asked for 'cuda'.

The PyTorch tests skip without PyTorch; the CuPy ones need a GPU with CuPy (they skip here).
"""
import subprocess
import sys
import types

import numpy as np
import pytest

import minifb as mf
from minifb import backend

DTYPES = [np.float32, np.float64, np.complex64, np.int64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_in_and_out_share_memory(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    t = mf.from_dlpack(a)
    assert t.dtype == dtype and t.shape == (2, 3) and t.device == "cpu" and t.is_leaf
    a[0, 0] = 7  # the tensor sees writes to the array: one memory
    assert t.data[0, 0] == 7 and np.shares_memory(t.data, a)
    back = np.from_dlpack(t)
    assert np.shares_memory(back, a)


def test_a_tensor_that_requires_grad_comes_in_and_goes_out_as_values():
    x = mf.from_dlpack(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert np.shares_memory(np.from_dlpack(x), x.data)
    transposed = mf.tensor(np.arange(6.0).reshape(2, 3)).T  # strided data keeps its strides
    np.testing.assert_array_equal(np.from_dlpack(transposed), np.arange(6.0).reshape(2, 3).T)


def test_torch_in_and_out_share_memory():
    torch = pytest.importorskip("torch")
    for dtype in (torch.float32, torch.float64, torch.complex64, torch.int64):
        source = torch.arange(6).reshape(2, 3).to(dtype)
        t = mf.from_dlpack(source)
        assert str(t.dtype) == str(dtype).removeprefix("torch.") and t.shape == (2, 3)
        source[1, 2] = 9
        assert t.data[1, 2] == 9
    x = mf.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    shared = torch.from_dlpack(x)
    assert shared.dtype == torch.float32 and tuple(shared.shape) == (2, 3)
    shared[0, 1] = 5
    assert x.data[0, 1] == 5  # PyTorch wrote into minifb's memory
    with pytest.raises(ValueError, match="from_dlpack: the Tensor could not be shared: .*require"):
        mf.from_dlpack(torch.ones(2, requires_grad=True))


def test_bad_objects_are_refused_naming_from_dlpack():
    with pytest.raises(TypeError, match="from_dlpack: needs an object with __dlpack__ .* got list"):
        mf.from_dlpack([1.0, 2.0])

    class OnAnotherDevice:
        def __dlpack__(self, **options):
            raise AssertionError("never asked for")

        def __dlpack_device__(self):
            return 14, 0  # kDLOneAPI
    with pytest.raises(ValueError, match="from_dlpack: the OnAnotherDevice lives on DLPack device type 14"):
        mf.from_dlpack(OnAnotherDevice())


def test_a_cupy_array_loads_cupy_the_first_time_one_is_seen(monkeypatch):
    """backend.is_cupy_array recognises a CuPy array before CuPy was imported by minifb (here a stand-in
    module: there is no GPU on every machine), and NumPy data never imports it."""
    fake = types.ModuleType("cupy")
    fake.ndarray = type("ndarray", (), {"__module__": "cupy"})
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(backend, "_cupy", None)
    assert not backend.is_cupy_array(np.ones(2)) and backend._cupy is None
    assert backend.is_cupy_array(fake.ndarray())
    assert backend._cupy is fake and backend.device_of(fake.ndarray()) == "cuda"


# ---- on a GPU ----------------------------------------------------------------------------------------

needs_cupy = pytest.mark.skipif(not backend.cuda_available(), reason="no CUDA GPU with CuPy on this machine")


@pytest.mark.gpu
@needs_cupy
def test_tensor_takes_a_cupy_array_without_a_default_device():
    """In a fresh process: no set_default_device('cuda') before, and the data stays where it is."""
    code = ("import cupy, minifb\n"
            "a = cupy.arange(6, dtype=cupy.float32)\n"
            "t = minifb.tensor(a, requires_grad=True)\n"
            "assert minifb.get_default_device() == 'cpu' and t.device == 'cuda', t.device\n"
            "assert t.data.data.ptr == a.data.ptr\n"
            "(t * t).sum().backward()\n"
            "assert isinstance(t.grad, cupy.ndarray) and float(t.grad[3]) == 6.0\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.mark.gpu
@needs_cupy
def test_cupy_in_and_out_share_memory():
    import cupy
    a = cupy.arange(6, dtype=cupy.float64).reshape(2, 3)
    t = mf.from_dlpack(a)
    assert t.device == "cuda" and t.data.data.ptr == a.data.ptr
    back = cupy.from_dlpack(mf.tensor(np.ones(3, np.float32), device="cuda"))
    assert back.dtype == cupy.float32 and float(back.sum()) == 3.0
    x = mf.tensor(np.zeros(4), device="cuda")
    shared = cupy.from_dlpack(x)
    shared[2] = 5.0
    assert float(x.data[2]) == 5.0


@pytest.mark.gpu
@needs_cupy
def test_torch_cuda_in_and_out_share_memory():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this PyTorch build has no CUDA")
    source = torch.arange(6, dtype=torch.float32, device="cuda")
    t = mf.from_dlpack(source)
    assert t.device == "cuda" and t.data.data.ptr == source.data_ptr()
    x = mf.tensor(np.zeros(4, np.float32), device="cuda")
    shared = torch.from_dlpack(x)
    assert shared.device.type == "cuda" and shared.data_ptr() == x.data.data.ptr
    shared[1] = 3.0
    torch.cuda.synchronize()
    assert float(x.data[1]) == 3.0
