"""The communicator of GPU training: NCCL through ``cupy.cuda.nccl``, one GPU per process.

Collectives run on a communication stream of their own: a collective first waits (on the GPU)
for the work queued so far on the current stream, which produced its array, and ``Work.wait()``
makes the current stream wait for the collective. The host never blocks, so gradient buckets
reduce while backward computes the next ones. The array must stay alive and untouched until
``wait()`` (the Work keeps a reference to it).

Sums are in float32 for float32 gradients (as NCCL does for PyTorch); every rank receives the
same result bits.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .communicator import Communicator, Work
from .process_group import ProcessGroup
from .rendezvous import share_unique_id


def _nccl():
    backend.xp_for("cuda")  # says how to install CuPy when it is missing
    try:
        from cupy.cuda import nccl
    except ImportError as e:
        raise RuntimeError(f"NcclCommunicator: this CuPy has no NCCL ({e}); install the nccl package of "
                           "your CUDA version (e.g. pip install nvidia-nccl-cu12)") from None
    if not getattr(nccl, "available", True):
        raise RuntimeError("NcclCommunicator: this CuPy was built without NCCL")
    return nccl


def select_device(group: ProcessGroup) -> int:
    """Make this process's GPU current: the only visible one (the launcher sets CUDA_VISIBLE_DEVICES
    per rank), else GPU ``local_rank`` (torchrun, Slurm). Call it before anything touches the GPU."""
    cupy = backend.xp_for("cuda")
    count = cupy.cuda.runtime.getDeviceCount()
    index = 0 if count == 1 else group.local_rank
    if index >= count:
        raise RuntimeError(f"select_device: local rank {group.local_rank} but only {count} GPUs are visible")
    cupy.cuda.Device(index).use()
    return index


class _StreamWork(Work):
    def __init__(self, event, array):
        self._event, self._array = event, array

    def wait(self) -> None:
        backend.xp_for("cuda").cuda.get_current_stream().wait_event(self._event)
        self._array = None


class NcclCommunicator(Communicator):
    """Rank ``group.rank`` of an NCCL communicator over ``group.world_size`` GPUs."""

    device = "cuda"

    def __init__(self, group: ProcessGroup, address: str):
        self._lib = nccl = _nccl()
        self.rank, self.world_size = group.rank, group.world_size
        unique_id = share_unique_id(group, address, nccl.get_unique_id)
        self._comm = nccl.NcclCommunicator(group.world_size, unique_id, group.rank)
        cupy = backend.xp_for("cuda")
        self._stream = cupy.cuda.Stream(non_blocking=True)
        self._types = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64,
                       np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.int64): nccl.NCCL_INT64,
                       np.dtype(np.int32): nccl.NCCL_INT32, np.dtype(np.uint8): nccl.NCCL_UINT8}
        self._ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}

    def _type(self, who: str, array):
        if array.dtype not in self._types:
            raise TypeError(f"NcclCommunicator.{who}: no NCCL type for {array.dtype}; "
                            f"use one of {sorted(str(t) for t in self._types)}")
        return self._types[array.dtype]

    def _on_stream(self, array, call) -> Work:
        cupy = backend.xp_for("cuda")
        produced = cupy.cuda.Event(disable_timing=True)
        produced.record()  # on the current stream, after the kernels that wrote ``array``
        self._stream.wait_event(produced)
        call(self._stream.ptr)
        finished = cupy.cuda.Event(disable_timing=True)
        finished.record(self._stream)
        return _StreamWork(finished, array)

    def all_reduce(self, array, op: str = "sum") -> Work:
        self._check("all_reduce", array, op=op)
        kind, operation = self._type("all_reduce", array), self._ops[op]
        pointer = array.data.ptr
        return self._on_stream(array, lambda stream: self._comm.allReduce(pointer, pointer, array.size, kind,
                                                                          operation, stream))

    def broadcast(self, array, root: int = 0) -> Work:
        self._check("broadcast", array, root=root)
        kind, pointer = self._type("broadcast", array), array.data.ptr
        return self._on_stream(array, lambda stream: self._comm.bcast(pointer, array.size, kind, root,
                                                                      stream))

    def close(self) -> None:
        if self._comm is not None:
            self._stream.synchronize()
            self._comm.destroy()
            self._comm = None

    def abort(self) -> None:
        if self._comm is not None:  # ncclCommAbort: no waiting for the other ranks
            self._comm.abort()
            self._comm = None
