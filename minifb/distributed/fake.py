"""Ranks as threads of one process, for tests on the CPU: the communicator interface with real sums.

``run_ranks(world_size, fn)`` calls ``fn(communicator)`` in one thread per rank and returns their
results. Each communicator has its own worker thread that runs its collectives in the order they
were issued, as a CUDA stream runs NCCL's, so ``all_reduce`` returns before the other ranks have
arrived and training goes on meanwhile: the overlap of gradient reduction with backward is the
same as on the GPUs. The k-th collective of every rank meets the k-th of the others; a mismatch
(shape, dtype, op, root) raises on every rank instead of the hang or garbage NCCL would give.
The result is computed once, in rank order, and copied to every rank, so all ranks hold the same
bits, as with NCCL.
"""
from __future__ import annotations

import queue
import threading

import numpy as np

from .communicator import Communicator, Work

REDUCE = {"sum": np.add, "max": np.maximum, "min": np.minimum}


class _Meeting:
    """The k-th collective of the group: what each rank brought, and the result once all are there."""

    def __init__(self, world_size: int):
        self.arrivals: dict[int, tuple] = {}
        self.result = None
        self.error = None
        self.left = world_size  # ranks that have not yet taken the result


class FakeGroup:
    """The shared state of ``world_size`` fake ranks; ``communicator(rank)`` gives rank's end."""

    def __init__(self, world_size: int, timeout: float = 60.0):
        if world_size < 1:
            raise ValueError(f"FakeGroup: world_size must be at least 1, got {world_size}")
        self.world_size = world_size
        self.timeout = timeout
        self._meetings: dict[int, _Meeting] = {}
        self._changed = threading.Condition()

    def communicator(self, rank: int) -> "FakeCommunicator":
        return FakeCommunicator(self, rank)

    def meet(self, seq: int, rank: int, what: tuple, array: np.ndarray) -> np.ndarray:
        """Bring rank's ``array`` (described by ``what``) to collective ``seq``; the result when all came."""
        with self._changed:
            meeting = self._meetings.setdefault(seq, _Meeting(self.world_size))
            meeting.arrivals[rank] = (what, array.copy())
            if len(meeting.arrivals) == self.world_size:
                self._combine(seq, meeting)
                self._changed.notify_all()
            elif not self._changed.wait_for(lambda: meeting.result is not None or meeting.error,
                                            self.timeout):
                meeting.error = (f"rank {rank} waited {self.timeout:g} s at collective #{seq} ({what[0]}) "
                                 f"for ranks {sorted(set(range(self.world_size)) - set(meeting.arrivals))}")
                self._changed.notify_all()
            meeting.left -= 1
            if meeting.left == 0:
                del self._meetings[seq]
            if meeting.error:
                raise RuntimeError(f"FakeCommunicator: {meeting.error}")
            return meeting.result

    def _combine(self, seq: int, meeting: _Meeting) -> None:
        described = {what for what, _ in meeting.arrivals.values()}
        if len(described) != 1:
            meeting.error = f"the ranks disagree at collective #{seq}: " + "; ".join(
                f"rank {r}: {what}" for r, (what, _) in sorted(meeting.arrivals.items()))
            return
        kind, _, _, argument = described.pop()
        arrays = [meeting.arrivals[r][1] for r in range(self.world_size)]
        if kind == "broadcast":
            meeting.result = arrays[argument]
            return
        result = arrays[0].copy()
        for other in arrays[1:]:  # rank order: the same result whoever arrived last
            REDUCE[argument](result, other, out=result)
        meeting.result = result


class _ThreadWork(Work):
    def __init__(self):
        self._finished = threading.Event()
        self.error = None

    def wait(self) -> None:
        self._finished.wait()
        if self.error is not None:
            raise self.error


class FakeCommunicator(Communicator):
    """Rank ``rank`` of a :class:`FakeGroup`; NumPy arrays."""

    device = "cpu"

    def __init__(self, group: FakeGroup, rank: int):
        if not 0 <= rank < group.world_size:
            raise ValueError(f"FakeCommunicator: rank must be in [0, {group.world_size}), got {rank}")
        self.group, self.rank, self.world_size = group, rank, group.world_size
        self._issued = 0
        self._requests: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._serve, daemon=True, name=f"minifb-fake-rank{rank}")
        self._worker.start()

    def all_reduce(self, array, op: str = "sum") -> Work:
        self._check("all_reduce", array, op=op)
        return self._issue(("all_reduce", array.shape, array.dtype.str, op), array)

    def broadcast(self, array, root: int = 0) -> Work:
        self._check("broadcast", array, root=root)
        return self._issue(("broadcast", array.shape, array.dtype.str, root), array)

    def close(self) -> None:
        self._requests.put(None)
        self._worker.join()

    def _issue(self, what: tuple, array) -> Work:
        work = _ThreadWork()
        self._requests.put((self._issued, what, array, work))
        self._issued += 1
        return work

    def _serve(self) -> None:
        while (request := self._requests.get()) is not None:
            seq, what, array, work = request
            try:
                array[...] = self.group.meet(seq, self.rank, what, array)
            except BaseException as e:  # handed to whoever waits
                work.error = e
            work._finished.set()


def run_ranks(world_size: int, fn, timeout: float = 60.0) -> list:
    """``[fn(communicator) for each rank]``, the ranks running at once in threads of this process; the
    first rank's exception (by rank) is raised after all have ended."""
    group = FakeGroup(world_size, timeout)
    results, errors = [None] * world_size, [None] * world_size

    def rank_main(rank):
        communicator = group.communicator(rank)
        try:
            results[rank] = fn(communicator)
        except BaseException as e:
            errors[rank] = e
        finally:
            communicator.close()
    threads = [threading.Thread(target=rank_main, args=(r,), name=f"minifb-rank{r}")
               for r in range(world_size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results
