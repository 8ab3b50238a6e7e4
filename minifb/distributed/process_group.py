"""Which process this is among those training together: rank, world size and local rank.

The launcher (minifb/distributed/launch.py) and torchrun set RANK, WORLD_SIZE and LOCAL_RANK;
Slurm's srun sets SLURM_PROCID, SLURM_NTASKS and SLURM_LOCALID. Without any of them the process
trains alone (rank 0 of 1), which is ordinary single-device training.
"""
from __future__ import annotations

import dataclasses
import os

# (rank, world size, local rank) as each launcher names them, the first one present wins
ENVIRONMENTS = (("RANK", "WORLD_SIZE", "LOCAL_RANK"), ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"))


@dataclasses.dataclass(frozen=True)
class ProcessGroup:
    """This process's place: ``rank`` in 0..world_size-1 over all machines, ``local_rank`` on its own."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def __post_init__(self):
        if not (self.world_size >= 1 and 0 <= self.rank < self.world_size and self.local_rank >= 0):
            raise ValueError(f"ProcessGroup: need world_size >= 1, 0 <= rank < world_size and "
                             f"local_rank >= 0, got rank {self.rank}, world_size {self.world_size}, "
                             f"local_rank {self.local_rank}")

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes metrics, checkpoints and prints."""
        return self.rank == 0


def from_environment(environ=None) -> ProcessGroup:
    """The group described by the launcher's variables (see the module docstring)."""
    environ = os.environ if environ is None else environ
    for names in ENVIRONMENTS:
        if names[0] in environ or names[1] in environ:
            values = []
            for name, default in zip(names, (None, None, "0")):
                text = environ.get(name, default)
                if text is None:
                    raise ValueError(f"from_environment: {names[0]} and {names[1]} go together, "
                                     f"{name} is missing")
                try:
                    values.append(int(text))
                except ValueError:
                    raise ValueError(f"from_environment: {name} must be an integer, got {text!r}") from None
            return ProcessGroup(*values)
    return ProcessGroup()


def rendezvous_address(environ=None) -> str:
    """Where the ranks meet to share NCCL's unique id: MINIFB_RENDEZVOUS ('tcp://HOST:PORT' or
    'file://PATH', set by the launcher), else MASTER_ADDR:MASTER_PORT+1 of torchrun (MASTER_PORT
    itself is torchrun's own store)."""
    environ = os.environ if environ is None else environ
    if environ.get("MINIFB_RENDEZVOUS"):
        return environ["MINIFB_RENDEZVOUS"]
    if "MASTER_ADDR" in environ and "MASTER_PORT" in environ:
        return f"tcp://{environ['MASTER_ADDR']}:{int(environ['MASTER_PORT']) + 1}"
    raise ValueError("rendezvous_address: set MINIFB_RENDEZVOUS to tcp://HOST:PORT (HOST: rank 0's "
                     "machine) or file://PATH (a new file on a folder every rank sees), or MASTER_ADDR "
                     "and MASTER_PORT")
