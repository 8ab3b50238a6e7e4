"""Checks of values that live on the GPU, made without making the host wait for the device.

Some arguments can only be checked by looking at device data: class labels must lie in [0, C),
token ids in [0, vocabulary). Reading such a verdict on the host waits for every queued kernel,
which stalls an eager training step and is impossible inside a CUDA graph capture. So an op hands
the verdict, a device boolean, to ``require``: outside a ``deferred()`` block it is read at once
(and the error raised there, as for NumPy arrays); inside one, the verdict is added to a device
counter and read later, by ``Deferred.check()``, which names the op and what was wrong.

A captured step keeps its counters: every replay adds that replay's verdicts to them.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

_local = threading.local()


class Deferred:
    """The checks handed over inside one ``deferred()`` block: (device counter, message) pairs."""

    def __init__(self):
        self.counters = {}

    def add(self, bad, message: str, error=ValueError) -> None:
        entry = self.counters.get(message)
        if entry is None:
            self.counters[message] = (bad.astype("int32"), error)
        else:
            entry[0][...] += bad

    def check(self) -> None:
        """Read the counters (one wait for the device) and raise the first failed check's error."""
        for message, (counter, error) in self.counters.items():
            failures = int(counter)
            if failures:
                raise error(f"{message} (in {failures} call(s) since the last check)")


@contextlib.contextmanager
def deferred(checks: Deferred | None = None):
    """Inside the block, ``require`` collects device verdicts into ``checks`` (a new ``Deferred``
    unless given) instead of reading them; the block yields it."""
    checks = Deferred() if checks is None else checks
    previous = getattr(_local, "active", None)
    _local.active = checks
    try:
        yield checks
    finally:
        _local.active = previous


def require(bad, message: str, detail=None, error=ValueError) -> None:
    """Raise ``error(message)`` when the 0-d boolean ``bad`` is true: at once (``detail()``, when given,
    adds what was found), or at the next check of the enclosing ``deferred()`` block."""
    active = getattr(_local, "active", None)
    if active is not None and not isinstance(bad, (bool, np.bool_)):
        active.add(bad, message, error)
    elif bool(bad):
        raise error(message + (detail() if detail is not None else ""))
