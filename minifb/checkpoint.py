"""Checkpoints: model, optimizer, schedule and random state in one .npz file.

Layout of the file (plain ``numpy.load(path)`` reads it; no pickles):

    model/<name>        every array of model.state_dict()
    optimizer/<key>     the optimizer's per-parameter arrays ("optimizer/0.exp_avg", ...)
    meta                a JSON string: format version, the optimizer's scalars (lr, betas, steps),
                        the schedule's state, minifb's generator state and the caller's ``extra``

The file is written under a temporary name in the same folder and then renamed with
``os.replace`` (atomic on one file system), so an interrupted save leaves the previous
checkpoint intact and no partial file behind.

Only minifb's NumPy generator is saved: on the GPU, dropout masks come from ``cupy.random``,
whose state is not saved, so a resumed GPU run with dropout draws different masks.
"""
from __future__ import annotations

import json
import os

import numpy as np

from . import backend
from .atomic_file import atomic_write

FORMAT_VERSION = 1


def save_checkpoint(path, model, optimizer=None, scheduler=None, extra=None) -> None:
    """Write model (and optimizer, schedule, random state, ``extra``: JSON-serialisable) to ``path``."""
    arrays = {f"model/{name}": value for name, value in model.state_dict().items()}
    meta = {"format_version": FORMAT_VERSION, "rng": backend.get_rng_state(), "extra": extra}
    if optimizer is not None:
        scalars = {}
        for key, value in optimizer.state_dict().items():
            if isinstance(value, np.ndarray):
                arrays[f"optimizer/{key}"] = value
            else:
                scalars[key] = value
        meta["optimizer"] = scalars
    if scheduler is not None:
        meta["scheduler"] = scheduler.state_dict()
    try:
        arrays["meta"] = np.array(json.dumps(meta))
    except TypeError as e:
        raise TypeError("save_checkpoint: extra must be JSON-serialisable (numbers, strings, lists, dicts): "
                        f"{e}") from None

    with atomic_write(path, "save_checkpoint") as f:
        np.savez(f, **arrays)


def load_checkpoint(path, model, optimizer=None, scheduler=None):
    """Restore what ``save_checkpoint`` wrote into ``model`` (and optimizer, schedule); returns ``extra``.

    A checkpoint that does not fit raises (naming the first mismatched key and both shapes)
    and leaves the model and optimizer as they were.
    """
    with np.load(os.fspath(path), allow_pickle=False) as data:
        if "meta" not in data.files:
            raise ValueError(f"load_checkpoint: {path} is not a minifb checkpoint (it has no 'meta' entry)")
        meta = json.loads(str(data["meta"]))
        model_state = {k[len("model/"):]: data[k] for k in data.files if k.startswith("model/")}
        optimizer_arrays = {k[len("optimizer/"):]: data[k] for k in data.files if k.startswith("optimizer/")}
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"load_checkpoint: {path} has format version {meta.get('format_version')}, "
                         f"this minifb reads version {FORMAT_VERSION}")
    for name, wanted in (("optimizer", optimizer), ("scheduler", scheduler)):
        if wanted is not None and name not in meta:
            raise ValueError(f"load_checkpoint: {path} holds no {name} state")

    previous_model = model.state_dict()
    previous_optimizer = optimizer.state_dict() if optimizer is not None else None
    model.load_state_dict(model_state)
    try:
        if optimizer is not None:
            optimizer.load_state_dict({**meta["optimizer"], **optimizer_arrays})
        if scheduler is not None:
            scheduler.load_state_dict(meta["scheduler"])
    except Exception:  # all or nothing: put back what was loaded before the failure
        model.load_state_dict(previous_model)
        if optimizer is not None:
            optimizer.load_state_dict(previous_optimizer)
        raise
    backend.set_rng_state(meta["rng"])
    return meta.get("extra")
