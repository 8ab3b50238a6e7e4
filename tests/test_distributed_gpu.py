"""Data-parallel training through NCCL on real GPUs: one GPU (NCCL with one rank), then two
(collectives, a bucketed step against the one-GPU step, `train --gpus 2`). Skipped without them."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPOSITORY
from minifb import backend, distributed
from minifb.distributed import launch
from test_cli import write_tiny_cifar

pytestmark = pytest.mark.gpu


def gpu_count() -> int:
    if not backend.cuda_available():
        return 0
    return backend.xp_for("cuda").cuda.runtime.getDeviceCount()


def environment():
    return dict(os.environ, PYTHONPATH=str(REPOSITORY) + os.pathsep + str(REPOSITORY / "tests"))


@pytest.mark.skipif(gpu_count() < 1, reason="needs a CUDA GPU with CuPy")
def test_nccl_with_one_rank_reduces_and_broadcasts():
    from minifb.distributed.nccl import NcclCommunicator
    cupy = backend.xp_for("cuda")
    comm = NcclCommunicator(distributed.ProcessGroup(0, 1, 0), "tcp://127.0.0.1:1")  # one rank: no rendezvous
    try:
        values = cupy.arange(4, dtype=cupy.float32)
        comm.all_reduce(values).wait()
        comm.broadcast(values).wait()
        np.testing.assert_array_equal(values.get(), np.arange(4))
        assert comm.all_reduce_values([2.5])[0] == 2.5
    finally:
        comm.close()


@pytest.mark.skipif(gpu_count() < 2, reason="needs two CUDA GPUs")
def test_two_gpus_reduce_and_step_like_one():
    command = [sys.executable, str(REPOSITORY / "tests" / "distributed_gpu_worker.py")]
    assert launch.launch(2, command, environment()) == 0


@pytest.mark.skipif(gpu_count() < 2, reason="needs two CUDA GPUs")
def test_train_on_two_gpus_writes_one_run(tmp_path):
    root = write_tiny_cifar(tmp_path / "data")
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "minifb", "train", "cifar10", "--model", "feedback-cnn",
                          "--data-dir", str(root), "--limit-train", "64", "--limit-test", "32", "--epochs", "2",
                          "--batch-size", "16", "--device", "cuda", "--gpus", "2", "--out", str(out),
                          "--no-progress"], env=environment(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2] and np.isfinite(metrics[-1]["train_loss"])
    assert json.loads((out / "config.json").read_text())["gpus"] == 2
    assert (out / "final.json").exists()
