"""A fuzz of the public functions with bad arguments: each is refused with an error that names the
function (or class) and the offending value, before anything changes.

Every public function has one valid call below. Each argument of it is then replaced, one at a
time, by values of the wrong kind (None, strings, ragged lists, NaN, fractions, negative or zero
sizes, complex numbers where values are ordered), and the call must raise TypeError, ValueError or
IndexError whose message starts with the function's name, leaving the tape as it was.
"""
import inspect
import math

import numpy as np
import pytest

import minifb as mf
from minifb import data, layers, optim
from minifb.autograd import tape

RNG = np.random.default_rng(0)


def x(*shape, dtype=np.float64):
    return mf.tensor(RNG.random(shape).astype(dtype), requires_grad=True)


def z(*shape):
    return mf.tensor(RNG.random(shape) + 1j * RNG.random(shape), requires_grad=True)


# name: (positional arguments, keyword arguments) of one valid call of mf.<name>
OPS = {
    "abs": ((x(2, 4),), {}), "exp": ((x(2, 4),), {}), "log": ((x(2, 4),), {}), "sqrt": ((x(2, 4),), {}),
    "tanh": ((x(2, 4),), {}), "sigmoid": ((x(2, 4),), {}), "relu": ((x(2, 4),), {}),
    "gelu": ((x(2, 4),), {"approximate": "tanh"}), "neg": ((x(2, 4),), {}),
    "add": ((x(2, 4), x(2, 4)), {}), "sub": ((x(2, 4), x(2, 4)), {}), "mul": ((x(2, 4), x(2, 4)), {}),
    "div": ((x(2, 4), x(2, 4)), {}), "pow": ((x(2, 4), 2.0), {}), "matmul": ((x(2, 4), x(4, 3)), {}),
    "maximum": ((x(2, 4), x(2, 4)), {}), "minimum": ((x(2, 4), x(2, 4)), {}),
    "where": ((np.ones((2, 4), bool), x(2, 4), x(2, 4)), {}), "clip": ((x(2, 4),), {"low": 0.2, "high": 0.8}),
    "sum": ((x(2, 4),), {"axis": 1, "keepdims": True}), "mean": ((x(2, 4),), {"axis": 1, "keepdims": True}),
    "var": ((x(2, 4),), {"axis": 1, "keepdims": True, "ddof": 1}),
    "max": ((x(2, 4),), {"axis": 1, "keepdims": True}), "min": ((x(2, 4),), {"axis": 1, "keepdims": True}),
    "logsumexp": ((x(2, 4),), {"axis": 1, "keepdims": True}),
    "softmax": ((x(2, 4),), {"axis": 1}), "log_softmax": ((x(2, 4),), {"axis": 1}),
    "cross_entropy": ((x(2, 4), np.array([0, 3])), {"label_smoothing": 0.1, "reduction": "sum"}),
    "reshape": ((x(2, 4),), {"shape": (4, 2)}), "expand": ((x(1, 4),), {"shape": (3, 4)}),
    "transpose": ((x(2, 4),), {"axes": (1, 0)}), "permute": ((x(2, 4),), {"axes": (1, 0)}),
    "swapaxes": ((x(2, 4), 0, 1), {}), "squeeze": ((x(2, 1),), {"axis": 1}), "unsqueeze": ((x(2, 4), 1), {}),
    "flatten": ((x(2, 3, 4),), {"start": 1, "end": 2}), "getitem": ((x(2, 4), (0, slice(1, 3))), {}),
    "concatenate": (([x(2, 4), x(1, 4)],), {"axis": 0}), "stack": (([x(2, 4), x(2, 4)],), {"axis": 1}),
    "split": ((x(4, 2), [1, 3]), {"axis": 0}), "pad": ((x(2, 4), ((1, 0), (0, 2))), {"value": 1.0}),
    "astype": ((x(2, 4), np.float32), {}), "to_device": ((x(2, 4), "cpu"), {}),
    "complex": ((x(2, 4), x(2, 4)), {}), "real": ((z(2, 4),), {}), "imag": ((z(2, 4),), {}),
    "conj": ((z(2, 4),), {}), "angle": ((z(2, 4),), {}),
    "mod_relu": ((z(2, 4), x(4)), {"eps": 1e-3}), "mod_gelu": ((z(2, 4),), {"eps": 1e-3}),
    "dropout": ((x(2, 4),), {"p": 0.5, "training": True}),
    "batch_norm": ((x(3, 4), x(4), x(4), np.zeros(4), np.ones(4)), {"training": True, "momentum": 0.1, "eps": 1e-5}),
    "layer_norm": ((x(3, 4), x(4), x(4)), {"eps": 1e-5}),
    "conv2d": ((x(1, 2, 5, 5), x(3, 2, 3, 3), x(3)), {"stride": 1, "padding": 1}),
    "max_pool2d": ((x(1, 2, 4, 4), 2), {"stride": 2}), "avg_pool2d": ((x(1, 2, 4, 4), 2), {"stride": 2}),
    "adaptive_avg_pool2d": ((x(1, 2, 4, 4), 2), {}),
    "fft": ((x(2, 4),), {"n": 4, "axis": 1, "norm": "ortho"}), "ifft": ((z(2, 4),), {"n": 4, "axis": 1}),
    "rfft": ((x(2, 4),), {"n": 4, "axis": 1}), "irfft": ((z(2, 3),), {"n": 4, "axis": 1}),
    "fft2": ((x(2, 4),), {"s": (2, 4), "axes": (0, 1)}), "ifft2": ((z(2, 4),), {"axes": (0, 1)}),
    "rfft2": ((x(2, 4),), {"axes": (0, 1)}), "irfft2": ((z(2, 3),), {"s": (2, 4), "axes": (0, 1)}),
    "fftshift": ((x(2, 4),), {"axes": (1,)}), "ifftshift": ((x(2, 4),), {"axes": (1,)}),
    "haar_dwt": ((x(2, 4),), {"axis": 1}), "haar_idwt": ((x(2, 2), x(2, 2)), {"axis": 1, "length": 4}),
    "haar_dwt2": ((x(4, 4),), {"axes": (0, 1)}),
    "haar_idwt2": ((x(2, 2), x(2, 2), x(2, 2), x(2, 2)), {"axes": (0, 1), "shape": (4, 4)}),
    "linear": ((x(2, 4), x(3, 4), x(3)), {}), "self_attention": ((x(2, 3, 12), 2), {"p": 0.1, "training": True}),
    "gate_heads": ((x(2, 2), x(2, 3, 4), x(2, 3, 4)), {}),
    "frame_tokens": ((x(2, 5, 3), 4, 3), {}), "overlap_add_tokens": ((x(2, 3, 4, 3), 5), {}),
    "arccos": ((x(2, 4),), {}),
    "arccosh": ((x(2, 4),), {}),
    "arcsin": ((x(2, 4),), {}),
    "arcsinh": ((x(2, 4),), {}),
    "arctan": ((x(2, 4),), {}),
    "arctanh": ((x(2, 4),), {}),
    "ceil": ((x(2, 4),), {}),
    "cos": ((x(2, 4),), {}),
    "cosh": ((x(2, 4),), {}),
    "expm1": ((x(2, 4),), {}),
    "floor": ((x(2, 4),), {}),
    "log10": ((x(2, 4),), {}),
    "log1p": ((x(2, 4),), {}),
    "log2": ((x(2, 4),), {}),
    "reciprocal": ((x(2, 4),), {}),
    "sign": ((x(2, 4),), {}),
    "sin": ((x(2, 4),), {}),
    "sinh": ((x(2, 4),), {}),
    "square": ((x(2, 4),), {}),
    "tan": ((x(2, 4),), {}),
    "ravel": ((x(2, 4),), {}),
    "arctan2": ((x(2, 4), x(2, 4)), {}), "logaddexp": ((x(2, 4), x(2, 4)), {}),
    "remainder": ((x(2, 4), 0.3), {}), "outer": ((x(3), x(4)), {}), "tensordot": ((x(2, 4), x(4, 3)), {"axes": 1}),
    "einsum": (("ij,jk->ik", x(2, 4), x(4, 3)), {}),
    "cumsum": ((x(2, 4),), {"axis": 1}), "cumprod": ((x(2, 4),), {"axis": 1}), "diff": ((x(2, 4),), {"n": 1, "axis": 1}),
    "prod": ((x(2, 4),), {"axis": 1, "keepdims": True}), "std": ((x(2, 4),), {"axis": 1, "keepdims": True, "ddof": 1}),
    "flip": ((x(2, 4),), {"axis": 1}), "roll": ((x(2, 4), 1), {"axis": 1}), "repeat": ((x(2, 4), 2), {"axis": 1}),
    "tile": ((x(2, 4), (2, 1)), {}), "moveaxis": ((x(2, 3, 4), 0, 2), {}), "round": ((x(2, 4),), {"decimals": 1}),
    "diagonal": ((x(3, 3),), {"offset": 1, "axis1": 0, "axis2": 1}),
    "trace": ((x(3, 3),), {"offset": 0, "axis1": 0, "axis2": 1}),
    "tril": ((x(3, 3),), {"k": 0}), "triu": ((x(3, 3),), {"k": 1}),
    "fftn": ((x(2, 4),), {"s": (2, 4), "axes": (0, 1)}), "ifftn": ((z(2, 4),), {"axes": (0, 1)}),
    "rfftn": ((x(2, 4),), {"axes": (0, 1)}), "irfftn": ((z(2, 3),), {"s": (2, 4), "axes": (0, 1)}),
    "haar_wavedec": ((x(2, 8), 2), {"axis": 1}), "haar_wavedec2": ((x(8, 8), 2), {"axes": (0, 1)}),
    "haar_waverec": (([x(2, 2), x(2, 2), x(2, 4)],), {"axis": 1, "length": 8}),
    "haar_waverec2": (([x(2, 2), (x(2, 2), x(2, 2), x(2, 2))],), {"axes": (0, 1), "shape": (4, 4)}),
}
ALIASES = {"permute": "transpose", "to_device": "to"}  # the names their tape nodes carry
NOT_OPS = {"tensor", "from_dlpack", "no_grad", "enable_grad", "is_grad_enabled", "tape_length", "gradcheck", "detect_anomaly",
           "is_anomaly_enabled", "set_detect_anomaly"}

# Bad values by argument name; the arguments that hold tensors get the NOT_A_TENSOR values.
NOT_A_TENSOR = [None, "abc", [[1.0], [1.0, 2.0]], {"a": 1}]
BAD = {
    "axis": [1.0, "a", 7], "axes": [1.0, "a", 0.5], "keepdims": ["yes", None], "training": ["yes", None],
    "ddof": [0.5, "a"], "p": [math.nan, -0.1, 1.5, "a"], "eps": [math.nan, "a", -1.0], "momentum": [math.nan, 2.0, "a"],
    "label_smoothing": [math.nan, "a", -0.5], "reduction": ["avg", None], "approximate": ["fast", None],
    "shape": [1.5, "ab", None], "start": [1.0, "a"], "end": [1.0, "a"], "n": [0, 2.5, "a"], "s": [(0, 4), 2.5],
    "norm": ["unit", None], "length": [2.5, 99], "levels": [0, 1.5, "a"], "stride": [0, 1.5, "a"],
    "padding": [-1, 1.5, "a"], "kernel": [0, 2.5, "a"], "output_size": [0, 2.5], "value": ["a", None],
    "low": ["a", 1j], "high": ["a", 1j], "sections": [2.5, "a", [3, 1]], "pad_width": [1.5, "a", -1],
    "dtype": [str, object, "nonsense"], "offset": [1.5, "a"], "axis1": [1.5, "a"], "axis2": [1.5, "a"],
    "k": [1.5, "a"], "decimals": [1.5, "a"], "repeats": [1.5, "a", -1], "shift": [1.5, "a"], "reps": [1.5, "a", -1],
    "source": [1.5, "a", 9], "destination": [1.5, "a", 9], "subscripts": [None, 3, "ij,jk->ikq"], "heads": [0, 1.5, "a"], "window": [3, 2.5, "a"], "frames": [-1, 1.5, "a"],
    "weight": [None, "abc"], "qkv": NOT_A_TENSOR, "alpha": NOT_A_TENSOR, "global_out": NOT_A_TENSOR,
    "local_out": NOT_A_TENSOR, "pieces": NOT_A_TENSOR, "device": ["gpu", None], "index": [99, 2.5],
}
OP_BAD = {("diff", "n"): [-1, 2.5, "a"]}  # diff with n = 0 is x itself, as in NumPy
TENSOR_ARGUMENTS = {"x", "y", "a", "b", "operands", "z", "re", "im", "logits", "approx", "detail", "ll", "lh", "hl", "hh", "w"}


def test_every_op_has_a_valid_call():
    ops = {n for n, v in vars(mf.autograd).items() if inspect.isfunction(v) and not n.startswith("_")} - NOT_OPS
    missing = sorted(ops - set(OPS))
    assert not missing, f"ops without a valid call in OPS: {missing}"
    for name, (args, kwargs) in OPS.items():
        getattr(mf, name)(*args, **kwargs)  # the valid call works


def bad_calls():
    """(id, function name, args, kwargs) for every argument of every valid call, one bad value at a time."""
    for name, (args, kwargs) in OPS.items():
        parameters = list(inspect.signature(getattr(mf, name)).parameters)
        for i, value in enumerate(args):
            label = parameters[min(i, len(parameters) - 1)]  # einsum's *operands: one name for them all
            values = NOT_A_TENSOR if label in TENSOR_ARGUMENTS else OP_BAD.get((name, label), BAD.get(label, []))
            if label in DEFAULTS[name] and DEFAULTS[name][label] is None:
                values = [v for v in values if v is not None]  # None is this argument's default
            for j, bad in enumerate(values):
                yield f"{name}-{label}-{j}", name, args[:i] + (bad,) + args[i + 1:], kwargs
        for label in kwargs:
            for j, bad in enumerate(OP_BAD.get((name, label), BAD.get(label, []))):
                if bad is not None or DEFAULTS[name].get(label, inspect.Parameter.empty) is not None:
                    yield f"{name}-{label}-{j}", name, args, {**kwargs, label: bad}


DEFAULTS = {name: {p.name: (None if p.default is None else p.default)
                   for p in inspect.signature(getattr(mf, name)).parameters.values()
                   if p.default is not inspect.Parameter.empty} for name in OPS}
CALLS = {case[0]: case[1:] for case in bad_calls()}


def assert_named(error, name):
    message = str(error)
    assert message.startswith(f"{ALIASES.get(name, name)}:") or message.startswith(f"{name}:"), message
    return message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", CALLS)
def test_a_bad_argument_is_refused_naming_the_op(case):
    name, args, kwargs = CALLS[case]
    before = mf.tape_length()
    with pytest.raises((TypeError, ValueError, IndexError)) as info:
        getattr(mf, name)(*args, **kwargs)
    assert_named(info.value, name)
    assert mf.tape_length() == before


ORDERED = {"relu": (), "gelu": (), "sigmoid": (), "softmax": (), "log_softmax": (), "logsumexp": (),
           "max": (), "min": (), "clip": (0.0, 1.0), "maximum": (1.0,), "minimum": (1.0,), "batch_norm": (),
           "layer_norm": (), "max_pool2d": (2,), "cross_entropy": (np.array([0]),)}


@pytest.mark.parametrize("name", ORDERED)
def test_ops_that_order_values_refuse_complex_tensors(name):
    value = z(1, 2, 2, 2) if name in ("max_pool2d", "batch_norm") else z(1, 2)
    with pytest.raises(TypeError) as info:
        getattr(mf, name)(value, *ORDERED[name])
    assert "complex" in assert_named(info.value, name)


# ---- the cases of the fuzz that were once accepted, each with its message ----------------------

def test_known_cases_with_their_messages():
    four = x(4, 2)
    cases = [
        (lambda: mf.split(four, [3, 1]), ValueError, r"split: the indices \[3, 1\] must increase within \[0, 4\]"),
        (lambda: mf.pad(four, 1.5), TypeError, r"pad: pad_width must be integers, got 1.5"),
        (lambda: mf.from_dlpack([1, 2]), TypeError, r"from_dlpack: needs an object with __dlpack__ .*got list"),
        (lambda: mf.tensor(None), TypeError, r"tensor: cannot make a tensor from None"),
        (lambda: mf.tensor("abc"), TypeError, r"tensor: cannot make a tensor from 'abc'"),
        (lambda: mf.tensor([[1], [2, 3]]), ValueError, r"tensor: the nested lists are ragged"),
        (lambda: four.astype(str), TypeError, r"astype: a tensor holds numbers .*not <U0"),
        (lambda: mf.fft2(four, axes=0), ValueError, r"fft2: axes must be two axes, got \(0,\)"),
        (lambda: four.sum(axis=1.0), TypeError, r"sum: axis must be None, an integer or a tuple of integers, got 1.0"),
        (lambda: mf.softmax(four, axis=1.0), TypeError, r"softmax: axis must be an integer, got 1.0 \(float\)"),
        (lambda: mf.cross_entropy(mf.tensor([[1, 2]]), np.array([0])), TypeError,
         r"cross_entropy: logits must be floating point, got int64 of shape \(1, 2\)"),
        (lambda: mf.batch_norm(x(3, 2), eps=0.0), ValueError, r"batch_norm: eps must be in \(0, inf\), got 0.0"),
        (lambda: mf.layer_norm(x(3, 2), eps=-1e-5), ValueError, r"layer_norm: eps must be in \(0, inf\), got -1e-05"),
        (lambda: mf.relu(z(2)), TypeError, r"relu: needs a real tensor, got complex128 of shape \(2,\)"),
        (lambda: mf.exp(None), TypeError, r"exp: argument 0: cannot make a tensor from None"),
        (lambda: four + "a", TypeError, r"add: argument 1: cannot make a tensor from 'a'"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_cross_entropy_of_no_examples_is_nan_for_the_mean_and_zero_for_the_sum():
    logits = mf.tensor(np.zeros((0, 3)), requires_grad=True)
    mean = mf.cross_entropy(logits, np.zeros(0, np.int64))
    assert mean.shape == () and math.isnan(mean.item()) and mean.dtype == np.float64
    mean.backward()
    assert logits.grad.shape == (0, 3)
    total = mf.cross_entropy(logits, np.zeros(0, np.int64), reduction="sum")
    assert total.item() == 0.0
    assert mf.cross_entropy(logits, np.zeros(0, np.int64), reduction="none").shape == (0,)


def test_batch_norm_refuses_bad_momentum_before_touching_the_running_statistics():
    running_mean, running_var = np.zeros(2), np.ones(2)
    with pytest.raises(ValueError, match=r"batch_norm: momentum must be in \[0, 1\], got 2.0"):
        mf.batch_norm(x(4, 2), running_mean=running_mean, running_var=running_var, momentum=2.0)
    np.testing.assert_array_equal(running_mean, 0.0)
    np.testing.assert_array_equal(running_var, 1.0)


# ---- classes and functions outside autograd: sizes, rates and flags -----------------------------

def parameters():
    return [layers.Parameter(np.ones(3))]


def images(n=2, dtype=np.uint8):
    return RNG.integers(0, 255, (n, 8, 8, 3)).astype(dtype)


def sgd():
    return optim.SGD(parameters(), lr=0.1)


WAVES = RNG.uniform(-0.5, 0.5, (2, 1600)).astype(np.float32)
# name: (callable, positional arguments, keyword arguments) of one valid call
CALLABLES = {
    "Linear": (layers.Linear, (3, 2), {"bias": True}), "Embedding": (layers.Embedding, (5, 2), {}),
    "MLP": (layers.MLP, (4, 8), {"dropout": 0.1}),
    "BatchNorm1d": (layers.BatchNorm1d, (3,), {"eps": 1e-5, "momentum": 0.1, "affine": True}),
    "BatchNorm2d": (layers.BatchNorm2d, (3,), {"eps": 1e-5, "momentum": 0.1}),
    "LayerNorm": (layers.LayerNorm, (3,), {"eps": 1e-5, "elementwise_affine": True}),
    "Dropout": (layers.Dropout, (0.5,), {}), "Flatten": (layers.Flatten, (1, -1), {}),
    "GELU": (layers.GELU, ("tanh",), {}),
    "Conv2d": (layers.Conv2d, (3, 4, 3), {"stride": 1, "padding": 1, "bias": True}),
    "MaxPool2d": (layers.MaxPool2d, (2,), {"stride": 2}), "AvgPool2d": (layers.AvgPool2d, (2,), {"stride": 2}),
    "AdaptiveAvgPool2d": (layers.AdaptiveAvgPool2d, (2,), {}),
    "MultiHeadSelfAttention": (layers.MultiHeadSelfAttention, (8, 2), {"dropout": 0.1}),
    "FFTMixer": (layers.FFTMixer, (8, 5, 2), {}), "WindowedFFTMixer": (layers.WindowedFFTMixer, (8, 5, 2), {"window": 4}),
    "WaveletMixer": (layers.WaveletMixer, (8, 5, 2), {"levels": 2}), "HybridMixer": (layers.HybridMixer, (8, 5, 2), {}),
    "ViT": (layers.ViT, (), {"image_size": 8, "patch": 4, "dim": 8, "depth": 1, "heads": 2, "mlp_ratio": 2,
                             "dropout": 0.1, "num_classes": 3, "in_channels": 3}),
    "CNN": (layers.CNN, (), {"num_classes": 3, "in_channels": 3, "image_size": 8, "widths": (2, 2, 2), "hidden": 4,
                             "dropout": 0.5}),
    "AudioCNN": (layers.AudioCNN, (), {"num_classes": 3, "in_channels": 1, "widths": (2, 2, 2), "hidden": 4,
                                       "dropout": 0.5}),
    "ContextAdapter": (layers.ContextAdapter, (4, 3, 1), {}),
    "SGD": (optim.SGD, (parameters(),), {"lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-4,
                                         "nesterov": False}),
    "Adam": (optim.Adam, (parameters(),), {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
    "AdamW": (optim.AdamW, (parameters(),), {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}),
    "clip_grad_norm": (optim.clip_grad_norm, (parameters(),), {"max_norm": 1.0, "eps": 1e-6}),
    "CosineWarmup": (lambda **k: optim.CosineWarmup(sgd(), **k), (), {"warmup_steps": 2, "total_steps": 10,
                                                                     "min_lr": 0.0}),
    "StepDecay": (lambda **k: optim.StepDecay(sgd(), **k), (), {"step_size": 2, "gamma": 0.5}),
    "OneCycle": (lambda **k: optim.OneCycle(sgd(), **k), (), {"max_lr": 0.1, "total_steps": 10, "pct_start": 0.3,
                                                             "div_factor": 25.0, "final_div_factor": 1e4}),
    "normalize": (data.normalize, (images(),), {"mean": (0.5, 0.5, 0.5), "std": (0.2, 0.2, 0.2)}),
    "random_crop_flip": (data.random_crop_flip, (images(),), {"padding": 2, "flip": True}),
    "random_time_shift": (data.random_time_shift, (WAVES,), {"max_shift": 10}),
    "mix_background_noise": (data.mix_background_noise, (WAVES, np.zeros((1, 2000), np.float32), np.array([2000])),
                             {"probability": 0.5, "max_volume": 0.1}),
    "pcm16_to_float": (data.pcm16_to_float, (np.zeros((2, 10), np.int16),), {}),
    "log_mel_spectrogram": (data.log_mel_spectrogram, (WAVES,), {"sample_rate": 16000, "n_fft": 512, "win_length": 480,
                                                                  "hop_length": 160, "n_mels": 40, "floor": 1e-6,
                                                                  "center": False}),
    "mfcc": (data.mfcc, (WAVES,), {"n_mfcc": 13}),
    "mel_filterbank": (data.mel_filterbank, (), {"n_mels": 10, "n_fft": 64, "sample_rate": 16000, "f_min": 0.0}),
    "dct_matrix": (data.dct_matrix, (4, 8), {}),
    "DataLoader": (data.DataLoader, (np.zeros((5, 2)), np.zeros(5)), {"batch_size": 2, "shuffle": True,
                                                                       "drop_last": False, "seed": 0, "prefetch": 0}),
}
SIZE = [0, -1, 2.5, "a", None, True]      # sizes (ints >= 1)
RATE = [math.nan, math.inf, -1.0, "a", None]  # rates, probabilities, factors
FLAG = ["yes", None, 1]
KIND = {"in_features": SIZE, "out_features": SIZE, "num_embeddings": SIZE, "embedding_dim": SIZE, "dim": SIZE,
        "hidden": SIZE, "num_features": SIZE, "in_channels": SIZE, "out_channels": SIZE, "heads": SIZE,
        "num_tokens": SIZE, "window": SIZE, "levels": SIZE, "image_size": SIZE, "patch": SIZE, "depth": SIZE,
        "num_classes": SIZE, "channels": SIZE, "context_dim": SIZE, "kernel_size": SIZE, "output_size": SIZE,
        "batch_size": SIZE, "n_mels": SIZE, "n_fft": SIZE, "win_length": SIZE, "hop_length": SIZE,
        "n_mfcc": SIZE, "n_out": SIZE, "n_in": SIZE, "total_steps": SIZE, "step_size": SIZE,
        "stride": [0, 1.5, "a"], "padding": [-1, 1.5, "a"], "max_shift": [-1, 2.5, "a"], "prefetch": [-1, 2.5],
        "seed": [-1, 2.5, "a"], "warmup_steps": [-1, 2.5, 10], "start_dim": [1.5, "a"], "end_dim": [1.5, "a"],
        "eps": RATE, "momentum": RATE[:3] + [2.0], "dropout": RATE + [1.5], "p": RATE + [1.5], "lr": RATE,
        "weight_decay": RATE, "dampening": RATE + [2.0], "max_norm": [math.nan, -1.0, "a"], "gamma": RATE,
        "min_lr": RATE, "max_lr": RATE, "pct_start": RATE + [0.0, 1.0], "div_factor": RATE + [0.0],
        "final_div_factor": RATE + [0.0], "mlp_ratio": RATE + [0.0], "floor": RATE + [0.0],
        "sample_rate": RATE + [0], "probability": RATE + [1.5], "max_volume": RATE, "f_min": RATE,
        "bias": FLAG, "affine": FLAG, "elementwise_affine": FLAG, "nesterov": FLAG, "flip": FLAG, "center": FLAG,
        "shuffle": FLAG, "drop_last": FLAG, "approximate": ["fast", None], "betas": [(0.9, 1.0), (0.9,), 0.9, None],
        "mean": [(0.5, 0.5), ("a", 1, 2), None], "std": [(0.2, 0.0, 0.2), (0.2, math.nan, 0.2), None],
        "widths": [(2, 2), (2, 0, 2), 2]}
OVERRIDE = {("SGD", "momentum"): RATE}  # momentum above 1 is allowed in SGD, as in PyTorch
DATA_ARGUMENTS = {"images": [None, [[1, 2]], np.zeros((2, 8, 8)), np.array(["a"])],
                  "waveforms": [None, "abc", np.zeros(5, np.float32)], "params": [None, 3]}


def callable_cases():
    for name, (function, args, kwargs) in CALLABLES.items():
        signature = inspect.signature(function)
        names = list(signature.parameters)
        for i, _ in enumerate(args):
            label = names[i]
            for j, bad in enumerate(KIND.get(label, DATA_ARGUMENTS.get(label, []))):
                yield f"{name}-{label}-{j}", name, function, args[:i] + (bad,) + args[i + 1:], kwargs
        for label in kwargs:
            for j, bad in enumerate(OVERRIDE.get((name, label), KIND.get(label, []))):
                yield f"{name}-{label}-{j}", name, function, args, {**kwargs, label: bad}


CALLABLE_CASES = {case[0]: case[1:] for case in callable_cases()}


def test_every_callable_has_a_valid_call():
    for name, (function, args, kwargs) in CALLABLES.items():
        function(*args, **kwargs)
    cases = {n for n in CALLABLE_CASES}
    assert len(cases) > 300


@pytest.mark.parametrize("case", CALLABLE_CASES)
def test_a_bad_size_rate_or_flag_is_refused_naming_the_callable(case):
    name, function, args, kwargs = CALLABLE_CASES[case]
    with pytest.raises((TypeError, ValueError)) as info:
        function(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{name}:") or message.startswith(f"{name}.") or message.startswith(f"{name}("), message


def test_the_known_layer_optimizer_and_data_cases_with_their_messages():
    cases = [
        (lambda: data.normalize(images(), std=(0.2, 0.0, 0.2)), ValueError,
         r"normalize: std must be > 0 for every channel, got \(0.2, 0.0, 0.2\)"),
        (lambda: data.log_mel_spectrogram(WAVES, floor=-1), ValueError,
         r"log_mel_spectrogram: floor must be in \(0, inf\), got -1.0"),
        (lambda: layers.BatchNorm1d(3, momentum=2), ValueError, r"BatchNorm1d: momentum must be in \[0, 1\], got 2.0"),
        (lambda: optim.SGD(parameters(), lr=math.inf), ValueError, r"SGD: lr must be a finite number, got inf"),
        (lambda: optim.AdamW(parameters(), weight_decay=math.nan), ValueError,
         r"AdamW: weight_decay must be a finite number, got nan"),
        (lambda: optim.clip_grad_norm(parameters(), max_norm=-1), ValueError,
         r"clip_grad_norm: max_norm must be in \[0, inf\), got -1.0"),
        (lambda: data.DataLoader(np.zeros((4, 2)), batch_size=2.5), TypeError,
         r"DataLoader: batch_size must be an integer, got 2.5 \(float\)"),
        (lambda: layers.MultiHeadSelfAttention(8, 0), ValueError, r"MultiHeadSelfAttention: heads must be >= 1, got 0"),
        (lambda: layers.Linear(-3, 2), ValueError, r"Linear: in_features must be >= 1, got -3"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_clip_grad_norm_with_a_bad_max_norm_leaves_the_gradients_alone():
    p = layers.Parameter(np.ones(3))
    p.grad = np.array([3.0, 4.0, 0.0])
    with pytest.raises(ValueError):
        optim.clip_grad_norm([p], max_norm=-1)
    np.testing.assert_array_equal(p.grad, [3.0, 4.0, 0.0])


def test_set_epoch_refuses_a_bad_epoch_and_keeps_the_old_one():
    loader = data.DataLoader(np.zeros((4, 2)), batch_size=2)
    loader.set_epoch(3)
    with pytest.raises(TypeError, match=r"DataLoader.set_epoch: epoch must be an integer, got 1.5"):
        loader.set_epoch(1.5)
    assert loader.epoch == 3


def write_cifar_batch(root, batch):
    import pickle
    folder = root / data.cifar10.FOLDER
    folder.mkdir(exist_ok=True)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump(batch, fh)


def test_load_cifar10_refuses_labels_out_of_range_and_pickles_of_other_things(tmp_path):
    write_cifar_batch(tmp_path, {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 99]})
    with pytest.raises(ValueError, match=r"load_cifar10: .*test_batch holds labels from 0 to 99; CIFAR-10 labels are 0..9"):
        data.load_cifar10(tmp_path, train=False)
    write_cifar_batch(tmp_path, [1, 2, 3])
    with pytest.raises(ValueError, match=r"load_cifar10: .*test_batch is not a CIFAR-10 batch: expected a dict with "
                                         r"b'data' and b'labels', got list"):
        data.load_cifar10(tmp_path, train=False)
    with pytest.raises(TypeError, match=r"load_cifar10: train must be True or False, got 'no'"):
        data.load_cifar10(tmp_path, train="no")
