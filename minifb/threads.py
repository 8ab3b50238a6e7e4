"""How many threads NumPy's BLAS (OpenBLAS) uses, changed for a block of code.

On a busy machine a BLAS that splits each small matrix product over several threads spends its
time waiting for them: a small FeedbackCNN's training step measured 4 to 13 times slower with 2
OpenBLAS threads than with 1 on two cores shared with other work. OpenBLAS reads its thread count
only when it loads, so changing it afterwards takes its own ``openblas_set_num_threads``
function, found here in the OpenBLAS library that NumPy has loaded (NumPy's wheels bundle one;
its symbols carry a prefix and a suffix). Elsewhere (another BLAS, another system) nothing
changes and the block runs as is.
"""
from __future__ import annotations

import contextlib
import ctypes
import pathlib

import numpy as np

_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "")


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries mapped into this process (Linux), else those beside NumPy."""
    maps = pathlib.Path("/proc/self/maps")
    if maps.is_file():
        return sorted({line.split()[-1] for line in maps.read_text().splitlines()
                       if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    folder = pathlib.Path(np.__file__).parent
    return sorted(str(p) for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*")
                  for p in folder.glob(pattern))


def _controls():
    """(get, set) function pairs of every OpenBLAS that NumPy may use."""
    pairs = []
    for path in _loaded_openblas():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    pairs.append((get, put))
                    break
            else:
                continue
            break
    return pairs


@contextlib.contextmanager
def blas_threads(count: int):
    """``with blas_threads(1): ...`` runs the block with ``count`` OpenBLAS threads, then restores
    the previous number. Yields True when a BLAS was found and set, False when nothing changed."""
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"blas_threads: count must be an integer >= 1, got {count!r}")
    controls = _controls()
    previous = [get() for get, _ in controls]
    for _, put in controls:
        put(ctypes.c_int(count))
    try:
        yield bool(controls)
    finally:
        for (_, put), n in zip(controls, previous):
            put(ctypes.c_int(n))
