"""Data-parallel training on the CPU: the sampler, the buckets, the fake communicator's real sums,
a 2-rank step against the 1-rank step on the whole batch, rank-0-only writing, the launcher."""
import json
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minifb
from minifb import distributed, models, optim, train
from minifb.autograd import cross_entropy, tape
from minifb.distributed import launch, rendezvous
from minifb.layers import Linear, Module, Parameter
from minifb.recipes import add_arguments
from test_train import SMALL, read_metrics, settings, tiny_task


# ---- the sampler ----------------------------------------------------------------------------------

@pytest.mark.parametrize("examples, batch, world", [(100, 16, 2), (100, 12, 4), (37, 8, 1), (10, 16, 2)])
def test_shards_are_disjoint_equal_and_cover_the_epochs_batches(examples, batch, world):
    samplers = [distributed.EpochSampler(examples, batch, seed=3, rank=r, world_size=world) for r in range(world)]
    shards = [s.epoch(5)[0] for s in samplers]
    assert len({shard.shape for shard in shards}) == 1  # equal sizes, every step
    everything = np.concatenate([shard.reshape(-1) for shard in shards])
    assert len(np.unique(everything)) == len(everything)  # disjoint
    # Together, step by step, they are the global batches of the single-device loop.
    rng = np.random.default_rng([3, 5])
    rng.integers(2**31)
    order = rng.permutation(examples)
    global_batch = samplers[0].global_batch
    for step in range(samplers[0].steps):
        together = np.concatenate([shard[step] for shard in shards])
        np.testing.assert_array_equal(together, order[step * global_batch:(step + 1) * global_batch])


def test_one_rank_draws_what_the_single_device_loop_drew():
    batches, rng, dropout_seed = distributed.EpochSampler(50, 16, seed=7).epoch(2)
    reference = np.random.default_rng([7, 2])  # the loop's own draws: dropout seed, order, augmentation
    assert dropout_seed == int(reference.integers(2**31))
    order = reference.permutation(50)
    np.testing.assert_array_equal(batches, order[:48].reshape(3, 16))
    assert rng.random() == reference.random()


def test_sampler_is_deterministic_resumable_and_new_each_epoch():
    def draw(epoch, rank):
        return distributed.EpochSampler(64, 16, seed=1, rank=rank, world_size=2).epoch(epoch)
    for rank in (0, 1):
        first, again = draw(3, rank), draw(3, rank)  # a fresh sampler (a resumed run) draws the same
        np.testing.assert_array_equal(first[0], again[0])
        assert first[2] == again[2] and first[1].random() == again[1].random()
    assert not np.array_equal(draw(3, 0)[0], draw(4, 0)[0])
    assert draw(3, 0)[2] != draw(3, 1)[2]  # the ranks' dropout masks differ


def test_sampler_rejects_batches_that_do_not_split():
    with pytest.raises(ValueError, match="equal parts"):
        distributed.EpochSampler(100, 10, seed=0, rank=0, world_size=3)
    with pytest.raises(ValueError, match="rank"):
        distributed.EpochSampler(100, 10, seed=0, rank=2, world_size=2)


# ---- the fake communicator ---------------------------------------------------------------------------

def test_fake_collectives_compute_real_results():
    def rank_main(comm):
        r = comm.rank
        total, high, low = (np.array([1.0, 2.0, 3.0]) * (r + 1) for _ in range(3))
        given = np.full(2, 10.0 + r)
        works = [comm.all_reduce(total), comm.all_reduce(high, "max"), comm.all_reduce(low, "min"),
                 comm.broadcast(given, root=2)]
        for work in works:
            work.wait()
        return total, high, low, given, comm.all_reduce_values([r, 1.0])
    for total, high, low, given, values in distributed.run_ranks(3, rank_main):
        np.testing.assert_array_equal(total, [6.0, 12.0, 18.0])
        np.testing.assert_array_equal(high, [3.0, 6.0, 9.0])
        np.testing.assert_array_equal(low, [1.0, 2.0, 3.0])
        np.testing.assert_array_equal(given, [12.0, 12.0])
        np.testing.assert_array_equal(values, [3.0, 3.0])


def test_fake_ranks_that_disagree_fail_on_every_rank():
    def rank_main(comm):
        comm.all_reduce(np.zeros(2 + comm.rank)).wait()
    with pytest.raises(RuntimeError, match="disagree at collective #0"):
        distributed.run_ranks(2, rank_main)


def test_communicator_rejects_bad_calls_before_sending():
    comm = distributed.FakeGroup(2).communicator(0)
    try:
        with pytest.raises(ValueError, match="op must be one of"):
            comm.all_reduce(np.zeros(2), "mean")
        with pytest.raises(ValueError, match="root must be in"):
            comm.broadcast(np.zeros(2), root=2)
        with pytest.raises(ValueError, match="C-contiguous"):
            comm.all_reduce(np.zeros((4, 4))[:, 1])
        with pytest.raises(TypeError, match="cpu array"):
            comm.all_reduce([1.0, 2.0])
    finally:
        comm.close()


# ---- buckets ------------------------------------------------------------------------------------------

class Chain(Module):
    """Linear layers in a row, float64, with one parameter used twice and one never used."""

    def __init__(self, widths=(5, 7, 6, 3)):
        super().__init__()
        self.layers = [Linear(a, b) for a, b in zip(widths, widths[1:])]
        for i, layer in enumerate(self.layers):
            setattr(self, f"layer{i}", layer)
        self.gain = Parameter(np.ones(widths[1]))
        self.unused = Parameter(np.ones(4))
        for p in self.parameters():
            p.data = p.data.astype(np.float64)

    def forward(self, x):
        h = self.layers[0](x)
        h = (h * self.gain).tanh() * self.gain  # gain feeds two nodes
        for layer in self.layers[1:]:
            h = layer(h.tanh())
        return h


def test_buckets_hold_every_parameter_once_in_reverse_order_within_the_limit():
    params = list(Chain(widths=(5, 40, 30, 3)).parameters())
    limit = 8 * 300
    buckets = distributed.plan_buckets(params, limit)
    order = [i for b in buckets for i in b.indices]
    assert order == list(reversed(range(len(params))))
    for b in buckets:
        assert b.size == sum(params[i].size for i in b.indices)
        assert b.size * 8 <= limit or len(b.indices) == 1  # only a single large parameter goes over
        assert b.offsets == list(np.cumsum([0] + [params[i].size for i in b.indices[:-1]]))
    assert len(buckets) > 2
    with pytest.raises(ValueError, match="bucket_bytes"):
        distributed.plan_buckets(params, 0)


class Spy(distributed.FakeCommunicator):
    """A one-rank communicator that notes each all-reduce and whether backward was still running."""

    def __init__(self):
        super().__init__(distributed.FakeGroup(1), 0)
        self.calls = []

    def all_reduce(self, array, op="sum"):
        self.calls.append((array, tape._state.observer is not None))
        return super().all_reduce(array, op)


def test_every_bucket_is_reduced_once_in_order_and_during_backward():
    minifb.seed(0)
    model = Chain(widths=(5, 40, 30, 3))
    spy = Spy()
    try:
        reducer = distributed.GradientReducer(model.parameters(), spy, bucket_bytes=8 * 300)
        x = minifb.tensor(np.random.default_rng(0).standard_normal((4, 5)))
        for _ in range(2):  # the second step reuses the buffers
            model.zero_grad()
            spy.calls.clear()
            reducer.backward(model(x).sum())
            assert reducer.launches == list(range(len(reducer.buckets)))
            assert [a is b.flat for (a, _), b in zip(spy.calls, reducer.buckets)] == [True] * len(reducer.buckets)
            # Each bucket holds a parameter that backward reaches: each went out while backward ran.
            assert all(inside for _, inside in spy.calls)
    finally:
        spy.close()
    assert model.unused.grad is None  # not reached by backward: no gradient, as without distribution


def test_observer_sees_every_node_after_its_gradients_moved():
    x = minifb.tensor(np.ones(3), requires_grad=True)
    seen = []

    def observer(order):
        seen.append(("order", len(order)))
        return lambda node: seen.append((node.name, x.grad is not None))
    with tape.observe_backward(observer):
        ((x * 2).sum() * 3).backward()
    assert seen[0] == ("order", 3) and len(seen) == 4
    assert seen[-1][1]  # the last node done has put the gradient into the leaf
    assert tape._state.observer is None
    ((x * 2).sum()).backward()  # outside the block: nothing observed
    assert len(seen) == 4


def mean_loss(model, x, y):
    return cross_entropy(model(minifb.tensor(x)), y)


def test_two_ranks_step_like_one_rank_on_the_whole_batch():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)

    def fresh():
        minifb.seed(0)
        model = Chain()
        return model, optim.Adam(model.parameters(), lr=0.1)

    model, optimizer = fresh()
    for _ in range(2):
        optimizer.zero_grad()
        mean_loss(model, x, y).backward()
        optimizer.step()
    expected = [p.data.copy() for p in model.parameters()]

    replicas = [fresh() for _ in range(2)]  # here: minifb's generator is shared by the threads

    def rank_main(comm):
        model, optimizer = replicas[comm.rank]
        parallel = distributed.DataParallel(comm, bucket_bytes=8 * 40)
        reducer = parallel.reducer(model.parameters())
        assert len(reducer.buckets) > 2
        part = slice(4 * comm.rank, 4 * comm.rank + 4)
        grads = []
        for _ in range(2):
            optimizer.zero_grad()
            reducer.backward(mean_loss(model, x[part], y[part]))
            grads.append([None if p.grad is None else p.grad.copy() for p in model.parameters()])
            optimizer.step()
        distributed.check_identical(model, comm)
        return [p.data for p in model.parameters()], grads
    (params0, grads0), (params1, grads1) = distributed.run_ranks(2, rank_main)
    for a, b, e in zip(params0, params1, expected):
        np.testing.assert_array_equal(a, b)  # the same bits on both ranks
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-13)
    model, _ = fresh()
    mean_loss(model, x, y).backward()
    for g, p in zip(grads0[0], model.parameters()):
        if p.grad is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, p.grad, rtol=1e-12, atol=1e-14)


def test_check_identical_names_the_parameter_that_differs():
    def rank_main(comm):
        model = Chain()  # the ranks' draws interleave: different weights
        distributed.broadcast_model(model, comm)  # equal after it
        distributed.check_identical(model, comm)
        if comm.rank == 1:
            model.layer1.bias.data[0] += 1e-9
        distributed.check_identical(model, comm, "after epoch 3")
    with pytest.raises(RuntimeError, match=r"differ between ranks after epoch 3: layer1\.bias"):
        distributed.run_ranks(2, rank_main)


def test_broadcast_makes_the_ranks_start_from_rank_0():
    chains = []
    for seed in (0, 1):  # different weights on each rank (drawn here: minifb's generator is shared)
        minifb.seed(seed)
        chains.append(Chain())

    def rank_main(comm):
        model = chains[comm.rank]
        distributed.broadcast_model(model, comm)
        return model.state_dict()
    first, second = distributed.run_ranks(2, rank_main)
    minifb.seed(0)
    for name, value in Chain().state_dict().items():
        np.testing.assert_array_equal(first[name], value)
        np.testing.assert_array_equal(second[name], value)


# ---- the training loop -----------------------------------------------------------------------------

def test_one_rank_trains_exactly_like_the_single_device_loop(tmp_path):
    data = tiny_task(tmp_path, "cpu", limit_train=48, limit_test=16)
    config = settings(epochs=2, batch_size=16)

    def run(folder, parallel):
        folder.mkdir()
        minifb.seed(0)
        model = models.create("cnn", **SMALL)  # with dropout: its masks are drawn the same way
        train.fit(model, train.build_optimizer(model, config), data, config, folder, progress=False,
                  parallel=parallel)
        return read_metrics(folder)
    plain = run(tmp_path / "plain", None)
    one_rank = distributed.run_ranks(1, lambda comm: run(tmp_path / "one", distributed.DataParallel(comm)))[0]
    assert one_rank == plain


def test_two_ranks_train_and_only_rank_0_writes(tmp_path):
    data = tiny_task(tmp_path, "cpu", limit_train=32, limit_test=16)
    config = settings(epochs=2, batch_size=16)
    folders = [tmp_path / "rank0", tmp_path / "rank1"]

    minifb.seed(0)
    replicas = [models.create("feedback-cnn", **SMALL) for _ in range(2)]  # different: rank 0's wins

    def rank_main(comm):
        folders[comm.rank].mkdir()
        model = replicas[comm.rank]
        final = train.fit(model, train.build_optimizer(model, config), data, config, folders[comm.rank],
                          progress=False, parallel=distributed.DataParallel(comm))
        return final, model.state_dict()
    (final0, state0), (final1, state1) = distributed.run_ranks(2, rank_main)
    assert sorted(p.name for p in folders[0].iterdir()) == ["checkpoint.npz", "final.json", "metrics.jsonl"]
    assert list(folders[1].iterdir()) == []
    metrics = read_metrics(folders[0])
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert final0["test_accuracy"] == final1["test_accuracy"]
    for name in state0:
        np.testing.assert_array_equal(state0[name], state1[name])
    assert np.isfinite(metrics[-1]["train_loss"])


# ---- process group, rendezvous, launcher, command line ------------------------------------------------

def test_process_group_from_the_launchers_variables():
    assert distributed.from_environment({}) == distributed.ProcessGroup(0, 1, 0)
    assert distributed.from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == \
        distributed.ProcessGroup(3, 4, 1)
    slurm = {"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "1"}
    assert distributed.from_environment(slurm) == distributed.ProcessGroup(1, 2, 1)
    with pytest.raises(ValueError, match="WORLD_SIZE is missing"):
        distributed.from_environment({"RANK": "0"})
    with pytest.raises(ValueError, match="RANK must be an integer"):
        distributed.from_environment({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="0 <= rank < world_size"):
        distributed.from_environment({"RANK": "2", "WORLD_SIZE": "2"})
    assert distributed.rendezvous_address({"MASTER_ADDR": "node1", "MASTER_PORT": "29500"}) == "tcp://node1:29501"
    with pytest.raises(ValueError, match="MINIFB_RENDEZVOUS"):
        distributed.rendezvous_address({})


def test_unique_id_round_trips_through_bytes():
    unique_id = tuple(range(-128, 0)) * 1
    assert len(unique_id) == 128 and rendezvous.decode(rendezvous.encode(unique_id)) == unique_id
    with pytest.raises(ValueError, match="128"):
        rendezvous.encode((1, 2, 3))


@pytest.mark.parametrize("scheme", ["tcp", "file"])
def test_ranks_receive_rank_0s_unique_id(tmp_path, scheme):
    address = f"tcp://127.0.0.1:{launch.free_port()}" if scheme == "tcp" else f"file://{tmp_path / 'id'}"
    drawn = tuple((np.arange(128) * 7 % 256 - 128).tolist())
    received = [None] * 3

    def rank_main(rank):
        group = distributed.ProcessGroup(rank, 3, rank)
        received[rank] = rendezvous.share_unique_id(group, address, lambda: drawn, timeout=20)
    threads = [threading.Thread(target=rank_main, args=(r,)) for r in (2, 1, 0)]  # rank 0 last
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert received == [drawn] * 3
    if scheme == "file":  # a second run on the same file would hand out the old id: refused
        with pytest.raises(RuntimeError, match="already exists"):
            rendezvous.share_unique_id(distributed.ProcessGroup(0, 2), address, lambda: drawn)


def test_launcher_arguments():
    assert launch.parse(["--gpus", "2", "cifar10", "--model", "cnn"]) == \
        (2, ["train", "cifar10", "--model", "cnn", "--gpus", "2"])
    assert launch.parse(["--gpus", "1", "--", "train", "cifar10"])[1] == ["train", "cifar10", "--gpus", "1"]
    for argv in (["--gpus", "2"], ["--gpus", "0", "cifar10"], ["--gpus", "2", "cifar10", "--gpus", "2"],
                 ["cifar10"]):
        with pytest.raises(SystemExit):
            launch.parse(argv)
    environments = launch.rank_environments(2, {"CUDA_VISIBLE_DEVICES": "4,6,7", "SLURM_PROCID": "0"}, port=1234)
    assert [(e["RANK"], e["WORLD_SIZE"], e["LOCAL_RANK"], e["CUDA_VISIBLE_DEVICES"]) for e in environments] == \
        [("0", "2", "0", "4"), ("1", "2", "1", "6")]
    assert all(e["MINIFB_RENDEZVOUS"] == "tcp://127.0.0.1:1234" and "SLURM_PROCID" not in e for e in environments)
    assert [e["CUDA_VISIBLE_DEVICES"] for e in launch.rank_environments(2, {})] == ["0", "1"]
    with pytest.raises(ValueError, match="names 1"):
        launch.rank_environments(2, {"CUDA_VISIBLE_DEVICES": "3"})


def test_launcher_runs_every_rank_and_stops_them_when_one_fails():
    ok = [sys.executable, "-c", "import os, sys; sys.exit(0 if os.environ['WORLD_SIZE'] == '2' else 5)"]
    assert launch.launch(2, ok) == 0
    # Rank 1 fails at once; rank 0 would sleep for a minute unless it is stopped.
    failing = [sys.executable, "-c", "import os, sys, time; rank = os.environ['RANK']; "
               "sys.exit(3) if rank == '1' else time.sleep(60)"]
    start = time.monotonic()
    assert launch.launch(2, failing) == 3
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("extra, message", [
    (["--gpus", "2"], "needs --device cuda"),
    (["--gpus", "0"], "at least 1"),
    (["--gpus", "3", "--device", "cuda", "--batch-size", "16"], "multiple of --gpus 3"),
    (["--gpus", "2", "--device", "cuda", "--cuda-graph"], "do not go together"),
])
def test_train_rejects_bad_gpu_settings(extra, message):
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["cifar10", "--model", "cnn", *extra])
    with pytest.raises(ValueError, match=message):
        train.check_arguments(args, train.run_config(args))


def test_the_number_of_gpus_is_stored_with_the_run_only_when_above_one():
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert "gpus" not in train.run_config(parser.parse_args(["cifar10", "--model", "cnn"]))
    assert train.run_config(parser.parse_args(["cifar10", "--model", "cnn", "--gpus", "2"]))["gpus"] == 2
