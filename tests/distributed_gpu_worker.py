"""One rank of tests/test_distributed_gpu.py (started by minifb.distributed.launch): NCCL's sums and
broadcast on real numbers, and a bucketed data-parallel step against the one-GPU step on the whole
batch. Exits non-zero on any failure."""
import numpy as np

import minifb
from minifb import backend, distributed, models, optim
from minifb.autograd import cross_entropy


def main():
    parallel = distributed.connect()
    comm, rank, world = parallel.communicator, parallel.rank, parallel.world_size
    cupy = backend.xp_for("cuda")
    values = cupy.arange(5, dtype=cupy.float32) * (rank + 1)
    comm.all_reduce(values).wait()
    np.testing.assert_array_equal(values.get(), np.arange(5) * sum(range(1, world + 1)))
    given = cupy.full(3, float(rank), dtype=cupy.float64)
    comm.broadcast(given, root=world - 1).wait()
    np.testing.assert_array_equal(given.get(), [world - 1.0] * 3)

    # A data-parallel step on two halves against the one-GPU step on the whole batch (float32).
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 16)

    def fresh():
        minifb.seed(0)
        model = models.create("feedback-cnn", widths=(4, 8, 8), hidden=16).to("cuda")
        return model, optim.Adam(model.parameters(), lr=1e-2)
    model, optimizer = fresh()
    optimizer.zero_grad()
    cross_entropy(model(minifb.tensor(x, device="cuda")), cupy.asarray(y)).backward()
    optimizer.step()
    expected = [p.numpy() for p in model.parameters()]

    model, optimizer = fresh()
    distributed.broadcast_model(model, comm)
    reducer = distributed.GradientReducer(model.parameters(), comm, bucket_bytes=4096)
    part = slice(rank * 16 // world, (rank + 1) * 16 // world)
    optimizer.zero_grad()
    reducer.backward(cross_entropy(model(minifb.tensor(x[part], device="cuda")), cupy.asarray(y[part])))
    optimizer.step()
    distributed.check_identical(model, comm, "after the step")
    for p, e in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-4, atol=1e-5)
    comm.close()
    print(f"rank {rank}: ok")


if __name__ == "__main__":
    main()
