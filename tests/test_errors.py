"""Bad input raises at once, with a message that names the op, the shapes/dtypes/devices and what was expected.

Every case is also checked to leave the tape as it was (the error comes before any state changes).
"""
import numpy as np
import pytest

import minifb as mf


def t(shape, device, dtype=np.float64, requires_grad=True):
    return mf.tensor(np.ones(shape, dtype), requires_grad=requires_grad, device=device)


CASES = {
    "matmul inner sizes": (lambda d: mf.matmul(t((2, 3), d), t((4, 5), d)),
                           ValueError, r"matmul: shapes \(2, 3\) and \(4, 5\) do not match \(3 columns against 4 rows\)"),
    "matmul vector sizes": (lambda d: t((3,), d) @ t((4,), d),
                            ValueError, r"matmul: shapes \(3,\) and \(4,\) do not match"),
    "matmul batch axes": (lambda d: mf.matmul(t((2, 2, 3), d), t((3, 3, 1), d)),
                          ValueError, r"matmul \(batch axes\): shapes \(2,\) and \(3,\) cannot be broadcast"),
    "matmul 0-d": (lambda d: mf.matmul(t((), d), t((3,), d)),
                   ValueError, r"matmul: operands must have at least 1 dimension, got shapes \(\) and \(3,\)"),
    "add broadcast": (lambda d: t((2, 3), d) + t((4,), d),
                      ValueError, r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast together"),
    "mul broadcast": (lambda d: t((2, 3), d) * t((2,), d),
                      ValueError, r"mul: shapes \(2, 3\) and \(2,\) cannot be broadcast together"),
    "where broadcast": (lambda d: mf.where(np.ones(5, bool), t((2, 3), d), 0.0),
                        ValueError, r"where: shapes \(5,\) and \(2, 3\) and \(\) cannot be broadcast"),
    "where condition": (lambda d: mf.where(np.ones(3), t((3,), d), 0.0),
                        TypeError, r"where: condition must be boolean, got float64"),
    "sum axis": (lambda d: t((2, 3), d).sum(axis=2),
                 ValueError, r"sum: axis 2 is out of range for a tensor of shape \(2, 3\)"),
    "mean repeated axis": (lambda d: t((2, 3), d).mean(axis=(0, -2)),
                           ValueError, r"mean: repeated axis in \(0, -2\) for a tensor of shape \(2, 3\)"),
    "softmax axis": (lambda d: mf.softmax(t((2, 3), d), axis=-3),
                     ValueError, r"softmax: axis -3 is out of range for a tensor of shape \(2, 3\)"),
    "max of empty": (lambda d: t((0, 3), d).max(), ValueError, r"max: the tensor of shape \(0, 3\) is empty"),
    "var ddof": (lambda d: mf.var(t((1, 3), d), axis=0, ddof=1),
                 ValueError, r"var: 1 element\(s\) along axis 0 with ddof=1"),
    "reshape": (lambda d: t((2, 3), d).reshape(4, 2),
                ValueError, r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into \(4, 2\)"),
    "expand": (lambda d: t((2, 3), d).expand(4, 3),
               ValueError, r"expand: a tensor of shape \(2, 3\) cannot be broadcast to \(4, 3\)"),
    "transpose": (lambda d: t((2, 3), d).transpose(0, 0),
                  ValueError, r"transpose: axes \(0, 0\) are not a permutation of the 2 axes of shape \(2, 3\)"),
    "transpose axis": (lambda d: t((2, 3), d).transpose(0, 2),
                        ValueError, r"transpose: axis 2 is out of range for a tensor of shape \(2, 3\)"),
    "unsqueeze axis": (lambda d: t((2, 3), d).unsqueeze(4),
                       ValueError, r"unsqueeze: axis 4 is out of range for a tensor with 3 dimension\(s\)"),
    "squeeze": (lambda d: t((2, 1), d).squeeze(0), ValueError, r"squeeze: axis 0 of shape \(2, 1\) has length 2, not 1"),
    "concatenate": (lambda d: mf.concatenate([t((2, 3), d), t((2, 4), d)], axis=0),
                    ValueError, r"concatenate: shapes \[\(2, 3\), \(2, 4\)\] differ outside axis 0"),
    "stack": (lambda d: mf.stack([t((2, 3), d), t((3, 2), d)]),
              ValueError, r"stack: needs one or more tensors of one shape, got \[\(2, 3\), \(3, 2\)\]"),
    "split": (lambda d: mf.split(t((5, 2), d), 2), ValueError, r"split: axis 0 of length 5 cannot be split into 2"),
    "pad": (lambda d: mf.pad(t((2,), d), (-1, 0)), ValueError, r"pad: negative pad widths"),
    "getitem": (lambda d: t((2, 3), d)[5], IndexError, r"getitem: index 5 does not fit a tensor of shape \(2, 3\)"),
    "clip": (lambda d: mf.clip(t((2,), d)), ValueError, r"clip: give low, high or both"),
    "gelu": (lambda d: mf.gelu(t((2,), d), approximate="fast"),
             ValueError, r"gelu: approximate must be 'none' or 'tanh', got 'fast'"),
    "maximum of complex": (lambda d: mf.maximum(t((2,), d, np.complex128), t((2,), d)),
                           TypeError, r"maximum: complex numbers are not ordered \(got complex128 and float64\)"),
    "complex of complex": (lambda d: mf.complex(t((2,), d, np.complex128), t((2,), d)),
                           TypeError, r"complex: re and im must be real, got complex128 and float64"),
    "cross_entropy float labels": (lambda d: mf.cross_entropy(t((4, 3), d), np.zeros(4)), TypeError,
                                   r"cross_entropy: labels must be integers .*float64 labels of shape \(4,\) "
                                   r"for logits of shape \(4, 3\)"),
    "cross_entropy labels out of range": (lambda d: mf.cross_entropy(t((2, 3), d), np.array([0, 3])), ValueError,
                                          r"cross_entropy: labels must be in \[0, 3\) for logits of shape \(2, 3\), "
                                          r"got values from 0 to 3"),
    "cross_entropy negative labels": (lambda d: mf.cross_entropy(t((2, 3), d), np.array([-1, 0])), ValueError,
                                      r"labels must be in \[0, 3\).*got values from -1 to 0"),
    "cross_entropy label shape": (lambda d: mf.cross_entropy(t((2, 3), d), np.array([0, 1, 2])), ValueError,
                                  r"cross_entropy: labels of shape \(3,\) do not match logits of shape \(2, 3\)"),
    "cross_entropy logits rank": (lambda d: mf.cross_entropy(t((2, 3, 4), d), np.array([0, 1])), ValueError,
                                  r"cross_entropy: logits must be \(N, C\), got shape \(2, 3, 4\)"),
    "cross_entropy reduction": (lambda d: mf.cross_entropy(t((2, 3), d), np.array([0, 1]), reduction="avg"),
                                ValueError, r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    "cross_entropy smoothing": (lambda d: mf.cross_entropy(t((2, 3), d), np.array([0, 1]), label_smoothing=1.0),
                                ValueError, r"cross_entropy: label_smoothing must be in \[0, 1\), got 1.0"),
    "requires_grad on integers": (lambda d: mf.tensor(np.arange(3), requires_grad=True, device=d), TypeError,
                                  r"Tensor: requires_grad needs a floating or complex dtype, got int64 \(shape \(3,\)\)"),
    "requires_grad_ on integers": (lambda d: mf.tensor(np.arange(3), device=d).requires_grad_(), TypeError,
                                   r"requires_grad_: needs a floating or complex dtype, got int64 \(shape \(3,\)\)"),
    "backward of a non-scalar": (lambda d: (t((2,), d) * 2).backward(), RuntimeError,
                                 r"backward: a tensor of shape \(2,\) is not a scalar"),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_named(name, device):
    call, error, message = CASES[name]
    before = mf.tape_length()
    with pytest.raises(error, match=message):
        call(device)
    assert mf.tape_length() == before


def test_backward_twice_names_the_op(device):
    x = t((3,), device)
    loss = (x * x).mean()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"already freed by an earlier backward\(\) \(through op 'mean'\).*"
                                           r"retain_graph=True"):
        loss.backward()


def test_unknown_device():
    with pytest.raises(ValueError, match=r"unknown device 'gpu': expected one of \('cpu', 'cuda'\)"):
        mf.tensor([1.0], device="gpu")


@pytest.mark.gpu
def test_mixed_devices_name_the_op_and_devices(device):
    if device == "cpu":
        pytest.skip("needs a GPU: mixing devices means one tensor on 'cuda'")
    a = t((2, 3), "cpu")
    b = t((2, 3), "cuda")
    with pytest.raises(ValueError, match=r"add: inputs are on different devices \(\(2, 3\) on cpu, \(2, 3\) on cuda\)"):
        a + b
    with pytest.raises(ValueError, match=r"matmul: inputs are on different devices \(\(2, 3\) on cuda, \(3,\) on cpu\)"):
        b @ t((3,), "cpu")
    with pytest.raises(ValueError, match=r"concatenate: inputs are on different devices"):
        mf.concatenate([a, b])
