"""Which examples each rank trains on in an epoch, and the random numbers it draws there.

Everything random in epoch e comes from ``numpy.random.default_rng([seed, e])`` (minifb/train.py):
it first draws the seed of the dropout masks, then the permutation of the training set. Every
rank draws the same permutation; step i's global batch is its slice i * batch_size ... and rank r
takes the r-th of its ``world_size`` equal parts, so the ranks' shards are disjoint, equal in size
and together cover the batches of the epoch (the last partial batch is dropped, as on one device).

With one rank that is exactly the single-device loop: the same batches, and the same generator
goes on to draw the augmentation. With several, each rank augments and draws dropout from its own
``default_rng([seed, e, rank])``, so that the ranks' masks differ. An epoch depends only on
(seed, e, rank, world_size): a resumed run draws what an uninterrupted one would have.
"""
from __future__ import annotations

import numpy as np

from ..recipes import steps_per_epoch


class EpochSampler:
    """The epochs of ``examples`` training examples in global batches of ``batch_size``, for ``rank``."""

    def __init__(self, examples: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if examples < 1 or batch_size < 1:
            raise ValueError(f"EpochSampler: need examples >= 1 and batch_size >= 1, "
                             f"got {examples}, {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"EpochSampler: rank must be in [0, {world_size}), got {rank}")
        if batch_size % world_size:
            raise ValueError(f"EpochSampler: the batch of {batch_size} does not split into "
                             f"{world_size} equal parts")
        self.examples, self.batch_size, self.seed = examples, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.steps = steps_per_epoch(examples, batch_size)
        # One partial batch when there are fewer examples than a batch, cut to a multiple of the ranks.
        self.global_batch = min(batch_size, examples - examples % world_size)
        if self.global_batch < world_size:
            raise ValueError(f"EpochSampler: {examples} examples cannot feed {world_size} ranks")
        self.local_batch = self.global_batch // world_size

    def epoch(self, epoch: int) -> tuple[np.ndarray, np.random.Generator, int]:
        """(this rank's batches as a (steps, local batch) array of example indices, the generator of
        its augmentation, the seed of its dropout masks) for ``epoch``."""
        rng = np.random.default_rng([self.seed, epoch])
        dropout_seed = int(rng.integers(2**31))
        order = rng.permutation(self.examples)
        batches = order[:self.steps * self.global_batch]
        batches = batches.reshape(self.steps, self.world_size, self.local_batch)
        if self.world_size > 1:
            rng = np.random.default_rng([self.seed, epoch, self.rank])
            dropout_seed = int(rng.integers(2**31))
        return batches[:, self.rank], rng, dropout_seed
