#!/usr/bin/env python3
"""Time one training step (forward, backward, Adam update) of minifb and of PyTorch eager.

    PYTHONPATH=. python benchmarks/train_step.py [--json PATH]          # GPU: minifb on CuPy
    PYTHONPATH=. python benchmarks/train_step.py --quick                # CPU smoke run

For each network (cnn, feedback-cnn with head-only feedback and T = 2, fftnet-vit; any name of
minifb.models with --models) and batch size (128, 512) it reports the median time of a step over
>= 20 steps after warm-up, synchronizing the device after each step, in float32 with TF32 off
and on, for minifb and for the PyTorch twin of the same model with the same weights (the twins of
tests/torch_checks, which the cross-checks compare with minifb). The ratio is minifb time / PyTorch time.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import sys

from minifb import backend, models
from timing import (add_step_arguments, build, environment, fmt, median_ms, minifb_training_step, step_settings,
                    torch_sync, write_json)

MODELS = ("cnn", "feedback-cnn", "fftnet-vit")


# ---- the same networks in PyTorch ---------------------------------------------------------------

def torch_twin(name: str, model):
    """The PyTorch twin of a minifb model (tests/torch_checks/torch_models.py, cross-checked against minifb
    in the tests) holding the same weights, so both sides train the same network from the same start."""
    import torch
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "torch_checks"))
    from torch_models import twin
    from minifb.testing import torch_state_dict
    module, renames = twin(name)
    state = {k: torch.from_numpy(v) for k, v in torch_state_dict(model, renames).items()}
    module.load_state_dict(state)
    return module


def time_minifb(name: str, batch: int, device: str, tf32: bool, warmup: int, steps: int,
                cuda_graph: bool = False) -> float:
    if device == "cuda":
        backend.set_tf32(tf32)
    return median_ms(minifb_training_step(name, batch, device, cuda_graph), backend.synchronize, warmup, steps)


def time_torch(name: str, batch: int, device: str, tf32: bool, warmup: int, steps: int,
               cuda_graph: bool = False) -> float:
    """PyTorch eager, or with ``cuda_graph`` its whole-step capture (torch.cuda.graph around forward,
    backward and a capturable Adam, as PyTorch's CUDA Graphs notes describe it)."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    model = torch_twin(name, build(name)).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=cuda_graph)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def forward_backward_update():
        model(x)
        loss = model.loss(y) if hasattr(model, "loss") else torch.nn.functional.cross_entropy(model.step_logits[-1], y)
        loss.backward()
        optimizer.step()

    def step():
        optimizer.zero_grad(set_to_none=True)
        forward_backward_update()
    if not cuda_graph:
        return median_ms(step, torch_sync(device), warmup, steps)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as the notes ask
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        forward_backward_update()
    return median_ms(graph.replay, torch_sync(device), warmup, steps)


def ratio(ours, theirs):
    return ours / theirs if ours is not None and theirs else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_step_arguments(parser, "CPU smoke run: batch 8, 3 steps, TF32 off only")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=models.available())
    args = parser.parse_args(argv)
    device, batches, steps, warmup = step_settings(args)
    tf32_modes = (False,) if device == "cpu" else (False, True)
    have_torch = importlib.util.find_spec("torch") is not None
    if not have_torch:
        print("PyTorch is not installed: timing minifb only", file=sys.stderr)
    env = environment(device)
    print(json.dumps(env))
    print(f"float32 input (B, 3, 32, 32), Adam, median of {steps} steps after {warmup} warm-up steps")
    graphs = device == "cuda"  # CUDA graphs: minifb's CapturedStep and torch.cuda.graph
    print("ms per step; 'graph': the step replayed from a CUDA graph; ratios against PyTorch eager")
    print(f"{'model':14} {'batch':>5} {'tf32':>5} {'minifb':>8} {'graph':>8} {'torch':>8} {'t.graph':>8} "
          f"{'ratio':>6} {'g.ratio':>7} {'g/t.g':>6}")
    rows = []
    for name in args.models:
        for batch in batches:
            for tf32 in tf32_modes:
                ours = time_minifb(name, batch, device, tf32, warmup, steps)
                ours_graph = time_minifb(name, batch, device, tf32, warmup, steps, cuda_graph=True) if graphs else None
                theirs = time_torch(name, batch, device, tf32, warmup, steps) if have_torch else None
                theirs_graph = time_torch(name, batch, device, tf32, warmup, steps, cuda_graph=True) \
                    if have_torch and graphs else None
                row = {"model": name, "batch": batch, "tf32": tf32, "minifb_ms": ours, "minifb_graph_ms": ours_graph,
                       "torch_ms": theirs, "torch_graph_ms": theirs_graph,
                       "ratio": ratio(ours, theirs), "graph_ratio": ratio(ours_graph, theirs),
                       "graph_to_torch_graph": ratio(ours_graph, theirs_graph)}
                rows.append(row)
                print(f"{name:14} {batch:5d} {str(tf32):>5} " + " ".join(
                    fmt(row[k], 8, 2) for k in ("minifb_ms", "minifb_graph_ms", "torch_ms", "torch_graph_ms"))
                    + f" {fmt(row['ratio'], 6, 2)} {fmt(row['graph_ratio'], 7, 2)} "
                      f"{fmt(row['graph_to_torch_graph'], 6, 2)}", flush=True)
    if args.json:
        write_json(args.json, {"environment": env, "steps": steps, "warmup": warmup, "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
