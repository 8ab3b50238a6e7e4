"""The tape: one node per op, backward in topological order without recursion, accumulation, release, no_grad."""
import gc
import weakref

import numpy as np
import pytest

import minifb as mf
from minifb.autograd import tape


def leaf(device, values=(1.0, 2.0, 3.0)):
    return mf.tensor(np.array(values), requires_grad=True, device=device)


def test_each_op_records_one_node(device):
    x = leaf(device)
    before = mf.tape_length()
    y = (x * 2).exp().sum()
    assert mf.tape_length() == before + 3
    assert y._node.name == "sum"
    with mf.no_grad():
        z = (x * 2).exp().sum()
    assert mf.tape_length() == before + 3
    assert z._node is None and not z.requires_grad


def test_constants_record_nothing(device):
    c = mf.tensor(np.ones(3), device=device)
    before = mf.tape_length()
    out = (c * 2 + 1).sum()
    assert mf.tape_length() == before and out._node is None and not out.requires_grad


def test_chain_of_10000_ops_needs_no_recursion(device):
    x = mf.tensor(np.array(0.5), requires_grad=True, device=device)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(mf.asnumpy(x.grad), 1.0001 ** 10_000, rtol=1e-9)


def test_leaves_accumulate_over_two_backward_calls(device):
    x = leaf(device)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(mf.asnumpy(x.grad), 2 * np.array([1.0, 2.0, 3.0]) + 3)
    x.zero_grad()
    assert x.grad is None


def test_a_tensor_used_twice_gets_both_gradients(device):
    x = leaf(device)
    y = x.exp()
    (y * y + y).sum().backward()
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(mf.asnumpy(x.grad), 2 * e * e + e)


def test_backward_releases_the_graph(device):
    x = leaf(device)
    hidden = x.exp()
    node = weakref.ref(hidden._node)
    loss = (hidden * 2).sum()
    hidden_ref = weakref.ref(hidden)
    del hidden
    assert hidden_ref() is not None  # kept alive by the nodes that use it
    loss.backward()
    gc.collect()
    assert hidden_ref() is None and node() is None  # freed by backward while loss still lives
    assert loss._node.released and loss._node.inputs is None


def test_an_unused_graph_dies_with_its_output(device):
    x = leaf(device)
    hidden = x.exp()
    hidden_ref, node = weakref.ref(hidden), weakref.ref(hidden._node)
    loss = (hidden * 2).sum()
    del hidden, loss
    assert hidden_ref() is None and node() is None  # plain reference counting: no cycles
    assert mf.tape_length() == 0


def test_backward_twice_raises_unless_retain_graph(device):
    x = leaf(device)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(mf.asnumpy(x.grad), 4 * np.array([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match=r"already freed.*'sum'.*retain_graph=True"):
        loss.backward()


def test_no_grad_and_enable_grad(device):
    x = leaf(device)
    with mf.no_grad():
        assert not mf.is_grad_enabled()
        with mf.enable_grad():
            y = x * 2
        z = x * 2
    assert mf.is_grad_enabled()
    assert y.requires_grad and not z.requires_grad


def test_detach_cuts_the_graph(device):
    x = leaf(device)
    y = x * 3
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.data is y.data
    (y * d).sum().backward()  # d is a constant: dL/dx = 3 d = 9 x
    np.testing.assert_allclose(mf.asnumpy(x.grad), 9 * np.array([1.0, 2.0, 3.0]))


def test_requires_grad_(device):
    x = mf.tensor(np.array([1.0, -2.0]), device=device)
    assert x.requires_grad_() is x and x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_allclose(mf.asnumpy(x.grad), [2.0, -4.0])
    x.requires_grad_(False)
    assert not (x * x).requires_grad
    y = leaf(device) * 2
    with pytest.raises(RuntimeError, match="requires_grad_: only leaf tensors"):
        y.requires_grad_(False)


def test_backward_of_a_non_scalar_with_an_explicit_gradient(device, xp):
    x = leaf(device)
    y = x * x
    y.backward(xp.asarray([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(mf.asnumpy(x.grad), [2.0, 0.0, -6.0])
    x.zero_grad()
    (x * x).backward(mf.tensor(np.array([1.0, 1.0, 1.0])))  # on the GPU: a CPU gradient is moved over
    np.testing.assert_allclose(mf.asnumpy(x.grad), [2.0, 4.0, 6.0])
    with pytest.raises(RuntimeError, match=r"shape \(3,\) is not a scalar; pass grad="):
        (x * x).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(2,\), the tensor has shape \(3,\)"):
        (x * x).backward(xp.ones(2))


def test_backward_of_a_leaf_and_of_a_constant(device):
    x = leaf(device)
    x.backward(np.ones(3))
    np.testing.assert_allclose(mf.asnumpy(x.grad), np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        mf.tensor(np.ones(3), device=device).sum().backward()


def test_gradient_keeps_dtype_and_device(device):
    x = mf.tensor(np.ones((2, 3), np.float32), requires_grad=True, device=device)
    (x * 2.5).sum().backward()
    assert x.grad.dtype == np.float32 and mf.backend.device_of(x.grad) == device


def test_outputs_never_differentiated_leave_no_nodes(device):
    x = leaf(device)
    before = mf.tape_length()
    for _ in range(3000):
        x * 2  # outputs die at once: their nodes die with them
    assert mf.tape_length() == before


def test_graph_puts_every_node_before_the_nodes_of_its_inputs(device):
    x = leaf(device)
    a = x.exp()
    b, c = a * 2, a.tanh()  # a is used twice: its node must wait for both users
    loss = (b * c + b).sum()
    order = tape.graph(loss)
    assert order[0] is loss._node and len(order) == 6 and len(set(map(id, order))) == 6
    position = {id(node): i for i, node in enumerate(order)}
    for node in order:
        for t in node.inputs:
            if t._node is not None:
                assert position[id(node)] < position[id(t._node)]
    assert tape.graph(x) == [] and tape.graph(mf.tensor(1.0)) == []


def test_backward_releases_exactly_the_graph_of_its_root(device):
    x = leaf(device)
    shared = x.exp()
    first, second = (shared * 2).sum(), (shared * 3).sum()
    other = (x * 5).sum()
    first.backward(retain_graph=True)
    assert not any(node.released for node in tape.graph(first))
    second.backward()
    assert shared._node.released and second._node.released
    assert not first._node.released and not other._node.released  # other graphs are left alone
    np.testing.assert_allclose(mf.asnumpy(x.grad), 5 * np.exp([1.0, 2.0, 3.0]))


def test_a_freed_part_of_the_graph_raises_before_any_gradient_moves(device):
    x = leaf(device)
    shared = x.exp()
    (shared * 2).sum().backward()  # releases shared's node
    x.grad = None
    later = (shared * 3).sum() + (x * 4).sum()
    with pytest.raises(RuntimeError, match=r"already freed.*'exp'"):
        later.backward()
    assert x.grad is None  # the (x * 4) branch did not reach x first


def test_a_failed_backward_leaves_no_gradient_behind(device):
    x = leaf(device)

    def broken(g):
        raise ZeroDivisionError("inside a VJP")
    y = mf.autograd.function.record("broken", x.data * 1, (x,), broken)
    loss = (y * 2).sum()
    with pytest.raises(ZeroDivisionError):
        loss.backward()
    (x * 1).sum().backward()  # a later backward must not see the half-done one
    np.testing.assert_allclose(mf.asnumpy(x.grad), np.ones(3))


def test_zero_dimensional_values_and_gradients_are_arrays(device, xp):
    x = mf.tensor(np.array(2.0), requires_grad=True, device=device)
    y = (x * 3).exp()
    assert isinstance(y.data, xp.ndarray) and y.shape == ()
    y.backward()
    assert isinstance(x.grad, xp.ndarray) and x.grad.shape == ()
    np.testing.assert_allclose(mf.asnumpy(x.grad), 3 * np.exp(6.0))


def test_an_array_on_the_left_of_an_operator_gives_a_tensor(device, xp):
    x = mf.tensor(np.array([1.0, 2.0]), requires_grad=True, device=device)
    y = xp.asarray([3.0, 4.0]) * x
    assert isinstance(y, mf.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(mf.asnumpy(x.grad), [3.0, 4.0])


def test_ops_inside_a_vjp_record_nothing(device):
    x, w = leaf(device), leaf(device)
    recorded_inside = []

    def vjp(g):  # a VJP written with tensor ops: they must not land on the tape being replayed
        scaled = w * 2
        recorded_inside.append(scaled.requires_grad)
        return (g * scaled.data,)
    y = mf.autograd.function.record("scale_by_2w", x.data * 2 * w.data, (x,), vjp)
    y.sum().backward()
    assert recorded_inside == [False]
    np.testing.assert_allclose(mf.asnumpy(x.grad), 2 * np.array([1.0, 2.0, 3.0]))
