"""Module, Parameter, Sequential, ModuleList: registration, walking, modes, devices, state dicts, repr."""
import numpy as np
import pytest

import minifb as mf
from minifb.layers import (BatchNorm1d, Dropout, Linear, Module, ModuleList, Parameter, ReLU, Sequential,
                           functional_call)


class Scale(Module):
    """A tiny layer with one parameter and one buffer."""

    def __init__(self, d):
        super().__init__()
        self.scale = Parameter(np.arange(1, d + 1, dtype=np.float32))
        self.register_buffer("calls", np.zeros((), np.int64))

    def forward(self, x):
        self.calls += 1
        return x * self.scale


class Block(Module):
    def __init__(self):
        super().__init__()
        self.first = Linear(3, 4)
        self.blocks = ModuleList([Scale(4), Scale(4)])
        self.gain = Parameter(np.ones(1, np.float32))
        self.note = "not registered"

    def forward(self, x):
        x = self.first(x)
        for b in self.blocks:
            x = b(x)
        return x * self.gain


def test_parameter_is_a_leaf_that_requires_grad():
    p = Parameter(np.zeros((2, 3)))
    assert p.requires_grad and p.is_leaf and p.dtype == np.float64
    assert Parameter([1.0, 2.0]).dtype == np.float32
    assert Parameter(mf.tensor([1.0])).shape == (1,)


def test_registration_order_and_dotted_names():
    m = Block()
    assert [n for n, _ in m.named_parameters()] == [
        "gain", "first.weight", "first.bias", "blocks.0.scale", "blocks.1.scale"]
    assert [n for n, _ in m.named_modules()] == ["", "first", "blocks", "blocks.0", "blocks.1"]
    assert [type(c).__name__ for c in m.children()] == ["Linear", "ModuleList"]
    assert [n for n, _ in m.named_buffers()] == ["blocks.0.calls", "blocks.1.calls"]
    assert m.num_parameters() == 1 + 12 + 4 + 4 + 4
    assert m.note == "not registered"


def test_reassigning_replaces_and_plain_values_unregister():
    m = Block()
    m.gain = Parameter(np.zeros(2, np.float32))
    assert m.gain.shape == (2,)
    m.gain = None  # a plain attribute now: no longer a parameter
    assert "gain" not in dict(m.named_parameters()) and m.gain is None
    del m.first
    assert "first.weight" not in dict(m.named_parameters())


def test_assigning_before_init_is_explained():
    class Broken(Module):
        def __init__(self):
            self.w = Parameter(np.zeros(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_buffers_must_be_arrays():
    m = Scale(2)
    with pytest.raises(TypeError, match="buffer 'calls'"):
        m.calls = 3
    with pytest.raises(KeyError, match="scale"):
        m.register_buffer("scale", np.zeros(1))


def test_shared_parameter_is_listed_once():
    shared = Linear(2, 2)
    m = Sequential(shared, ReLU(), shared)
    assert len(list(m.parameters())) == 2
    assert list(m.state_dict()) == ["0.weight", "0.bias"]


def test_forward_call_train_eval_zero_grad(device):
    m = Block().to(device)
    x = mf.tensor(np.ones((2, 3), np.float32), device=device)
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert int(m.blocks[0].calls) == 1
    assert m.eval() is m and not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        Module()(1)


def test_to_moves_parameters_grads_and_buffers(device):
    m = Block()
    m(mf.tensor(np.ones((1, 3), np.float32))).sum().backward()
    assert m.to(device) is m
    assert all(p.device == device and mf.backend.device_of(p.grad) == device for p in m.parameters())
    assert all(mf.backend.device_of(b) == device for _, b in m.named_buffers())
    assert m.to("cpu").first.weight.device == "cpu"


def test_state_dict_round_trip(device):
    mf.seed(1)
    a = Block().to(device)
    a.blocks[1].calls += 5
    mf.seed(2)
    b = Block().to(device)
    state = a.state_dict()
    assert list(state) == ["gain", "first.weight", "first.bias", "blocks.0.scale", "blocks.0.calls",
                           "blocks.1.scale", "blocks.1.calls"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["gain"][...] = 7  # a copy: changing it leaves the model alone
    assert float(a.gain.data[0]) == 1.0
    before = [id(p.data) for p in b.parameters()]
    assert b.load_state_dict(a.state_dict()) == ([], [])
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert [id(p.data) for p in b.parameters()] == before  # loaded in place
    assert b.first.weight.device == device and b.first.weight.dtype == np.float32


def test_load_with_wrong_shape_names_key_and_shapes_and_changes_nothing():
    m = Block()
    state = m.state_dict()
    state["blocks.0.scale"] = np.zeros(5, np.float32)
    state["first.weight"] = np.zeros((4, 3), np.float32) + 9  # valid, but must not be applied
    before = m.state_dict()
    with pytest.raises(ValueError, match=r"'blocks.0.scale' has shape \(5,\) in the state, \(4,\) in the model"):
        m.load_state_dict(state)
    for name, value in m.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_load_strictness():
    m = Block()
    state = m.state_dict()
    del state["gain"]
    state["extra.weight"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['gain'\], unexpected keys \['extra.weight'\]"):
        m.load_state_dict(state)
    assert m.load_state_dict(state, strict=False) == (["gain"], ["extra.weight"])


def test_sequential_and_module_list():
    s = Sequential(Linear(3, 5), ReLU(), Linear(5, 2))
    assert len(s) == 3 and isinstance(s[1], ReLU) and isinstance(s[-1], Linear)
    assert isinstance(s[:2], Sequential) and len(s[:2]) == 2
    x = mf.tensor(np.random.default_rng(0).standard_normal((4, 3)))
    expected = np.maximum(x.data @ s[0].weight.data.T + s[0].bias.data, 0) @ s[2].weight.data.T + s[2].bias.data
    np.testing.assert_allclose(s(x).data, expected, rtol=1e-6)
    ml = ModuleList()
    ml.append(ReLU()).extend([Dropout(0.1), Linear(1, 1)])
    assert len(ml) == 3 and [type(m).__name__ for m in ml] == ["ReLU", "Dropout", "Linear"]
    assert [n for n, _ in ml.named_parameters()] == ["2.weight", "2.bias"]
    with pytest.raises(TypeError, match="Sequential: argument 1 is a int"):
        Sequential(ReLU(), 3)
    with pytest.raises(TypeError, match="expected a Module"):
        ml.append("relu")


def test_repr_shows_the_tree_with_configuration():
    m = Sequential(Linear(3, 4), ModuleList([ReLU(), BatchNorm1d(4)]))
    assert repr(m) == (
        "Sequential(\n"
        "  (0): Linear(in_features=3, out_features=4, bias=True)\n"
        "  (1): ModuleList(\n"
        "    (0): ReLU()\n"
        "    (1): BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True)\n"
        "  )\n"
        ")")


def test_functional_call_swaps_and_restores():
    lin = Linear(2, 1)
    w = mf.tensor([[2.0, 3.0]])
    out = functional_call(lin, {"weight": w, "bias": mf.tensor([1.0])}, mf.tensor([[1.0, 1.0]]))
    assert float(out.data[0, 0]) == 6.0
    assert lin.weight is not w and isinstance(lin.weight, Parameter)
    with pytest.raises(KeyError, match="no parameter 'weights'"):
        functional_call(lin, {"weights": w}, mf.tensor([[1.0, 1.0]]))
    assert isinstance(lin.weight, Parameter)
