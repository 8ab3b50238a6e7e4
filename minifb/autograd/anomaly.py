"""Anomaly mode: stop at the first op whose forward or backward makes a NaN or an infinity.

Like ``torch.autograd.detect_anomaly``::

    with minifb.detect_anomaly():
        loss = model(x).mean()     # raises AnomalyError naming the first op with a non-finite output
        loss.backward()            # raises naming the first VJP with a non-finite input gradient

When the mode is off, an op pays one test of a module flag in ``record`` and ``backward`` one test
per node. When it is on, every op output and every gradient is checked with ``isfinite(...).all()``,
which on the GPU waits for the device after each op: a tool for finding a bug, not for training
runs (and not inside a captured CUDA graph).
"""
from __future__ import annotations

import contextlib

from ..backend import get_array_module

enabled = False  # read by function.record and tape.backward; change it with the functions below


class AnomalyError(FloatingPointError):
    """An op's forward or backward produced a NaN or an infinity while anomaly mode was on."""


def set_detect_anomaly(flag: bool) -> None:
    """Turn anomaly mode on or off for the whole program (all threads)."""
    global enabled
    if not isinstance(flag, bool):
        raise TypeError(f"set_detect_anomaly: flag must be True or False, got {flag!r}")
    enabled = flag


def is_anomaly_enabled() -> bool:
    return enabled


@contextlib.contextmanager
def detect_anomaly():
    """Context manager: anomaly mode on inside the block, as it was before after it."""
    global enabled
    previous = enabled
    enabled = True
    try:
        yield
    finally:
        enabled = previous


def _finite(a) -> bool:
    if a.dtype.kind not in "fc":  # integers and booleans cannot hold NaN or infinity
        return True
    return bool(get_array_module(a).isfinite(a).all())


def _describe(a) -> str:
    return f"shape {tuple(a.shape)} {a.dtype}"


def check_forward(name: str, out, inputs) -> None:
    """Raise if the output of op ``name`` is not finite, saying whether its inputs already were not."""
    if _finite(out):
        return
    parts = [f"{i}: {_describe(t.data)}{'' if _finite(t.data) else ', already non-finite'}"
             for i, t in enumerate(inputs)]
    raise AnomalyError(f"anomaly: the forward of '{name}' produced non-finite values (NaN or inf) in its "
                       f"output of {_describe(out)}; inputs {'; '.join(parts) or 'none'}")


def check_seed(name: str, grad) -> None:
    """Raise if the gradient that starts ``backward`` is itself not finite."""
    if not _finite(grad):
        raise AnomalyError(f"anomaly: backward started with a non-finite gradient ({_describe(grad)}) "
                           f"for the output of '{name}'")


def check_backward(node, grads) -> None:
    """Raise if the VJP of ``node`` gave a non-finite gradient for an input that needs one (the first)."""
    if not _finite(node.grad):  # finite gradients from several later ops can still add up to inf
        raise AnomalyError(f"anomaly: the gradients arriving at the output of '{node.name}' "
                           f"({_describe(node.grad)}) add up to non-finite values")
    for i, (x, g) in enumerate(zip(node.inputs, grads)):
        if g is not None and x.requires_grad and not _finite(g):
            raise AnomalyError(f"anomaly: the backward (VJP) of '{node.name}' produced a non-finite gradient "
                               f"(NaN or inf) for its input {i} of {_describe(node.inputs[i].data)}, "
                               f"from a finite gradient of {_describe(node.grad)} at its output")
