"""What the benchmark scripts share: a minifb training step, the median time of a step, PyTorch's
device sync, the versions and device of a run, table cells that may be missing, and writing the
results file.

The scripts import it by name: Python puts the folder of the script it runs (benchmarks/) first on
the import path.
"""
from __future__ import annotations

import importlib.util
import json
import statistics
import time

import numpy as np

import minifb
from minifb import backend, models, optim
from minifb.atomic_file import atomic_write
from minifb.run_folder import environment as minifb_environment
from minifb.train import training_step


def build(name: str):
    """A fresh minifb model ``name`` drawn from seed 0 (on the CPU)."""
    minifb.seed(0)
    return models.create(name)


def minifb_training_step(name: str, batch: int, device: str, cuda_graph: bool = False):
    """One training step (forward, loss, backward, Adam) of a fresh model ``name`` on ``device``,
    as a function of no arguments, on a fixed random float32 batch of CIFAR-10's shape; with
    ``cuda_graph`` the step is replayed from a CUDA graph (minifb.cuda_graph; eager on the CPU)."""
    model = build(name).to(device).train()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    xp = backend.xp_for(device)
    rng = np.random.default_rng(0)
    x = xp.asarray(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32))
    y = xp.asarray(rng.integers(0, 10, batch))
    step = training_step(model, optimizer, cuda_graph=cuda_graph)
    return lambda: step(x, y)


def add_step_arguments(parser, quick_help: str) -> None:
    """The options of the scripts that time whole steps at a few batch sizes (layers, train_step)."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--device", default=None, help="cuda (default) or cpu (default with --quick)")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=None, help="batches (default 128 512)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20, 3 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5, 1 with --quick)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")


def step_settings(args) -> tuple[str, list[int], int, int]:
    """(device, batch sizes, timed steps, warm-up steps) from ``add_step_arguments``' options."""
    device = args.device or ("cpu" if args.quick else "cuda")
    backend.check_device(device)
    batches = args.batch_sizes or ([8] if args.quick else [128, 512])
    return device, batches, args.steps or (3 if args.quick else 20), args.warmup or (1 if args.quick else 5)


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


def out_of_memory_errors() -> tuple:
    """The exceptions that mean a device ran out of memory (NumPy's, CuPy's, PyTorch's where present)."""
    errors = [MemoryError]
    if backend.cuda_available():
        errors.append(backend.xp_for("cuda").cuda.memory.OutOfMemoryError)
    if importlib.util.find_spec("torch") is not None:
        import torch
        errors.append(torch.cuda.OutOfMemoryError)
    return tuple(errors)


def write_json(path: str, results) -> None:
    """Write ``results`` to ``path`` through a temporary name, so a run cut short never leaves half a file."""
    with atomic_write(path, "benchmark") as f:
        f.write(json.dumps(results, indent=2).encode())
