"""What the benchmark scripts share: a minifb training step, the median time of a step, PyTorch's
device sync, the versions and device of a run, table cells that may be missing, and writing the
results file.

The scripts import it by name: Python puts the folder of the script it runs (benchmarks/) first on
the import path.
"""
from __future__ import annotations

import json
import statistics
import time

import numpy as np

import minifb
from minifb import backend, models, optim
from minifb.atomic_file import atomic_write
from minifb.train import environment as minifb_environment


def build(name: str):
    """A fresh minifb model ``name`` drawn from seed 0 (on the CPU)."""
    minifb.seed(0)
    return models.create(name)


def minifb_training_step(name: str, batch: int, device: str):
    """One training step (forward, loss, backward, Adam) of a fresh model ``name`` on ``device``,
    as a function of no arguments, on a fixed random float32 batch of CIFAR-10's shape."""
    model = build(name).to(device).train()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    xp = backend.xp_for(device)
    rng = np.random.default_rng(0)
    x = minifb.tensor(xp.asarray(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)))
    y = xp.asarray(rng.integers(0, 10, batch))

    def step():
        loss = models.training_loss(model, model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def median_ms(step, sync, warmup: int, steps: int) -> float:
    """Median wall time of ``step()`` in milliseconds, synchronizing the device after each one."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def torch_sync(device: str):
    """A function that waits for PyTorch's queued GPU work on 'cuda'; nothing to wait for on 'cpu'."""
    if device == "cuda":
        import torch
        return torch.cuda.synchronize
    return lambda: None


def environment(device: str) -> dict:
    """The versions and device that a training run records (minifb.train), with PyTorch's versions."""
    info = minifb_environment(device)
    try:
        import torch
    except ImportError:
        info["torch"] = None
        return info
    info.update(torch=torch.__version__, torch_cpu_threads=torch.get_num_threads())
    if device == "cuda":
        info.update(cudnn=torch.backends.cudnn.version(), cudnn_benchmark=torch.backends.cudnn.benchmark)
    return info


def fmt(value, width: int, digits: int) -> str:
    """A table cell: ``value`` with ``digits`` decimals, or 'n/a' where there is none (no PyTorch)."""
    return f"{value:{width}.{digits}f}" if value is not None else f"{'n/a':>{width}}"


def write_json(path: str, results) -> None:
    """Write ``results`` to ``path`` through a temporary name, so a run cut short never leaves half a file."""
    with atomic_write(path, "benchmark") as f:
        f.write(json.dumps(results, indent=2).encode())
