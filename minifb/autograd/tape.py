"""The tape: the record of differentiable operations, and ``backward`` that replays it.

Every differentiable op, as it runs, appends one :class:`Node` to the tape: the input tensors,
and a function that maps the gradient of the op's output to the gradients of its inputs (the
vector-Jacobian product). Execution order is already a topological order of the graph, so
``backward`` needs no recursion and no sort: it walks the tape from the end to the start and
hands each node the gradient accumulated on its output so far (the chain rule, one node at a
time)::

    node.grad = dL/d(out)                            # filled in by the nodes after it
    for x, g in zip(node.inputs, node.vjp(node.grad)):
        x.grad += g                                   # dL/dx += dL/d(out) * d(out)/dx

The tape holds *weak* references: a node lives exactly as long as the tensor it produced (or a
later node that uses that tensor), so forward passes that are never differentiated cost nothing.
After ``backward`` the nodes it used are released (their inputs and saved arrays dropped)
unless ``retain_graph=True``.
"""
from __future__ import annotations

import contextlib
import threading
import weakref

import numpy as np

from . import anomaly

_state = threading.local()
_tape: list[weakref.ref] = []
_COMPACT_EVERY = 4096  # drop dead weak references once this many entries have been added


def is_grad_enabled() -> bool:
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    previous = is_grad_enabled()
    _state.grad_enabled = enabled
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad():
    """Context manager: ops inside record nothing on the tape (inference, optimizer updates)."""
    return _grad_mode(False)


def enable_grad():
    """Context manager: turn recording back on inside a ``no_grad`` block."""
    return _grad_mode(True)


class Node:
    """One recorded op: its inputs, its vector-Jacobian product, and its output's gradient."""

    __slots__ = ("name", "inputs", "vjp", "grad", "released", "__weakref__")

    def __init__(self, name, inputs, vjp):
        self.name = name
        self.inputs = inputs
        self.vjp = vjp
        self.grad = None  # gradient of the loss w.r.t. this node's output, filled during backward
        self.released = False

    def release(self):
        self.inputs = self.vjp = self.grad = None
        self.released = True

    def __repr__(self):
        return f"Node({self.name}{', released' if self.released else ''})"


_added_since_compaction = 0


def push(node: Node) -> None:
    """Append a node to the tape (called by ``function.record``)."""
    global _added_since_compaction
    _tape.append(weakref.ref(node))
    _added_since_compaction += 1
    if _added_since_compaction >= _COMPACT_EVERY:
        _compact()


def _compact() -> None:
    global _added_since_compaction
    _tape[:] = [r for r in _tape if (n := r()) is not None and not n.released]
    _added_since_compaction = 0


def tape_length() -> int:
    """Number of live nodes on the tape (for tests and curious readers)."""
    _compact()
    return len(_tape)


_FREED = ("backward: the graph behind this tensor was already freed by an earlier backward() "
          "(through op '{}'); call the first backward with retain_graph=True to go through it twice")


def accumulate(tensor, g) -> None:
    """Add gradient ``g`` into ``tensor``: its node's output slot, or ``.grad`` of a leaf."""
    if g is None:
        return
    if isinstance(g, np.generic):  # NumPy gives scalars for 0-d results; .grad is always an array
        g = np.asarray(g)
    if g.shape != tensor.data.shape:  # a wrong VJP is a bug in minifb: say so loudly
        raise RuntimeError(f"internal error: gradient of shape {g.shape} for a tensor of shape {tensor.data.shape}")
    if g.dtype != tensor.data.dtype:
        # A real tensor that receives a complex gradient keeps its real part (dL/dx for real x).
        if g.dtype.kind == "c" and tensor.data.dtype.kind != "c":
            g = g.real
        g = g.astype(tensor.data.dtype, copy=False)
    node = tensor._node
    if node is not None:
        if node.released:
            raise RuntimeError(_FREED.format(node.name))
        node.grad = g if node.grad is None else node.grad + g
    elif tensor.requires_grad:
        tensor.grad = g.copy() if tensor.grad is None else tensor.grad + g


def backward(root, grad, retain_graph: bool = False) -> None:
    """Replay the tape in reverse from ``root`` with ``dL/d(root) = grad``."""
    node = root._node
    if node is None:  # a leaf: its gradient is the seed itself
        accumulate(root, grad)
        return
    if node.released:
        raise RuntimeError(_FREED.format(node.name))
    used = []
    check = anomaly.enabled  # anomaly mode: every VJP's output is checked for NaN and inf
    try:
        if check:
            anomaly.check_seed(node.name, grad)
        accumulate(root, grad)
        with no_grad():  # a VJP that calls ops must not grow the tape while we walk it
            for ref in reversed(_tape):
                n = ref()
                if n is None or n.grad is None:
                    continue  # not on the path to root (or already garbage)
                grads = n.vjp(n.grad)
                if check:
                    anomaly.check_backward(n, grads)
                n.grad = None
                for x, g in zip(n.inputs, grads):
                    if x.requires_grad:
                        accumulate(x, g)
                used.append(n)
    except BaseException:
        # Drop the half-propagated gradients, or the next backward would pick them up.
        for ref in _tape:
            if (n := ref()) is not None:
                n.grad = None
        raise
    if not retain_graph:
        for n in used:
            n.release()
        _compact()
