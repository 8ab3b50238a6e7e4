"""DataLoader: every example once per epoch, drop_last, reproducible shuffles, prefetching."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minifb.backend import asnumpy, device_of
from minifb.data import DataLoader


def dataset(n=23):
    return np.arange(n * 2).reshape(n, 2), np.arange(n)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_each_epoch_covers_the_data_once_in_a_new_order(device, prefetch):
    x, y = dataset()
    loader = DataLoader(x, y, batch_size=5, shuffle=True, seed=1, device=device, prefetch=prefetch)
    assert len(loader) == 5
    orders = []
    for _ in range(2):
        batches = list(loader)
        assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
        assert all(device_of(a) == device for b in batches for a in b)
        order = np.concatenate([asnumpy(b[1]) for b in batches])
        np.testing.assert_array_equal(np.sort(order), y)
        np.testing.assert_array_equal(np.concatenate([asnumpy(b[0]) for b in batches]), x[order])
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1])


@given(count=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(), shuffle=st.booleans(),
       seed=st.integers(0, 2**32))
def test_batches_partition_the_data(count, batch_size, drop_last, shuffle, seed):
    y = np.arange(count)
    loader = DataLoader(y, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    sizes = [len(b[0]) for b in loader]
    assert len(sizes) == len(loader)
    if drop_last and count < batch_size:
        assert sizes == []
        return
    assert sizes[:-1] == [batch_size] * (len(sizes) - 1) and 0 < sizes[-1] <= batch_size
    seen = np.concatenate([b[0] for b in loader])  # the next epoch, another order
    assert len(set(seen.tolist())) == len(seen) == (count // batch_size * batch_size if drop_last else count)


def test_drop_last_and_no_shuffle():
    x, y = dataset()
    loader = DataLoader(y, batch_size=5, drop_last=True)
    assert len(loader) == 4
    np.testing.assert_array_equal(np.concatenate([b[0] for b in loader]), y[:20])


def test_same_seed_same_batches_and_transforms():
    x, y = dataset()

    def jitter(batch, rng):
        features, labels = batch
        return features + rng.integers(0, 1000, size=features.shape), labels

    runs = []
    for prefetch in (0, 1):
        loader = DataLoader(x, y, batch_size=4, shuffle=True, seed=7, transform=jitter, prefetch=prefetch)
        runs.append([[a.copy() for a in b] for _ in range(2) for b in loader])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    loader = DataLoader(x, y, batch_size=4, shuffle=True, seed=7)
    loader.set_epoch(1)
    np.testing.assert_array_equal(next(iter(loader))[1], runs[0][6][1])  # epoch 1 starts at batch 6


def test_errors_in_the_background_reach_the_loop_and_early_exit_stops_it():
    x, y = dataset()

    calls = []

    def fail_on_third(batch, rng):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("transform failed")
        return batch

    loader = DataLoader(x, y, batch_size=4, transform=fail_on_third, prefetch=1)
    with pytest.raises(RuntimeError, match="transform failed"):
        list(loader)
    for first in DataLoader(x, y, batch_size=4, prefetch=2):
        break
    np.testing.assert_array_equal(first[1], [0, 1, 2, 3])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"same length.*\(3,\), \(4,\)"):
        DataLoader(np.zeros(3), np.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size >= 1"):
        DataLoader(np.zeros(3), batch_size=0)
