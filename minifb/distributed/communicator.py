"""What the ranks can do together: the communicator interface that training uses.

Collectives work in place on arrays of the communicator's device and return a :class:`Work`
at once; ``wait()`` makes what follows see the result (on the GPU: the current stream waits for
the communication stream, the host does not block). Every rank must issue the same collectives,
on arrays of the same shape and dtype, in the same order: that is how NCCL matches them.

Implementations: :class:`minifb.distributed.nccl.NcclCommunicator` (GPUs, through NCCL) and
:class:`minifb.distributed.fake.FakeCommunicator` (ranks as threads of one process, for tests).
"""
from __future__ import annotations

import numpy as np

from .. import backend

OPS = ("sum", "max", "min")


class Work:
    """A collective under way; ``wait()`` once before reading its array."""

    def wait(self) -> None:
        raise NotImplementedError


class Communicator:
    """The interface: ``rank``, ``world_size``, ``device``, in-place ``all_reduce`` and ``broadcast``."""

    rank: int
    world_size: int
    device: str  # where its arrays live: 'cuda' for NCCL, 'cpu' for the fake one

    def all_reduce(self, array, op: str = "sum") -> Work:
        """Every rank's ``array`` becomes the elementwise ``op`` ('sum', 'max', 'min') over the ranks."""
        raise NotImplementedError

    def broadcast(self, array, root: int = 0) -> Work:
        """Every rank's ``array`` becomes rank ``root``'s."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the communicator once its collectives are done (collectives after it are an error)."""

    def abort(self) -> None:
        """Release it without waiting for collectives that may never complete (a rank failed)."""
        self.close()

    # ---- host values, for the few numbers of an epoch (metrics, checksums, decisions) --------------
    def all_reduce_values(self, values, op: str = "sum") -> np.ndarray:
        """A float64 NumPy copy of ``values`` reduced over the ranks; waits for it."""
        array = backend.to_device(np.array(values, dtype=np.float64, ndmin=1), self.device)
        self.all_reduce(array, op).wait()
        return backend.asnumpy(array)

    def broadcast_values(self, values, root: int = 0) -> np.ndarray:
        """A float64 NumPy copy of rank ``root``'s ``values``; waits for it."""
        array = backend.to_device(np.array(values, dtype=np.float64, ndmin=1), self.device)
        self.broadcast(array, root).wait()
        return backend.asnumpy(array)

    def _check(self, who: str, array, op: str | None = None, root: int | None = None) -> None:
        """Reject what no rank could match, before anything is sent."""
        name = type(self).__name__
        if not backend.is_array(array) or backend.device_of(array) != self.device:
            raise TypeError(f"{name}.{who}: expected a {self.device} array, got {type(array).__name__}"
                            + (f" on {backend.device_of(array)}" if backend.is_array(array) else ""))
        if not array.flags.c_contiguous:
            raise ValueError(f"{name}.{who}: the array must be C-contiguous (it is reduced in place), "
                             f"got shape {tuple(array.shape)} with strides {array.strides}")
        if op is not None and op not in OPS:
            raise ValueError(f"{name}.{who}: op must be one of {OPS}, got {op!r}")
        if root is not None and not 0 <= root < self.world_size:
            raise ValueError(f"{name}.{who}: root must be in [0, {self.world_size}), got {root}")
