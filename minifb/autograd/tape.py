"""The tape: what each differentiable op records, and ``backward`` that plays the record back.

Every differentiable op, as it runs, links one :class:`Node` to its output tensor: the input
tensors, and a function that maps the gradient of the op's output to the gradients of its
inputs (the vector-Jacobian product, VJP). Nodes and tensors form a graph that only the tensors
computed from it keep alive; there is no list of nodes anywhere, so a forward pass that is never
differentiated is freed with its result, and graphs of different threads never meet.

``backward(root)`` visits the nodes that root depends on in an order where every node comes
after all the nodes that use its output, and hands each one the gradient that its users have
accumulated on its output by then, which is the whole gradient (the chain rule, one node at a
time)::

    node.grad = dL/d(out)                             # complete: every user came before
    for x, g in zip(node.inputs, node.vjp(node.grad)):
        x.grad += g                                   # dL/dx += dL/d(out) * d(out)/dx

The order is found without recursion, in the way of HIPS autograd's toposort: a first pass, a
depth-first walk with an explicit stack, counts for each node how many times the graph uses its
output; the second pass starts from root and lets a node go once its last user has passed its
gradient on (its count drops to zero). Both passes are loops, so graphs of any depth work.
After ``backward`` the nodes are released (their inputs and saved arrays dropped) unless
``retain_graph=True``.
"""
from __future__ import annotations

import contextlib
import gc
import threading

import numpy as np

from . import anomaly

class _GradMode(threading.local):
    enabled = True  # each thread starts with recording on
    observer = None  # see observe_backward


_state = _GradMode()


def is_grad_enabled() -> bool:
    return _state.enabled


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    previous = _state.enabled
    _state.enabled = enabled
    try:
        yield
    finally:
        _state.enabled = previous


@contextlib.contextmanager
def observe_backward(observer):
    """Inside the block, each ``backward`` of this thread calls ``observer(order)`` with the nodes
    it is about to visit; a function returned is called with each node once that node is done
    (its gradients are in its inputs, or it had none to give). Data-parallel training uses it to
    reduce a leaf's gradient as soon as the last node that feeds it is done (minifb/distributed)."""
    previous = _state.observer
    _state.observer = observer
    try:
        yield
    finally:
        _state.observer = previous


def no_grad():
    """Context manager: ops inside record nothing (inference, optimizer updates)."""
    return _grad_mode(False)


def enable_grad():
    """Context manager: turn recording back on inside a ``no_grad`` block."""
    return _grad_mode(True)


class Node:
    """One recorded op: its inputs, its vector-Jacobian product, and its output's gradient."""

    __slots__ = ("name", "inputs", "vjp", "grad", "__weakref__")

    def __init__(self, name, inputs, vjp):
        self.name = name
        self.inputs = inputs
        self.vjp = vjp
        self.grad = None  # gradient of the loss w.r.t. this node's output, filled during backward

    @property
    def released(self) -> bool:
        """True once a backward has dropped the inputs and the VJP (with the arrays it saved)."""
        return self.inputs is None

    def release(self):
        self.inputs = self.vjp = self.grad = None

    def __repr__(self):
        return f"Node({self.name}{', released' if self.released else ''})"


def tape_length() -> int:
    """Number of nodes alive in this process that no backward has released (for tests and
    curious readers; it searches the garbage collector's objects, so it is slow)."""
    return sum(1 for o in gc.get_objects() if type(o) is Node and not o.released)


_FREED = ("backward: the graph behind this tensor was already freed by an earlier backward() "
          "(through op '{}'); call the first backward with retain_graph=True to go through it twice")


def count_uses(root: Node) -> dict:
    """{node: how many times the graph of ``root`` uses its output} for every node that root's
    output depends on (root itself: 0), found by an iterative depth-first walk. A released node
    on the way raises, before any gradient has moved."""
    uses = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.inputs is None:
            raise RuntimeError(_FREED.format(node.name))
        for x in node.inputs:
            parent = x._node
            if parent is not None:
                if parent in uses:
                    uses[parent] += 1
                else:
                    uses[parent] = 1
                    stack.append(parent)
    return uses


def graph(tensor) -> list:
    """The nodes that ``tensor`` depends on, in the order ``backward`` visits them: every node
    before the nodes of its inputs (empty for a leaf or a constant)."""
    root = tensor._node
    if root is None:
        return []
    uses = count_uses(root)
    order, ready = [], [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for x in node.inputs:
            parent = x._node
            if parent is not None:
                uses[parent] -= 1
                if uses[parent] == 0:
                    ready.append(parent)
    return order


def accumulate(tensor, g) -> None:
    """Add gradient ``g`` into ``tensor``: its node's output slot, or ``.grad`` of a leaf."""
    if g is None:
        return
    if isinstance(g, np.generic):  # NumPy gives scalars for 0-d results; .grad is always an array
        g = np.asarray(g)
    if g.shape != tensor.data.shape:  # a wrong VJP is a bug in minifb: say so loudly
        raise RuntimeError(f"internal error: gradient of shape {g.shape} for a tensor of shape "
                           f"{tensor.data.shape}")
    if g.dtype != tensor.data.dtype:
        # A real tensor that receives a complex gradient keeps its real part (dL/dx for real x).
        if g.dtype.kind == "c" and tensor.data.dtype.kind != "c":
            g = g.real
        g = g.astype(tensor.data.dtype, copy=False)
    node = tensor._node
    if node is not None:
        node.grad = g if node.grad is None else node.grad + g
    elif tensor.requires_grad:
        tensor.grad = g.copy() if tensor.grad is None else tensor.grad + g


def backward(root, grad, retain_graph: bool = False) -> None:
    """Propagate ``dL/d(root) = grad`` to every leaf that root depends on (see the module docstring)."""
    if root._node is None:  # a leaf: its gradient is the seed itself
        accumulate(root, grad)
        return
    order = graph(root)  # raises on a released graph, before anything changes
    check = anomaly.enabled  # anomaly mode: every VJP's output is checked for NaN and inf
    done = _state.observer(order) if _state.observer is not None else None
    try:
        if check:
            anomaly.check_seed(root._node.name, grad)
        accumulate(root, grad)
        with no_grad():  # a VJP that calls ops must not record them
            for node in order:
                if node.grad is not None:  # else no gradient reached it (its users passed None)
                    grads = node.vjp(node.grad)
                    if check:
                        anomaly.check_backward(node, grads)
                    node.grad = None
                    for x, g in zip(node.inputs, grads):
                        if x.requires_grad:
                            accumulate(x, g)
                if done is not None:
                    done(node)
    except BaseException:
        for node in order:  # drop the half-propagated gradients, or a retained graph would keep them
            node.grad = None
        raise
    if not retain_graph:
        for node in order:
            node.release()
