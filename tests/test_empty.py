"""Empty tensors: the ops return the empty (or identity-valued) results that NumPy and PyTorch
give, with gradients of the inputs' (empty) shapes; a max or min over an empty axis is a clear error."""
import numpy as np
import pytest

import minifb as mf

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's mean of nothing


def empty(*shape):
    return mf.tensor(np.zeros(shape), requires_grad=True)


def backward_shapes(out, *inputs):
    """Backward from sum(out); the gradients' shapes (zeros where nothing reached an input)."""
    mf.sum(out).backward()
    return [None if t.grad is None else t.grad.shape for t in inputs]


CASES = {  # name: (inputs, op, expected output shape)
    "flatten of a 0-length axis": ((empty(0, 3, 4),), lambda x: mf.flatten(x, 1), (0, 12)),
    "flatten all": ((empty(2, 0, 4),), lambda x: mf.flatten(x), (0,)),
    "softmax over an empty axis": ((empty(2, 0),), lambda x: mf.softmax(x, axis=1), (2, 0)),
    "softmax of no rows": ((empty(0, 3),), lambda x: mf.softmax(x), (0, 3)),
    "log_softmax over an empty axis": ((empty(2, 0),), lambda x: mf.log_softmax(x), (2, 0)),
    "logsumexp of no rows": ((empty(0, 3),), lambda x: mf.logsumexp(x, axis=1), (0,)),
    "min over a full axis of an empty tensor": ((empty(0, 3),), lambda x: mf.min(x, axis=1), (0,)),
    "max keepdims": ((empty(0, 3),), lambda x: mf.max(x, axis=1, keepdims=True), (0, 1)),
    "linear with 0 input features": ((empty(2, 0), empty(3, 0), empty(3)), mf.linear, (2, 3)),
    "linear with 0 output features": ((empty(2, 4), empty(0, 4)), mf.linear, (2, 0)),
    "linear of no rows": ((empty(0, 5, 4), empty(3, 4)), mf.linear, (0, 5, 3)),
    "conv2d with 0 input channels": ((empty(1, 0, 5, 5), empty(2, 0, 3, 3), empty(2)), mf.conv2d, (1, 2, 3, 3)),
    "conv2d with 0 output channels": ((empty(1, 2, 5, 5), empty(0, 2, 3, 3)), mf.conv2d, (1, 0, 3, 3)),
    "conv2d of no images": ((empty(0, 2, 5, 5), empty(3, 2, 3, 3), empty(3)), mf.conv2d, (0, 3, 3, 3)),
    "max_pool2d of no images": ((empty(0, 2, 4, 4),), lambda x: mf.max_pool2d(x, 2), (0, 2, 2, 2)),
    "max_pool2d of no channels": ((empty(1, 0, 4, 4),), lambda x: mf.max_pool2d(x, 2), (1, 0, 2, 2)),
    "avg_pool2d of no images": ((empty(0, 2, 4, 4),), lambda x: mf.avg_pool2d(x, 2), (0, 2, 2, 2)),
    "adaptive_avg_pool2d of no images": ((empty(0, 2, 4, 4),), lambda x: mf.adaptive_avg_pool2d(x, 1), (0, 2, 1, 1)),
    "batch_norm (eval) of no rows": ((empty(0, 3),), lambda x: mf.batch_norm(
        x, training=False, running_mean=np.zeros(3), running_var=np.ones(3)), (0, 3)),
    "layer_norm of no rows": ((empty(0, 3),), mf.layer_norm, (0, 3)),
}


@pytest.mark.parametrize("name", CASES)
def test_empty_inputs_give_empty_results_and_gradients(name):
    inputs, op, shape = CASES[name]
    out = op(*inputs)
    assert out.shape == shape
    grads = backward_shapes(out, *inputs)
    assert grads == [t.shape for t in inputs]


def test_values_follow_numpy_and_pytorch():
    assert np.all(mf.logsumexp(empty(2, 0), axis=1).numpy() == -np.inf)  # log of an empty sum
    x, w, b = empty(1, 0, 5, 5), empty(2, 0, 3, 3), mf.tensor(np.array([1.5, -2.0]), requires_grad=True)
    out = mf.conv2d(x, w, b)  # a sum over no channels: the bias alone
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(np.array([1.5, -2.0])[:, None, None], (1, 2, 3, 3)))
    mf.sum(out * 2.0).backward()
    np.testing.assert_array_equal(b.grad, [18.0, 18.0])
    y = mf.linear(empty(2, 0), empty(3, 0), mf.tensor(np.array([1.0, 2.0, 3.0])))
    np.testing.assert_array_equal(y.numpy(), [[1.0, 2.0, 3.0]] * 2)
    assert mf.sum(empty(0, 3)).item() == 0.0 and np.isnan(mf.mean(empty(0, 3)).item())


def test_max_and_min_over_an_empty_axis_are_named_errors():
    with pytest.raises(ValueError, match=r"max: the tensor of shape \(2, 0\) is empty along the reduced axes \(1,\)"):
        mf.max(empty(2, 0), axis=1)
    with pytest.raises(ValueError, match=r"min: the tensor of shape \(0, 3\) is empty"):
        mf.min(empty(0, 3))
