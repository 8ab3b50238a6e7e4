"""Sums of products over named axes: outer, tensordot and einsum.

For a product that is linear in each operand, the gradient of an operand is the same contraction
of g with the conjugates of the *other* operands, landing on that operand's axes. einsum's VJP
is written so, as another einsum; an axis that only this operand has (summed away in the
forward) gets the gradient broadcast along it, and a label repeated inside one operand (a
diagonal, "ii->i") gets it written back onto that diagonal.
"""
from __future__ import annotations

import string

import numpy as np

from ..backend import get_array_module
from .function import conj, normalize_axis, primitive, tensors


@primitive("outer", inputs=2)
def outer(a, b):
    """out_ij = a_i b_j of the flattened a and b;  dL/da = g @ conj(b),  dL/db = conj(a) @ g."""
    xp = get_array_module(a.data, b.data)
    u, v = a.data.reshape(-1), b.data.reshape(-1)
    return u[:, None] * v[None, :], (lambda g: xp.matmul(g, conj(v)).reshape(a.shape),
                                     lambda g: xp.matmul(conj(u), g).reshape(b.shape))


def tensordot(a, b, axes=2):
    """Sum over a's axes ``axes[0]`` against b's ``axes[1]`` (an int n: a's last n against b's first n),
    as ``numpy.tensordot``; each gradient is g contracted with the other operand's free axes."""
    a, b = tensors("tensordot", a, b)
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={axes} does not fit shapes {a.shape} and {b.shape}")
        summed_a, summed_b = list(range(a.ndim - axes, a.ndim)), list(range(int(axes)))
    else:
        try:
            summed_a, summed_b = ([x] if isinstance(x, (int, np.integer)) else list(x) for x in axes)
        except (TypeError, ValueError):
            raise ValueError(f"tensordot: axes must be an int or two lists of axes, got {axes!r}") from None
        summed_a = [normalize_axis("tensordot", x, a.ndim, a.shape) for x in summed_a]
        summed_b = [normalize_axis("tensordot", x, b.ndim, b.shape) for x in summed_b]
    repeated = len(set(summed_a)) != len(summed_a) or len(set(summed_b)) != len(summed_b)
    if repeated or [a.shape[i] for i in summed_a] != [b.shape[i] for i in summed_b]:
        raise ValueError(f"tensordot: axes {summed_a} of shape {a.shape} do not match axes {summed_b} "
                         f"of shape {b.shape}")
    letters = iter(string.ascii_letters)
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(summed_a, summed_b):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in summed_a]
    out += [c for j, c in enumerate(sb) if j not in summed_b]
    return einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)


def einsum(subscripts: str, *operands):
    """Einstein summation as ``numpy.einsum`` (explicit '->' or implicit output, '...' allowed);
    dL/d(operand k) = einsum of g and the conjugated other operands onto operand k's labels."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {subscripts!r}")
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    return _einsum(*operands, subscripts=subscripts)


@primitive("einsum", inputs=None)
def _einsum(*ops, subscripts):
    """einsum(subscripts, *ops) of the tensors ``ops``."""
    inputs, output = _parse(subscripts, [t.shape for t in ops])
    sizes = {}  # a label's length; length 1 broadcasts against any other, as in NumPy
    for labels, t in zip(inputs, ops):
        for c, n in zip(labels, t.shape):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(f"einsum: label {c!r} has lengths {sizes[c]} and {n} in {subscripts!r} "
                                 f"(shapes {[t.shape for t in ops]})")
            sizes[c] = max(sizes.get(c, 1), n)
    xp = get_array_module(*[t.data for t in ops])
    plan = ",".join(inputs) + "->" + output
    out = xp.einsum(plan, *[t.data for t in ops], optimize=len(ops) > 2)

    def operand_vjp(k, labels, t):
        def vjp(g):
            others = [(s, conj(o.data)) for j, (s, o) in enumerate(zip(inputs, ops)) if j != k]
            own = dict(zip(labels, t.shape))
            unique = "".join(own)
            # Labels only this operand has get the same gradient all along them; labels where it has
            # length 1 against a longer one elsewhere (broadcast) are summed over.
            reached = "".join(c for c in unique if own[c] == sizes[c] and
                              (c in output or any(c in s for s, _ in others)))
            spec = ",".join([output] + [s for s, _ in others]) + "->" + reached
            part = xp.einsum(spec, g, *[o for _, o in others], optimize=len(others) > 1)
            part = xp.broadcast_to(part.reshape([own[c] if c in reached else 1 for c in unique]),
                                   [own[c] for c in unique])
            return _onto_diagonals(xp, part, unique, labels, t.shape)
        return vjp
    return out, [operand_vjp(k, labels, t) for k, (labels, t) in enumerate(zip(inputs, ops))]


def _onto_diagonals(xp, part, unique, labels, shape):
    """``part`` (one axis per distinct label) as an array of ``labels``' shape: where a label repeats,
    the values go onto that diagonal and zeros elsewhere."""
    if len(unique) == len(labels):
        return part.transpose([unique.index(c) for c in labels])
    full = xp.zeros(shape, dtype=part.dtype)
    ranges = {c: xp.arange(part.shape[q]).reshape([-1 if p == q else 1 for p in range(len(unique))])
              for q, c in enumerate(unique)}
    full[tuple(ranges[c] for c in labels)] = part
    return full


def _parse(subscripts, shapes):
    """Explicit labels for every operand and the output ('...' replaced by unused letters)."""
    text = subscripts.replace(" ", "")
    inputs_text, arrow, output = text.partition("->")
    inputs = inputs_text.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: {subscripts!r} names {len(inputs)} operand(s), got {len(shapes)}")
    free = iter(c for c in string.ascii_letters if c not in text)
    ellipsis_ndim = 0
    for labels, shape in zip(inputs, shapes):
        named = len(labels.replace("...", ""))
        if not all(c in string.ascii_letters for c in labels.replace("...", "")) or labels.count("...") > 1:
            raise ValueError(f"einsum: bad subscripts {subscripts!r}")
        if ("..." not in labels and named != len(shape)) or named > len(shape):
            raise ValueError(f"einsum: {labels!r} does not fit an operand of shape {tuple(shape)}")
        if "..." in labels:
            ellipsis_ndim = max(ellipsis_ndim, len(shape) - named)
    batch = "".join(next(free) for _ in range(ellipsis_ndim))
    expanded = []
    for labels, shape in zip(inputs, shapes):
        if "..." in labels:
            own = len(shape) - len(labels.replace("...", ""))
            labels = labels.replace("...", batch[ellipsis_ndim - own:])
        expanded.append(labels)
    if arrow:
        if not all(c in string.ascii_letters for c in output.replace("...", "")) or output.count("...") > 1:
            raise ValueError(f"einsum: bad output subscripts in {subscripts!r}")
        output = output.replace("...", batch)
        missing = [c for c in output if not any(c in s for s in expanded)]
        if missing or len(set(output)) != len(output):
            raise ValueError(f"einsum: output labels {output!r} must be distinct labels of the inputs "
                             f"in {subscripts!r}")
    else:  # implicit: the labels that appear once, in alphabetical order, after the '...' axes
        counts = {}
        for c in inputs_text.replace("...", "").replace(",", ""):
            counts[c] = counts.get(c, 0) + 1
        output = batch + "".join(sorted(c for c, n in counts.items() if n == 1))
    return expanded, output
