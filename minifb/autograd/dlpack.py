"""Arrays from other libraries in and out without copies, through DLPack (the array-interchange protocol
of the Python array API): ``from_dlpack`` makes a tensor on the memory of a NumPy, CuPy or PyTorch
array (or any object with ``__dlpack__``), and a Tensor's ``__dlpack__`` lets ``numpy.from_dlpack``,
``cupy.from_dlpack`` and ``torch.from_dlpack`` read its data. Host memory becomes a NumPy array,
CUDA memory a CuPy array. The memory is shared: writes on one side show on the other, and no
gradient crosses (export a tensor that requires grad and you get its values).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .tensor import Tensor

_CPU, _CUDA = 1, 2  # DLPack's device types kDLCPU and kDLCUDA


def from_dlpack(obj, requires_grad: bool = False) -> Tensor:
    """A leaf tensor sharing the memory of ``obj`` (host memory: NumPy; CUDA memory: CuPy), no copy."""
    if not (hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__")):
        raise TypeError(f"from_dlpack: needs an object with __dlpack__ and __dlpack_device__ "
                        f"(a NumPy, CuPy or PyTorch array), got {type(obj).__name__}")
    kind, index = obj.__dlpack_device__()
    if kind not in (_CPU, _CUDA):
        raise ValueError(f"from_dlpack: the {type(obj).__name__} lives on DLPack device type {int(kind)} "
                         f"(index {index}); minifb holds host memory (type {_CPU}) and CUDA memory "
                         f"(type {_CUDA})")
    xp = np if kind == _CPU else backend.xp_for("cuda")
    try:
        data = xp.from_dlpack(obj)
    except (BufferError, RuntimeError, TypeError, ValueError) as e:  # e.g. a PyTorch tensor needing grad
        raise ValueError(f"from_dlpack: the {type(obj).__name__} could not be shared: {e}") from e
    return Tensor(data, requires_grad=requires_grad)
