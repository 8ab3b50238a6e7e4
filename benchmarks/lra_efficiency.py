#!/usr/bin/env python3
"""Long Range Arena's efficiency table for minifb: training steps per second and peak GPU memory of
the LRA classifier with each token mixer, at sequence lengths 1K, 2K, 3K and 4K.

    PYTHONPATH=. PYTHONUNBUFFERED=1 python benchmarks/lra_efficiency.py        # GPU: a few minutes
    PYTHONPATH=. python benchmarks/lra_efficiency.py --quick                    # CPU smoke run, tiny model

LRA (Tay et al., 2021, its efficiency benchmark) times the byte-level Text task's model at these
lengths with batch 32; here the same: LRA's Text configuration (D 256, 4 blocks, 4 heads, MLP 1,024,
vocabulary 257, CLS pooling, learned positions), batch 32, float32, TF32 off. One step is a whole
training step (forward, cross-entropy, backward, Adam) on a fixed batch of random token ids; steps
per second = 1000 / the median step time in ms over ``--steps`` steps after ``--warmup``, the device
synchronised after each. Peak memory: the high-water mark of CuPy's memory pool during one step,
beyond what was in use before it (the parameters and Adam's state are allocated by then), and that
high-water mark in all.

The mixers: attention (the plain layer: N x N weights stored), attention-kernel (the same layer through
the memory-efficient CUDA kernel, GPU only), fnet, fft (FFTNet), fft-windowed. A configuration is
skipped, and said so, when it runs out of memory, when a shorter sequence of that mixer took over the
step limit, or when the run has used its time budget. Writes JSON (default
benchmarks/results/lra_efficiency.json).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import time

import numpy as np

import minifb as mf
from minifb import backend, optim
from minifb.autograd import attention_kernel
from minifb.layers.sequence_classifier import SequenceClassifier
from minifb.train import training_step
from timing import environment, median_ms, out_of_memory_errors, write_json

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
MIXERS = ("attention", "attention-kernel", "fnet", "fft", "fft-windowed")
TEXT = dict(dim=256, depth=4, heads=4, mlp_dim=1024)   # LRA's Text configuration (qkv 256: heads of 64)
TINY = dict(dim=16, depth=1, heads=2, mlp_dim=32)


class Skip(Exception):
    """A configuration that is not measured, with the reason."""


def lra_step(mixer: str, n: int, batch: int, size: dict, device: str):
    """One training step of the LRA Text classifier with ``mixer`` on n tokens, as a function of no arguments."""
    kind = "attention" if mixer == "attention-kernel" else mixer
    mf.seed(0)
    settings = dict(size, qkv_dim=size["dim"]) if kind == "attention" else dict(size)
    model = SequenceClassifier("text", kind, max_length=n, dropout=0.0, attention_dropout=0.0, **settings)
    model.to(device).train()
    optimizer = optim.Adam(model.parameters(), lr=1e-4)
    xp = backend.xp_for(device)
    rng = np.random.default_rng(0)
    tokens = xp.asarray(rng.integers(1, model.vocab_size, (batch, n)))
    labels = xp.asarray(rng.integers(0, model.num_classes, batch))
    step = training_step(model, optimizer)
    kernel = mixer == "attention-kernel"

    def run():
        previous = attention_kernel.enabled()
        attention_kernel.set_enabled(kernel)
        try:
            step(tokens, labels)
        finally:
            attention_kernel.set_enabled(previous)
    return run, model.num_parameters()


def peak_bytes(step, device: str):
    """(bytes beyond those in use before, bytes in use at the peak) of one step; None off the GPU."""
    if device != "cuda":
        return None, None
    backend.synchronize()
    with backend.peak_pool_hook() as hook:
        step()
        backend.synchronize()
    return hook.peak - hook.start, hook.peak


def measure(mixer: str, n: int, args, size: dict, device: str) -> dict:
    if mixer == "attention-kernel" and device != "cuda":
        raise Skip("the attention kernel is CUDA only")
    step, parameters = lra_step(mixer, n, args.batch, size, device)
    start = time.perf_counter()
    step()
    backend.synchronize()
    first = time.perf_counter() - start
    if first > args.step_limit:
        raise Skip(f"first step took {first:.1f} s (limit {args.step_limit:.0f} s)")
    ms = median_ms(step, backend.synchronize, args.warmup, args.steps)
    extra, peak = peak_bytes(step, device)
    return {"ms": ms, "steps_per_second": 1e3 / ms, "peak_bytes": extra, "peak_pool_bytes": peak,
            "parameters": parameters}


def run(args) -> dict:
    device = args.device or ("cpu" if args.quick else "cuda")
    backend.check_device(device)
    if device == "cuda":
        backend.set_tf32(False)
    size = TINY if args.quick else TEXT
    settings = dict(size, lengths=args.lengths, batch=args.batch, steps=args.steps, warmup=args.warmup,
                    dtype="float32", tf32=False, device=device, task="text")
    env = environment(device)
    print(json.dumps(env))
    print(json.dumps(settings))
    records, over_limit = [], set()
    deadline = time.perf_counter() + args.budget
    errors = out_of_memory_errors()
    for n in args.lengths:
        for mixer in MIXERS:
            base = {"mixer": mixer, "n": n, "batch": args.batch}
            try:
                if mixer in over_limit:
                    raise Skip("a shorter sequence already ran out of memory or took over the step limit")
                if time.perf_counter() > deadline:
                    raise Skip(f"the run's time budget of {args.budget:.0f} s was used")
                records.append(dict(base, **measure(mixer, n, args, size, device)))
            except Skip as reason:
                if "kernel is CUDA only" not in str(reason):
                    over_limit.add(mixer)
                records.append(dict(base, skipped=str(reason)))
            except errors:
                over_limit.add(mixer)
                records.append(dict(base, skipped="out of memory"))
            if device == "cuda":
                backend.xp_for("cuda").get_default_memory_pool().free_all_blocks()
            print(json.dumps(records[-1]), flush=True)
    return {"environment": env, "settings": settings, "results": records}


def table(results: dict) -> str:
    """Steps per second and peak memory (GiB beyond the model's state), one row per mixer."""
    lengths = results["settings"]["lengths"]
    cell = {(r["mixer"], r["n"]): r for r in results["results"]}
    lines = [f"{'mixer':18s}" + "".join(f"{f'N={n} steps/s':>16s}{'peak GiB':>10s}" for n in lengths)]
    for mixer in MIXERS:
        row = f"{mixer:18s}"
        for n in lengths:
            r = cell.get((mixer, n), {})
            speed = f"{r['steps_per_second']:.2f}" if "ms" in r else "skipped"
            peak = f"{r['peak_bytes'] / 2**30:.2f}" if r.get("peak_bytes") is not None else "n/a"
            row += f"{speed:>16s}{peak:>10s}"
        lines.append(row)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: tiny model, short sequences")
    parser.add_argument("--device", default=None, help="cuda (default) or cpu (default with --quick)")
    parser.add_argument("--lengths", nargs="+", type=int, default=None, help="default 1024 2048 3072 4096")
    parser.add_argument("--batch", type=int, default=None, help="default 32 (2 with --quick)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10, 2 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3, 1 with --quick)")
    parser.add_argument("--step-limit", type=float, default=10.0, help="skip a mixer whose first step takes longer")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole run (default 420)")
    parser.add_argument("--json", default=str(RESULTS / "lra_efficiency.json"))
    args = parser.parse_args(argv)
    args.lengths = args.lengths or ([32, 64] if args.quick else [1024, 2048, 3072, 4096])
    args.batch = args.batch or (2 if args.quick else 32)
    args.steps = args.steps or (2 if args.quick else 10)
    args.warmup = args.warmup or (1 if args.quick else 3)
    results = run(args)
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.json, results)
    print(table(results))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
