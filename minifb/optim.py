"""Optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedules.

Optimizers work on raw arrays: ``step()`` reads each parameter's ``.grad`` and updates
``p.data`` in place, outside the tape. The update rules are PyTorch's, step by step, so a run
can be compared with a PyTorch run number for number. A parameter whose ``.grad`` is None is
skipped (its state does not advance), as in PyTorch. A complex parameter is updated as the
pair of real numbers (Re, Im), as PyTorch does (Adam's second moment is per component).

Parameters come as a list or as PyTorch's parameter groups (dicts with "params" and their own
hyper-parameters); see :class:`Optimizer`. ``state_dict()`` is flat: the hyper-parameters as
Python scalars, "param_groups" (each group's settings and parameter indices) and per-parameter
state under "<index>.<name>" (arrays as numpy), which is what a checkpoint stores.

Schedules set ``optimizer.lr`` from a step count: call ``schedule.step()`` after each
``optimizer.step()``.
"""
from __future__ import annotations

import math

import numpy as np

from . import backend, checks
from .autograd.tensor import Tensor
from .backend import asnumpy, device_of, elementwise_kernel, get_array_module, to_device


def _real_view(a):
    """A complex array as interleaved real numbers (the same memory), so (Re, Im) update separately."""
    return a.view(a.real.dtype) if a.dtype.kind == "c" else a


class Optimizer:
    """What every optimizer shares: parameter groups, per-parameter state, zero_grad, state dicts.

    ``params`` is a list of parameters, or PyTorch's list of parameter groups: dicts with
    "params" and any hyper-parameters that differ from the constructor's, e.g.
    ``Adam([{"params": body}, {"params": head, "lr": 1e-2}], lr=1e-3)``. ``param_groups`` holds
    every group's settings and parameters. Inside ``step()`` the hyper-parameter attributes
    (``self.lr``, ``self.betas``, ...) read the group being updated, so an update rule is written
    once for one set of settings; outside it they read the first group. Setting one, e.g.
    ``optimizer.lr = 0.01`` (what a schedule does), sets it in every group, the learning rates
    keeping their ratios to the first group's (the ratios of the constructor's settings).
    """

    hyperparameters: tuple = ("lr",)

    def __init__(self, params, **defaults):
        name = type(self).__name__
        if not isinstance(params, (Tensor, dict)) and not hasattr(params, "__iter__"):
            raise TypeError(f"{name}: params must be a list of parameters (model.parameters()) or of "
                            f"parameter groups, got {type(params).__name__}")
        given = [params] if isinstance(params, (Tensor, dict)) else list(params)
        if not given:
            raise ValueError(f"{name}: got an empty parameter list")
        if any(isinstance(g, dict) for g in given) and not all(isinstance(g, dict) for g in given):
            raise TypeError(f"{name}: params must be all parameters or all parameter groups (dicts), "
                            "not a mixture")
        groups = given if isinstance(given[0], dict) else [{"params": given}]
        param_groups = []
        for k, group in enumerate(groups):
            where = "" if len(groups) == 1 else f" (parameter group {k})"
            unknown = sorted(set(group) - {"params", *self.hyperparameters})
            if "params" not in group or unknown:
                raise ValueError(f"{name}: parameter group {k} needs 'params' and takes only "
                                 f"{self.hyperparameters}, got the keys {sorted(group)}")
            members = [group["params"]] if isinstance(group["params"], Tensor) else list(group["params"])
            if not members:
                raise ValueError(f"{name}: got an empty parameter list{where}")
            own = {h: group[h] for h in self.hyperparameters if h in group}
            settings = self._check({**defaults, **own}, where)
            param_groups.append({**settings, "params": members})
        flat = [p for group in param_groups for p in group["params"]]
        for i, p in enumerate(flat):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{name}: parameter {i} must be a Tensor with requires_grad=True, "
                                f"got {type(p).__name__}")
        if len({id(p) for p in flat}) != len(flat):
            raise ValueError(f"{name}: a parameter appears more than once in the list "
                             "(it would be updated twice per step)")
        self.param_groups = param_groups
        self.params = flat
        self.state = [{} for _ in self.params]  # per parameter: name -> array, and "step"
        self._active = None  # the index of the group step() is updating
        self._keep_lr_ratios()
        self._device_lrs, self._device_lr_values = {}, {}  # per group: lr on the GPU for Adam's kernels

    def _check(self, settings: dict, where: str) -> dict:
        """One group's hyper-parameters, checked and as plain floats; subclasses check theirs too."""
        return {**settings, "lr": checks.number(type(self).__name__ + where, "lr", settings["lr"], 0)}

    def _keep_lr_ratios(self) -> None:
        first = self.param_groups[0]["lr"]
        self._lr_ratios = [group["lr"] / first if first > 0 else 1.0 for group in self.param_groups]

    def __getattr__(self, name):
        # Only for names not found as attributes: the hyper-parameters live in the groups.
        groups = self.__dict__.get("param_groups")
        if groups is None or name not in type(self).hyperparameters:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        active = self.__dict__.get("_active")
        return groups[active or 0][name]

    def __setattr__(self, name, value):
        if name in type(self).hyperparameters and "param_groups" in self.__dict__:
            for group, ratio in zip(self.param_groups, self._lr_ratios):
                group[name] = float(value) * ratio if name == "lr" else value
            return
        object.__setattr__(self, name, value)

    def device_lr(self):
        """The learning rate of the group being updated, as a float64 on the GPU, where the update
        kernels read it. It is refreshed from the group's lr here, or by ``sync_device_state()``
        before a CUDA graph replays a captured step (a replay runs no Python, so a refresh inside
        the step would replay the old value)."""
        index = self._active or 0
        if index not in self._device_lrs:
            self._device_lrs[index] = to_device(np.zeros(1, np.float64), "cuda")
            self._device_lr_values[index] = None
        if not _capturing():
            self.sync_device_state()
        return self._device_lrs[index]

    def sync_device_state(self) -> None:
        """Copy each group's lr to the device when it changed since the last copy (a no-op on the CPU)."""
        for index, array in self._device_lrs.items():
            lr = self.param_groups[index]["lr"]
            if self._device_lr_values[index] != lr:
                array.fill(lr)
                self._device_lr_values[index] = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        first = 0
        for index, group in enumerate(self.param_groups):
            self._active = index
            try:
                for p, state in zip(group["params"], self.state[first:first + len(group["params"])]):
                    if p.grad is not None:
                        self._check_gradient(p)
                        self._update(_real_view(p.data), _real_view(p.grad), state)
            finally:
                self._active = None
            first += len(group["params"])

    def _check_gradient(self, p) -> None:
        if p.grad.shape != p.data.shape or device_of(p.grad) != device_of(p.data):
            raise ValueError(f"{type(self).__name__}.step: gradient of shape {tuple(p.grad.shape)} on "
                             f"{device_of(p.grad)} for a parameter of shape {p.shape} on {p.device}")

    def _update(self, param, grad, state) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """{"type", the first group's hyper-parameters, "param_groups": [each group's hyper-parameters
        and "params", its parameters' indices], "<i>.<name>": array or int} with arrays as numpy copies."""
        out = {"type": type(self).__name__}
        out.update({name: getattr(self, name) for name in self.hyperparameters})
        groups, first = [], 0
        for group in self.param_groups:
            count = len(group["params"])
            settings = {h: group[h] for h in self.hyperparameters}
            groups.append({**settings, "params": list(range(first, first + count))})
            first += count
        out["param_groups"] = groups
        for i, state in enumerate(self.state):
            for name, value in state.items():
                out[f"{i}.{name}"] = asnumpy(value).copy() if hasattr(value, "shape") else value
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore from ``state_dict()``; checks type, groups, parameter count and shapes before changing
        anything. A state without "param_groups" (one group, its settings at the top) loads too."""
        name = type(self).__name__
        if state.get("type") != name:
            raise ValueError(f"{name}.load_state_dict: the state is from {state.get('type')!r}, not {name}")
        missing = [h for h in self.hyperparameters if h not in state]
        if missing:
            raise KeyError(f"{name}.load_state_dict: the state lacks the hyper-parameters {missing}")
        groups = state.get("param_groups") or [{**{h: state[h] for h in self.hyperparameters},
                                                "params": list(range(len(self.params)))}]
        first, settings = 0, []
        for k, (stored, group) in enumerate(zip(groups, self.param_groups)):
            wanted = list(range(first, first + len(group["params"])))
            if list(stored.get("params", ())) != wanted:
                raise ValueError(f"{name}.load_state_dict: parameter group {k} holds the parameters "
                                 f"{list(stored.get('params', ()))}, this optimizer's holds {wanted}")
            settings.append({h: tuple(stored[h]) if isinstance(stored[h], list) else stored[h]
                             for h in self.hyperparameters})
            first += len(group["params"])
        if len(groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(groups)} parameter groups, "
                             f"this optimizer {len(self.param_groups)}")
        per_param = [{} for _ in self.params]
        for key, value in state.items():
            index, dot, slot = key.partition(".")
            if not dot:
                continue
            if not index.isdigit() or int(index) >= len(self.params):
                raise ValueError(f"{name}.load_state_dict: key {key!r} names no parameter "
                                 f"(this optimizer has {len(self.params)})")
            p = self.params[int(index)]
            if hasattr(value, "shape"):
                want = _real_view(p.data).shape if value.dtype.kind != "c" and p.is_complex else p.shape
                if tuple(value.shape) != tuple(want):
                    raise ValueError(f"{name}.load_state_dict: key {key!r} has shape {tuple(value.shape)}, "
                                     f"the parameter has shape {tuple(want)}")
                value = to_device(np.array(value, dtype=_real_view(p.data).dtype), p.device)
            per_param[int(index)][slot] = value
        for group, values in zip(self.param_groups, settings):
            group.update(values)
        self._keep_lr_ratios()
        self.state = per_param


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (PyTorch's rule).

        g <- grad + weight_decay p
        b <- g (first step), else momentum b + (1 - dampening) g
        g <- g + momentum b (Nesterov) or b (plain momentum)
        p <- p - lr g
    """

    hyperparameters = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                         nesterov=nesterov)

    def _check(self, settings, where):
        who = "SGD" + where
        momentum = checks.number(who, "momentum", settings["momentum"], 0)
        dampening = checks.number(who, "dampening", settings["dampening"], 0, 1)
        weight_decay = checks.number(who, "weight_decay", settings["weight_decay"], 0)
        checks.flag(who, "nesterov", settings["nesterov"])
        if settings["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov needs momentum > 0 and dampening 0{where}")
        return {**super()._check(settings, where), "momentum": float(momentum), "dampening": float(dampening),
                "weight_decay": float(weight_decay), "nesterov": bool(settings["nesterov"])}

    def _update(self, param, grad, state):
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= self.momentum
                buf += (1 - self.dampening) * grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        param -= self.lr * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with PyTorch's rule; weight_decay is L2 added to the gradient.

        g <- grad + weight_decay p;   t <- t + 1
        m <- m + (1 - beta1)(g - m);  v <- beta2 v + (1 - beta2) g^2
        p <- p - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    hyperparameters = ("lr", "betas", "eps", "weight_decay")
    decoupled = False  # AdamW decays the weights directly instead

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _check(self, settings, where):
        who, betas = type(self).__name__ + where, settings["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{who}: betas must be a pair (beta1, beta2), got {betas!r}")
        for label, beta in zip(("betas[0]", "betas[1]"), betas):
            checks.number(who, label, beta, 0, 1, high_open=True)
        eps = checks.number(who, "eps", settings["eps"], 0)
        weight_decay = checks.number(who, "weight_decay", settings["weight_decay"], 0)
        return {**super()._check(settings, where), "betas": (float(betas[0]), float(betas[1])),
                "eps": float(eps), "weight_decay": float(weight_decay)}

    def _update(self, param, grad, state):
        xp = get_array_module(param)
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(param), exp_avg_sq=xp.zeros_like(param))
        if xp is not np and (backend.is_graph_safe() or hasattr(state["step"], "shape")):
            self._update_on_device(xp, param, grad, state)
            return
        state["step"] += 1
        t, (beta1, beta2) = state["step"], self.betas
        step_size = self.lr / (1 - beta1 ** t)
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** t)
        decay = 1 - self.lr * self.weight_decay if self.decoupled else 1.0
        l2 = 0.0 if self.decoupled else self.weight_decay
        if xp is not np:
            kernel = elementwise_kernel(
                "T grad, T beta1, T beta2, T step_size, T bias_correction2_sqrt, T eps, T decay, T l2",
                "T param, T m, T v", ADAM_SOURCE, "minifb_adam_update")
            kernel(grad, beta1, beta2, step_size, bias_correction2_sqrt, self.eps, decay, l2,
                   param, state["exp_avg"], state["exp_avg_sq"])
            return
        if decay != 1.0:
            param *= decay
        if l2:
            grad = grad + l2 * param
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (grad - m)
        v *= beta2
        v += (1 - beta2) * grad * grad
        param -= step_size * m / (np.sqrt(v) / bias_correction2_sqrt + self.eps)

    def _update_on_device(self, xp, param, grad, state):
        """The same update as one kernel that reads the step count t and the learning rate from device
        memory, so that a CUDA graph replaying the step advances t and follows the schedule."""
        if not hasattr(state["step"], "shape"):  # a fresh or loaded count: put it on the device
            state["step"] = xp.asarray([state["step"]], dtype=np.int64)
        state["step"] += 1
        beta1, beta2 = self.betas
        kernel = elementwise_kernel(
            "raw int64 step, raw float64 lr, T grad, float64 beta1_64, float64 beta2_64, T beta1, T beta2, T "
            "eps, float64 weight_decay, bool decoupled", "T param, T m, T v", ADAM_DEVICE_SOURCE,
            "minifb_adam_device")
        kernel(state["step"], self.device_lr(), grad, beta1, beta2, beta1, beta2, self.eps, self.weight_decay,
               self.decoupled, param, state["exp_avg"], state["exp_avg_sq"])

    def state_dict(self) -> dict:
        out = super().state_dict()
        for key, value in out.items():  # a step count kept on the device comes back as a number
            if key.endswith(".step"):
                out[key] = int(value)
        return out


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): p <- p (1 - lr weight_decay), then
    Adam."""

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01):
        super().__init__(params, lr, betas, eps, weight_decay)


# CuPy: the whole Adam/AdamW update of a parameter in one kernel (the NumPy path above, fused).
ADAM_SOURCE = """
    param = param * decay;
    T g = grad + l2 * param;
    m = m + (1 - beta1) * (g - m);
    v = beta2 * v + (1 - beta2) * g * g;
    param = param - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps);
"""
# The same, with t and lr read from device memory (for CUDA graphs); corrections in double as on the host.
ADAM_DEVICE_SOURCE = """
    const double t = (double)step[0], rate = lr[0];
    const T step_size = (T)(rate / (1 - pow(beta1_64, t)));
    const T bias_correction2_sqrt = (T)sqrt(1 - pow(beta2_64, t));
    const T decay = decoupled ? (T)(1 - rate * weight_decay) : (T)1;
    const T l2 = decoupled ? (T)0 : (T)weight_decay;
""" + ADAM_SOURCE


def _capturing() -> bool:
    """True while the current CuPy stream is being captured into a CUDA graph."""
    cupy = backend.loaded_cupy()
    return cupy is not None and cupy.cuda.get_current_stream().is_capturing()


def clip_grad_norm(params, max_norm: float, eps: float = 1e-6):
    """Scale all gradients together so that their joint L2 norm is at most ``max_norm`` (PyTorch's rule).

    norm = sqrt(sum over parameters of sum |grad|^2);  grads *= min(1, max_norm / (norm + eps)).
    Returns the norm before clipping as a 0-d array on the gradients' device (``float()`` reads it;
    on the GPU that waits for the device, so read it only when you log it).
    """
    max_norm = checks.number("clip_grad_norm", "max_norm", max_norm, 0, finite=False)
    eps = checks.number("clip_grad_norm", "eps", eps, 0)
    if isinstance(params, Tensor):
        params = [params]
    if not hasattr(params, "__iter__"):
        raise TypeError(f"clip_grad_norm: params must be a list of parameters, got {type(params).__name__}")
    params = list(params)
    if not all(isinstance(p, Tensor) for p in params):
        raise TypeError(f"clip_grad_norm: params must be tensors, got "
                        f"{sorted({type(p).__name__ for p in params})}")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return np.zeros((), np.float32)
    xp = get_array_module(*grads)
    total = xp.sqrt(sum((g.real * g.real).sum() + (g.imag * g.imag).sum() if g.dtype.kind == "c"
                        else (g * g).sum() for g in grads))  # no cuBLAS: a CUDA graph can capture it
    scale = xp.minimum(max_norm / (total + eps), 1.0).astype(grads[0].real.dtype)
    for g in grads:
        g *= scale
    return total


class Schedule:
    """A learning rate as a function of the step count; ``step()`` advances it and sets ``optimizer.lr``."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: optimizer must be a minifb optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.step_count = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, step: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> float:
        """The learning rate for the current step."""
        return self.lr_at(self.step_count)

    def step(self) -> None:
        self.step_count += 1
        self.optimizer.lr = self.get_lr()

    def state_dict(self) -> dict:
        return {"type": type(self).__name__, "step_count": self.step_count, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict) -> None:
        if state.get("type") != type(self).__name__:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state is from "
                             f"{state.get('type')!r}")
        self.step_count, self.base_lr = int(state["step_count"]), float(state["base_lr"])
        self.optimizer.lr = self.get_lr()


class CosineWarmup(Schedule):
    """Linear warm-up, then cosine decay (Loshchilov & Hutter, 2017, without restarts).

        step < warmup:   lr = base (step + 1) / warmup
        otherwise:       lr = min_lr + (base - min_lr) (1 + cos(pi q)) / 2,
                         q = (step - warmup) / (total - warmup)
    clipped to q = 1, so lr stays at min_lr after ``total_steps``.
    """

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0):
        checks.integer("CosineWarmup", "warmup_steps", warmup_steps, 0)
        checks.integer("CosineWarmup", "total_steps", total_steps, 1)
        checks.number("CosineWarmup", "min_lr", min_lr, 0)
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(f"CosineWarmup: need 0 <= warmup_steps < total_steps, got {warmup_steps} and "
                             f"{total_steps}")
        self.warmup_steps, self.total_steps, self.min_lr = warmup_steps, total_steps, float(min_lr)
        super().__init__(optimizer)

    def lr_at(self, step):
        if step < self.warmup_steps:
            return self.base_lr * (step + 1) / self.warmup_steps
        q = min((step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 1.0)
        return self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * q))


class StepDecay(Schedule):
    """lr = base gamma^(step // step_size) (PyTorch's StepLR)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        checks.integer("StepDecay", "step_size", step_size)
        checks.number("StepDecay", "gamma", gamma, 0)
        if step_size < 1:
            raise ValueError(f"StepDecay: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, float(gamma)
        super().__init__(optimizer)

    def lr_at(self, step):
        return self.base_lr * self.gamma ** (step // self.step_size)


class OneCycle(Schedule):
    """The one-cycle policy (Smith & Topin, 2019) as PyTorch's OneCycleLR with cosine annealing.

    From max_lr / div_factor up to max_lr over the first pct_start of the steps (reached at
    step pct_start total - 1), then down to max_lr / (div_factor final_div_factor) at step
    total - 1; each phase is cos-annealed: end + (start - end)(1 + cos(pi q)) / 2.
    Momentum is not cycled.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4):
        checks.number("OneCycle", "max_lr", max_lr, 0)
        checks.integer("OneCycle", "total_steps", total_steps)
        checks.number("OneCycle", "pct_start", pct_start)
        checks.number("OneCycle", "div_factor", div_factor, 0, low_open=True)
        checks.number("OneCycle", "final_div_factor", final_div_factor, 0, low_open=True)
        if total_steps < 2 or not 0 < pct_start < 1:
            raise ValueError(f"OneCycle: need total_steps >= 2 and 0 < pct_start < 1, got {total_steps} and "
                             f"{pct_start}")
        self.max_lr, self.total_steps, self.pct_start = float(max_lr), total_steps, pct_start
        self.initial_lr = self.max_lr / div_factor
        self.final_lr = self.initial_lr / final_div_factor
        super().__init__(optimizer)

    def lr_at(self, step):
        peak = self.pct_start * self.total_steps - 1
        if step <= peak:
            start, end, q = self.initial_lr, self.max_lr, step / peak if peak > 0 else 1.0
        else:
            start, end, q = self.max_lr, self.final_lr, min((step - peak) / (self.total_steps - 1 - peak),
                                                            1.0)
        return end + (start - end) / 2 * (math.cos(math.pi * q) + 1)
