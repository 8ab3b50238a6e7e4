"""Every differentiable op, from one table: gradients against finite differences, forward against NumPy.

Each entry of ``OPS`` draws its inputs with hypothesis (shapes with broadcasting, size 1, 0-d,
odd lengths; values kept away from the points where the op has a kink) and returns three things:
the float64 input arrays, the minifb function of tensors, and the same function written with
NumPy. Two tests run over the whole table on every backend:

- ``test_gradient``: ``gradcheck`` (central differences in float64, every element of small inputs);
- ``test_forward``: minifb's value equals NumPy's, in float64 and in float32 (which stays float32).
"""
import inspect
import math
import pathlib
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minifb as mf
from minifb.autograd import gradcheck, tape
from minifb.autograd.function import sum_leading, unbroadcast

# The fixtures give each example a fresh device name and seed, which is what we want here.

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def pair_of_shapes(data):
    """Two shapes that broadcast together (either may be 0-d or have size-1 axes)."""
    return data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)).input_shapes


def uniform(data, shape, low=-2.0, high=2.0):
    """Values from a generator seeded by hypothesis (fast to draw, and hypothesis can still shrink the seed)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    return rng.uniform(low, high, size=shape)


def away_from(x, kinks, gap=0.05):
    """Move values that lie within ``gap`` of a kink to exactly ``gap`` from it (outside the step of gradcheck)."""
    for k in kinks:
        near = np.abs(x - k) < gap
        x = np.where(near, k + gap * np.where(x >= k, 1.0, -1.0), x)
    return x


def distinct(data, shape):
    """Values at least 0.1 apart from each other (no ties in max/min)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    size = math.prod(shape)
    return (rng.permutation(size) * 0.1 - size * 0.05).reshape(shape)


def on_grid(data, shape, odd):
    """Multiples of 0.2 with an even (odd=False) or odd (odd=True) factor: two such arrays never tie."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    return (2 * rng.integers(-5, 5, size=shape) + odd) * 0.2


def axis_args(data, ndim):
    """An axis for a reduction: None, one axis (maybe negative) or a tuple of axes; and keepdims."""
    choices = [st.none()]
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
        choices.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    return data.draw(st.one_of(*choices), label="axis"), data.draw(st.booleans(), label="keepdims")


def gelu_reference(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return x * 0.5 * (1 + np.vectorize(math.erf, otypes=[float])(x / math.sqrt(2)))


def logsumexp_reference(x, axis, keepdims):
    return np.log(np.exp(x).sum(axis=axis, keepdims=keepdims))


def log_softmax_reference(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


# ---- the table: name -> draw(data) -> (input arrays, minifb function, numpy function) ------------------

def binary(mf_op, np_op, positive_b=False, positive_a=False):
    def draw(data):
        sa, sb = pair_of_shapes(data)
        a = uniform(data, sa, 0.5, 2.0) if positive_a else uniform(data, sa)
        b = uniform(data, sb)
        if positive_b:
            b = np.sign(b + (b == 0)) * (0.5 + np.abs(b) / 2)  # |b| in [0.5, 1.5]: away from 0
        return (a, b), mf_op, np_op
    return draw


def unary(mf_op, np_op, low=-2.0, high=2.0, kinks=(), gap=0.05):
    def draw(data):
        return (away_from(uniform(data, data.draw(shapes), low, high), kinks, gap),), mf_op, np_op
    return draw


def choose(mf_op, np_op):
    def draw(data):
        sa, sb = pair_of_shapes(data)
        return (on_grid(data, sa, odd=False), on_grid(data, sb, odd=True)), mf_op, np_op
    return draw


def like(constant, t):
    """A constant array as a tensor of t's dtype and device (so float32 stays float32)."""
    return mf.tensor(constant, dtype=t.dtype, device=t.device)


def draw_pow_zero_base(data):
    """Bases with zeros and integer exponents 0..3 (x^0 at x = 0 has gradient 0, not 0 * inf)."""
    shape = data.draw(shapes)
    x = np.where(uniform(data, shape) > 0, 0.0, uniform(data, shape, 0.5, 2.0))
    b = np.floor(uniform(data, shape, 0.0, 4.0))
    return (x,), lambda t: mf.pow(t, like(b, t)), lambda a: np.power(a, b)


def draw_pow_zero_base_exponent(data):
    """0^y for y > 0 (and positive bases beside): d/dy 0^y = 0, not 0 * log 0."""
    sa, sb = pair_of_shapes(data)
    a = np.where(uniform(data, sa) > 0, 0.0, uniform(data, sa, 0.5, 2.0))
    return (uniform(data, sb, 0.5, 2.0),), lambda t: mf.pow(like(a, t), t), lambda y: np.power(a, y)


def draw_where(data):
    sc, sa = pair_of_shapes(data)
    sb = data.draw(st.sampled_from([(), sa, sc]), label="shape of b")
    cond = uniform(data, sc) > 0
    return (uniform(data, sa), uniform(data, sb)), lambda a, b: mf.where(cond, a, b), lambda a, b: np.where(cond, a, b)


def draw_clip(data):
    x = away_from(uniform(data, data.draw(shapes)), (-0.5, 0.5))
    low, high = data.draw(st.sampled_from([(-0.5, 0.5), (None, 0.5), (-0.5, None)]), label="bounds")
    return (x,), lambda t: mf.clip(t, low, high), lambda a: np.clip(a, low, high)


def reduction(name):
    def draw(data):
        shape = data.draw(shapes)
        axis, keepdims = axis_args(data, len(shape))
        x = distinct(data, shape) if name in ("max", "min") else uniform(data, shape)
        mf_op = getattr(mf, name)
        np_op = logsumexp_reference if name == "logsumexp" else getattr(np, name)
        return (x,), lambda t: mf_op(t, axis=axis, keepdims=keepdims), lambda a: np_op(a, axis=axis, keepdims=keepdims)
    return draw


def draw_var(data):
    shape = data.draw(nonscalar_shapes)
    axis, keepdims = axis_args(data, len(shape))
    n = math.prod(shape) if axis is None else math.prod(shape[a] for a in np.atleast_1d(axis))
    ddof = data.draw(st.integers(0, min(1, n - 1)), label="ddof")
    return ((uniform(data, shape),), lambda t: mf.var(t, axis=axis, keepdims=keepdims, ddof=ddof),
            lambda a: np.var(a, axis=axis, keepdims=keepdims, ddof=ddof))


def draw_reshape(data):
    shape = data.draw(shapes)
    new = data.draw(st.permutations(list(shape) + [1]), label="new shape")
    if new and data.draw(st.booleans(), label="use -1"):
        new[0] = -1
    return (uniform(data, shape),), lambda t: mf.reshape(t, new), lambda a: a.reshape(new)


def draw_transpose(data):
    shape = data.draw(shapes)
    axes = data.draw(st.none() | st.permutations(range(len(shape))), label="axes")
    return (uniform(data, shape),), lambda t: mf.transpose(t, axes), lambda a: np.transpose(a, axes)


def draw_expand(data):
    target = data.draw(shapes)
    shape = tuple(data.draw(st.sampled_from([s, 1]), label="source side") for s in target)
    shape = shape[data.draw(st.integers(0, len(shape)), label="dropped leading axes"):]
    return (uniform(data, shape),), lambda t: mf.expand(t, target), lambda a: np.broadcast_to(a, target)


def draw_squeeze(data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2))
    ones = [i for i, s in enumerate(shape) if s == 1]
    axis = data.draw(st.none() | st.sampled_from(ones) if ones else st.none(), label="axis")
    return (uniform(data, shape),), lambda t: mf.squeeze(t, axis), lambda a: np.squeeze(a, axis)


def draw_unsqueeze(data):
    shape = data.draw(shapes)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    return (uniform(data, shape),), lambda t: mf.unsqueeze(t, axis), lambda a: np.expand_dims(a, axis)


def draw_flatten(data):
    shape = data.draw(nonscalar_shapes)
    start = data.draw(st.integers(0, len(shape) - 1), label="start")
    end = data.draw(st.integers(start, len(shape) - 1), label="end")
    new = shape[:start] + (-1,) + shape[end + 1:]
    return (uniform(data, shape),), lambda t: mf.flatten(t, start, end), lambda a: a.reshape(new)


def draw_getitem_slices(data):
    shape = data.draw(nonscalar_shapes)
    index = tuple(
        data.draw(st.one_of(st.integers(-s, s - 1), st.slices(s), st.just(Ellipsis) if i == 0 else st.slices(s)),
                  label=f"index on axis {i}") for i, s in enumerate(shape))
    return (uniform(data, shape),), lambda t: t[index], lambda a: a[index]


def draw_getitem_int_array(data):
    shape = data.draw(nonscalar_shapes)
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    n = shape[axis]
    picks = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6), label="indices"))
    picks = np.concatenate([picks, picks[:1]])  # at least one index repeats: its gradients must add up
    index = (slice(None),) * axis + (picks,)
    return (uniform(data, shape),), lambda t: t[index], lambda a: a[index]


def draw_getitem_mask(data):
    shape = data.draw(nonscalar_shapes)
    mask = uniform(data, shape) > 0
    return (uniform(data, shape),), lambda t: t[mask], lambda a: a[mask]


def draw_concatenate(data):
    base = data.draw(nonscalar_shapes)
    axis = data.draw(st.integers(-len(base), len(base) - 1), label="axis")
    lengths = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3), label="lengths")
    arrays = tuple(uniform(data, base[:axis % len(base)] + (n,) + base[axis % len(base) + 1:]) for n in lengths)
    return arrays, lambda *t: mf.concatenate(t, axis), lambda *a: np.concatenate(a, axis)


def draw_stack(data):
    shape = data.draw(shapes)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    arrays = tuple(uniform(data, shape) for _ in range(data.draw(st.integers(1, 3), label="count")))
    return arrays, lambda *t: mf.stack(t, axis), lambda *a: np.stack(a, axis)


def draw_split(data):
    shape = data.draw(nonscalar_shapes)
    axis = data.draw(st.integers(0, len(shape) - 1), label="axis")
    n = shape[axis]
    sections = data.draw(st.one_of(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]),
                                   st.lists(st.integers(0, n), max_size=3).map(sorted)), label="sections")
    # The pieces are concatenated back after a different scale each, so every piece's gradient counts.
    def mf_split(t):
        return mf.concatenate([p * (k + 1) for k, p in enumerate(mf.split(t, sections, axis))], axis)

    def np_split(a):
        return np.concatenate([p * (k + 1) for k, p in enumerate(np.split(a, sections, axis))], axis)
    return (uniform(data, shape),), mf_split, np_split


def draw_pad(data):
    shape = data.draw(shapes)
    widths = [tuple(data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2), label="widths")) for _ in shape]
    value = data.draw(st.sampled_from([0.0, 1.5]), label="value")
    return ((uniform(data, shape),), lambda t: mf.pad(t, widths, value),
            lambda a: np.pad(a, widths, mode="constant", constant_values=value) if a.ndim else a)


def draw_matmul(data):
    n, k, m = (data.draw(st.integers(1, 4), label=s) for s in "nkm")
    kind = data.draw(st.sampled_from(["vec@vec", "vec@mat", "mat@vec", "mat@mat", "batched"]), label="kind")
    if kind == "batched":
        ba, bb = pair_of_shapes(data)
        sa, sb = ba + (n, k), bb + (k, m)
        sb = sb if data.draw(st.booleans(), label="matrix b") else (k,)
    else:
        sa = (k,) if kind.startswith("vec") else (n, k)
        sb = (k,) if kind.endswith("vec") else (k, m)
    return (uniform(data, sa), uniform(data, sb)), mf.matmul, np.matmul


def draw_softmax(name):
    def draw(data):
        shape = data.draw(nonscalar_shapes)
        axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
        mf_op = getattr(mf, name)
        np_op = (lambda a: np.exp(log_softmax_reference(a, axis))) if name == "softmax" else \
            (lambda a: log_softmax_reference(a, axis))
        return (uniform(data, shape, -4, 4),), lambda t: mf_op(t, axis), np_op
    return draw


def draw_cross_entropy(data):
    n, c = data.draw(st.integers(1, 5), label="N"), data.draw(st.integers(1, 5), label="C")
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n), label="labels"))
    eps = data.draw(st.sampled_from([0.0, 0.1]), label="label_smoothing")
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")

    def reference(logits):
        logp = log_softmax_reference(logits, 1)
        target = (1 - eps) * np.eye(c)[labels] + eps / c
        per_example = -(target * logp).sum(axis=1)
        return {"mean": per_example.mean(), "sum": per_example.sum(), "none": per_example}[reduction]
    return ((uniform(data, (n, c), -3, 3),),
            lambda t: mf.cross_entropy(t, labels, label_smoothing=eps, reduction=reduction), reference)

# ---- the newer elementwise, reduction, scan, rearranging and contraction ops -------------------------

def draw_arctan2(data):
    """y away from 0, so that no point crosses the cut along the negative x axis."""
    sy, sx = pair_of_shapes(data)
    return (away_from(uniform(data, sy), (0,), 0.3), uniform(data, sx)), mf.arctan2, np.arctan2


def draw_remainder(data):
    """a / b away from the integers, where the remainder jumps; a has the broadcast shape."""
    sa, sb = pair_of_shapes(data)
    b = uniform(data, sb)
    b = np.sign(b + (b == 0)) * (0.5 + np.abs(b) / 2)
    quotient = np.floor(uniform(data, np.broadcast_shapes(sa, sb), -3, 3)) + uniform(data, (), 0.1, 0.9)
    operator = data.draw(st.booleans(), label="% operator")
    f = (lambda x, y: x % y) if operator else mf.remainder
    return (quotient * b, b), f, np.remainder


def with_zeros(data, shape):
    """Values in [-2, 2] with about a third of them exactly 0 (products through zeros)."""
    return np.where(uniform(data, shape) > 0.7, 0.0, uniform(data, shape))


def draw_std(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3))  # n >= 2: std > 0
    axis, keepdims = axis_args(data, len(shape))
    ddof = data.draw(st.integers(0, 1), label="ddof")
    return ((uniform(data, shape),), lambda t: mf.std(t, axis=axis, keepdims=keepdims, ddof=ddof),
            lambda a: np.std(a, axis=axis, keepdims=keepdims, ddof=ddof))


def draw_prod(data):
    shape = data.draw(shapes)
    axis, keepdims = axis_args(data, len(shape))
    return ((with_zeros(data, shape),), lambda t: mf.prod(t, axis=axis, keepdims=keepdims),
            lambda a: np.prod(a, axis=axis, keepdims=keepdims))


def draw_scan(name):
    def draw(data):
        shape = data.draw(shapes)
        axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1) if shape else st.none(), label="axis")
        x = with_zeros(data, shape) if name == "cumprod" else uniform(data, shape)
        mf_op, np_op = getattr(mf, name), getattr(np, name)
        return (x,), lambda t: mf_op(t, axis), lambda a: np_op(a, axis)
    return draw


def draw_diff(data):
    shape = data.draw(nonscalar_shapes)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    n = data.draw(st.integers(0, max(0, shape[axis] - 1)), label="n")
    return (uniform(data, shape),), lambda t: mf.diff(t, n, axis), lambda a: np.diff(a, n, axis)


def draw_flip(data):
    shape = data.draw(shapes)
    axis, _ = axis_args(data, len(shape))
    return (uniform(data, shape),), lambda t: mf.flip(t, axis), lambda a: np.flip(a, axis)


def draw_roll(data):
    shape = data.draw(shapes)
    shift = data.draw(st.integers(-5, 5), label="shift")
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1) if shape else st.none(), label="axis")
    return (uniform(data, shape),), lambda t: mf.roll(t, shift, axis), lambda a: np.roll(a, shift, axis)


def draw_repeat(data):
    shape = data.draw(shapes)
    axis = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1) if shape else st.none(), label="axis")
    n = math.prod(shape) if axis is None else shape[axis]
    repeats = data.draw(st.integers(0, 3) | st.lists(st.integers(0, 3), min_size=n, max_size=n), label="repeats")
    return (uniform(data, shape),), lambda t: mf.repeat(t, repeats, axis), lambda a: np.repeat(a, repeats, axis)


def draw_tile(data):
    shape = data.draw(shapes)
    reps = data.draw(st.integers(1, 3) | st.lists(st.integers(1, 3), max_size=4).map(tuple), label="reps")
    return (uniform(data, shape),), lambda t: mf.tile(t, reps), lambda a: np.tile(a, reps)


def draw_moveaxis(data):
    shape = data.draw(nonscalar_shapes)
    k = data.draw(st.integers(1, len(shape)), label="count")
    source = data.draw(st.permutations(range(len(shape))), label="source")[:k]
    destination = data.draw(st.permutations(range(-len(shape), 0)), label="destination")[:k]
    return ((uniform(data, shape),), lambda t: mf.moveaxis(t, source, destination),
            lambda a: np.moveaxis(a, source, destination))


def draw_triangle(name):
    def draw(data):
        shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4))
        k = data.draw(st.integers(-2, 2), label="k")
        mf_op, np_op = getattr(mf, name), getattr(np, name)
        return (uniform(data, shape),), lambda t: mf_op(t, k), lambda a: np_op(a, k)
    return draw


def draw_diagonal(name):
    def draw(data):
        shape = data.draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4))
        axis1, axis2 = data.draw(st.permutations(range(len(shape))), label="axes")[:2]
        offset = data.draw(st.integers(-2, 2), label="offset")
        mf_op, np_op = getattr(mf, name), getattr(np, name)
        return ((uniform(data, shape),), lambda t: mf_op(t, offset, axis1, axis2),
                lambda a: np_op(a, offset, axis1, axis2))
    return draw


def draw_outer(data):
    sa, sb = data.draw(shapes, label="a"), data.draw(shapes, label="b")
    return (uniform(data, sa), uniform(data, sb)), mf.outer, np.outer


def draw_tensordot(data):
    free_a, summed, free_b = (data.draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), label=s)
                              for s in ("free a", "summed", "free b"))
    if data.draw(st.booleans(), label="integer axes"):
        axes = len(summed)
        sa, sb = free_a + summed, summed + free_b
    else:  # the summed axes in a different order and place in each operand
        order = data.draw(st.permutations(range(len(summed))), label="order in b")
        sa, sb = summed + free_a, free_b + tuple(summed[i] for i in order)
        axes = (list(range(len(summed))), [len(free_b) + order.index(i) for i in range(len(summed))])
    return ((uniform(data, sa), uniform(data, sb)), lambda a, b: mf.tensordot(a, b, axes),
            lambda a, b: np.tensordot(a, b, axes))


EINSUMS = [  # subscripts, and the operands' shapes in labels (sizes drawn per label)
    ("ij,jk->ik", ["ij", "jk"]), ("bij,bjk->bik", ["bij", "bjk"]), ("ij,jk", ["ij", "jk"]), ("ii", ["ii"]),
    ("ii->i", ["ii"]), ("iij->ji", ["iij"]), ("i,j->ij", ["i", "j"]), ("ij,k->i", ["ij", "k"]),
    ("ij->", ["ij"]), ("ij->ji", ["ij"]), ("...ij,...jk->...ik", ["bij", "jk"]), ("i...->...", ["ibc"]),
    ("ij,jk,kl->il", ["ij", "jk", "kl"]), ("ij,ij->ij", ["ij", "Ij"]),  # I: a length-1 i (broadcast)
]


def draw_einsum(data):
    subscripts, labels = data.draw(st.sampled_from(EINSUMS), label="subscripts")
    sizes = {c: data.draw(st.integers(1, 3), label=f"length of {c}") for c in "ijklbc"}
    sizes["I"] = 1
    arrays = tuple(uniform(data, tuple(sizes[c] for c in operand)) for operand in labels)
    return arrays, lambda *t: mf.einsum(subscripts, *t), lambda *a: np.einsum(subscripts, *a)



def draw_fft(name):
    """A transform over one, two or any axes of a real input, with n or s cropping or padding (or None)."""
    def draw(data):
        shape = data.draw(hnp.array_shapes(min_dims=1 if name[-1] not in "2n" else 2, max_dims=3, max_side=4))
        if name[-1] == "2":
            count, key = 2, "s"
        elif name[-1] == "n":
            count, key = data.draw(st.integers(1, len(shape)), label="axis count"), "s"
        else:
            count, key = 1, "n"
        axes = data.draw(st.permutations(range(-len(shape), 0)), label="axes")[:count]
        lengths = data.draw(st.none() | st.lists(st.integers(1, 5), min_size=count, max_size=count), label=key)
        if name.startswith("irfft") and lengths is None and shape[axes[-1]] == 1:
            lengths = [shape[a] for a in axes[:-1]] + [1]  # the default 2(m - 1) would be 0
        if key == "n":
            options = {"n": None if lengths is None else lengths[0], "axis": axes[0]}
        else:
            options = {"s": lengths, "axes": axes}
        norm = data.draw(st.sampled_from(["backward", "ortho", "forward"]), label="norm")
        mf_op, np_op = getattr(mf, name), getattr(np.fft, name)
        return ((uniform(data, shape),), lambda t: mf_op(t, norm=norm, **options),
                lambda a: np_op(a, norm=norm, **options))
    return draw


def draw_linear(data):
    lead = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), label="leading axes")
    n_in, n_out = data.draw(st.integers(1, 4), label="in"), data.draw(st.integers(1, 4), label="out")
    arrays = (uniform(data, lead + (n_in,)), uniform(data, (n_out, n_in)))
    if data.draw(st.booleans(), label="bias"):
        return arrays + (uniform(data, (n_out,)),), mf.linear, lambda x, w, b: x @ w.T + b
    return arrays, mf.linear, lambda x, w: x @ w.T


def attention_numpy(qkv, heads):
    """softmax(Q K^T / sqrt(d)) V per head, head by head with NumPy."""
    b, n, width = qkv.shape
    d = width // (3 * heads)
    q, k, v = np.split(qkv, 3, axis=2)
    out = []
    for h in range(heads):
        part = slice(h * d, (h + 1) * d)
        scores = q[:, :, part] @ k[:, :, part].transpose(0, 2, 1) / math.sqrt(d)
        out.append(np.exp(log_softmax_reference(scores, -1)) @ v[:, :, part])
    return np.concatenate(out, axis=2)


def draw_self_attention(data):
    b, n = data.draw(st.integers(1, 2), label="B"), data.draw(st.integers(1, 4), label="N")
    heads, d = data.draw(st.integers(1, 2), label="heads"), data.draw(st.integers(1, 3), label="d")
    return ((uniform(data, (b, n, 3 * heads * d)),), lambda t: mf.self_attention(t, heads),
            lambda a: attention_numpy(a, heads))


def draw_gate_heads(data):
    b, n = data.draw(st.integers(1, 2), label="B"), data.draw(st.integers(1, 3), label="N")
    heads, d = data.draw(st.integers(1, 3), label="heads"), data.draw(st.integers(1, 2), label="d")

    def reference(alpha, glob, loc):
        a = np.repeat(alpha, d, axis=1)[:, None, :]  # each head's weight on its d channels
        return a * glob + (1 - a) * loc
    return ((uniform(data, (b, heads), 0.0, 1.0), uniform(data, (b, n, heads * d)), uniform(data, (b, n, heads * d))),
            mf.gate_heads, reference)


def frames_numpy(x, window, frames):
    """frames[:, f, t] = x[:, f hop + t - hop], zero outside the tokens (hop = window / 2)."""
    b, n, d = x.shape
    hop = window // 2
    out = np.zeros((b, frames, window, d))
    for f in range(frames):
        for t in range(window):
            if 0 <= f * hop + t - hop < n:
                out[:, f, t] = x[:, f * hop + t - hop]
    return out


def overlap_add_numpy(pieces, n):
    """The transpose of frames_numpy: each frame's token t added back at token f hop + t - hop."""
    b, frames, window, d = pieces.shape
    hop = window // 2
    out = np.zeros((b, n, d))
    for f in range(frames):
        for t in range(window):
            if 0 <= f * hop + t - hop < n:
                out[:, f * hop + t - hop] += pieces[:, f, t]
    return out


def draw_framing(data):
    """(window, frames, n): an even window and enough frames of hop window/2 for n tokens."""
    window = 2 * data.draw(st.integers(1, 3), label="half window")
    n = data.draw(st.integers(1, 6), label="N")
    frames = -(-n // (window // 2)) + data.draw(st.integers(0, 1), label="extra frame")
    return window, frames, n


def draw_frame_tokens(data):
    window, frames, n = draw_framing(data)
    x = uniform(data, (data.draw(st.integers(1, 2), label="B"), n, data.draw(st.integers(1, 2), label="D")))
    return (x,), lambda t: mf.frame_tokens(t, window, frames), lambda a: frames_numpy(a, window, frames)


def draw_overlap_add_tokens(data):
    window, frames, n = draw_framing(data)
    pieces = uniform(data, (data.draw(st.integers(1, 2), label="B"), frames, window, 2))
    return (pieces,), lambda t: mf.overlap_add_tokens(t, n), lambda a: overlap_add_numpy(a, n)


OPS = {
    "add": binary(mf.add, np.add),
    "sub": binary(mf.sub, np.subtract),
    "mul": binary(mf.mul, np.multiply),
    "div": binary(mf.div, np.divide, positive_b=True),
    "neg": unary(mf.neg, np.negative),
    "pow": binary(mf.pow, np.power, positive_a=True),
    "pow scalar exponent": unary(lambda t: t ** 3, lambda a: a ** 3),
    "pow zero base": draw_pow_zero_base,
    "pow zero base, exponent gradient": draw_pow_zero_base_exponent,
    "exp": unary(mf.exp, np.exp),
    "log": unary(mf.log, np.log, 0.2, 3.0),
    "sqrt": unary(mf.sqrt, np.sqrt, 0.2, 3.0),
    "tanh": unary(mf.tanh, np.tanh),
    "sigmoid": unary(mf.sigmoid, lambda a: 1 / (1 + np.exp(-a)), -6, 6),
    "relu": unary(mf.relu, lambda a: np.maximum(a, 0), kinks=(0,)),
    "gelu": unary(mf.gelu, lambda a: gelu_reference(a, "none"), -4, 4),
    "gelu tanh": unary(lambda t: mf.gelu(t, approximate="tanh"), lambda a: gelu_reference(a, "tanh"), -4, 4),
    "abs": unary(mf.abs, np.abs, kinks=(0,)),
    "maximum": choose(mf.maximum, np.maximum),
    "minimum": choose(mf.minimum, np.minimum),
    "where": draw_where,
    "clip": draw_clip,
    "sum": reduction("sum"),
    "mean": reduction("mean"),
    "max": reduction("max"),
    "min": reduction("min"),
    "logsumexp": reduction("logsumexp"),
    "var": draw_var,
    "reshape": draw_reshape,
    "transpose": draw_transpose,
    "expand": draw_expand,
    "squeeze": draw_squeeze,
    "unsqueeze": draw_unsqueeze,
    "flatten": draw_flatten,
    "getitem slices": draw_getitem_slices,
    "getitem int array": draw_getitem_int_array,
    "getitem mask": draw_getitem_mask,
    "concatenate": draw_concatenate,
    "stack": draw_stack,
    "split": draw_split,
    "pad": draw_pad,
    "matmul": draw_matmul,
    "linear": draw_linear,
    "self_attention": draw_self_attention,
    "gate_heads": draw_gate_heads,
    "frame_tokens": draw_frame_tokens,
    "overlap_add_tokens": draw_overlap_add_tokens,
    "softmax": draw_softmax("softmax"),
    "log_softmax": draw_softmax("log_softmax"),
    "cross_entropy": draw_cross_entropy,
    "sin": unary(mf.sin, np.sin, -3, 3),
    "cos": unary(mf.cos, np.cos, -3, 3),
    "tan": unary(mf.tan, np.tan, -1.2, 1.2),
    "arcsin": unary(mf.arcsin, np.arcsin, -0.9, 0.9),
    "arccos": unary(mf.arccos, np.arccos, -0.9, 0.9),
    "arctan": unary(mf.arctan, np.arctan, -3, 3),
    "arctan2": draw_arctan2,
    "sinh": unary(mf.sinh, np.sinh),
    "cosh": unary(mf.cosh, np.cosh),
    "arcsinh": unary(mf.arcsinh, np.arcsinh, -3, 3),
    "arccosh": unary(mf.arccosh, np.arccosh, 1.2, 3.0),
    "arctanh": unary(mf.arctanh, np.arctanh, -0.8, 0.8),
    "log1p": unary(mf.log1p, np.log1p, -0.8, 2.0),
    "expm1": unary(mf.expm1, np.expm1),
    "log2": unary(mf.log2, np.log2, 0.2, 3.0),
    "log10": unary(mf.log10, np.log10, 0.2, 3.0),
    "logaddexp": binary(mf.logaddexp, np.logaddexp),
    "square": unary(mf.square, np.square),
    "reciprocal": unary(mf.reciprocal, np.reciprocal, kinks=(0,), gap=0.3),
    "sign": unary(mf.sign, np.sign, kinks=(0,)),
    "floor": unary(mf.floor, np.floor, kinks=(-2, -1, 0, 1, 2)),
    "ceil": unary(mf.ceil, np.ceil, kinks=(-2, -1, 0, 1, 2)),
    "round": unary(mf.round, np.round, kinks=(-1.5, -0.5, 0.5, 1.5)),
    "remainder": draw_remainder,
    "std": draw_std,
    "prod": draw_prod,
    "cumsum": draw_scan("cumsum"),
    "cumprod": draw_scan("cumprod"),
    "diff": draw_diff,
    "flip": draw_flip,
    "roll": draw_roll,
    "repeat": draw_repeat,
    "tile": draw_tile,
    "moveaxis": draw_moveaxis,
    "ravel": unary(mf.ravel, np.ravel),
    "tril": draw_triangle("tril"),
    "triu": draw_triangle("triu"),
    "diagonal": draw_diagonal("diagonal"),
    "trace": draw_diagonal("trace"),
    "outer": draw_outer,
    "tensordot": draw_tensordot,
    "einsum": draw_einsum,
    **{name: draw_fft(name) for name in ("fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2",
                                         "fftn", "ifftn", "rfftn", "irfftn")},
}

# Ops whose inputs need more than this table draws, with the test file that checks them the same way
# (gradcheck on every backend, outputs against a reference).
TESTED_ELSEWHERE = {
    "test_complex.py": ["angle", "complex", "conj", "imag", "real"],
    "test_ops.py": ["astype"], "torch_checks/test_ops_torch.py": ["to_device"],
    "test_conv.py": ["conv2d"], "test_pool.py": ["adaptive_avg_pool2d", "avg_pool2d", "max_pool2d"],
    "test_layers.py": ["batch_norm", "layer_norm", "dropout"],
    "test_spectral.py": ["fftshift", "ifftshift"],
    "test_wavelet.py": ["haar_dwt", "haar_dwt2", "haar_idwt", "haar_idwt2", "haar_wavedec", "haar_wavedec2",
                        "haar_waverec", "haar_waverec2"],
    "test_complex_activation.py": ["mod_gelu", "mod_relu"],
}
NOT_OPS = {"detect_anomaly", "enable_grad", "gradcheck", "is_anomaly_enabled", "is_grad_enabled", "no_grad",
           "set_detect_anomaly", "tape_length", "tensor", "from_dlpack", "permute", "swapaxes"}  # permute, swapaxes: transpose


def test_the_table_covers_every_op():
    """Every function exported by minifb.autograd is in OPS, or named in the test file that checks it."""
    ops = {n for n, v in vars(mf.autograd).items() if inspect.isfunction(v) and not n.startswith("_")} - NOT_OPS
    folder = pathlib.Path(__file__).parent
    elsewhere = {op for file, names in TESTED_ELSEWHERE.items() for op in names
                 if re.search(rf"\b{op}\(", (folder / file).read_text())}
    missing = sorted(ops - {key.split()[0] for key in OPS} - elsewhere)
    assert not missing, f"ops in neither the table nor TESTED_ELSEWHERE's files: {missing}"


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_gradient(name, device, data):
    arrays, f, _ = OPS[name](data)
    assert gradcheck(f, *(mf.tensor(a, device=device) for a in arrays))


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_forward(name, device, data):
    arrays, f, reference = OPS[name](data)
    for dtype, rtol, atol in ((np.float64, 1e-12, 1e-12), (np.float32, 1e-4, 1e-4)):
        rounded = [a.astype(dtype) for a in arrays]
        out = f(*(mf.tensor(a, device=device) for a in rounded))
        # NumPy in float64 on the very same (rounded) inputs: what is left is the op's own rounding
        expected = reference(*(a.astype(np.float64) for a in rounded))
        want = np.result_type(dtype, np.complex64) if np.iscomplexobj(expected) else dtype  # FFTs: complex
        assert out.device == device
        assert out.dtype == want, f"{name}: {dtype.__name__} inputs gave {out.dtype}"
        np.testing.assert_allclose(out.numpy(), expected, rtol=rtol, atol=atol)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3), data=st.data())
def test_sum_leading_and_unbroadcast_agree_with_numpy_sums(device, xp, shape, data):
    n = data.draw(st.integers(0, len(shape)), label="leading axes")
    dtype = data.draw(st.sampled_from([np.float32, np.float64, np.complex64, np.int64]), label="dtype")
    a = uniform(data, shape).astype(dtype)
    out = sum_leading(xp.asarray(a), n)
    assert out.dtype == dtype
    np.testing.assert_allclose(mf.asnumpy(out), a.sum(axis=tuple(range(n))), rtol=1e-5, atol=1e-5)
    # unbroadcast to a shape that broadcasts up to `shape`: the sum over the broadcast axes
    target = tuple(data.draw(st.sampled_from([s, 1]), label="target side") for s in shape)[n:]
    summed = a.sum(axis=tuple(range(n)))
    summed = summed.sum(axis=tuple(i for i, s in enumerate(target) if s == 1), keepdims=True)
    np.testing.assert_allclose(mf.asnumpy(unbroadcast(xp.asarray(a), target)), summed, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_float32_backward_stays_float32(name, device, data, monkeypatch):
    """No VJP promotes float32 to float64 (the cast back would cost a copy of every gradient); a complex64
    gradient for a float32 input (the FFTs of real inputs) keeps single precision, which is what counts."""
    arrays, f, _ = OPS[name](data)
    inputs = [mf.tensor(a.astype(np.float32), requires_grad=True, device=device) for a in arrays]
    out = f(*inputs)
    promoted = []
    accumulate = tape.accumulate

    def watching_accumulate(t, g):
        if g is not None and np.finfo(g.dtype).dtype != np.finfo(t.data.dtype).dtype:
            promoted.append(f"{g.dtype} gradient for a {t.data.dtype} tensor of shape {t.shape}")
        accumulate(t, g)
    monkeypatch.setattr(tape, "accumulate", watching_accumulate)
    out.backward(np.ones(out.shape, out.dtype))
    assert not promoted
    assert all(t.grad.dtype == np.float32 for t in inputs)


def test_tensor_methods_and_operators_are_the_ops(device):
    """The Tensor front end (operators, methods, reflected operators) gives what the functions give."""
    a = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    x = mf.tensor(a, device=device)
    pairs = [
        (2 - x, 2 - a), (2 / x, 2 / a), (2 ** x, 2 ** a), (x ** 2, a ** 2), (-x, -a), (abs(x), np.abs(a)),
        (mf.backend.to_device(a, device) + x, a + a), (x @ x.T, a @ a.T), (x.T, a.T), (x.transpose(1, 0), a.T), (x.permute((1, 0)), a.T),
        (x.reshape(3, 2), a.reshape(3, 2)), (x.reshape((-1,)), a.ravel()), (x.flatten(), a.ravel()),
        (x.unsqueeze(0).squeeze(np.int64(0)), a), (x[:1].expand(4, 3), np.broadcast_to(a[:1], (4, 3))),
        (x.sum(axis=1), a.sum(axis=1)), (x.mean(), a.mean()), (x.var(axis=0, ddof=1), a.var(axis=0, ddof=1)),
        (x.max(axis=0, keepdims=True), a.max(axis=0, keepdims=True)), (x.min(), a.min()),
        (x.exp(), np.exp(a)), (x.tanh(), np.tanh(a)), (x.relu(), np.maximum(a, 0)), (x.abs(), np.abs(a)),
        (x.sigmoid(), 1 / (1 + np.exp(-a))), (abs(x).log(), np.log(np.abs(a))), (abs(x).sqrt(), np.sqrt(np.abs(a))),
        (x.float(), a.astype(np.float32)), (x.float().double(), a.astype(np.float32).astype(np.float64)),
        (x.sin(), np.sin(a)), (x.cos(), np.cos(a)), (x.tan(), np.tan(a)), (x.arctan(), np.arctan(a)),
        ((x * 0.3).arcsin(), np.arcsin(a * 0.3)), ((x * 0.3).arccos(), np.arccos(a * 0.3)),
        (x.sinh(), np.sinh(a)), (x.cosh(), np.cosh(a)), (x.arcsinh(), np.arcsinh(a)),
        ((abs(x) + 1).arccosh(), np.arccosh(np.abs(a) + 1)), ((x * 0.3).arctanh(), np.arctanh(a * 0.3)),
        (abs(x).log1p(), np.log1p(np.abs(a))), (x.expm1(), np.expm1(a)), (abs(x).log2(), np.log2(np.abs(a))),
        (abs(x).log10(), np.log10(np.abs(a))), (x.square(), a * a), (x.reciprocal(), 1 / a),
        (x.sign(), np.sign(a)), (x.floor(), np.floor(a)), (x.ceil(), np.ceil(a)), (x.round(1), np.round(a, 1)),
        (x % 0.7, a % 0.7), (3 % x, 3 % a), (x.std(axis=1, ddof=1), a.std(axis=1, ddof=1)),
        (x.prod(axis=0), a.prod(axis=0)), (x.cumsum(axis=1), a.cumsum(axis=1)), (x.cumprod(), a.cumprod()),
        (x.ravel(), a.ravel()), (x.flip(0), a[::-1]), (x.roll(1, 1), np.roll(a, 1, 1)),
        (x.repeat(2, 0), a.repeat(2, 0)), (x.tile((2, 1)), np.tile(a, (2, 1))),
        (x.moveaxis(0, 1), a.T), (x.diagonal(1), a.diagonal(1)), (x.trace(), np.asarray(a.trace())),
    ]
    for out, expected in pairs:
        assert isinstance(out, mf.Tensor) and out.dtype == expected.dtype
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert (x > 0).tolist() == (a > 0).tolist() and (x <= 0.5).tolist() == (a <= 0.5).tolist()
    assert x.astype(np.int64).dtype == np.int64 and not x.astype(np.int64).requires_grad


def test_pow_gradients_where_the_formulas_give_zero_times_infinity(device):
    """d/dx x^0 = 0 at x = 0 and d/dy 0^y = 0 at y = 0 too (the limits PyTorch takes), not NaN."""
    for dtype in (np.float64, np.float32):
        x = mf.tensor(np.array([0.0, 0.0, 2.0], dtype), requires_grad=True, device=device)
        y = mf.tensor(np.array([0.0, 1.5, 0.0], dtype), requires_grad=True, device=device)
        (x ** y).backward(np.ones(3, dtype))
        np.testing.assert_array_equal(mf.asnumpy(x.grad), [0.0, 0.0, 0.0])
        np.testing.assert_allclose(mf.asnumpy(y.grad), [0.0, 0.0, np.log(2.0)], rtol=1e-6)
        assert x.grad.dtype == y.grad.dtype == dtype


def test_casts_pass_gradients_back(device):
    x = mf.tensor(np.array([1.0, -2.0]), requires_grad=True, device=device)
    assert gradcheck(lambda t: mf.imag(t.astype(np.complex128) * (1 + 2j)) * t, x)
    z = mf.tensor(np.array([1.0 + 1.0j]), requires_grad=True, device=device)
    mf.real(z.astype(np.complex64) * 2).sum().backward()
    assert z.grad.dtype == np.complex128  # cast back to the input's dtype
    np.testing.assert_allclose(mf.asnumpy(z.grad), [2.0 + 0j])
