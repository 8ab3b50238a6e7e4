"""Initialisers: the spread of large draws, bounds, dtypes, and identical weights for the same seed."""
import math

import numpy as np
import pytest

import minifb as mf
from minifb.layers import Linear, Sequential, init

SHAPE = (256, 128, 3, 3)  # fan_in = 1152, fan_out = 2304; 295k draws: the std is known to ~0.3%
FAN_IN, FAN_OUT = 128 * 9, 256 * 9


@pytest.mark.parametrize("draw, std, bound", [
    (lambda: init.kaiming_uniform(SHAPE, nonlinearity="relu"), math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    (lambda: init.kaiming_uniform(SHAPE, a=math.sqrt(5)), 1 / math.sqrt(3 * FAN_IN), 1 / math.sqrt(FAN_IN)),
    (lambda: init.kaiming_normal(SHAPE, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / FAN_OUT), None),
    (lambda: init.xavier_uniform(SHAPE, gain=2.0), 2 * math.sqrt(2 / (FAN_IN + FAN_OUT)), 2 * math.sqrt(6 / (FAN_IN + FAN_OUT))),
    (lambda: init.xavier_normal(SHAPE), math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    (lambda: init.normal(SHAPE, std=0.5, mean=1.0) - 1.0, 0.5, None),
], ids=["kaiming_uniform_relu", "kaiming_uniform_sqrt5", "kaiming_normal_fan_out", "xavier_uniform", "xavier_normal",
        "normal"])
def test_spread_of_large_draws(draw, std, bound):
    w = draw()
    assert w.shape == SHAPE and w.dtype == np.float32
    assert abs(w.mean()) < 0.05 * std  # the standard error of the mean is 0.002 std
    assert w.std() == pytest.approx(std, rel=0.01)
    if bound is not None:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.999 * bound


def test_trunc_normal_stays_within_bounds():
    w = init.trunc_normal((200_000,), std=1.0, a=-1.0, b=2.0, dtype=np.float64)
    assert w.dtype == np.float64 and w.min() >= -1.0 and w.max() <= 2.0
    # mean and std of N(0, 1) truncated to [-1, 2]: from the normal pdf phi and cdf Phi
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))
    mass = Phi(2) - Phi(-1)
    mean = (phi(-1) - phi(2)) / mass
    var = 1 + (-1 * phi(-1) - 2 * phi(2)) / mass - mean**2
    assert w.mean() == pytest.approx(mean, abs=0.01)
    assert w.std() == pytest.approx(math.sqrt(var), rel=0.01)
    vit = init.trunc_normal((10_000,), std=0.02)
    assert vit.std() == pytest.approx(0.02, rel=0.03)


def test_same_seed_same_weights_and_other_seed_other_weights(device):
    def build(s):
        mf.seed(s)
        return Sequential(Linear(6, 5), Linear(5, 2)).to(device).state_dict()

    a, b, c = build(3), build(3), build(4)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert not np.array_equal(a["0.weight"], c["0.weight"])
    mf.seed(3)
    cpu = Sequential(Linear(6, 5), Linear(5, 2)).state_dict()  # built on the CPU: the same numbers
    np.testing.assert_array_equal(cpu["1.weight"], a["1.weight"])


def test_fans_gain_and_errors():
    assert init.fans((8, 4)) == (4, 8) and init.fans((8, 4, 3, 3)) == (36, 72)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(5,\)"):
        init.kaiming_uniform((5,))
    with pytest.raises(ValueError, match="unknown nonlinearity 'swish'"):
        init.kaiming_normal((2, 2), nonlinearity="swish")
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_normal((2, 2), mode="fan_avg")
    with pytest.raises(ValueError, match="rejection sampling would not finish"):
        init.trunc_normal((3,), a=8.0, b=9.0)
