"""Compare arrays by name: check your own implementation against minifb's reference exports.

``python -m minifb reference MODEL --out ref.npz`` writes a model's weights, inputs, logits, loss
and gradients (see minifb/reference.py). Compute the same quantities with your implementation
and hand them to :func:`compare`::

    from minifb.testing import compare
    compare("ref.npz", {"logits": my_logits, "loss": my_loss, "grad/head.weight": ...},
            keys=("logits", "loss", "grad/"))

An element passes when ``|actual - expected| <= atol + rtol * |expected|`` (the rule of
``numpy.isclose``). With ``scale_atol=True`` the absolute part is relative to the whole array,
``atol * max|expected|``: the right test for float32 results of long sums, whose rounding errors
grow with the size of the terms summed, not with each (possibly cancelled, near-zero) result.
For each array the report gives the largest absolute error, the largest relative error
``|actual - expected| / |expected|`` (over the elements whose expected value is not 0) and the
index of the worst element (the one furthest beyond its tolerance). Names that
are expected but missing, or given but not expected, are mismatches too: a misspelt key must
not pass unnoticed. The module also moves weights between minifb and PyTorch
(:func:`torch_state_dict`, :func:`cast`) for the cross-checks in tests/torch_checks, and between
minifb's names and layouts and another implementation's (:class:`NameMap`, with the maps of the
two public implementations, :data:`FFTNET_B3CC304` and :data:`CBL_CNN_UPSTREAM`).
"""
from __future__ import annotations

import dataclasses
import os
import re

import numpy as np

from . import backend
from .autograd.tensor import Tensor


class MismatchError(AssertionError):
    """Raised by :func:`compare` when arrays differ beyond the tolerance; the message is the report."""


@dataclasses.dataclass
class Row:
    """The outcome for one name: ``status`` is 'ok', 'mismatch', 'shape' (a different shape, or real
    values where complex ones were expected), 'missing' or 'extra'."""

    key: str
    status: str
    max_abs: float = 0.0
    max_rel: float = 0.0
    index: tuple = ()
    expected: object = None  # the worst element's expected and actual values
    actual: object = None
    note: str = ""

    def __str__(self):
        if self.status in ("missing", "extra", "shape"):
            return f"{self.status.upper():8s} {self.key}: {self.note}"
        text = (f"{'ok' if self.status == 'ok' else 'MISMATCH':8s} {self.key}: max abs err "
                f"{self.max_abs:.3e}, max rel err {self.max_rel:.3e}")
        if self.status != "ok":
            text += f", worst at {self.index}: expected {self.expected!r}, got {self.actual!r}"
        return text


@dataclasses.dataclass
class Report:
    """The rows of a comparison; true when every row passed. ``str(report)`` is the printed table."""

    rows: list
    rtol: float
    atol: float
    scale_atol: bool = False

    @property
    def ok(self) -> bool:
        return all(row.status == "ok" for row in self.rows)

    def __bool__(self):
        return self.ok

    def __str__(self):
        failed = sum(row.status != "ok" for row in self.rows)
        atol = f"{self.atol:g} x max|expected|" if self.scale_atol else f"{self.atol:g}"
        head = (f"compare (rtol={self.rtol:g}, atol={atol}): {len(self.rows) - failed} of {len(self.rows)} "
                f"arrays match" + ("" if not failed else f", {failed} do not"))
        return "\n".join([head] + ["  " + str(row) for row in self.rows])


def to_numpy(value) -> np.ndarray:
    """A numpy array of a numpy/cupy array, a minifb Tensor, a PyTorch tensor or a Python number."""
    if isinstance(value, Tensor):
        return backend.asnumpy(value.data)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a PyTorch tensor, without importing torch
        value = value.detach().cpu()
        if getattr(value, "is_conj", lambda: False)():
            value = value.resolve_conj()
        return value.numpy()
    return backend.asnumpy(value)


def _load(expected) -> dict:
    if isinstance(expected, (str, os.PathLike)):
        with np.load(expected, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    if hasattr(expected, "files"):  # an open NpzFile
        return {key: expected[key] for key in expected.files}
    return dict(expected)


def _selected(key: str, keys) -> bool:
    return keys is None or any(key == k or (k.endswith("/") and key.startswith(k)) for k in keys)


def _largest_finite(array) -> float:
    magnitudes = np.abs(to_numpy(array))
    return float(magnitudes[np.isfinite(magnitudes)].max(initial=0.0))


def compare_arrays(key: str, expected, actual, rtol: float, atol: float) -> Row:
    """One row of the report: how far ``actual`` is from ``expected``."""
    e, a = to_numpy(expected), to_numpy(actual)
    if e.shape != a.shape:
        return Row(key, "shape", note=f"expected shape {e.shape}, got {a.shape}")
    if e.dtype.kind == "c" and a.dtype.kind != "c":
        return Row(key, "shape", note=f"expected complex values ({e.dtype}), got {a.dtype}")
    if e.size == 0:
        return Row(key, "ok")
    e64 = e.astype(np.complex128 if e.dtype.kind == "c" or a.dtype.kind == "c" else np.float64)
    a64 = a.astype(e64.dtype)
    with np.errstate(invalid="ignore"):  # inf - inf: handled just below
        diff = np.abs(a64 - e64)
    scale = np.abs(e64)
    # NaN or inf where the other side differs counts as an infinite error.
    same_nonfinite = (~np.isfinite(e64) & (e64 == a64)) | (np.isnan(e64) & np.isnan(a64))
    diff = np.where(same_nonfinite, 0.0, np.where(np.isfinite(diff), diff, np.inf))
    excess = diff - (atol + rtol * np.where(np.isfinite(scale), scale, 0.0))
    worst = np.unravel_index(int(np.argmax(excess)), e.shape)
    nonzero = scale > 0
    rel = diff[nonzero] / scale[nonzero] if nonzero.any() else np.zeros(1)
    return Row(key, "ok" if excess[worst] <= 0 else "mismatch", float(diff.max()), float(rel.max()),
               tuple(int(i) for i in worst), e[worst].item(), a[worst].item())


def compare(expected, actual: dict, rtol: float = 1e-5, atol: float = 1e-8, keys=None,
            raise_on_mismatch: bool = True, verbose: bool = True, scale_atol: bool = False) -> Report:
    """Compare ``actual`` (name -> array) with ``expected`` (a .npz path, an open npz or a dict).

    ``keys`` selects the expected names to check (an exact name, or a prefix ending in '/', such
    as 'grad/'); by default every numeric entry of ``expected`` (string entries, like a reference
    file's JSON 'config', are skipped). Every selected name must be in ``actual`` and every name
    of ``actual`` must be expected. Arrays may be numpy, cupy, minifb or PyTorch tensors.
    ``scale_atol`` makes ``atol`` a fraction of each expected array's largest magnitude.

    Prints the report when ``verbose``. Returns the :class:`Report` (true when all match); on a
    mismatch raises :class:`MismatchError` with the report as message, or, with
    ``raise_on_mismatch=False``, returns the report, which is then false.
    """
    if rtol < 0 or atol < 0:
        raise ValueError(f"compare: rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    if not isinstance(actual, dict):
        raise TypeError(f"compare: actual must be a dict of name -> array, got {type(actual).__name__}")
    expected = _load(expected)
    wanted = [k for k in expected if _selected(k, keys) and np.asarray(expected[k]).dtype.kind in "biufc"]
    if keys is not None:
        for k in keys:
            if not any(_selected(name, (k,)) for name in expected):
                raise KeyError(f"compare: {k!r} selects nothing among the expected names {sorted(expected)}")
    rows = []
    for key in wanted:
        if key in actual:
            rows.append(compare_arrays(key, expected[key], actual[key], rtol,
                                       atol * _largest_finite(expected[key]) if scale_atol else atol))
        else:
            rows.append(Row(key, "missing", note="expected but not given"))
    for key in actual:
        if key not in wanted:
            note = "not selected by keys" if key in expected else "not in the expected arrays"
            rows.append(Row(key, "extra", note=note))
    report = Report(rows, rtol, atol, scale_atol)
    if verbose:
        print(report)
    if not report.ok and raise_on_mismatch:
        raise MismatchError(str(report))
    return report


# ---- moving weights between minifb and PyTorch -------------------------------------------------

# minifb's MultiHeadSelfAttention against torch.nn.MultiheadAttention: the ``qkv`` Linear stacks
# the Q, K and V projections as rows (3D, D), exactly PyTorch's in_proj_weight; ``proj`` is out_proj.
ATTENTION_TO_TORCH = (("qkv.weight", "in_proj_weight"), ("qkv.bias", "in_proj_bias"),
                      ("proj.weight", "out_proj.weight"), ("proj.bias", "out_proj.bias"))


def torch_state_dict(state, renames=()) -> dict:
    """minifb state (a Module or its ``state_dict()``) under PyTorch's names, as numpy arrays.

    minifb names its weights as PyTorch does (dotted attribute paths, Linear and Conv2d weights
    as (out, in, ...), BatchNorm's running_mean, running_var and num_batches_tracked), so an
    equivalent PyTorch model with the same attribute names loads it unchanged:
    ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict(model).items()})``.
    ``renames`` is a sequence of (minifb name, PyTorch name) pairs for modules named differently,
    e.g. :data:`ATTENTION_TO_TORCH`: a key equal to the minifb name, or ending in '.' plus it, gets
    that ending replaced ("blocks.0.attn.qkv.weight" -> "blocks.0.attn.in_proj_weight").
    """
    if hasattr(state, "state_dict"):
        state = state.state_dict()
    out = {}
    for key, value in state.items():
        name = key
        for old, new in renames:
            if name == old or name.endswith("." + old):
                name = name[:len(name) - len(old)] + new
                break
        if name in out:
            raise ValueError(f"torch_state_dict: renames {renames} map two names onto {name!r}")
        out[name] = to_numpy(value)
    return out


def cast(module, dtype):
    """Cast every floating-point parameter and buffer of ``module`` to ``dtype`` in place (float64
    for tight comparisons); integer buffers (counters) stay. Gradients are dropped. Returns the module."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"cast: expected a floating-point dtype, got {dtype}")
    for p in module.parameters():
        if p.data.dtype.kind == "f":
            p.data = p.data.astype(dtype)
        elif p.data.dtype.kind == "c":
            p.data = p.data.astype(np.result_type(dtype, np.complex64))
        p.grad = None
    for path, b in list(module.named_buffers()):
        if b.dtype.kind == "f":
            *parents, name = path.split(".")
            owner = module
            for part in parents:
                owner = getattr(owner, part)
            setattr(owner, name, b.astype(dtype))
    return module


# ---- another implementation's names and layouts -------------------------------------------------

class NameMap:
    """minifb's state-dict names <-> another implementation's, with the layouts they differ in.

    ``renames``: ordered (regex, replacement) pairs; each minifb name takes the first pattern that
    matches it (``re.sub`` with that pattern, so groups like ``\\1`` carry layer numbers) and keeps
    its name when none does. ``other_only``: regexes of the other implementation's parameters that
    minifb does not have (:data:`CBL_CNN_UPSTREAM` has three). An array whose two shapes differ is
    reshaped when they agree in their first (output) axis and in size: a patch embedding is a
    Linear (D, C p p) in minifb and a Conv2d (D, C, p, p) elsewhere, the same numbers in the same
    (c, i, j) order. Any other difference in shape is an error, as is a name that two names map onto.
    """

    def __init__(self, renames, other_only=()):
        self.renames = tuple((re.compile(pattern), replacement) for pattern, replacement in renames)
        self.other_only = tuple(re.compile(pattern) for pattern in other_only)

    def name(self, minifb_name: str) -> str:
        """The other implementation's name of one minifb name."""
        for pattern, replacement in self.renames:
            if pattern.search(minifb_name):
                return pattern.sub(replacement, minifb_name)
        return minifb_name

    def names(self, minifb_names) -> dict:
        """{minifb name: other name} for every name given; two names onto one raise ValueError."""
        mapping, seen = {}, {}
        for name in minifb_names:
            other = self.name(name)
            if other in seen:
                raise ValueError(f"NameMap: {seen[other]!r} and {name!r} both map onto {other!r}")
            mapping[name], seen[other] = other, name
        return mapping

    def is_other_only(self, other_name: str) -> bool:
        """True for a parameter of the other implementation that has no counterpart in minifb."""
        return any(pattern.search(other_name) for pattern in self.other_only)

    def to_other(self, arrays: dict, shapes=None) -> dict:
        """minifb's {name: array} under the other names, as numpy arrays; with ``shapes`` (the other
        model's ``state_dict()``, or {name: shape}) each array takes the other's layout."""
        out = {}
        for name, other in self.names(arrays).items():
            out[other] = _in_layout(to_numpy(arrays[name]), shapes, other, name)
        return out

    def to_minifb(self, arrays: dict, shapes=None) -> dict:
        """The other implementation's {name: array} (e.g. its gradients) under minifb's names, in
        minifb's layouts when ``shapes`` (minifb's state dict, a reference file's weights, or
        {name: shape}) is given. Needs the minifb names: they come from ``shapes``; values of None
        (parameters that took no part in the loss) and ``other_only`` names are left out."""
        if shapes is None:
            raise ValueError("NameMap.to_minifb: pass shapes (minifb's names and shapes) to map names back")
        back = {other: name for name, other in self.names(shapes).items()}
        out = {}
        for other, value in arrays.items():
            if value is None or self.is_other_only(other):
                continue
            if other not in back:
                raise KeyError(f"NameMap.to_minifb: {other!r} is no minifb name's counterpart (and not "
                               "other_only)")
            out[back[other]] = _in_layout(to_numpy(value), shapes, back[other], other)
        return out


def _shape_of(value) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else tuple(value.shape)


def _in_layout(array: np.ndarray, shapes, name: str, source: str) -> np.ndarray:
    """``array`` reshaped to ``shapes[name]`` (see NameMap); unchanged without ``shapes``."""
    if shapes is None:
        return array
    if name not in shapes:
        raise KeyError(f"NameMap: {source!r} maps onto {name!r}, which the given shapes do not have")
    want = _shape_of(shapes[name])
    if array.shape == want:
        return array
    if array.size == int(np.prod(want)) and array.ndim and len(want) and array.shape[0] == want[0]:
        return array.reshape(want)
    raise ValueError(f"NameMap: {source!r} has shape {array.shape}, its counterpart {name!r} has shape "
                     f"{want}")


def reference_arrays(reference, prefix: str = "weights/") -> dict:
    """The arrays of a reference file (path, open npz or dict) under ``prefix``, without it:
    ``reference_arrays(ref)`` is minifb's state dict, ``reference_arrays(ref, "grad/")`` its gradients."""
    arrays = _load(reference)
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


# minifb's fftnet-vit with mixer_norm="post" -> the FFTNet of jacobfa/fft at commit b3cc304
# (cifar/fftnet_modules.py: MultiHeadSpectralAttention inside TransformerEncoderBlock; the ViT
# around them named as that commit's cifar/fftnet_vit.py names it). See docs/validate.md.
FFTNET_B3CC304 = NameMap([
    (r"^stem\.proj\.", "patch_embed.proj."),
    (r"^stem\.cls_token$", "cls_token"),
    (r"^stem\.pos_embedding$", "pos_embed"),
    (r"^stages\.(\d+)\.norm1\.", r"blocks.\1.attention.norm."),
    (r"^stages\.(\d+)\.mixer\.filter\.modulation\.", r"blocks.\1.attention.adaptive_mlp."),
    (r"^stages\.(\d+)\.mixer\.filter\.w_base$", r"blocks.\1.attention.base_filter"),
    (r"^stages\.(\d+)\.mixer\.filter\.bias$", r"blocks.\1.attention.modrelu_bias"),
    (r"^stages\.(\d+)\.norm2\.", r"blocks.\1.norm."),
    (r"^stages\.(\d+)\.mlp\.fc1\.", r"blocks.\1.mlp.0."),
    (r"^stages\.(\d+)\.mlp\.fc2\.", r"blocks.\1.mlp.3."),
    (r"^head\.norm\.", "norm."),
    (r"^head\.linear\.", "head."),
])

# minifb's feedback-cnn with alpha="raw" (head-only, T = 2) -> CBL_CNN of
# contextualbackpropagationloops/cbl (cbl_model.py). Its three convolutional adapters refine
# h1..h3, which never reach the logits: minifb has no counterpart (other_only).
CBL_CNN_UPSTREAM = NameMap([
    (r"^network\.stages\.0\.0\.", "conv1."),
    (r"^network\.stages\.1\.0\.", "conv2."),
    (r"^network\.stages\.2\.0\.", "conv3."),
    (r"^network\.stages\.3\.1\.", "fc1."),
    (r"^network\.head\.1\.", "fc2."),
    (r"^context\.", "g."),
    (r"^adapters\.0\.", "adapter_fc1.0."),
    (r"^alphas$", "alpha"),
], other_only=[r"^adapter_conv[123]\."])
