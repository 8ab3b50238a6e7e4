#!/usr/bin/env python3
"""The host cost of one op: a chain of small ops, forward and backward, in microseconds per op.

    PYTHONPATH=. python benchmarks/op_overhead.py [--ops 300] [--repeats 30] [--device cpu]

On arrays of 16 float32 numbers the arithmetic is negligible, so the time is what minifb itself
spends per op: turning arguments into tensors, checking shapes, recording the node, and in
backward ordering the graph, calling each VJP and accumulating gradients. The chain cycles
through mul (by a tensor), add (of a Python number), tanh, mul (by a number), exp and sub; each
reading is the fastest of ``--repeats`` chains (the least disturbed by other work on the machine,
as ``timeit`` advises), divided by the number of ops. The same chain in PyTorch (one thread),
when it is installed, gives the reference in the same run: the ratio is minifb / PyTorch.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import minifb


def chain(x, w, ops: int):
    """``ops`` ops starting from x; returns the last tensor."""
    y = x
    for i in range(ops):
        k = i % 6
        if k == 0:
            y = y * w
        elif k == 1:
            y = y + 0.5
        elif k == 2:
            y = y.tanh()
        elif k == 3:
            y = y * 0.9
        elif k == 4:
            y = y.exp()
        else:
            y = y - w
    return y


def best_us_per_op(step, ops: int, repeats: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times) / ops * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(16).astype(np.float32) * 0.1 for _ in range(2)]
    libraries = {"minifb": steps(*(minifb.tensor(a, requires_grad=True, device=args.device) for a in start),
                                 args.ops, minifb.no_grad, minifb.synchronize)}
    try:
        import torch
        torch.set_num_threads(1)  # tiny arrays: threads only add overhead
        device = "cuda" if args.device == "cuda" else "cpu"
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        libraries["torch"] = steps(*(torch.tensor(a, requires_grad=True, device=device) for a in start),
                                   args.ops, torch.no_grad, sync)
    except ImportError:
        print("PyTorch is not installed: minifb only")
    print(f"chain of {args.ops} ops on 16 float32 numbers ({args.device}), best of {args.repeats}, us per op:")
    print(f"  {'':20} " + " ".join(f"{name:>8}" for name in libraries) + ("   ratio" if len(libraries) > 1 else ""))
    for what in ("forward, no_grad", "forward, recorded", "forward + backward"):
        cells = [best_us_per_op(libraries[name][what], args.ops, args.repeats) for name in libraries]
        ratio = f" {cells[0] / cells[1]:7.2f}" if len(cells) > 1 else ""
        print(f"  {what:20} " + " ".join(f"{c:8.2f}" for c in cells) + ratio)
    return 0


def steps(x, w, ops: int, no_grad, synchronize) -> dict:
    """The three timed chains of one library (minifb or torch: the chain is written for both)."""
    def no_grad_forward():
        with no_grad():
            chain(x, w, ops)
        synchronize()

    def forward():
        chain(x, w, ops)
        synchronize()

    def forward_backward():
        chain(x, w, ops).sum().backward()
        synchronize()
    return {"forward, no_grad": no_grad_forward, "forward, recorded": forward, "forward + backward": forward_backward}


if __name__ == "__main__":
    raise SystemExit(main())
