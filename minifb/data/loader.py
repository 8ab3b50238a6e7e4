"""Batches of arrays on a device, shuffled reproducibly, optionally prepared in the background."""
from __future__ import annotations

import math
import queue
import threading

import numpy as np

from .. import checks
from ..backend import check_device, generator, get_array_module, to_device

_DONE = object()


class DataLoader:
    """Iterate over equal-length arrays in batches: ``for x, y in DataLoader(images, labels, ...)``.

    Each batch is a tuple of raw arrays on ``device`` (numpy for 'cpu', cupy for 'cuda'; wrap
    them with minifb.tensor where a Tensor is wanted: inputs need no gradient), after
    ``transform(batch, rng)`` when given, which returns the new tuple and draws its randomness
    from ``rng``. The arrays stay where they are (host memory, usually) and only each batch
    is gathered and moved.

    Epoch e is shuffled by numpy.random.default_rng([seed, e]) and batch i of it is transformed
    with default_rng([seed, e, i]), so a run is reproducible from the seed whatever the
    prefetching; each new iteration is the next epoch (set_epoch to resume). ``prefetch`` > 0
    prepares up to that many batches ahead in a background thread.
    """

    def __init__(self, *arrays, batch_size: int, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, device: str = "cpu", transform=None, prefetch: int = 0):
        if not arrays:
            raise ValueError("DataLoader: expected at least one array")
        for i, a in enumerate(arrays):
            checks.array("DataLoader", f"array {i}", a)
            if a.ndim == 0:
                raise ValueError(f"DataLoader: array {i} is 0-d; expected arrays with one row per example")
        checks.integer("DataLoader", "batch_size", batch_size)
        checks.integer("DataLoader", "prefetch", prefetch)
        checks.flag("DataLoader", "shuffle", shuffle)
        checks.flag("DataLoader", "drop_last", drop_last)
        if seed is not None:
            checks.integer("DataLoader", "seed", seed, 0)
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be a function (batch, rng) -> batch, got "
                            f"{transform!r}")
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ValueError("DataLoader: arrays must have the same length, got shapes "
                             f"{[a.shape for a in arrays]}")
        if batch_size < 1 or prefetch < 0:
            raise ValueError(f"DataLoader: need batch_size >= 1 and prefetch >= 0, got {batch_size}, "
                             f"{prefetch}")
        self.arrays = arrays
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(generator().integers(2**63)) if seed is None else seed
        self.device = check_device(device)
        self.transform = transform
        self.prefetch = prefetch
        self.epoch = 0

    def __len__(self) -> int:
        count = len(self.arrays[0]) / self.batch_size
        return math.floor(count) if self.drop_last else math.ceil(count)

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration will run (its order and augmentation)."""
        checks.integer("DataLoader.set_epoch", "epoch", epoch, 0)
        self.epoch = epoch

    def _batch(self, epoch: int, index: int, positions: np.ndarray) -> tuple:
        batch = tuple(to_device(a[get_array_module(a).asarray(positions)], self.device) for a in self.arrays)
        if self.transform is not None:
            batch = tuple(self.transform(batch, np.random.default_rng([self.seed, epoch, index])))
        return batch

    def _batches(self, epoch: int):
        count = len(self.arrays[0])
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(count) if self.shuffle else np.arange(count)
        for index in range(len(self)):
            yield self._batch(epoch, index, order[index * self.batch_size:(index + 1) * self.batch_size])

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        if self.prefetch == 0:
            yield from self._batches(epoch)
        else:
            yield from _in_background(self._batches(epoch), self.prefetch)


def _in_background(batches, depth: int):
    """Yield from the iterator ``batches`` while a thread computes up to ``depth`` items ahead;
    an exception in the thread is raised here, and stopping early stops the thread."""
    ready = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in batches:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as e:  # handed to the consumer, which re-raises it
            put(e)

    thread = threading.Thread(target=work, daemon=True, name="minifb-prefetch")
    thread.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
