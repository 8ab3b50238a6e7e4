#!/usr/bin/env python3
"""Spectral and wavelet token mixing speed: minifb against torch.fft in the same run.

    PYTHONPATH=. python benchmarks/spectral.py [--json PATH]       # CPU, and GPU when CuPy sees one
    PYTHONPATH=. python benchmarks/spectral.py --quick             # a few sizes, fewer steps

On x of shape (B, N, D) = (8, N, 384), float32, for N = 64 ... 16384 (powers of 2), one training
step (forward + backward, the gradients of x and of the filter) of:

1. FFT filtering along the tokens: rfft(x, axis=1, norm="ortho") * w, then irfft(n=N, norm="ortho"),
   with w a learned real filter of shape (N//2+1, D) (one gain per frequency and channel);
2. a 3-level Haar decomposition along the tokens followed by its reconstruction
   (haar_wavedec, haar_waverec); PyTorch has no Haar transform, so its side is written with
   slicing, the same equations.

Times are the median of >= 20 steps after warm-up, synchronizing the device after each step; the
ratio is minifb time / PyTorch time. Target on the GPU: FFT filtering within 1.3x of PyTorch for
N >= 1024.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys

import numpy as np

import minifb
from minifb import backend
from timing import environment, fmt, median_ms, torch_sync, write_json

BATCH, WIDTH, LEVELS = 8, 384, 3
SIZES = tuple(2**k for k in range(6, 15))  # 64 ... 16384
QUICK_SIZES = (64, 256, 1024)


# ---- minifb ---------------------------------------------------------------------------------------------

def inputs(n: int) -> dict:
    """x (B, N, D), the filter w (N//2+1, D) and the output gradient g, float32, the same for both libraries."""
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((BATCH, n, WIDTH), dtype=np.float32),
            "w": rng.standard_normal((n // 2 + 1, WIDTH), dtype=np.float32),
            "g": rng.standard_normal((BATCH, n, WIDTH), dtype=np.float32)}


def minifb_steps(arrays: dict, device: str):
    """(FFT filtering step, Haar step, the last gradients of x and w) on minifb: forward + backward."""
    xp = backend.xp_for(device)
    x, w = (minifb.tensor(xp.asarray(arrays[k]), requires_grad=True) for k in ("x", "w"))
    g = xp.asarray(arrays["g"])
    n = x.shape[1]

    def fft_filter():
        x.grad = w.grad = None
        spectrum = minifb.rfft(x, axis=1, norm="ortho")
        minifb.irfft(spectrum * w, n=n, axis=1, norm="ortho").backward(g)

    def haar():
        x.grad = w.grad = None
        minifb.haar_waverec(minifb.haar_wavedec(x, LEVELS, axis=1), axis=1).backward(g)
    return fft_filter, haar, lambda: (backend.asnumpy(x.grad), None if w.grad is None else backend.asnumpy(w.grad))


# ---- PyTorch --------------------------------------------------------------------------------------------

def torch_steps(arrays: dict, device: str):
    import torch
    x, w = (torch.from_numpy(arrays[k]).to(device).requires_grad_() for k in ("x", "w"))
    g = torch.from_numpy(arrays["g"]).to(device)
    n = x.shape[1]
    c = 1 / math.sqrt(2)

    def fft_filter():
        x.grad = w.grad = None
        spectrum = torch.fft.rfft(x, dim=1, norm="ortho")
        torch.fft.irfft(spectrum * w, n=n, dim=1, norm="ortho").backward(g)

    def haar():
        x.grad = w.grad = None
        approx, details = x, []
        for _ in range(LEVELS):
            even, odd = approx[:, 0::2], approx[:, 1::2]
            approx = (even + odd) * c
            details.append((even - odd) * c)
        for detail in reversed(details):
            approx = torch.stack(((approx + detail) * c, (approx - detail) * c), dim=2).flatten(1, 2)
        approx.backward(g)
    return fft_filter, haar, lambda: (x.grad.cpu().numpy(), None if w.grad is None else w.grad.cpu().numpy())


# ---- the run --------------------------------------------------------------------------------------------

def bench(device: str, sizes, have_torch: bool, warmup: int, steps: int) -> list[dict]:
    rows = []
    print(f"\n{device}: (B, N, D) = ({BATCH}, N, {WIDTH}), float32, forward + backward, median ms of {steps} steps")
    print(f"{'N':>6} | {'rfft*w->irfft':>13} {'torch':>9} {'ratio':>6} | {'haar x3':>9} {'torch':>9} {'ratio':>6}")
    for n in sizes:
        row = {"N": n, "shape": [BATCH, n, WIDTH], "dtype": "float32"}
        arrays = inputs(n)
        libraries = [("minifb", minifb_steps, backend.synchronize)]
        if have_torch:
            libraries.append(("torch", torch_steps, torch_sync(device)))
        grads = {}
        for library, make_steps, sync in libraries:
            *steps_of, last_grads = make_steps(arrays, device)
            for label, step in zip(("fft_filter", "haar"), steps_of):
                row[f"{library}_{label}_ms"] = median_ms(step, sync, warmup, steps)
                grads[library, label] = last_grads()
        if have_torch:
            for label in ("fft_filter", "haar"):
                row[f"ratio_{label}"] = row[f"minifb_{label}_ms"] / row[f"torch_{label}_ms"]
                row[f"max_grad_difference_{label}"] = same_gradients(grads["minifb", label], grads["torch", label])
        cells = []
        for label in ("fft_filter", "haar"):
            cells.append(f"{row[f'minifb_{label}_ms']:{13 if label == 'fft_filter' else 9}.3f} "
                         f"{fmt(row.get(f'torch_{label}_ms'), 9, 3)} {fmt(row.get(f'ratio_{label}'), 6, 2)}")
        print(f"{n:>6} | {cells[0]} | {cells[1]}", flush=True)
        rows.append(row)
        if device == "cuda":  # give the memory of this size back before the next one
            backend.xp_for("cuda").get_default_memory_pool().free_all_blocks()
    return rows


def same_gradients(ours, theirs) -> float:
    """The largest difference between the two libraries' gradients, relative to the largest gradient;
    raises if they disagree (the two sides would not be timing the same computation)."""
    worst = 0.0
    for a, b in zip(ours, theirs):
        if a is not None:
            worst = max(worst, float(np.abs(a - b).max() / np.abs(b).max()))
    if worst > 1e-4:
        raise AssertionError(f"minifb and PyTorch gradients differ by {worst:.2e} (relative): not the same computation")
    return worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}, fewer steps")
    parser.add_argument("--devices", nargs="+", default=None, help="cpu and/or cuda (default: both if a GPU is there)")
    parser.add_argument("--sizes", nargs="+", type=int, default=None, help="token counts N (default 64 ... 16384)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20, 5 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3, 1 with --quick)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    devices = args.devices or (["cuda", "cpu"] if backend.cuda_available() else ["cpu"])
    for device in devices:
        backend.check_device(device)
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    steps = args.steps or (5 if args.quick else 20)
    warmup = args.warmup or (1 if args.quick else 3)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: timing minifb only", file=sys.stderr)
    env = environment("cuda" if "cuda" in devices else "cpu")
    env["cpu"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(json.dumps(env))
    results = {"environment": env, "steps": steps, "warmup": warmup, "results": {}}
    for device in devices:  # the GPU first: its numbers are the ones that matter, the CPU's take longest
        results["results"][device] = bench(device, sizes, have_torch, warmup, steps)
        if args.json:  # after each device, so that a run cut short keeps what it measured
            write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
