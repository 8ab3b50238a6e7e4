"""Module and Parameter: how layers hold their weights, their state and their sub-layers.

A layer subclasses :class:`Module`, calls ``super().__init__()`` first and then assigns its
pieces as attributes; ``__setattr__`` sorts them, in order of assignment::

    class Affine(Module):
        def __init__(self, d):
            super().__init__()
            self.scale = Parameter(np.ones(d, np.float32))   # trained: in parameters()
            self.register_buffer("calls", np.zeros((), np.int64))  # saved, not trained
            self.inner = Identity()                          # a sub-module: in children()

        def forward(self, x):
            return self.inner(x) * self.scale

Names are dotted paths ("blocks.0.mix.w_base"), the same in ``named_parameters()`` and
``state_dict()``, so weights map one to one onto PyTorch's for cross-checks. Parameters are
Tensors (leaves with ``requires_grad``); buffers are raw arrays. Modules are built on the CPU
and moved with ``.to(device)``, which moves every array in place.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor


class Parameter(Tensor):
    """A trained weight: a leaf tensor with ``requires_grad=True``.

    ``Parameter(array_or_tensor)`` keeps the dtype of an array (Python lists become float32).
    """

    def __init__(self, data, dtype=None, device: str | None = None):
        super().__init__(data, requires_grad=True, dtype=dtype, device=device)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model (see the module docstring for how to write one)."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dictionaries to exist already.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration -------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning {name!r}")
        for table in (self._parameters, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._buffers.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._buffers.pop(name, None)
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = self._check_buffer(name, value)
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)  # a plain attribute of that name would hide the registered one

    def __getattr__(self, name):
        # Called only when normal lookup fails: registered pieces live in the three tables.
        for table in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(table)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                return
        object.__delattr__(self, name)

    def _check_buffer(self, name, value):
        if value is not None and not backend.is_array(value):
            raise TypeError(f"{type(self).__name__}: buffer {name!r} must be a numpy/cupy array or None, "
                            f"got {type(value).__name__}")
        return value

    def register_buffer(self, name: str, value) -> None:
        """Non-trained state saved in ``state_dict`` (e.g. running statistics): a raw array or None."""
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer: name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: {type(self).__name__} already has a parameter or module named "
                           f"{name!r}")
        self.__dict__.pop(name, None)
        self._buffers[name] = self._check_buffer(name, value)

    # ---- running --------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def train(self, mode: bool = True) -> "Module":
        """Training mode (dropout active, batch statistics) for this module and all inside it."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    # ---- walking the tree -------------------------------------------------------------------------
    def named_children(self):
        yield from self._modules.items()

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix: str = ""):
        """(dotted name, module) for this module (name ``prefix``) and every module inside, depth first."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            inner = [(f"{name}.{child_name}" if name else child_name, child)
                     for child_name, child in module._modules.items()]
            stack.extend(reversed(inner))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_parameters(self):
        """(dotted name, Parameter) in registration order; a shared parameter is listed once."""
        seen = set()
        for module_name, module in self.named_modules():
            for name, p in module._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{module_name}.{name}" if module_name else name), p

    def parameters(self):
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self):
        for module_name, module in self.named_modules():
            for name, b in module._buffers.items():
                if b is not None:
                    yield (f"{module_name}.{name}" if module_name else name), b

    def num_parameters(self) -> int:
        """Number of trained scalars (a complex parameter counts once per element)."""
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    # ---- devices and saved state -------------------------------------------------------------------
    def to(self, device: str) -> "Module":
        """Move every parameter (and its gradient) and buffer to ``device`` in place; returns self."""
        backend.check_device(device)
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            if p.grad is not None:
                p.grad = backend.to_device(p.grad, device)
        for module in self.modules():
            for name, b in module._buffers.items():
                if b is not None:
                    module._buffers[name] = backend.to_device(b, device)
        return self

    def state_dict(self) -> OrderedDict:
        """name -> numpy array (a copy) for every parameter, then the buffers, module by module."""
        state = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    state.setdefault(prefix + name, backend.asnumpy(p.data).copy())
            for name, b in module._buffers.items():
                if b is not None:
                    state[prefix + name] = backend.asnumpy(b).copy()
        return state

    def _state_slots(self):
        """name -> (owner module, attribute name, is_parameter), the places load_state_dict writes to."""
        slots = OrderedDict()
        for module_name, module in self.named_modules():
            prefix = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    slots.setdefault(prefix + name, (module, name, True))
            for name, b in module._buffers.items():
                if b is not None:
                    slots[prefix + name] = (module, name, False)
        return slots

    def load_state_dict(self, state, strict: bool = True):
        """Copy arrays from ``state`` (name -> array) into the parameters and buffers, in place.

        Everything is checked before anything is written: with ``strict``, missing and unexpected
        names raise; a shape mismatch always raises, naming the first mismatched key and both
        shapes. Values take the dtype and device of the module's arrays. Returns the lists
        (missing, unexpected) of names.
        """
        slots = self._state_slots()
        missing = [k for k in slots if k not in state]
        unexpected = [k for k in state if k not in slots]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict into {type(self).__name__}: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        for key, (module, name, _) in slots.items():
            if key in state:
                current = getattr(module, name)
                have = tuple(current.shape)
                got = tuple(np.shape(backend.asnumpy(state[key])))
                if have != got:
                    raise ValueError(f"load_state_dict into {type(self).__name__}: key {key!r} has shape "
                                     f"{got} in the state, {have} in the model")
        for key, (module, name, is_parameter) in slots.items():
            if key in state:
                target = getattr(module, name)
                array = target.data if is_parameter else target
                value = backend.to_device(state[key], backend.device_of(array))
                array[...] = value.astype(array.dtype, copy=False)
        return missing, unexpected

    # ---- printing ----------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The configuration shown inside the parentheses of ``repr`` (override in layers)."""
        return ""

    def __repr__(self):
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        if extra:
            lines.insert(0, "  " + extra.replace("\n", "\n  "))
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(*list(self._modules.values())[i])
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class ModuleList(Module):
    """A list of modules whose parameters are registered (names "0", "1", ...); has no forward."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> "ModuleList":
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self._modules)), module)
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(list(self._modules.values())[i])
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


@contextlib.contextmanager
def _swapped_parameters(module: Module, params: dict):
    slots = module._state_slots()
    saved = []
    try:
        for key, value in params.items():
            if key not in slots or not slots[key][2]:
                raise KeyError(f"functional_call: {type(module).__name__} has no parameter {key!r}")
            owner, name, _ = slots[key]
            saved.append((owner, name, owner._parameters[name]))
            owner._parameters[name] = value
        yield
    finally:
        for owner, name, original in reversed(saved):
            owner._parameters[name] = original


def functional_call(module: Module, params: dict, *args, **kwargs):
    """``module(*args)`` with some parameters replaced by the given tensors (name -> Tensor).

    The module is restored afterwards. This is how a layer's output is differentiated with
    respect to its weights as plain function arguments, e.g. in ``gradcheck``::

        gradcheck(lambda x, w: functional_call(layer, {"weight": w}, x), x, layer.weight)
    """
    with _swapped_parameters(module, params):
        return module(*args, **kwargs)
