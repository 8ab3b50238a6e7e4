"""Weight initialisers: numpy arrays drawn from minifb's seeded generator.

Every initialiser draws on the CPU from ``minifb.backend.generator()`` and returns a numpy array
(float32 unless ``dtype`` says otherwise), so a model built after ``minifb.seed(s)`` has the same
weights on NumPy and on CuPy (it is moved there with ``.to('cuda')``).

Fans follow PyTorch's convention for a weight of shape (out, in, *kernel):
fan_in = in * prod(kernel), fan_out = out * prod(kernel).
"""
from __future__ import annotations

import math

import numpy as np

from ..backend import generator


def fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel)."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError("init: fan_in and fan_out need a weight with at least 2 dimensions, got shape "
                         f"{shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity: str, a: float = 0.0) -> float:
    """The gain that keeps activations' variance steady through a nonlinearity (PyTorch's table).

    linear/conv/sigmoid: 1;  tanh: 5/3;  relu: sqrt 2;  leaky_relu (slope a): sqrt(2 / (1 + a^2));  selu: 3/4.
    """
    gains = {"linear": 1.0, "conv1d": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3,
             "relu": math.sqrt(2.0), "leaky_relu": math.sqrt(2.0 / (1 + a * a)), "selu": 0.75}
    if nonlinearity not in gains:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; expected one of "
                         f"{sorted(gains)}")
    return gains[nonlinearity]


def _fan(shape, mode: str) -> int:
    fan_in, fan_out = fans(shape)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def uniform(shape, bound: float, dtype=np.float32) -> np.ndarray:
    """U(-bound, bound)."""
    return generator().uniform(-bound, bound, size=tuple(shape)).astype(dtype)


def normal(shape, std: float = 1.0, mean: float = 0.0, dtype=np.float32) -> np.ndarray:
    """N(mean, std^2)."""
    return (mean + std * generator().standard_normal(tuple(shape))).astype(dtype)


def kaiming_uniform(shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    dtype=np.float32) -> np.ndarray:
    """U(-b, b), b = gain sqrt(3 / fan) (He et al., 2015, "Delving deep into rectifiers").

    ``a=sqrt(5)`` with leaky_relu gives b = 1/sqrt(fan_in), PyTorch's default for Linear and Conv.
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode))
    return uniform(shape, math.sqrt(3.0) * std, dtype)


def kaiming_normal(shape, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                   dtype=np.float32) -> np.ndarray:
    """N(0, std^2), std = gain / sqrt(fan) (He et al., 2015)."""
    return normal(shape, calculate_gain(nonlinearity, a) / math.sqrt(_fan(shape, mode)), dtype=dtype)


def xavier_uniform(shape, gain: float = 1.0, dtype=np.float32) -> np.ndarray:
    """U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = fans(shape)
    return uniform(shape, gain * math.sqrt(6.0 / (fan_in + fan_out)), dtype)


def xavier_normal(shape, gain: float = 1.0, dtype=np.float32) -> np.ndarray:
    """N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = fans(shape)
    return normal(shape, gain * math.sqrt(2.0 / (fan_in + fan_out)), dtype=dtype)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def trunc_normal(shape, std: float = 1.0, mean: float = 0.0, a: float = -2.0, b: float = 2.0,
                 dtype=np.float32) -> np.ndarray:
    """N(mean, std^2) restricted to [a, b] (absolute bounds, as PyTorch's ``trunc_normal_``).

    Drawn by rejection: values outside [a, b] are drawn again until none is left (the ViT
    initialisation uses std 0.02 within +-2, where almost nothing is rejected).
    """
    if not std > 0 or not a < b:
        raise ValueError(f"trunc_normal: need std > 0 and a < b, got std={std}, a={a}, b={b}")
    accepted = _normal_cdf((b - mean) / std) - _normal_cdf((a - mean) / std)
    if accepted < 1e-3:
        raise ValueError(f"trunc_normal: [{a}, {b}] holds only {accepted:.2e} of N({mean}, {std}^2); "
                         "rejection sampling would not finish")
    rng = generator()
    out = mean + std * rng.standard_normal(tuple(shape))
    outside = (out < a) | (out > b)
    while outside.any():
        out[outside] = mean + std * rng.standard_normal(int(outside.sum()))
        outside = (out < a) | (out > b)
    return out.astype(dtype)
