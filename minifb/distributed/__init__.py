"""Data-parallel training: one process per GPU, gradients averaged through NCCL.

    python -m minifb train cifar10 --model feedback-cnn --device cuda --gpus 2 ...
    python -m minifb.distributed.launch --gpus 2 cifar10 --model feedback-cnn --device cuda ...
    torchrun --nproc-per-node 2 -m minifb train cifar10 ... --device cuda --gpus 2

Every process holds the whole model and its own shard of each epoch (sampler.py); parameters
start from rank 0's (replicas.py); backward averages the gradients over the ranks in buckets as
it goes (buckets.py), so every rank applies the same update; rank 0 alone writes the run folder.

The pieces: process_group.py (rank, world size, local rank), communicator.py (the interface),
nccl.py (NCCL through cupy.cuda.nccl), rendezvous.py (sharing NCCL's unique id), fake.py (ranks as
threads, for tests), launch.py (one process per GPU).
"""
from __future__ import annotations

from .buckets import DEFAULT_BUCKET_BYTES, GradientReducer, plan_buckets
from .communicator import Communicator, Work
from .fake import FakeCommunicator, FakeGroup, run_ranks
from .process_group import ProcessGroup, from_environment, rendezvous_address
from .replicas import broadcast_model, check_identical
from .sampler import EpochSampler


class DataParallel:
    """This process's part in data-parallel training: its rank among ``world_size`` and its communicator."""

    def __init__(self, communicator: Communicator, bucket_bytes: int = DEFAULT_BUCKET_BYTES):
        self.communicator = communicator
        self.rank, self.world_size = communicator.rank, communicator.world_size
        self.bucket_bytes = bucket_bytes

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def reducer(self, params) -> GradientReducer:
        return GradientReducer(params, self.communicator, self.bucket_bytes)

    def sampler(self, examples: int, batch_size: int, seed: int) -> EpochSampler:
        return EpochSampler(examples, batch_size, seed, self.rank, self.world_size)


def connect(group: ProcessGroup | None = None, address: str | None = None) -> DataParallel:
    """This process's GPU made current and its NCCL communicator joined (rank and world size from the
    environment unless ``group``; the rendezvous from MINIFB_RENDEZVOUS or torchrun's variables)."""
    from .nccl import NcclCommunicator, select_device
    group = group or from_environment()
    address = address or rendezvous_address()
    select_device(group)
    return DataParallel(NcclCommunicator(group, address))


__all__ = ["Communicator", "DataParallel", "EpochSampler", "FakeCommunicator", "FakeGroup", "GradientReducer",
           "ProcessGroup", "Work", "broadcast_model", "check_identical", "connect", "from_environment",
           "plan_buckets", "rendezvous_address", "run_ranks"]
