"""The demo's data and its short training runs: the shipped CIFAR-10 sample at 16 x 16 pixels.

Halving the resolution (the mean of each 2 x 2 block, after the usual normalisation) makes a
training step about four times cheaper, which is what lets a few seeds of several models train
within the demo's minute on two cores. Augmentation is a random horizontal flip. The runs use
``minifb.train``'s epoch loop and evaluation, so they draw their randomness from (seed, epoch)
exactly as ``python -m minifb train`` does.
"""
from __future__ import annotations

import time

import numpy as np

from .. import backend, models
from ..autograd import Tensor
from ..data import load_cifar10_sample, normalize

IMAGE_SIZE = 16


def downsample(images: np.ndarray) -> np.ndarray:
    """uint8 CIFAR images (N, 32, 32, 3) -> normalised float32 (N, 3, 16, 16)."""
    x = normalize(images)
    n, c = x.shape[:2]
    return np.ascontiguousarray(x.reshape(n, c, IMAGE_SIZE, 2, IMAGE_SIZE, 2).mean(axis=(3, 5)),
                                dtype=np.float32)


def flip(x, rng):
    """Mirror each image left-right with probability 1/2."""
    mirrored = rng.random(len(x)) < 0.5
    return Tensor(np.ascontiguousarray(np.where(mirrored[:, None, None, None], x[..., ::-1], x)))


def load(train_images: int | None, test_images: int | None):
    """The sample as a ``minifb.train.TaskData`` on the CPU (the first images of a fixed shuffle)."""
    from ..data.tasks import TaskData, subset
    parts = []
    for train, limit in ((True, train_images), (False, test_images)):
        images, labels = load_cifar10_sample(train)
        keep = subset(len(labels), limit)
        parts += [downsample(images[keep]), labels[keep]]
    return TaskData(*parts, augment=flip, prepare=Tensor, num_classes=10, unit="images")


def train_and_test(name: str, settings: dict, data, seed: int, epochs: int, batch_size: int, lr: float,
                   steps_eval: int | None = None) -> dict:
    """Train model ``name`` with Adam for ``epochs``, then test it (with ``steps_eval`` refinement
    steps for a feedback model). Returns the test results plus seconds and the parameter count."""
    from ..optim import Adam
    from ..train import evaluate, train_one_epoch
    started = time.perf_counter()
    backend.seed(seed)
    model = models.create(name, image_size=IMAGE_SIZE, **settings)
    optimizer = Adam(model.parameters(), lr=lr)
    for epoch in range(1, epochs + 1):
        train_one_epoch(model, optimizer, data, batch_size, seed, epoch, progress=False)
    if steps_eval is not None:
        model.steps_eval = steps_eval
    result = evaluate(model, data.test_x, data.test_y, data.prepare)
    result.update(seconds=time.perf_counter() - started, parameters=models.count_parameters(model))
    return result
