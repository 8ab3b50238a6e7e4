#!/usr/bin/env python3
"""Training seconds to 80% and 82% CIFAR-10 test accuracy: minifb against its PyTorch twin.

    PYTHONPATH=. python benchmarks/time_to_accuracy.py --data-dir DIR [--cuda-graph] [--json PATH]
    PYTHONPATH=. python benchmarks/time_to_accuracy.py --quick         # CPU smoke run, shipped sample

For the CNN and head-only FeedbackCNN recipes of docs/design.md (Adam 1e-3, batch 128, random crop
with 4-pixel padding and flip, 20 epochs, seed 0), each library trains alone on the device from the
same initial weights (the PyTorch twins of tests/torch_checks, loaded with minifb's weights) on the
same data kept on the device. After every epoch the test set is evaluated; the clock counts training
time only (the device synchronized at each epoch's end). It reports, per model and library, the
training seconds at the end of the first epoch that reached each target accuracy, and the ratio
minifb / PyTorch. ``--cuda-graph`` replays minifb's step from a CUDA graph (minifb/cuda_graph.py).
"""
from __future__ import annotations

import argparse
import importlib.util
import pathlib
import sys
import time

import numpy as np

import minifb
from minifb import backend, models
from minifb.data.tasks import load_task
from minifb.recipes import build_optimizer
from minifb.train import evaluate, train_one_epoch, training_step
from timing import environment, write_json

TARGETS = (0.80, 0.82)
MODELS = ("cnn", "feedback-cnn")


def minifb_curve(name, data, epochs, device, cuda_graph):
    """[(training seconds so far, test accuracy)] after each epoch of minifb's recipe."""
    minifb.seed(0)
    model = models.create(name).to(device)
    config = {"lr": 1e-3, "weight_decay": 0.0}
    optimizer = build_optimizer(model, config)
    step = training_step(model, optimizer, 0.0, cuda_graph)
    curve, seconds = [], 0.0
    for epoch in range(1, epochs + 1):
        record = train_one_epoch(model, optimizer, data, 128, 0, epoch, progress=False, step=step)
        seconds += record["seconds"]
        curve.append((seconds, evaluate(model, data.test_x, data.test_y, data.prepare)["test_accuracy"]))
        print(f"  minifb {name} epoch {epoch}: {seconds:7.1f} s, test {curve[-1][1]:.4f}", flush=True)
    return curve


def torch_curve(name, data, epochs, device):
    """The same for the PyTorch twin, with the same augmentation written in torch."""
    import torch
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "torch_checks"))
    from torch_models import twin
    from minifb.data.cifar10 import MEAN, STD
    from minifb.testing import torch_state_dict
    minifb.seed(0)
    module, renames = twin(name)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict(models.create(name), renames).items()})
    module = module.to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    as_torch = lambda a: torch.as_tensor(backend.asnumpy(a)).to(device)  # noqa: E731
    train_x, train_y = as_torch(data.train_x), as_torch(data.train_y)
    test_x, test_y = as_torch(data.test_x), as_torch(data.test_y)
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    to_input = lambda u8: ((u8.permute(0, 3, 1, 2).float() / 255) - mean) / std  # noqa: E731
    generator = torch.Generator(device="cpu").manual_seed(0)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def logits_of(x):
        out = module(x)
        return module.step_logits[-1] if hasattr(module, "step_logits") else out

    curve, seconds, n = [], 0.0, len(train_y)
    for epoch in range(1, epochs + 1):
        module.train()
        sync()
        start = time.perf_counter()
        order = torch.randperm(n, generator=generator).to(device)
        for i in range(max(n // 128, 1)):
            index = order[i * 128:(i + 1) * 128]
            y = train_y[index]
            out = module(random_crop_flip(to_input(train_x[index]), generator))
            logits = module.step_logits[-1] if hasattr(module, "step_logits") else out
            loss = module.loss(y) if hasattr(module, "loss") else torch.nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        sync()
        seconds += time.perf_counter() - start
        module.eval()
        with torch.no_grad():
            correct = sum(int((logits_of(to_input(test_x[j:j + 500])).argmax(1) == test_y[j:j + 500]).sum())
                          for j in range(0, len(test_y), 500))
        curve.append((seconds, correct / len(test_y)))
        print(f"  torch  {name} epoch {epoch}: {seconds:7.1f} s, test {curve[-1][1]:.4f}", flush=True)
    return curve


def random_crop_flip(images, generator, padding=4):
    """Per image: a crop at a random offset of the zero-padded image, mirrored with probability 1/2
    (minifb.data.augment's recipe, in torch)."""
    import torch
    b, c, h, w = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    top, left = (torch.randint(0, 2 * padding + 1, (2, b), generator=generator)).to(images.device)
    span = torch.arange(h, device=images.device)
    rows = (top[:, None] + span)[:, None, :, None].expand(b, c, h, w + 2 * padding)
    cols = (left[:, None] + torch.arange(w, device=images.device))[:, None, None, :].expand(b, c, h, w)
    cropped = padded.gather(2, rows).gather(3, cols)
    flip = (torch.rand(b, generator=generator) < 0.5).to(images.device).view(b, 1, 1, 1)
    return torch.where(flip, cropped.flip(3), cropped)


def seconds_to(curve, target):
    """Training seconds at the first epoch whose test accuracy reached ``target`` (None if none did)."""
    return next((s for s, accuracy in curve if accuracy >= target), None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data", help="the folder holding cifar-10-batches-py/")
    parser.add_argument("--device", default=None, help="cuda (default) or cpu (default with --quick)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=models.available())
    parser.add_argument("--cuda-graph", action="store_true", help="replay minifb's step from a CUDA graph")
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: shipped sample, 1 epoch, low targets")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    device = args.device or ("cpu" if args.quick else "cuda")
    backend.check_device(device)
    task, epochs, targets = ("cifar10-sample", 1, (0.1, 0.2)) if args.quick else ("cifar10", args.epochs, TARGETS)
    data = load_task(task, args.data_dir, False, device, limit_train=256 if args.quick else None,
                     limit_test=200 if args.quick else None)
    have_torch = importlib.util.find_spec("torch") is not None
    print(environment(device))
    rows = []
    for name in args.models:
        ours = minifb_curve(name, data, epochs, device, args.cuda_graph)
        theirs = torch_curve(name, data, epochs, device) if have_torch else None
        for target in targets:
            a, b = seconds_to(ours, target), seconds_to(theirs, target) if theirs else None
            rows.append({"model": name, "target": target, "minifb_s": a, "torch_s": b,
                         "ratio": a / b if a is not None and b else None})
            cells = [f"{v:.1f} s" if v is not None else "not reached" for v in (a, b)]
            ratio = f"{rows[-1]['ratio']:.2f}" if rows[-1]["ratio"] is not None else "n/a"
            print(f"{name:14} to {target:.0%}: minifb {cells[0]}, torch {cells[1]}, ratio {ratio}")
    if args.json:
        write_json(args.json, {"environment": environment(device), "cuda_graph": args.cuda_graph,
                               "epochs": epochs, "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
