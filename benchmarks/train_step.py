#!/usr/bin/env python3
"""Time one training step (forward, backward, Adam update) of minifb and of PyTorch eager.

    PYTHONPATH=. python benchmarks/train_step.py [--json PATH]          # GPU: minifb on CuPy
    PYTHONPATH=. python benchmarks/train_step.py --quick                # CPU smoke run

For each network (cnn, feedback-cnn with head-only feedback and T = 2, fftnet-vit) and batch size
(128, 512) it reports the median time of a step over >= 20 steps after warm-up, synchronizing the
device after each step, in float32 with TF32 off and on, for minifb and for the same architecture
written in PyTorch below (DESIGN.md gives both). The ratio is minifb time / PyTorch time.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import minifb
from minifb import backend, models, optim

MODELS = ("cnn", "feedback-cnn", "fftnet-vit")


# ---- the same networks in PyTorch (DESIGN.md) ---------------------------------------------------

def torch_model(name: str):
    import torch
    from torch import nn

    class CNN(nn.Module):
        """conv3x3 3-32 ReLU; conv 32-64 ReLU maxpool2; conv 64-128 ReLU maxpool2; Linear 8192-256 ReLU;
        [Dropout 0.5]; Linear 256-10."""

        def __init__(self, dropout: bool):
            super().__init__()
            self.trunk = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(8192, 256), nn.ReLU())
            self.drop = nn.Dropout(0.5) if dropout else nn.Identity()
            self.head = nn.Linear(256, 10)

        def forward(self, x):
            return self.head(self.drop(self.trunk(x)))

    class FeedbackCNN(CNN):
        """Head-only contextual feedback, T = 2: z = g(y), h <- a h + (1 - a) ReLU(W [h; z] + b),
        a = sigmoid(learnable scalar), y = head(h)."""

        def __init__(self, steps: int = 2, context: int = 64):
            super().__init__(dropout=False)
            self.steps = steps
            self.context = nn.Linear(10, context)
            self.adapter = nn.Linear(256 + context, 256)
            self.alpha = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            h = self.trunk(x)
            y = self.head(h)
            a = torch.sigmoid(self.alpha)
            for _ in range(self.steps):
                z = self.context(y)
                h = a * h + (1 - a) * torch.relu(self.adapter(torch.cat([h, z], dim=1)))
                y = self.head(h)
            return y

    class FFTMix(nn.Module):
        """FFTNet global token mixing (DESIGN.md): rFFT over tokens, context-modulated real filter,
        modReLU, inverse rFFT."""

        def __init__(self, dim: int, heads: int, tokens: int):
            super().__init__()
            self.heads, self.freqs = heads, tokens // 2 + 1
            self.w1 = nn.Linear(dim, dim)
            self.w2 = nn.Linear(dim, heads * self.freqs)
            self.w_base = nn.Parameter(torch.ones(heads, self.freqs, 1))
            self.bias = nn.Parameter(torch.full((heads, self.freqs, 1), -0.1))

        def forward(self, x):
            b, n, d = x.shape
            xh = x.reshape(b, n, self.heads, d // self.heads).transpose(1, 2)  # (B, H, N, d)
            spectrum = torch.fft.rfft(xh, dim=2, norm="ortho")
            m = torch.tanh(self.w2(nn.functional.gelu(self.w1(x.mean(dim=1))))).reshape(b, self.heads, self.freqs, 1)
            y = spectrum * (self.w_base + m)
            magnitude = y.abs()
            z = torch.relu(magnitude + self.bias) * y / magnitude.clamp_min(1e-3)
            out = torch.fft.irfft(z, n=n, dim=2, norm="ortho")
            return out.transpose(1, 2).reshape(b, n, d)

    class Block(nn.Module):
        def __init__(self, dim, heads, tokens, ratio=3, p=0.1):
            super().__init__()
            self.norm1, self.mix, self.drop = nn.LayerNorm(dim), FFTMix(dim, heads, tokens), nn.Dropout(p)
            self.norm2 = nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, ratio * dim), nn.GELU(), nn.Dropout(p),
                                     nn.Linear(ratio * dim, dim), nn.Dropout(p))

        def forward(self, x):
            x = x + self.drop(self.mix(self.norm1(x)))
            return x + self.mlp(self.norm2(x))

    class FFTNetViT(nn.Module):
        """Patch 4 (64 patches + CLS), D 192, depth 6, 6 heads, MLP ratio 3, dropout 0.1, head on CLS."""

        def __init__(self, dim=192, depth=6, heads=6):
            super().__init__()
            self.patch = nn.Conv2d(3, dim, 4, stride=4)
            self.cls = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos = nn.Parameter(torch.randn(1, 65, dim) * 0.02)
            self.drop = nn.Dropout(0.1)
            self.blocks = nn.Sequential(*[Block(dim, heads, 65) for _ in range(depth)])
            self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, 10)

        def forward(self, x):
            tokens = self.patch(x).flatten(2).transpose(1, 2)
            tokens = torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1)
            tokens = self.blocks(self.drop(tokens + self.pos))
            return self.head(self.norm(tokens[:, 0]))

    return {"cnn": lambda: CNN(dropout=True), "feedback-cnn": FeedbackCNN, "fftnet-vit": FFTNetViT}[name]()


# ---- timing -------------------------------------------------------------------------------------

def median_ms(step, sync, warmup: int, steps: int) -> float:
    """Median wall time of ``step()`` in milliseconds, synchronizing the device around each one."""
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


def time_minifb(name: str, batch: int, device: str, tf32: bool, warmup: int, steps: int) -> float:
    if device == "cuda":
        backend.set_tf32(tf32)
    minifb.seed(0)
    model = models.create(name).to(device)
    model.train()
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
    return median_ms(step, backend.synchronize, warmup, steps)


def time_torch(name: str, batch: int, device: str, tf32: bool, warmup: int, steps: int) -> float:
    import torch
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.manual_seed(0)
    model = torch_model(name).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return median_ms(step, sync, warmup, steps)


def environment(device: str) -> dict:
    info = {"python": platform.python_version(), "numpy": np.__version__, "minifb": minifb.__version__}
    if device == "cuda":
        import cupy
        info["cupy"] = cupy.__version__
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        info["device"] = name.decode() if isinstance(name, bytes) else name
    else:
        info["device"] = f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores"
    try:
        import torch
        info["torch"] = torch.__version__
        info["cudnn"] = torch.backends.cudnn.version() if device == "cuda" else None
    except ImportError:
        info["torch"] = None
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU smoke run: batch 8, 3 steps, TF32 off only")
    parser.add_argument("--device", default=None, help="cuda (default) or cpu (default with --quick)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20, 3 with --quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5, 1 with --quick)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    device = args.device or ("cpu" if args.quick else "cuda")
    backend.check_device(device)
    batches = args.batch_sizes or ([8] if args.quick else [128, 512])
    steps = args.steps or (3 if args.quick else 20)
    warmup = args.warmup or (1 if args.quick else 5)
    tf32_modes = (False,) if device == "cpu" else (False, True)
    have_torch = importlib.util.find_spec("torch") is not None
    if not have_torch:
        print("PyTorch is not installed: timing minifb only", file=sys.stderr)
    env = environment(device)
    print(json.dumps(env))
    print(f"float32 input (B, 3, 32, 32), Adam, median of {steps} steps after {warmup} warm-up steps")
    print(f"{'model':14} {'batch':>5} {'tf32':>5} {'minifb ms':>10} {'torch ms':>10} {'ratio':>7}")
    rows = []
    for name in args.models:
        if have_torch:  # the same architecture on both sides: the parameter counts must agree
            ours = models.count_parameters(models.create(name))
            theirs = sum(p.numel() for p in torch_model(name).parameters())
            if ours != theirs:
                raise SystemExit(f"{name}: minifb has {ours:,} parameters, the PyTorch version {theirs:,}")
        for batch in batches:
            for tf32 in tf32_modes:
                ours = time_minifb(name, batch, device, tf32, warmup, steps)
                theirs = time_torch(name, batch, device, tf32, warmup, steps) if have_torch else None
                ratio = ours / theirs if theirs else None
                rows.append({"model": name, "batch": batch, "tf32": tf32, "minifb_ms": ours, "torch_ms": theirs,
                             "ratio": ratio})
                print(f"{name:14} {batch:5d} {str(tf32):>5} {ours:10.2f} "
                      f"{theirs if theirs is not None else float('nan'):10.2f} "
                      f"{ratio if ratio is not None else float('nan'):7.2f}", flush=True)
    if args.json:
        partial = args.json + ".part"
        with open(partial, "w") as f:
            json.dump({"environment": env, "steps": steps, "warmup": warmup, "results": rows}, f, indent=2)
        os.replace(partial, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
