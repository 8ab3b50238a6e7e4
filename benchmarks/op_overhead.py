#!/usr/bin/env python3
"""The host cost of one op: a chain of small ops, forward and backward, in microseconds per op.

    PYTHONPATH=. python benchmarks/op_overhead.py [--ops 300] [--repeats 30] [--device cpu]

On arrays of 16 float32 numbers the arithmetic is negligible, so the time is what minifb itself
spends per op: turning arguments into tensors, checking shapes, recording the node, and in
backward ordering the graph, calling each VJP and accumulating gradients. The chain cycles
through mul (by a tensor), add (of a Python number), tanh, mul (by a number), exp and sub; each
reading is the fastest of ``--repeats`` chains (the least disturbed by other work on the machine,
as ``timeit`` advises), divided by the number of ops.
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
    x = minifb.tensor(rng.standard_normal(16).astype(np.float32) * 0.1, requires_grad=True, device=args.device)
    w = minifb.tensor(rng.standard_normal(16).astype(np.float32) * 0.1, requires_grad=True, device=args.device)

    def no_grad_forward():
        with minifb.no_grad():
            chain(x, w, args.ops)
        minifb.synchronize()

    def forward():
        chain(x, w, args.ops)
        minifb.synchronize()

    def forward_backward():
        chain(x, w, args.ops).sum().backward()
        minifb.synchronize()

    print(f"chain of {args.ops} ops on 16 float32 numbers ({args.device}), best of {args.repeats}:")
    for name, step in (("forward, no_grad", no_grad_forward), ("forward, recorded", forward),
                       ("forward + backward", forward_backward)):
        print(f"  {name:20} {best_us_per_op(step, args.ops, args.repeats):7.2f} us/op")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
