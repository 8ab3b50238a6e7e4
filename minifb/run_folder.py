"""The files of a training run's folder, each written atomically (minifb/atomic_file.py).

    config.json     the command line, every setting, library versions and the device's name
    metrics.jsonl   one JSON object per epoch
    final.json      the test evaluation of the last epoch
    checkpoint.npz  (minifb/checkpoint.py)

JSON here is strict: NaN and infinities (a contraction ratio after a zero change) are written as
null, so that every JSON reader accepts the files.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import platform
import shlex
import sys

import numpy as np

from . import __version__, backend
from .atomic_file import atomic_write


def to_json(value, indent=None) -> str:
    """Strict JSON: NaN and infinities become null."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(value), indent=indent, allow_nan=False)


def write_lines(path: pathlib.Path, lines) -> None:
    """Write text lines through a temporary name: a reader never sees half a file."""
    with atomic_write(path, "train") as f:
        f.write("".join(line + "\n" for line in lines).encode())


def write_json(path: pathlib.Path, value) -> None:
    """``value`` as indented JSON (non-finite numbers as null), written atomically."""
    write_lines(path, [to_json(value, indent=2)])


def append_line(path: pathlib.Path, record: dict) -> None:
    """Append one JSON line, rewriting the file atomically (it is small: one line per epoch)."""
    lines = path.read_text().splitlines() if path.exists() else []
    write_lines(path, lines + [to_json(record)])


def keep_epochs_up_to(path: pathlib.Path, last_epoch: int) -> None:
    """Drop metric lines after the checkpoint's epoch (written after it by an interrupted run)."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        write_lines(path, [line for line in lines if json.loads(line)["epoch"] <= last_epoch])


def last_record(path: pathlib.Path) -> dict:
    """The last line of a metrics file."""
    return json.loads(path.read_text().splitlines()[-1])


def write_final(out: pathlib.Path, record: dict) -> None:
    """OUT/final.json: the last epoch's evaluation."""
    write_json(out / "final.json", {k: v for k, v in record.items() if k != "lr"})


def environment(device: str) -> dict:
    """Versions and the device's name, for config.json."""
    info = {"python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform(),
            "minifb": __version__}
    if device == "cuda":
        cupy = backend.xp_for("cuda")
        info["cupy"] = cupy.__version__
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        info["device_name"] = name.decode() if isinstance(name, bytes) else name
    else:
        info["device_name"] = f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"
    return info


def write_config(out: pathlib.Path, config: dict, model, data, device: str) -> None:
    """OUT/config.json: the command line that started the run, its settings, versions, device.
    ``data``: the run's TaskData (for the numbers of examples)."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {
        "command": shlex.join([os.path.basename(sys.executable), "-m", "minifb", *sys.argv[1:]]),
        "argv": sys.argv[1:], "cwd": os.getcwd(), "device": device, **config,
        "num_parameters": model.num_parameters(),
        "train_examples": len(data.train_y), "test_examples": len(data.test_y),
        **({"val_examples": len(data.val_y)} if getattr(data, "val_y", None) is not None else {}),
        "environment": environment(device),
    })
