"""Cross-checks with PyTorch: shared set-up for the tests in this folder.

Every test file of this folder is skipped, with the reason, when PyTorch is not installed (it is
an optional extra: ``pip install minifb[torch]``). Each test runs on the `device` fixture: NumPy
against PyTorch on the CPU, and CuPy against PyTorch on CUDA where both are present (against
PyTorch on the CPU when this PyTorch build has no CUDA).

``check`` (a :class:`TorchCheck`) runs a minifb function and its PyTorch twin on the same inputs
and compares outputs and input gradients; every array compared is counted, and the count is
printed at the end of the run.
"""
import numpy as np
import pytest

import minifb as mf
from minifb.testing import MismatchError, cast, compare_arrays, to_numpy, torch_state_dict

try:
    import torch
except ImportError:
    torch = None

if torch is not None:
    # The tiny float64 problems here run >10x slower when PyTorch's thread pool fights the
    # other test processes for the cores.
    torch.set_num_threads(1)
    # On a GPU, PyTorch may use TF32 (10-bit mantissa) in float32 convolutions and matmuls; the
    # float32 comparisons assume true float32 (minifb uses TF32 only when asked for).
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
else:
    class _SkippedModule(pytest.Module):
        """A test file that is reported as skipped without being imported (it imports torch)."""

        def collect(self):
            pytest.skip("PyTorch is not installed (pip install minifb[torch]); the cross-checks need it")

    def pytest_pycollect_makemodule(module_path, parent):
        return _SkippedModule.from_parent(parent, path=module_path)

# (rtol, atol) by dtype; atol is scaled by the largest magnitude of the expected array.
TOLERANCES = {"float64": (1e-8, 1e-10), "complex128": (1e-8, 1e-10), "float32": (1e-4, 1e-5), "complex64": (1e-4, 1e-5)}

comparisons = {"count": 0}


def pytest_terminal_summary(terminalreporter):
    if comparisons["count"]:
        terminalreporter.write_line(f"PyTorch cross-checks: {comparisons['count']} arrays compared")


class TorchCheck:
    """minifb against PyTorch on one device; arrays come in as numpy and are copied to both."""

    def __init__(self, device: str, torch_device: str):
        self.device, self.torch_device = device, torch_device
        self.rng = np.random.default_rng(0)

    def mf(self, array, requires_grad=None):
        array = np.asarray(array)
        if requires_grad is None:
            requires_grad = array.dtype.kind in "fc"
        return mf.tensor(array, requires_grad=requires_grad, device=self.device)

    def torch(self, array, requires_grad=None):
        array = np.asarray(array)
        if requires_grad is None:
            requires_grad = array.dtype.kind in "fc"
        return torch.tensor(array, device=self.torch_device).requires_grad_(requires_grad)

    def close(self, name, actual, expected, rtol=None, atol=None, check_dtype=True, scale_atol=False):
        """Assert that ``actual`` (minifb) matches ``expected`` (PyTorch), and count it.

        ``atol`` is multiplied by the largest magnitude of ``expected`` when that exceeds 1, or,
        with ``scale_atol``, always (minifb.testing.compare's option of the same name)."""
        e, a = to_numpy(expected), to_numpy(actual)
        default_rtol, default_atol = TOLERANCES.get(str(e.dtype), (1e-8, 1e-10))
        rtol = default_rtol if rtol is None else rtol
        largest = float(np.abs(e).max(initial=0.0))
        atol = (default_atol if atol is None else atol) * (largest if scale_atol else max(1.0, largest))
        if check_dtype and a.dtype != e.dtype:
            raise MismatchError(f"{name}: minifb gives dtype {a.dtype}, PyTorch {e.dtype}")
        row = compare_arrays(name, e, a, rtol, atol)
        comparisons["count"] += 1
        if row.status != "ok":
            raise MismatchError(f"minifb on {self.device} vs PyTorch on {self.torch_device}: {row}")

    def random_like(self, array):
        """A random array of the same shape and dtype (complex when the array is)."""
        g = self.rng.standard_normal(array.shape)
        if array.dtype.kind == "c":
            g = g + 1j * self.rng.standard_normal(array.shape)
        return g.astype(array.dtype)

    def backward(self, mf_outs, torch_outs):
        """Send the same random output gradients g back through both: the VJPs g^T J (conjugated
        for complex values: both follow dL/dRe z + i dL/dIm z)."""
        pairs = [(m, t) for m, t in zip(mf_outs, torch_outs) if t.requires_grad]
        grads = [self.random_like(to_numpy(t)) for _, t in pairs]
        for (m, _), g in zip(pairs, grads):  # each gradient on its output's device (to_device may move one)
            m.backward(mf.tensor(g, device=m.device), retain_graph=True)
        torch_outs = [t for _, t in pairs]
        torch.autograd.backward(torch_outs, [torch.tensor(g, device=t.device) for t, g in zip(torch_outs, grads)])

    def op(self, mf_fn, torch_fn, *arrays, grad=True, rtol=None, atol=None, name="op"):
        """Run both functions on the arrays; compare the outputs and every input's gradient."""
        mf_in = [self.mf(a) for a in arrays]
        torch_in = [self.torch(a) for a in arrays]
        mf_out, torch_out = mf_fn(*mf_in), torch_fn(*torch_in)
        single = not isinstance(torch_out, (tuple, list))
        mf_outs = [mf_out] if single else list(mf_out)
        torch_outs = [torch_out] if single else list(torch_out)
        assert len(mf_outs) == len(torch_outs), f"{name}: {len(mf_outs)} outputs against {len(torch_outs)}"
        for k, (m, t) in enumerate(zip(mf_outs, torch_outs)):
            self.close(f"{name} output {k}", m, t, rtol, atol)
        if not grad:
            return mf_outs, torch_outs
        self.backward(mf_outs, torch_outs)
        for k, (m, t) in enumerate(zip(mf_in, torch_in)):
            if not t.requires_grad:
                continue
            expected = t.grad if t.grad is not None else torch.zeros_like(t)
            actual = m.grad if m.grad is not None else np.zeros(m.shape, m.dtype)
            self.close(f"{name} grad of input {k}", actual, expected, rtol, atol)
        return mf_outs, torch_outs

    def module(self, mf_module, torch_module, *inputs, dtype="float64", training=False, renames=(),
               rtol=None, atol=None, name="module", forward=None):
        """Copy the minifb module's weights into the PyTorch module (names mapped by ``renames``),
        run both on the inputs in ``dtype``, and compare outputs, input gradients, every
        parameter's gradient and the buffers afterwards (running statistics).

        ``forward(module, *inputs)`` calls a module (default ``module(*inputs)``).
        """
        forward = forward or (lambda m, *xs: m(*xs))
        cast(mf_module, dtype).to(self.device).train(training)
        torch_module.to(device=self.torch_device, dtype=getattr(torch, dtype)).train(training)
        torch_module.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict(mf_module, renames).items()})
        floating = [np.asarray(x).astype(dtype) if np.asarray(x).dtype.kind == "f" else np.asarray(x) for x in inputs]
        mf_in = [self.mf(x) for x in floating]
        torch_in = [self.torch(x) for x in floating]
        mf_out, torch_out = forward(mf_module, *mf_in), forward(torch_module, *torch_in)
        self.close(f"{name} output", mf_out, torch_out, rtol, atol)
        self.backward([mf_out], [torch_out])
        for k, (m, t) in enumerate(zip(mf_in, torch_in)):
            if t.requires_grad:
                self.close(f"{name} grad of input {k}", m.grad, t.grad, rtol, atol)
        torch_params = dict(torch_module.named_parameters())
        mf_names = torch_state_dict({n: p.data for n, p in mf_module.named_parameters()}, renames)
        assert sorted(mf_names) == sorted(torch_params), \
            f"{name}: parameters {sorted(mf_names)} vs {sorted(torch_params)}"
        for (mf_name, p), torch_name in zip(mf_module.named_parameters(), mf_names):
            expected = torch_params[torch_name].grad
            self.close(f"{name} grad of {mf_name}", p.grad, expected if expected is not None else
                       torch.zeros_like(torch_params[torch_name]), rtol, atol)
        torch_buffers = dict(torch_module.named_buffers())
        for buffer_name, value in torch_state_dict(dict(mf_module.named_buffers()), renames).items():
            self.close(f"{name} buffer {buffer_name}", value, torch_buffers[buffer_name], rtol, atol)
        return mf_out, torch_out


@pytest.fixture
def torch_device(device):
    """PyTorch's device for minifb's: CUDA beside CuPy when this PyTorch build has it."""
    return "cuda" if device == "cuda" and torch.cuda.is_available() else "cpu"


@pytest.fixture
def check(device, torch_device):
    return TorchCheck(device, torch_device)
