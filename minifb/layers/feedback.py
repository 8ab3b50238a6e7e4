"""Contextual feedback loops (CFL): a network reads its own prediction and refines its hidden states.

Method (docs/design.md, "Contextual feedback loops"). A classifier is split into a stem, stages
h_1..h_L and a head y = f(h_L) (:class:`StagedNetwork`). After the ordinary forward pass, which
gives y_0, each refinement step t = 1..T does

    z   = g(y_{t-1})                                   g = Linear(num_classes, context_dim)
    h_l <- alpha_l h_l + (1 - alpha_l) psi_l(h_l, z)   for the refined stages l
    y_t = f(h_L)

with the adapter psi_l(h, z) = ReLU(W_l [h; z] + b_l): a 1x1 convolution over the channels of
[h; z broadcast over positions] for feature maps, a Linear on [h; z] for vectors (and for the
tokens of a transformer, where z is broadcast over tokens).

Modes: 'head-only' refines only h_L and reapplies the head; 'all-stages' refines h_1 and then,
for l = 2..L, recomputes h_l from the refined h_{l-1} before refining it. With alpha = 1 both are
the identity, so the model gives exactly the plain network's logits.

alpha: a fixed float in [0, 1]; 'learnable': one trained scalar a_l per refined stage,
initialised to logit(alpha_init) (0 by default) and used as alpha_l = sigmoid(a_l) (so training
starts from an even blend, 0.5, and alpha stays in (0, 1), keeping the update a convex blend
of the old state and the adapter's proposal); 'raw': one trained scalar per refined stage used as
alpha itself, initialised 0 and unbounded (the form of the public CBL_CNN code:
``nn.Parameter(tensor([0.]))``, so its first steps replace h by the adapter's proposal, and alpha
may leave [0, 1]); 'gated': alpha_l = sigmoid(V_l [h; z] + c_l) elementwise, V_l built like the
adapter.

alpha_init (learnable and gated alpha): where alpha starts. A learnable a_l is initialised to
logit(alpha_init), and a gate's bias c_l is shifted by logit(alpha_init); the default 1/2 is the
even blend above. Near 1 (0.9, say), every refinement starts close to the identity, so a model
begins as its plain network and learns how far to move (the residual-branch idea of starting
deep networks near the identity).

Gradients flow through every step unless ``detach`` says otherwise: 'none' (the default);
'context': z = g(stop_gradient(y_{t-1})), so the loss of a later step cannot change how the
earlier logits were computed through the feedback path (it still trains g, the adapters and the
recomputed stages); 'steps': the states and logits carried into each step are cut from the graph
(truncated back-propagation through the steps): each step's loss trains only that step's
refinement, which with ``step_loss`` gives every step its own target.

T is ``steps_train`` in training mode and ``steps_eval`` in evaluation mode. After a forward
pass ``step_logits`` holds y_0..y_T (Tensors) and :meth:`ContextualFeedback.diagnostics`
measures how the iteration moved.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd.linalg import linear, matmul
from ..autograd.loss import log_softmax
from ..autograd.unary import relu, sigmoid
from .. import checks
from ..backend import asnumpy, get_array_module
from . import init
from .linear import Linear
from .module import Module, ModuleList, Parameter

MODES = ("head-only", "all-stages")
ALPHAS = ("learnable", "raw", "gated")  # besides a fixed number
DETACH = ("none", "context", "steps")


class RefiningClassifier(Module):
    """The interface of a classifier whose forward pass makes predictions y_0..y_T, each a
    refinement of the one before (T = 0 for a plain network), as training and evaluation see it:

    - ``step_logits``: y_0..y_T of the last forward pass (Tensors); y_T is what forward returned;
    - ``step_loss``: True when the loss is to be averaged over y_0..y_T
      (``minifb.models.training_loss``);
    - ``diagnostics()``: plain floats about how the last forward pass iterated (empty when T = 0).
    """

    step_loss = False

    def __init__(self):
        super().__init__()
        self.step_logits = []

    def diagnostics(self) -> dict:
        """Nothing to report for a network that does not iterate."""
        return {}


class StagedNetwork(RefiningClassifier):
    """A classifier written as stem -> stages -> head: the split that contextual feedback refines.

    A subclass sets ``stem`` (a Module, or None), ``stages`` (a ModuleList whose outputs are h_1..h_L),
    ``head`` (h_L -> logits), ``stage_features`` (for each stage, (channels, channel_axis):
    axis 1 for NCHW feature maps, -1 for vectors and tokens) and ``num_classes``.
    The plain forward pass is head(stage_L(...stage_1(stem(x)))) and makes one prediction:
    ``step_logits`` is a list of one.
    """

    def forward(self, x):
        states = self.stage_outputs(x)
        logits = self.head(states[-1])
        self.step_logits = [logits]
        return logits

    def stage_outputs(self, x) -> list:
        """h_1..h_L of the plain forward pass (the input checked first)."""
        self.check_input(x)
        h = self.stem(x) if self.stem is not None else x
        states = []
        for stage in self.stages:
            h = stage(h)
            states.append(h)
        return states

    image_shape = None  # (C, H, W) of the images the network reads: check_input rejects other shapes

    def check_input(self, x) -> None:
        """Reject inputs of the wrong shape with a clear message (override for other inputs)."""
        expected = self.image_shape
        if expected is not None and (x.ndim != 4 or tuple(x.shape[1:]) != tuple(expected)):
            raise ValueError(f"{type(self).__name__}: expected images of shape "
                             f"(N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")


class ContextAdapter(Module):
    """act(W [h; z] + b): the feedback adapter psi (act = ReLU) and the gate (act = sigmoid).

    ``W`` (channels, channels + context_dim) acts on the channel axis of h, where z is broadcast
    over every position (pixel or token): a 1x1 convolution on [h; z broadcast] for feature maps,
    a Linear on [h; z] for vectors. It is computed as W_h h + (W_z z + b) broadcast, which is the
    same sum without building the broadcast copy of z. PyTorch's default initialisation
    (U(+-1/sqrt(fan_in)) for W and b).
    """

    def __init__(self, channels: int, context_dim: int, channel_axis: int, activation: str = "relu"):
        checks.integer("ContextAdapter", "channels", channels, 1)
        checks.integer("ContextAdapter", "context_dim", context_dim, 1)
        super().__init__()
        if channel_axis not in (1, -1):
            raise ValueError("ContextAdapter: channel_axis must be 1 (feature maps) or -1 (vectors, "
                             f"tokens), got {channel_axis}")
        if activation not in ("relu", "sigmoid"):
            raise ValueError(f"ContextAdapter: activation must be 'relu' or 'sigmoid', got {activation!r}")
        self.channels, self.context_dim = channels, context_dim
        self.channel_axis, self.activation = channel_axis, activation
        fan_in = channels + context_dim
        self.weight = Parameter(init.kaiming_uniform((channels, fan_in), a=math.sqrt(5)))
        self.bias = Parameter(init.uniform((channels,), 1 / math.sqrt(fan_in)))

    def forward(self, h, z):
        c = self.channels
        if h.ndim < 2 or h.shape[self.channel_axis] != c or z.shape != (h.shape[0], self.context_dim):
            raise ValueError(f"ContextAdapter(channels={c}, context_dim={self.context_dim}, "
                             f"channel_axis={self.channel_axis}): got h of shape {tuple(h.shape)} and z of "
                             f"shape {tuple(z.shape)}")
        from_context = linear(z, self.weight[:, c:], self.bias)  # (N, C): the same at every position
        if self.channel_axis == 1:
            n = h.shape[0]
            positions = h.reshape(n, c, -1)  # (N, C, P): the 1x1 convolution is a matmul over channels
            out = matmul(self.weight[:, :c], positions) + from_context.reshape(n, c, 1)
            out = out.reshape(h.shape)
        else:
            broadcast = (h.shape[0],) + (1,) * (h.ndim - 2) + (c,)  # z's part, the same at every token
            out = linear(h, self.weight[:, :c]) + from_context.reshape(broadcast)
        return relu(out) if self.activation == "relu" else sigmoid(out)

    def macs(self, h_shape, z_shape) -> int:
        """Multiply-accumulates of one call: C per element of h (the 1x1 convolution) plus N K C for z."""
        return int(np.prod(h_shape)) * self.channels + z_shape[0] * self.context_dim * self.channels

    def extra_repr(self):
        return (f"channels={self.channels}, context_dim={self.context_dim}, "
                f"channel_axis={self.channel_axis}, activation={self.activation!r}")


class ContextualFeedback(RefiningClassifier):
    """Contextual feedback loops around a :class:`StagedNetwork` (see the module docstring).

    network: the plain classifier, kept whole as ``self.network`` (its weights load into a
    feedback model one to one). context_dim: width of z. mode: 'head-only' | 'all-stages'.
    alpha: float in [0, 1] | 'learnable' | 'raw' | 'gated'. alpha_init: in (0, 1), where a
    learnable or gated alpha starts. steps_train / steps_eval: T in training / evaluation mode (0
    gives the plain network). step_loss: ask ``minifb.models.training_loss`` to average the loss
    over y_0..y_T instead of using y_T alone. detach: 'none' | 'context' | 'steps' (module docstring).
    """

    def __init__(self, network: StagedNetwork, context_dim: int = 64, mode: str = "head-only",
                 alpha="learnable", steps_train: int = 2, steps_eval: int = 2, step_loss: bool = False,
                 alpha_init: float = 0.5, detach: str = "none"):
        super().__init__()
        if not isinstance(network, StagedNetwork):
            raise TypeError("ContextualFeedback: network must be a StagedNetwork, got "
                            f"{type(network).__name__}")
        checks.integer("ContextualFeedback", "context_dim", context_dim, 1)
        checks.flag("ContextualFeedback", "step_loss", step_loss)
        if mode not in MODES:
            raise ValueError(f"ContextualFeedback: mode must be one of {MODES}, got {mode!r}")
        if alpha not in ALPHAS and not (isinstance(alpha, numbers.Real) and 0.0 <= alpha <= 1.0):
            raise ValueError(f"ContextualFeedback: alpha must be a number in [0, 1] or one of {ALPHAS}, "
                             f"got {alpha!r}")
        if not (isinstance(alpha_init, numbers.Real) and 0.0 < alpha_init < 1.0):
            raise ValueError(f"ContextualFeedback: alpha_init must be a number in (0, 1), got {alpha_init!r}")
        if alpha_init != 0.5 and alpha not in ("learnable", "gated"):
            raise ValueError(f"ContextualFeedback: alpha_init applies to a learnable or gated alpha, not to "
                             f"alpha={alpha!r}")
        if detach not in DETACH:
            raise ValueError(f"ContextualFeedback: detach must be one of {DETACH}, got {detach!r}")
        for name, steps in (("steps_train", steps_train), ("steps_eval", steps_eval)):
            if not isinstance(steps, (int, np.integer)) or steps < 0:
                raise ValueError(f"ContextualFeedback: {name} must be an integer >= 0, got {steps!r}")
        self.network = network
        self.num_classes = network.num_classes
        self.context_dim, self.mode = context_dim, mode
        self.alpha = alpha if isinstance(alpha, str) else float(alpha)
        self.steps_train, self.steps_eval, self.step_loss = int(steps_train), int(steps_eval), bool(step_loss)
        self.alpha_init, self.detach = float(alpha_init), detach
        start = math.log(self.alpha_init / (1 - self.alpha_init))  # logit(alpha_init): 0 for the even blend
        # Which stages are refined: only the last one in head-only mode.
        num_stages = len(network.stages)
        self.refined = list(range(num_stages)) if mode == "all-stages" else [num_stages - 1]
        self.context = Linear(self.num_classes, context_dim)
        features = [network.stage_features[l] for l in self.refined]
        self.adapters = ModuleList([ContextAdapter(c, context_dim, axis) for c, axis in features])
        if self.alpha == "learnable":
            self.alpha_logits = Parameter(np.full(len(self.refined), start, np.float32))
        elif self.alpha == "raw":
            self.alphas = Parameter(np.zeros(len(self.refined), np.float32))
        elif self.alpha == "gated":
            self.gates = ModuleList([ContextAdapter(c, context_dim, axis, activation="sigmoid")
                                     for c, axis in features])
            for gate in self.gates:
                gate.bias.data += np.float32(start)
        self._step_states = []

    @property
    def steps(self) -> int:
        """T of the current mode (training or evaluation)."""
        return self.steps_train if self.training else self.steps_eval

    def _blend(self, k: int, h, z):
        """h <- alpha h + (1 - alpha) psi(h, z) for the k-th refined stage."""
        proposal = self.adapters[k](h, z)
        if self.alpha == "learnable":
            alpha = sigmoid(self.alpha_logits[k])
        elif self.alpha == "raw":
            alpha = self.alphas[k]
        elif self.alpha == "gated":
            alpha = self.gates[k](h, z)
        else:
            alpha = self.alpha
        return alpha * h + (1 - alpha) * proposal

    def forward(self, x):
        net = self.network
        states = net.stage_outputs(x)
        logits = net.head(states[-1])
        self.step_logits = [logits]
        self._step_states = [[s.data for s in states]]
        for _ in range(self.steps):
            if self.detach == "steps":
                logits, states = logits.detach(), [s.detach() for s in states]
            z = self.context(logits.detach() if self.detach == "context" else logits)
            if self.mode == "head-only":
                states[-1] = self._blend(0, states[-1], z)
            else:
                h = self._blend(0, states[0], z)
                states = [h]
                for k, stage in enumerate(list(net.stages)[1:], start=1):
                    h = self._blend(k, stage(h), z)
                    states.append(h)
            logits = net.head(states[-1])
            self.step_logits.append(logits)
            self._step_states.append([s.data for s in states])
        return logits

    def diagnostics(self) -> dict:
        """How the last forward pass iterated, as plain floats (computed on raw arrays: nothing is
        recorded on the tape).

        For each step t = 1..T, with y_t the logits of the whole batch:
          rel_change_t   ||y_t - y_{t-1}|| / ||y_t||  (Frobenius norms over the batch)
          kl_t           KL(softmax y_t || softmax y_{t-1}), mean over examples
          contraction_t  ||y_t - y_{t-1}|| / ||y_{t-1} - y_{t-2}||  (t >= 2; nan when the earlier
                         change is 0): below 1 the iteration shrinks its steps, as a contraction does
          stage{l}_mse_t mean squared change of stage l's output h_l between steps t-1 and t, for
                         each refined stage l (numbered 1..L; only L in head-only mode)
          stage{l}_kl_t  KL(softmax h_l^t || softmax h_l^{t-1}), the softmax taken over each
                         example's flattened activations, mean over examples
        """
        if len(self.step_logits) < 2:
            return {}
        logits = [y.data.astype(np.float64) for y in self.step_logits]
        xp = get_array_module(logits[0])
        values = {}  # name -> 0-d array on the device: one transfer at the end, not one per value
        changes = [None] + [xp.linalg.norm(logits[t] - logits[t - 1]) for t in range(1, len(logits))]
        for t in range(1, len(logits)):
            values[f"rel_change_{t}"] = changes[t] / xp.maximum(xp.linalg.norm(logits[t]), 1e-30)
            values[f"kl_{t}"] = _mean_kl(logits[t], logits[t - 1])
            if t >= 2:
                previous = changes[t - 1]
                values[f"contraction_{t}"] = xp.where(previous > 0,
                                                      changes[t] / xp.where(previous > 0, previous, 1),
                                                      xp.nan)
            for l in self.refined:
                now = self._step_states[t][l].astype(np.float64)
                before = self._step_states[t - 1][l].astype(np.float64)
                values[f"stage{l + 1}_mse_{t}"] = ((now - before) ** 2).mean()
                values[f"stage{l + 1}_kl_{t}"] = _mean_kl(now.reshape(now.shape[0], -1),
                                                          before.reshape(before.shape[0], -1))
        on_host = asnumpy(xp.stack([xp.asarray(v) for v in values.values()]))
        return {name: float(v) for name, v in zip(values, on_host)}

    def extra_repr(self):
        return (f"mode={self.mode!r}, alpha={self.alpha!r}, alpha_init={self.alpha_init}, "
                f"steps_train={self.steps_train}, steps_eval={self.steps_eval}, step_loss={self.step_loss}, "
                f"detach={self.detach!r}, context_dim={self.context_dim}")


def _mean_kl(p_logits, q_logits):
    """Mean over rows of KL(softmax p || softmax q) = sum p (log p - log q), from logits (a 0-d array)."""
    xp = get_array_module(p_logits)
    log_p, log_q = log_softmax(p_logits, 1).data, log_softmax(q_logits, 1).data  # arrays: nothing recorded
    return (xp.exp(log_p) * (log_p - log_q)).sum(axis=1).mean()
