"""Checks of plain Python arguments (sizes, rates, flags), each raising an error that names the caller.

``who`` is the public function or class the user called ("Linear", "SGD", "normalize"), ``name``
the argument. The checks are cheap ``isinstance`` tests: they run before anything changes, and
never look at array values (which on the GPU would wait for the device).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import backend


def integer(who: str, name: str, value, minimum: int | None = None) -> int:
    """``value`` as an int (Python or NumPy integer, not bool or float), at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{who}: {name} must be >= {minimum}, got {value}")
    return int(value)


def sizes(who: str, name: str, values, count: int) -> tuple:
    """``count`` integers >= 1 in a tuple or list (layer widths)."""
    if not isinstance(values, (tuple, list)) or len(values) != count:
        raise ValueError(f"{who}: {name} must be {count} sizes, got {values!r}")
    return tuple(integer(who, name, v, 1) for v in values)


def number(who: str, name: str, value, low=None, high=None, low_open: bool = False, high_open: bool = False,
           finite: bool = True) -> float:
    """``value`` as a float: a real number (not bool), finite unless ``finite=False``, in the range given.

    The range is [low, high]; ``low_open``/``high_open`` exclude an end ("(0, 1]" for a dropout keep rate).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{who}: {name} must be a finite number, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = f"{'(' if low_open or low is None else '['}{'-inf' if low is None else low}"
        right = f"{'inf' if high is None else high}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{who}: {name} must be in {left}, {right}, got {value}")
    return value


def flag(who: str, name: str, value) -> bool:
    """A bool (or NumPy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{who}: {name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def choice(who: str, name: str, value, options) -> str:
    """One of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{who}: {name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def real(who: str, x) -> None:
    """``x`` (a Tensor) must not be complex: the function orders or thresholds values."""
    if x.data.dtype.kind == "c":
        raise TypeError(f"{who}: needs a real tensor, got {x.data.dtype} of shape {tuple(x.data.shape)} "
                        f"(complex numbers are not ordered; use .real, .abs() or a complex activation)")


def array(who: str, name: str, value, ndim: int | None = None, kinds: str | None = None, what: str = ""):
    """``value`` must be a NumPy or CuPy array (of ``ndim`` dimensions and a dtype kind in ``kinds``)."""
    if not backend.is_array(value):
        raise TypeError(f"{who}: {name} must be a NumPy or CuPy array{what and ' ' + what}, got "
                        f"{type(value).__name__}")
    if (ndim is not None and value.ndim != ndim) or (kinds is not None and value.dtype.kind not in kinds):
        raise ValueError(f"{who}: {name} must be {what or f'{ndim}-d'}, got {value.dtype} of shape "
                         f"{tuple(value.shape)}")
    return value


def generator(who: str, rng) -> None:
    """None (minifb's generator) or a numpy.random.Generator."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"{who}: rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
