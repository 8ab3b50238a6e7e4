#!/usr/bin/env python3
"""Convolution speed and CNN training memory: minifb against PyTorch (cuDNN) in the same run.

    PYTHONPATH=. python benchmarks/layers.py [--json PATH]     # GPU: minifb on CuPy
    PYTHONPATH=. python benchmarks/layers.py --quick           # CPU smoke run, small shapes

1. conv2d forward + backward (input, weight and bias gradients), 3x3, padding 1, Cout = C, for
   (C, HxW) in (64, 32x32), (128, 16x16), (256, 8x8) and batch 128 and 512: the median time of a
   step over >= 20 steps after warm-up, synchronizing after each step, float32, TF32 off on both
   sides. The forward pass alone is timed too. The ratio is minifb time / PyTorch time.
2. Peak GPU memory of one training step (forward, cross-entropy, backward, Adam) of the CIFAR CNN
   (docs/design.md) at batch 512: the high-water mark of the bytes in use in CuPy's memory pool (a
   memory hook follows every allocation and release) against torch.cuda.max_memory_allocated.
   Both count everything alive during the step (weights, Adam state, the batch, activations).
   The memory each allocator reserved for the step (its cache emptied first) is printed too.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

import minifb
from minifb import backend
from minifb.autograd import conv, conv2d
from timing import (add_step_arguments, environment, fmt, median_ms, minifb_training_step, step_settings, torch_sync,
                    write_json)

CONV_SHAPES = ((64, 32), (128, 16), (256, 8))  # (channels, image side)


# ---- 1. conv2d ----------------------------------------------------------------------------------

def minifb_conv_steps(batch: int, channels: int, side: int, device: str):
    """(forward step, forward + backward step) of one 3x3 convolution on minifb."""
    rng = np.random.default_rng(0)
    xp = backend.xp_for(device)
    x, w, b = (minifb.tensor(xp.asarray(rng.standard_normal(shape, dtype=np.float32)), requires_grad=True)
               for shape in ((batch, channels, side, side), (channels, channels, 3, 3), (channels,)))
    g = xp.asarray(rng.standard_normal((batch, channels, side, side), dtype=np.float32))

    def forward():
        with minifb.no_grad():
            conv2d(x, w, b, padding=1)

    def forward_backward():
        x.grad = w.grad = b.grad = None
        conv2d(x, w, b, padding=1).backward(g)
    return forward, forward_backward


def torch_conv_steps(batch: int, channels: int, side: int, device: str):
    import torch
    x = torch.randn(batch, channels, side, side, device=device, requires_grad=True)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1).to(device)
    g = torch.randn(batch, channels, side, side, device=device)

    def forward():
        with torch.no_grad():
            conv(x)

    def forward_backward():
        x.grad = None
        conv.zero_grad(set_to_none=True)
        conv(x).backward(g)
    return forward, forward_backward


def bench_conv(batches, device, have_torch, warmup, steps):
    sync_torch = torch_sync(device)
    print(f"\nconv2d 3x3, padding 1, Cout = C, float32, TF32 off; median of {steps} steps after {warmup} warm-up")
    print(f"{'batch':>5} {'C':>4} {'HxW':>6} | {'fwd ms':>8} {'torch':>8} {'ratio':>6} | "
          f"{'fwd+bwd ms':>10} {'torch':>8} {'ratio':>6}")
    rows = []
    for batch in batches:
        for channels, side in CONV_SHAPES:
            ours = [median_ms(s, backend.synchronize, warmup, steps)
                    for s in minifb_conv_steps(batch, channels, side, device)]
            theirs = ([median_ms(s, sync_torch, warmup, steps) for s in torch_conv_steps(batch, channels, side, device)]
                      if have_torch else [None, None])
            ratios = [a / b if b else None for a, b in zip(ours, theirs)]
            rows.append({"batch": batch, "channels": channels, "side": side,
                         "forward_ms": ours[0], "torch_forward_ms": theirs[0], "forward_ratio": ratios[0],
                         "step_ms": ours[1], "torch_step_ms": theirs[1], "step_ratio": ratios[1]})
            print(f"{batch:5d} {channels:4d} {side:3d}x{side:<2d} | {ours[0]:8.3f} {fmt(theirs[0], 8, 3)} "
                  f"{fmt(ratios[0], 6, 2)} | {ours[1]:10.3f} {fmt(theirs[1], 8, 3)} {fmt(ratios[1], 6, 2)}",
                  flush=True)
    return rows


# ---- 2. memory of a CNN training step ------------------------------------------------------------

def torch_cnn():
    from torch import nn
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8192, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10))


def minifb_cnn_peak_bytes(batch: int) -> dict:
    """Bytes in use at the peak of one training step and before it, and the bytes the pool reserved, on CuPy."""
    import cupy

    step = minifb_training_step("cnn", batch, "cuda")
    step()  # the first step creates Adam's state, as in PyTorch's warm-up below
    backend.synchronize()
    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()  # from here the pool grows only as far as the step needs
    with backend.peak_pool_hook() as peak:
        step()
        backend.synchronize()
    return {"peak": peak.peak, "before": peak.start, "reserved": pool.total_bytes()}


def torch_cnn_peak_bytes(batch: int) -> dict:
    """The same numbers from PyTorch's caching allocator."""
    import torch
    torch.manual_seed(0)
    model = torch_cnn().cuda().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 32, 32, device="cuda")
    y = torch.randint(0, 10, (batch,), device="cuda")

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    step()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    start = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return {"peak": torch.cuda.max_memory_allocated(), "before": start, "reserved": torch.cuda.max_memory_reserved()}


def bench_memory(batch: int, have_torch: bool) -> dict:
    ours = minifb_cnn_peak_bytes(batch)
    theirs = torch_cnn_peak_bytes(batch) if have_torch else None
    ratio = ours["peak"] / theirs["peak"] if theirs else None
    mib = 2.0**20
    print(f"\nCIFAR CNN training step (Adam), batch {batch}, float32: GPU memory in MiB")
    print(f"  {'':8} {'peak in use':>12} {'before step':>12} {'reserved':>10}")
    for name, row in (("minifb", ours), ("torch", theirs)):
        if row:
            print(f"  {name:8} {row['peak'] / mib:12.1f} {row['before'] / mib:12.1f} {row['reserved'] / mib:10.1f}")
    if ratio:
        print(f"  ratio of the peaks in use: {ratio:.2f} (target <= 2)")
    return {"batch": batch, "minifb": ours, "torch": theirs, "ratio": ratio}


# ---- environment and main ---------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser, "CPU smoke run: batch 8, 3 steps, no memory part")
    parser.add_argument("--memory-batch", type=int, default=512, help="batch of the CNN memory measurement")
    parser.add_argument("--implicit-gemm", action="store_true",
                        help="minifb's forward convolution by the implicit-GEMM kernel (CuPy) instead of im2col")
    args = parser.parse_args(argv)
    device, batches, steps, warmup = step_settings(args)
    conv.set_implicit_gemm(args.implicit_gemm)
    if device == "cuda":
        backend.set_tf32(False)
    try:
        import torch
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        have_torch = True
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: timing minifb only", file=sys.stderr)
    env = environment(device)
    print(json.dumps(env))
    results = {"environment": env, "steps": steps, "warmup": warmup, "implicit_gemm": args.implicit_gemm,
               "conv2d": bench_conv(batches, device, have_torch, warmup, steps)}
    if device == "cuda":
        results["cnn_memory"] = bench_memory(args.memory_batch, have_torch)
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
