"""Anomaly mode names the first op whose forward or backward made a NaN or an infinity; off, it costs nothing."""
import numpy as np
import pytest

import minifb as mf
from minifb.autograd import anomaly

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy warns about the NaNs made on purpose


def test_off_by_default_and_nan_flows_silently(device):
    assert not mf.is_anomaly_enabled()
    x = mf.tensor(np.array([0.0, 1.0]), requires_grad=True, device=device)
    y = mf.log(x).sum()
    y.backward()
    assert not np.isfinite(mf.asnumpy(y.data))


def test_forward_names_the_op_and_shapes(device):
    x = mf.tensor(np.array([[1.0, 0.0, 2.0]]), requires_grad=True, device=device)
    with mf.detect_anomaly():
        h = x * 2  # finite: passes
        with pytest.raises(mf.AnomalyError, match=r"the forward of 'log' produced non-finite values .* output of "
                                                  r"shape \(1, 3\) float64; inputs 0: shape \(1, 3\) float64$"):
            mf.log(h)
    assert not mf.is_anomaly_enabled()


def test_forward_checks_ops_without_gradients_too(device):
    with mf.detect_anomaly(), pytest.raises(mf.AnomalyError, match=r"forward of 'div'"):
        mf.tensor(np.ones(2), device=device) / 0.0


def test_a_nan_input_is_caught_at_the_first_layer_and_said_to_come_from_the_input(device):
    image = np.ones((1, 3, 4, 4), np.float32)
    image[0, 1, 2, 2] = np.nan
    w = mf.tensor(np.ones((2, 3, 3, 3), np.float32), requires_grad=True, device=device)
    with mf.detect_anomaly(), pytest.raises(mf.AnomalyError) as info:
        mf.relu(mf.conv2d(mf.tensor(image, device=device), w, padding=1)).sum()
    message = str(info.value)
    assert "forward of 'conv2d'" in message and "output of shape (1, 2, 4, 4) float32" in message
    assert "0: shape (1, 3, 4, 4) float32, already non-finite; 1: shape (2, 3, 3, 3) float32" in message
    assert "1: shape (2, 3, 3, 3) float32, already" not in message


def test_backward_names_the_op_and_which_input(device):
    a = mf.tensor(np.array([1.0], np.float32), requires_grad=True, device=device)
    b = mf.tensor(np.array([1e-30], np.float32), requires_grad=True, device=device)
    with mf.detect_anomaly():
        loss = (a / b).sum()  # 1e30 fits in float32; d/db = -a/b^2 = -1e60 does not
        with pytest.raises(mf.AnomalyError, match=r"the backward \(VJP\) of 'div' produced a non-finite gradient "
                                                  r"\(NaN or inf\) for its input 1 of shape \(1,\) float32"):
            loss.backward()
    assert a.grad is None and b.grad is None  # nothing half-propagated is left behind


def test_backward_of_sqrt_at_zero(device):
    x = mf.tensor(np.array([0.0, 4.0]), requires_grad=True, device=device)
    mf.set_detect_anomaly(True)
    try:
        y = (mf.sqrt(x) * 3).sum()
        with pytest.raises(mf.AnomalyError, match=r"backward \(VJP\) of 'sqrt'.*input 0 of shape \(2,\) float64"):
            y.backward()
    finally:
        mf.set_detect_anomaly(False)


def test_a_non_finite_seed_is_named(device):
    x = mf.tensor(np.ones(2), requires_grad=True, device=device)
    with mf.detect_anomaly(), pytest.raises(mf.AnomalyError, match=r"backward started with a non-finite gradient "
                                                                  r"\(shape \(2,\) float64\) for the output of 'mul'"):
        (x * 2).backward(np.array([1.0, np.inf]))


def test_finite_runs_are_unchanged(device):
    x = mf.tensor(np.array([0.5, 2.0]), requires_grad=True, device=device)
    (mf.sqrt(x) * mf.tanh(x)).sum().backward()
    expected = x.grad.copy()
    x.zero_grad()
    with mf.detect_anomaly():
        (mf.sqrt(x) * mf.tanh(x)).sum().backward()
    np.testing.assert_array_equal(mf.asnumpy(x.grad), mf.asnumpy(expected))


def test_off_means_no_check_is_called(monkeypatch):
    def fail(*args):
        raise AssertionError("checked while anomaly mode is off")
    for name in ("check_forward", "check_backward", "check_seed"):
        monkeypatch.setattr(anomaly, name, fail)
    x = mf.tensor(np.array([0.0, 1.0]), requires_grad=True)
    mf.sqrt(mf.log(x)).sum().backward()  # non-finite everywhere, and nothing is checked


def test_set_detect_anomaly_takes_a_bool():
    with pytest.raises(TypeError, match=r"set_detect_anomaly: flag must be True or False, got 'yes'"):
        mf.set_detect_anomaly("yes")
    assert not mf.is_anomaly_enabled()
