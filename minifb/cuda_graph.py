"""A whole training step recorded once as a CUDA graph and replayed for every new batch.

On the GPU most of an eager step's time is the host's: Python, the tape, and one kernel launch
per array operation. CUDA can record the kernels that a stream receives (stream capture) into a
graph and launch the whole graph again with one call, each kernel then costing about a
microsecond. ``CapturedStep`` does that for a step function of fixed-shape inputs:

    step = CapturedStep(train_step, optimizers=[optimizer])   # train_step(x, y) -> loss tensor
    for x, y in batches:
        loss = step(x, y)          # 1st call: eager (warm-up), 2nd: recorded and launched, then replayed

A replay runs no Python, so the step must be the same kernels on the same memory every time:

- inputs are copied into static buffers that the graph reads;
- everything allocated while recording comes from a memory pool of the graph's own, which nothing
  else uses, so the addresses baked into the graph stay the graph's (outputs stay valid until the
  next call);
- nothing in the step reads device values on the host: label checks are deferred
  (``minifb.deferred_checks``; ``check()`` reads them), dropout draws from ``minifb.philox``,
  whose state is on the device, Adam keeps its step count and learning rate there
  (``Optimizer.sync_device_state`` is called before each replay, so schedules apply);
- matrix products go through ``minifb.cublas`` (CuPy's own cannot be captured).

Every call, eager or replayed, runs in ``backend.graph_safe()``, which selects those capturable forms,
so the warm-up call and a replay compute the same numbers; code outside a CapturedStep is unchanged.

Inputs of a new shape (the last, smaller batch of an epoch) get a graph of their own. If recording
fails, the step runs eagerly from then on, and ``fallback_reason`` says why. On the CPU the step
always runs eagerly.
"""
from __future__ import annotations

import warnings

from . import backend
from .autograd.tensor import Tensor
from .deferred_checks import Deferred, deferred


class CapturedStep:
    """``step(*arrays)``: ``function(*tensors)`` replayed from a CUDA graph after one eager warm-up call.

    ``function`` takes minifb Tensors (the inputs, without gradients) and returns a Tensor or a tuple
    of Tensors; the call takes arrays (or Tensors, whose arrays are used) and returns the outputs'
    arrays. ``optimizers`` are those the step updates.
    """

    def __init__(self, function, optimizers=(), enabled: bool = True):
        if not callable(function):
            raise TypeError(f"CapturedStep: function must be callable, got {type(function).__name__}")
        self.function = function
        self.optimizers = list(optimizers)
        self.enabled = enabled
        self.fallback_reason = None if enabled else "capture switched off"
        self.checks = Deferred()  # device-side checks of every call, read by check()
        self._graphs = {}  # input signature -> _Recording
        self._warm = set()  # signatures that have had their eager warm-up call

    def __call__(self, *inputs):
        if not inputs:
            raise ValueError("CapturedStep: call it with the step's input arrays")
        arrays = tuple(a.data if isinstance(a, Tensor) else a for a in inputs)
        on_gpu = all(backend.is_cupy_array(a) for a in arrays)
        if not (self.enabled and on_gpu and self.fallback_reason is None):
            if self.enabled and not on_gpu and self.fallback_reason is None:
                self.fallback_reason = "inputs are not CuPy arrays (CUDA graphs need the GPU)"
            return self._eager(arrays)
        signature = tuple((a.shape, a.dtype.str) for a in arrays)
        recording = self._graphs.get(signature)
        if recording is None:
            if signature not in self._warm:  # compile kernels, make plans and optimizer state first
                self._warm.add(signature)
                return self._eager(arrays)
            recording = self._record(arrays, signature)
            if recording is None:
                return self._eager(arrays)
        return recording.replay(arrays, self.optimizers)

    def check(self) -> None:
        """Raise the error of any deferred check that failed since the step was made (waits for the GPU)."""
        self.checks.check()

    @property
    def captured(self) -> bool:
        """True once a graph has been recorded and the step replays it."""
        return bool(self._graphs)

    def _eager(self, arrays):
        with backend.graph_safe(), deferred(self.checks):
            return _arrays(self.function(*(Tensor(a) for a in arrays)))

    def _record(self, arrays, signature):
        cupy = backend.xp_for("cuda")
        try:
            recording = _Recording(cupy, self.function, arrays, self.optimizers, self.checks)
        except Exception as error:  # a step that cannot be captured still trains, eagerly
            self.fallback_reason = f"{type(error).__name__}: {error}"
            warnings.warn(f"CapturedStep: the step could not be captured as a CUDA graph, it runs eagerly "
                          f"({self.fallback_reason})", RuntimeWarning, stacklevel=3)
            return None
        self._graphs[signature] = recording
        return recording


class _Recording:
    """One recorded graph: its stream, memory pool, static inputs and the outputs it writes."""

    def __init__(self, cupy, function, arrays, optimizers, checks):
        self.stream = cupy.cuda.Stream()
        self.pool = cupy.cuda.MemoryPool()
        self.inputs = [cupy.empty_like(a) for a in arrays]
        for opt in optimizers:
            opt.sync_device_state()
        backend.synchronize()
        with self.stream, cupy.cuda.using_allocator(self.pool.malloc), backend.graph_safe(), deferred(checks):
            self.stream.begin_capture()
            try:
                self.outputs = _arrays(function(*(Tensor(a) for a in self.inputs)))
            except BaseException:
                try:
                    self.stream.end_capture()  # leave the stream usable, then report the first error
                except Exception:
                    pass
                raise
            self.graph = self.stream.end_capture()

    def replay(self, arrays, optimizers):
        with self.stream:
            for static, a in zip(self.inputs, arrays):
                static[...] = a
            for opt in optimizers:
                opt.sync_device_state()
            self.graph.launch(self.stream)
        return self.outputs


def _arrays(result):
    """The arrays of a step's Tensor or tuple of Tensors (a tuple in, a tuple out)."""
    if isinstance(result, tuple):
        return tuple(r.data if isinstance(r, Tensor) else r for r in result)
    return result.data if isinstance(result, Tensor) else result
