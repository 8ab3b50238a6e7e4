"""``python -m minifb.distributed.launch --gpus N TRAIN-ARGS``: one training process per GPU.

    python -m minifb.distributed.launch --gpus 2 cifar10 --model feedback-cnn --device cuda --data-dir DIR

runs ``python -m minifb train TRAIN-ARGS --gpus N`` N times on this machine, rank r with RANK=r,
WORLD_SIZE=N, LOCAL_RANK=r, CUDA_VISIBLE_DEVICES set to the r-th GPU (of the launcher's own
CUDA_VISIBLE_DEVICES when set), and MINIFB_RENDEZVOUS=tcp://127.0.0.1:PORT (a free port) where rank
0 hands NCCL's unique id to the others. If a rank fails, the others are stopped (SIGTERM, then
SIGKILL after a grace period) and the launcher exits with that rank's status; Ctrl-C stops them
all. ``python -m minifb train ... --gpus N`` calls the same code.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

GRACE = 10.0  # seconds a stopped rank gets to exit before it is killed
POLL = 0.1


def train_command(argv) -> list:
    """The command line of each rank: ``python -m minifb`` with ``argv`` (``train ...``)."""
    return [sys.executable, "-m", "minifb", *argv]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_environments(gpus: int, environ=None, port: int | None = None) -> list[dict]:
    """The environment of each of ``gpus`` ranks (see the module docstring)."""
    environ = dict(os.environ if environ is None else environ)
    if gpus < 1:
        raise ValueError(f"launch: --gpus must be at least 1, got {gpus}")
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        devices = [d.strip() for d in visible.split(",") if d.strip()]
    else:
        devices = [str(r) for r in range(gpus)]
    if len(devices) < gpus:
        raise ValueError(f"launch: --gpus {gpus} but CUDA_VISIBLE_DEVICES={visible!r} names {len(devices)}")
    address = f"tcp://127.0.0.1:{port or free_port()}"
    for name in ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"):  # RANK and friends describe the group now
        environ.pop(name, None)
    return [{**environ, "RANK": str(r), "WORLD_SIZE": str(gpus), "LOCAL_RANK": str(r),
             "LOCAL_WORLD_SIZE": str(gpus), "CUDA_VISIBLE_DEVICES": devices[r], "MINIFB_RENDEZVOUS": address}
            for r in range(gpus)]


def launch(gpus: int, command: list, environ=None) -> int:
    """Run ``command`` once per rank and wait; 0 if every rank succeeded, else the first failure's status."""
    environments = rank_environments(gpus, environ)
    ranks = []
    try:
        for env in environments:
            ranks.append(subprocess.Popen(command, env=env))
        while True:
            statuses = [p.poll() for p in ranks]
            failed = [(r, s) for r, s in enumerate(statuses) if s not in (None, 0)]
            if failed:
                rank, status = failed[0]
                print(f"launch: rank {rank} exited with status {status}; stopping the other ranks",
                      file=sys.stderr)
                stop(ranks)
                return status if status > 0 else 128 - status  # killed by signal n: 128 + n, as shells say
            if all(s == 0 for s in statuses):
                return 0
            time.sleep(POLL)
    except KeyboardInterrupt:
        print("launch: interrupted; stopping the ranks", file=sys.stderr)
        stop(ranks)
        return 130
    finally:
        stop(ranks)


def stop(ranks, grace: float = GRACE) -> None:
    """SIGTERM to the ranks still running, SIGKILL to those still there after ``grace`` seconds."""
    running = [p for p in ranks if p.poll() is None]
    for p in running:
        p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in running:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def parse(argv) -> tuple[int, list]:
    """(gpus, the ranks' ``train`` arguments) from the launcher's command line."""
    parser = argparse.ArgumentParser(prog="python -m minifb.distributed.launch",
                                     description="Start one `python -m minifb train` process per GPU.",
                                     epilog="Every other argument goes to `python -m minifb train`.",
                                     allow_abbrev=False)
    parser.add_argument("--gpus", type=int, required=True, metavar="N",
                        help="processes (GPUs) on this machine")
    if sum(a == "--gpus" or a.startswith("--gpus=") for a in argv) > 1:
        parser.error("--gpus is given once, to the launcher")
    args, rest = parser.parse_known_args(argv)
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if rest[:1] == ["train"]:
        rest = rest[1:]
    if not rest:
        parser.error("give the arguments of `python -m minifb train` after --gpus N")
    if args.gpus < 1:
        parser.error(f"--gpus must be at least 1, got {args.gpus}")
    return args.gpus, ["train", *rest, "--gpus", str(args.gpus)]


def main(argv=None) -> int:
    gpus, train_argv = parse(sys.argv[1:] if argv is None else argv)
    try:
        return launch(gpus, train_command(train_argv))
    except ValueError as e:
        print(f"{e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
