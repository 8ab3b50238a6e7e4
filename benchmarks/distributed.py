#!/usr/bin/env python3
"""Data-parallel training throughput: fftnet-vit at batch 256 per GPU on 1 and 2 GPUs through NCCL.

    PYTHONPATH=. python benchmarks/distributed.py [--gpus 1 2] [--json PATH]   # GPUs, NCCL
    PYTHONPATH=. python benchmarks/distributed.py --quick                       # CPU: ranks as threads

For each number of GPUs N it starts N processes (minifb.distributed.launch), each timing the
median of >= 20 whole training steps (forward, backward with the bucketed all-reduce, Adam) on
its own fixed random batch of CIFAR-10's shape after warm-up, synchronising its GPU after each
step; a step's time is the slowest rank's. Throughput is N x batch / step time, and the scaling is
the throughput on N GPUs over that on one. One GPU runs the single-device step (no communicator).

--quick runs the same steps on the CPU with the ranks as threads of one process over the fake
communicator and a narrow model: it checks the script, it measures nothing about NCCL.
The results go to benchmarks/results/distributed.json (distributed-quick.json with --quick).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile

import numpy as np

import minifb
from minifb import backend, distributed, models, optim
from minifb.distributed import launch
from minifb.train import training_step
from timing import environment, median_ms, write_json

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
QUICK_MODEL = {"dim": 32, "depth": 1, "heads": 2}  # the architecture, narrow: a smoke run on the CPU


def timed_steps(model, batch: int, rank: int, device: str, warmup: int, steps: int, reducer=None) -> float:
    """Median milliseconds of a training step of ``model`` on a fixed random batch of this rank."""
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    xp = backend.xp_for(device)
    rng = np.random.default_rng(rank)
    x = xp.asarray(rng.standard_normal((batch, 3, 32, 32), dtype=np.float32))
    y = xp.asarray(rng.integers(0, 10, batch))
    step = training_step(model, optimizer, reducer=reducer)
    return median_ms(lambda: step(x, y), backend.synchronize, warmup, steps)


def row(world: int, batch: int, ms: float) -> dict:
    return {"gpus": world, "batch_per_gpu": batch, "step_ms": ms, "images_per_second": world * batch / (ms / 1e3)}


def worker(args) -> None:
    """One rank of a GPU measurement (started by the launcher); rank 0 writes its row to args.out."""
    group = distributed.from_environment()
    parallel = distributed.connect(group) if group.world_size > 1 else None
    if parallel is None:
        from minifb.distributed.nccl import select_device
        select_device(group)
    minifb.seed(0)
    model = models.create(args.model).to("cuda").train()
    reducer = None
    if parallel is not None:
        distributed.broadcast_model(model, parallel.communicator)
        reducer = parallel.reducer(model.parameters())
    ms = timed_steps(model, args.batch, group.rank, "cuda", args.warmup, args.steps, reducer)
    if parallel is not None:
        ms = float(parallel.communicator.all_reduce_values([ms], "max")[0])  # the slowest rank
        parallel.communicator.close()
    if group.is_main:
        pathlib.Path(args.out).write_text(json.dumps(row(group.world_size, args.batch, ms)))


def measure_gpus(args) -> list[dict]:
    rows = []
    for world in args.gpus:
        with tempfile.TemporaryDirectory() as folder:
            out = pathlib.Path(folder) / "row.json"
            command = [sys.executable, os.path.abspath(__file__), "--worker", "--out", str(out), "--model",
                       args.model, "--batch", str(args.batch), "--steps", str(args.steps),
                       "--warmup", str(args.warmup)]
            status = launch.launch(world, command)
            if status != 0:
                raise SystemExit(f"distributed benchmark: the run on {world} GPUs failed (status {status})")
            rows.append(json.loads(out.read_text()))
    return rows


def measure_threads(args) -> list[dict]:
    rows = []
    for world in args.gpus:
        minifb.seed(0)
        replicas = [models.create(args.model, **QUICK_MODEL).train() for _ in range(world)]

        def rank_main(comm):
            reducer = distributed.DataParallel(comm).reducer(replicas[comm.rank].parameters())
            return timed_steps(replicas[comm.rank], args.batch, comm.rank, "cpu", args.warmup, args.steps,
                               reducer if world > 1 else None)
        rows.append(row(world, args.batch, max(distributed.run_ranks(world, rank_main))))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: ranks as threads, a narrow model")
    parser.add_argument("--gpus", nargs="+", type=int, default=[1, 2], help="numbers of GPUs (default 1 2)")
    parser.add_argument("--model", default="fftnet-vit")
    parser.add_argument("--batch", type=int, default=None, help="batch per GPU (default 256, 4 with --quick)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20, 2 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5, 1 with --quick)")
    parser.add_argument("--json", default=None, help="results file (default: benchmarks/results/...)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.batch = args.batch or (4 if args.quick else 256)
    args.steps = args.steps or (2 if args.quick else 20)
    args.warmup = args.warmup or (1 if args.quick else 5)
    if args.worker:
        worker(args)
        return 0
    rows = measure_threads(args) if args.quick else measure_gpus(args)
    single = next((r for r in rows if r["gpus"] == 1), None)
    for r in rows:
        r["scaling"] = r["images_per_second"] / single["images_per_second"] if single else None
    device = "cpu" if args.quick else "cuda"
    results = {"benchmark": "distributed", "model": args.model,
               "model_config": QUICK_MODEL if args.quick else {},
               "communicator": "fake (threads of one process)" if args.quick else "nccl",
               "device": device, "steps": args.steps, "warmup": args.warmup, "rows": rows,
               "environment": environment(device)}
    path = args.json or str(RESULTS / ("distributed-quick.json" if args.quick else "distributed.json"))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json(path, results)
    print(f"{args.model}, batch {args.batch} per GPU, {results['communicator']}")
    print(f"{'GPUs':>4} {'step ms':>9} {'images/s':>10} {'scaling':>8}")
    for r in rows:
        scaling = f"{r['scaling']:8.2f}" if r["scaling"] is not None else f"{'n/a':>8}"
        print(f"{r['gpus']:4d} {r['step_ms']:9.1f} {r['images_per_second']:10.1f} {scaling}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
