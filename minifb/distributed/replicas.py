"""Keeping the ranks' copies of a model the same: one start, and a cheap check every epoch."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..optim import _real_view
from .communicator import Communicator


def broadcast_model(model, communicator: Communicator, root: int = 0) -> None:
    """Every rank's parameters and floating buffers become rank ``root``'s (in place)."""
    arrays = [_real_view(p.data) for p in model.parameters()]
    for module in model.modules():
        for name, b in module._buffers.items():
            if b is not None and b.dtype.kind == "f":
                arrays.append(b)
    works = [communicator.broadcast(a, root) for a in arrays]
    for work in works:
        work.wait()


def checksums(model):
    """Per parameter: the float64 sum of its values and of their squares, as a (P, 2) array on its device."""
    params = list(model.parameters())
    xp = backend.get_array_module(params[0].data)
    rows = []
    for p in params:
        values = _real_view(p.data).astype(xp.float64)
        rows.append(xp.stack([values.sum(), (values * values).sum()]))
    return xp.stack(rows)


def check_identical(model, communicator: Communicator, when: str = "") -> None:
    """Raise on every rank if any parameter differs between ranks, naming the parameters.

    Ranks that applied the same averaged gradients to the same start hold the same bits, so their
    checksums agree exactly; two small all-reduces (max and min) per call.
    """
    local = checksums(model)
    high, low = local.copy(), local.copy()
    works = [communicator.all_reduce(high, "max"), communicator.all_reduce(low, "min")]
    for work in works:
        work.wait()
    differ = np.flatnonzero(backend.asnumpy((high != low).any(axis=1)))
    if len(differ):
        names = [name for name, _ in model.named_parameters()]
        shown = ", ".join(names[i] for i in differ[:5])
        if len(differ) > 5:
            shown += f" and {len(differ) - 5} more"
        where = f" {when}" if when else ""
        raise RuntimeError(f"check_identical: the parameters differ between ranks{where}: {shown}")
