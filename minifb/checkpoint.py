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
import zipfile
import zlib

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


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read: damaged, cut short, or not a minifb checkpoint."""


def _damage(error) -> str:
    """What is wrong with a file, in words, from the error NumPy or zipfile raised reading it."""
    text = str(error)
    if isinstance(error, EOFError) or text.startswith("EOF") or "Failed to read all data" in text \
            or "cannot reshape array of size" in text:
        return "it is empty or cut short"
    if isinstance(error, zipfile.BadZipFile) and text.startswith("Bad CRC-32 for file"):
        entry = text.split("'")[1] if text.count("'") >= 2 else "?"
        return f"its entry '{entry}' is damaged (CRC-32 check failed: changed bytes)"
    if isinstance(error, (zipfile.BadZipFile, zlib.error)):
        return f"it is not a whole .npz archive, probably cut short ({text})"
    if "pickled (object) data" in text:
        return "it is neither an .npz archive nor a .npy array (foreign or random bytes)"
    if "Object arrays cannot be loaded" in text:
        return "an entry holds pickled Python objects, which minifb never writes"
    if isinstance(error, json.JSONDecodeError):
        return f"its 'meta' entry is not valid JSON ({text})"
    return f"{type(error).__name__}: {text}"


def read_checkpoint(path, who: str, prefixes=("model/", "optimizer/")) -> tuple[dict, dict]:
    """(meta, arrays) of the checkpoint at ``path``, reading only the entries under ``prefixes``.

    Every way a file can be damaged (empty, cut short, a changed byte, foreign bytes, pickles)
    raises a one-line CheckpointError naming ``who``, the file and what is wrong with it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{who}: no checkpoint at {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"{who}: {path} is not a readable checkpoint: the file is empty")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{who}: {path} is not a minifb checkpoint (a single .npy array, not an "
                                  f".npz)")
        with data:
            if "meta" not in data.files:
                raise CheckpointError(f"{who}: {path} is not a minifb checkpoint (it has no 'meta' entry)")
            meta = json.loads(str(data["meta"]))
            arrays = {k: data[k] for k in data.files if k.startswith(tuple(prefixes))}
    except CheckpointError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, OSError) and not isinstance(e, zipfile.BadZipFile) and e.errno is not None:
            raise OSError(e.errno, f"{who}: cannot read {path} ({e.strerror})") from e
        raise CheckpointError(f"{who}: {path} is not a readable checkpoint: {_damage(e)}") from e
    if not isinstance(meta, dict):
        raise CheckpointError(f"{who}: {path} is not a minifb checkpoint (its 'meta' entry is not a JSON "
                              f"object)")
    return meta, arrays


def load_checkpoint(path, model, optimizer=None, scheduler=None):
    """Restore what ``save_checkpoint`` wrote into ``model`` (and optimizer, schedule); returns ``extra``.

    Only the parts asked for are read, so a model alone loads from a file whose optimizer state
    is damaged. A damaged file raises CheckpointError naming the file and the damage; a checkpoint
    that does not fit raises (naming the first mismatched key and both shapes). Either way the
    model and optimizer are left as they were.
    """
    wanted = ("model/", "optimizer/") if optimizer is not None else ("model/",)
    meta, arrays = read_checkpoint(path, "load_checkpoint", wanted)
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    optimizer_arrays = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
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
