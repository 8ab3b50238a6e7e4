"""Part 2 of the demo: FFT token mixing against softmax attention, in cost and in accuracy.

Cost: one mixing layer (D = 32, 2 heads, a batch of 4), forward and backward, on sequences of
64 to 1,024 tokens, timed (the best of a few repeats, so that other work on the machine adds
less) and counted in multiply-accumulates (``minifb.models.count_flops``). Attention's cost grows
as N^2, the FFT mixer's as N log N.

Accuracy: the same small ViT (16 x 16 images, patch 2: 64 patches and a class token, D 32,
one block) with either mixer, trained on the CIFAR-10 sample for a few epochs, a few seeds each.
The classifier reads only the class token, which sees the image only through the token mixer:
a task where global mixing is needed.
"""
from __future__ import annotations

import time

import numpy as np

from .. import models
from ..autograd import Tensor
from ..layers.attention import MultiHeadSelfAttention
from ..layers.fft_mixer import FFTMixer
from .training import train_and_test

MIXERS = {"fft": "fftnet-vit", "attention": "vit"}
VIT = {"patch": 2, "dim": 32, "depth": 1, "heads": 2, "mlp_ratio": 2, "dropout": 0.0}
COST_DIM, COST_HEADS, COST_BATCH = 32, 2, 4


def mixer_cost(tokens, repeats: int = 3, seed: int = 0) -> list[dict]:
    """Seconds (forward + backward, best of ``repeats``) and MACs per example of each mixer at each N."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in tokens:
        x = Tensor(rng.standard_normal((COST_BATCH, n, COST_DIM)).astype(np.float32), requires_grad=True)
        for kind, layer in (("attention", MultiHeadSelfAttention(COST_DIM, COST_HEADS)),
                            ("fft", FFTMixer(COST_DIM, n, COST_HEADS))):
            best = float("inf")
            for _ in range(repeats):
                started = time.perf_counter()
                layer(x).sum().backward()
                best = min(best, time.perf_counter() - started)
            rows.append({"mixer": kind, "tokens": n, "seconds": best,
                         "macs": models.count_flops(layer, (1, n, COST_DIM))})
    return rows


def accuracy_runs(data, seeds, epochs: int, say, batch_size: int = 100, lr: float = 3e-3) -> list[dict]:
    """Train the ViT with each mixer for each seed; one result per run."""
    runs = []
    for kind, name in MIXERS.items():
        for seed in seeds:
            result = train_and_test(name, VIT, data, seed, epochs, batch_size, lr)
            runs.append({"mixer": kind, "model": name, "seed": seed, **result})
            say(f"  {kind:9s} mixer, seed {seed}: test accuracy {result['test_accuracy']:.1%} "
                f"({result['seconds']:.1f} s)")
    return runs
