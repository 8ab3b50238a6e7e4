"""Kernel sources of minifb's CuPy ElementwiseKernels, compiled for the host (g++), so that their
arithmetic is checked on machines without a GPU. CuPy's conventions are kept: ``T`` is the element
type, ``i`` the element index, raw arrays are indexed directly, other arrays name one element."""
from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

_C_TYPES = {"float32": "float", "float64": "double", "int64": "long long", "uint64": "unsigned long long",
            "int32": "int", "bool": "bool"}
_PRELUDE = """
#include <cmath>
#include <cstdint>
using std::pow; using std::sqrt;
#define __device__
static inline unsigned int __umulhi(unsigned int a, unsigned int b) {
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
"""
_CACHE = Path(tempfile.gettempdir()) / "minifb-host-kernels"


def available() -> bool:
    return shutil.which("g++") is not None


def compile_library(source: str) -> ctypes.CDLL:
    """Compile C++ ``source`` (after the prelude) into a shared library, cached by its text."""
    text = _PRELUDE + source
    _CACHE.mkdir(exist_ok=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    library = _CACHE / f"k{digest}.so"
    if not library.exists():
        cpp = _CACHE / f"k{digest}.cpp"
        cpp.write_text(text)
        scratch = library.with_suffix(".tmp.so")
        subprocess.run(["g++", "-O1", "-shared", "-fPIC", "-o", str(scratch), str(cpp)], check=True,
                       capture_output=True, text=True)
        scratch.replace(library)
    return ctypes.CDLL(str(library))


def elementwise(in_params: str, out_params: str, body: str, preamble: str = "", T: str = "float32",
                scalars: tuple = ()):
    """A host function ``f(*args, size)`` running ``body`` for i in range(size), as CuPy would on the GPU.

    Parameters are given as to ``cupy.ElementwiseKernel``; ``scalars`` names the non-raw parameters
    that a call passes as scalars (CuPy decides that from the call; here it is stated).
    """
    params = []
    for decl in (in_params + "," + out_params).split(","):
        words = decl.split()
        raw = words[0] == "raw"
        kind, name = words[-2], words[-1]
        ctype = _C_TYPES[T] if kind == "T" else _C_TYPES[kind]
        params.append((name, ctype, "raw" if raw else "scalar" if name in scalars else "element"))
    signature = ", ".join(f"{c} {n}" if k == "scalar" else f"{c}* {n}{'_all' if k == 'element' else ''}"
                          for n, c, k in params)
    binds = "".join(f"{c}& {n} = {n}_all[i]; " for n, c, k in params if k == "element")
    source = (f"typedef {_C_TYPES[T]} T;\n{preamble}\n"
              f'extern "C" void run({signature}, long long size) {{\n'
              f"    for (long long i = 0; i < size; ++i) {{ {binds}\n{body}\n    }}\n}}\n")
    function = compile_library(source).run

    def call(*args, size):
        converted = []
        for (name, ctype, kind), value in zip(params, args):
            if kind == "scalar":
                converted.append({"float": ctypes.c_float, "double": ctypes.c_double, "bool": ctypes.c_bool,
                                  "long long": ctypes.c_longlong, "int": ctypes.c_int,
                                  "unsigned long long": ctypes.c_ulonglong}[ctype](value))
            else:
                assert isinstance(value, np.ndarray) and value.flags.c_contiguous, name
                converted.append(ctypes.c_void_p(value.ctypes.data))
        function(*converted, ctypes.c_longlong(size))
    return call
