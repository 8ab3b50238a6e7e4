"""Gradient averaging over the ranks, in buckets that reduce while backward is still running.

The parameters are cut into buckets in reverse order (backward produces the last layers'
gradients first), each at most ``bucket_bytes`` (a larger parameter gets a bucket of its own)
and of one dtype. During backward (minifb.autograd.tape.observe_backward) a parameter's gradient
is final once the last node that feeds it is done; a bucket whose reached parameters are all
final is copied into its flat buffer and its all-reduce launched at once. Buckets are launched
strictly in their order, so every rank issues the same collectives in the same order even if its
graph finished them differently. ``backward(loss)`` returns with every gradient averaged:

    grad_p <- (1 / world_size) * sum over ranks of grad_p

which, with equal local batches and a mean loss, is the gradient of the mean loss over the global
batch. A parameter that backward does not reach keeps ``grad`` None (the graph, hence that set,
is the same on every rank) and sends zeros. One backward per step: the reduced gradient is
``.grad`` as it stands when its bucket launches.
"""
from __future__ import annotations

import dataclasses

from .. import backend
from ..autograd.tape import observe_backward
from ..optim import _real_view  # a complex array as interleaved real numbers (the same memory)
from .communicator import Communicator

DEFAULT_BUCKET_BYTES = 2 ** 21  # 2 MiB: several buckets even for minifb's 2-million-parameter models


@dataclasses.dataclass
class Bucket:
    """Parameters reduced together: ``indices`` into the parameter list, their offsets in ``flat``."""

    indices: list
    offsets: list
    size: int  # elements of the flat buffer (real numbers: a complex element counts twice)
    dtype: object  # the flat buffer's real dtype
    flat: object = None


def plan_buckets(params, bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> list[Bucket]:
    """Buckets over ``params`` in reverse order, each of one real dtype and at most ``bucket_bytes``."""
    if bucket_bytes < 1:
        raise ValueError(f"plan_buckets: bucket_bytes must be positive, got {bucket_bytes}")
    buckets: list[Bucket] = []
    for index in reversed(range(len(params))):
        data = _real_view(params[index].data)
        last = buckets[-1] if buckets else None
        if last is None or last.dtype != data.dtype or (last.size + data.size) * data.itemsize > bucket_bytes:
            last = Bucket([], [], 0, data.dtype)
            buckets.append(last)
        last.indices.append(index)
        last.offsets.append(last.size)
        last.size += data.size
    return buckets


class GradientReducer:
    """Averages the gradients of ``params`` over the ranks of ``communicator`` during backward."""

    def __init__(self, params, communicator: Communicator, bucket_bytes: int = DEFAULT_BUCKET_BYTES):
        self.params = list(params)
        if not self.params:
            raise ValueError("GradientReducer: got an empty parameter list")
        devices = {p.device for p in self.params}
        if devices != {communicator.device}:
            raise ValueError(f"GradientReducer: the parameters are on {sorted(devices)}, the communicator "
                             f"works on {communicator.device}")
        self.communicator = communicator
        self.buckets = plan_buckets(self.params, bucket_bytes)
        xp = backend.xp_for(communicator.device)
        for bucket in self.buckets:  # allocated once: the communication stream only ever touches these
            bucket.flat = xp.zeros(bucket.size, bucket.dtype)
        self.launches: list[int] = []  # bucket indices in launch order, for tests and curious readers

    def backward(self, loss) -> None:
        """``loss.backward()``, each bucket reduced as soon as its gradients are final; on return every
        parameter's ``grad`` is the mean over the ranks."""
        self._works, self._next, self.launches = [None] * len(self.buckets), 0, []
        with observe_backward(self._start):
            loss.backward()
        self._launch_ready(everything=True)
        scale = 1.0 / self.communicator.world_size
        for bucket, work in zip(self.buckets, self._works):
            work.wait()
            for index, offset in zip(bucket.indices, bucket.offsets):
                p = self.params[index]
                if p.grad is not None:
                    piece = bucket.flat[offset:offset + _real_view(p.data).size]
                    averaged = piece * scale if scale != 1.0 else piece.copy()
                    p.grad = averaged.view(p.grad.dtype).reshape(p.grad.shape)

    # ---- inside backward -------------------------------------------------------------------------
    def _start(self, order):
        """Count, for each parameter, the nodes of this backward that feed it; return the callback."""
        position = {id(p): i for i, p in enumerate(self.params)}
        self._uses = [0] * len(self.params)
        for node in order:
            for x in node.inputs:
                i = position.get(id(x))
                if i is not None:
                    self._uses[i] += 1
        self._position = position
        self._waiting = [sum(1 for i in b.indices if self._uses[i]) for b in self.buckets]
        self._bucket_of = {i: k for k, b in enumerate(self.buckets) for i in b.indices}
        self._ready = [w == 0 for w in self._waiting]
        self._launch_ready()
        return self._node_done

    def _node_done(self, node) -> None:
        for x in node.inputs:
            i = self._position.get(id(x))
            if i is not None:
                self._uses[i] -= 1
                if self._uses[i] == 0:  # its last contribution is in: the gradient is final
                    k = self._bucket_of[i]
                    self._waiting[k] -= 1
                    if self._waiting[k] == 0:
                        self._ready[k] = True
                        self._launch_ready()

    def _launch_ready(self, everything: bool = False) -> None:
        """Launch the next buckets in order while they are ready (all of those left: ``everything``)."""
        while self._next < len(self.buckets) and (everything or self._ready[self._next]):
            self._launch(self._next)
            self._next += 1

    def _launch(self, k: int) -> None:
        bucket = self.buckets[k]
        for index, offset in zip(bucket.indices, bucket.offsets):
            p = self.params[index]
            n = _real_view(p.data).size
            if p.grad is None:
                bucket.flat[offset:offset + n] = 0
            else:
                bucket.flat[offset:offset + n] = _real_view(p.grad).reshape(-1)
        self._works[k] = self.communicator.all_reduce(bucket.flat, "sum")
        self.launches.append(k)
