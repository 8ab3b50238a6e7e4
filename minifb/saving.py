"""``minifb.save`` and ``minifb.load``: a model's or an optimizer's state in one .npz file, outside the CLI.

    minifb.save(model, "model.npz")              # or minifb.save(optimizer, ...), or a state dict
    model.load_state_dict(minifb.load("model.npz"))
    minifb.load("model.npz", into=model)         # the same, in one call; returns the model

The file is a plain .npz (``numpy.load`` reads it; no pickles): every array of the state under
``state/<name>``, and a JSON entry ``meta`` with what was saved (a Module's or an Optimizer's
state and its class name) and the state's other values (an optimizer's hyper-parameters, step
counts and parameter groups). It is written under a temporary name and renamed, so a failed
save leaves the previous file as it was. For a whole training run (model, optimizer, schedule,
random state) use ``minifb.checkpoint.save_checkpoint``.
"""
from __future__ import annotations

import json
import os

import numpy as np

from . import backend
from .atomic_file import atomic_write

FORMAT = "minifb-state-1"


def _state_of(obj) -> tuple[dict, str, str]:
    """(state dict, kind, class name) of a Module, an Optimizer or a state dict."""
    from .layers.module import Module
    from .optim import Optimizer
    if isinstance(obj, Module):
        return obj.state_dict(), "module", type(obj).__name__
    if isinstance(obj, Optimizer):
        return obj.state_dict(), "optimizer", type(obj).__name__
    if isinstance(obj, dict):
        return obj, "state", ""
    raise TypeError(f"save: expected a Module, an Optimizer or a state dict, got {type(obj).__name__}")


def save(obj, path) -> None:
    """Write the state of ``obj`` (a Module, an Optimizer, or a state dict) to ``path`` (.npz), atomically."""
    state, kind, name = _state_of(obj)
    arrays, values = {}, {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"save: state keys must be strings, got {key!r}")
        if backend.is_array(value):
            arrays[f"state/{key}"] = backend.asnumpy(value)
        else:
            values[key] = value.item() if isinstance(value, np.generic) else value
    try:
        meta = json.dumps({"format": FORMAT, "kind": kind, "class": name, "values": values})
    except TypeError as e:
        raise TypeError(f"save: the state's non-array values must be JSON (numbers, strings, lists, "
                        f"dicts): {e}") from None
    with atomic_write(path, "save") as f:
        np.savez(f, meta=np.array(meta), **arrays)


def load(path, into=None):
    """The state saved in ``path`` (arrays as numpy, other values as JSON gives them back: tuples
    as lists); with ``into`` (a Module or an Optimizer), that state loaded into it by its own
    ``load_state_dict`` (which checks names and shapes before changing anything), and ``into``
    returned."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no file at {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            arrays = {key[len("state/"):]: archive[key] for key in archive.files if key.startswith("state/")}
    except (ValueError, KeyError, OSError) as e:
        raise ValueError(f"load: {path} is not a file written by minifb.save ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"load: {path} is not a file written by minifb.save (format {meta.get('format')!r})")
    state = {**meta["values"], **arrays}
    if into is None:
        return state
    _, kind, _ = _state_of(into)
    if kind == "state":
        raise TypeError(f"load: into must be a Module or an Optimizer, got {type(into).__name__}")
    if meta["kind"] not in ("state", kind):
        article = {"module": "a", "optimizer": "an"}
        raise ValueError(f"load: {path} holds the state of {article[meta['kind']]} {meta['kind']} "
                         f"({meta['class']}), not of {article[kind]} {kind} ({type(into).__name__})")
    into.load_state_dict(state)
    return into
