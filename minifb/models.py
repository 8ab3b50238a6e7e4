"""The model registry: build a model by name, count its parameters and its multiply-accumulates,
and the loss it trains with.

    model = minifb.models.create("feedback-cnn", mode="all-stages", steps_train=2)
    minifb.models.available()          # the names
    minifb.models.settings("vit")      # its settings and their defaults
    minifb.models.count_parameters(model)
    minifb.models.count_flops(model, (1, 3, 32, 32))

The image and audio models take NCHW float32 input (CIFAR-10: (N, 3, 32, 32) normalised images;
Speech Commands: (N, 1, 40, ~100) log-mel spectrograms), the lra-* models integer token ids
(N, length) of a Long Range Arena task (``task=``: listops, image, pathfinder, text, each with LRA's
size); all return logits (N, num_classes). Every model is a
``minifb.layers.feedback.RefiningClassifier``: after a forward pass ``model.step_logits``
lists the logits of each refinement step (just one for plain models) and ``model.diagnostics()``
gives the feedback diagnostics (empty for plain models).
"""
from __future__ import annotations

import contextlib
import inspect

import numpy as np

from .autograd.loss import cross_entropy
from .autograd.tape import no_grad
from .autograd.tensor import Tensor
from .layers.attention import MultiHeadSelfAttention
from .layers.audio_cnn import AudioCNN, FeedbackAudioCNN
from .layers.audio_resnet import AudioResNet, FeedbackAudioResNet
from .layers.cnn import CNN, FeedbackCNN
from .layers.conv import Conv2d
from .layers.feedback import ContextualFeedback, RefiningClassifier
from .layers.linear import Linear
from .layers.module import Module
from .layers.sequence_classifier import SequenceClassifier
from .layers.vit import ViT, FeedbackViT

# name -> (class, settings fixed by the name, description, defaults that differ from the class's).
# A setting that does not apply to a model (a window without windowed mixing) is fixed to None.
_NOT_WINDOWED = {"window": None}
_NO_LEVELS = {"levels": None}
_REGISTRY = {
    "cnn": (CNN, {},
        "CIFAR-10 CNN: 3 convs, Linear 8192-256, dropout 0.5", {}),
    "feedback-cnn": (FeedbackCNN, {},
        "the CNN trunk without dropout in contextual feedback loops (T = 2)", {}),
    "vit": (ViT, {"mixer": "attention", **_NOT_WINDOWED, **_NO_LEVELS},
        "CIFAR-10 ViT with softmax self-attention (patch 4, D 192, depth 6, 6 heads)", {}),
    "fftnet-vit": (ViT, {"mixer": "fft", **_NOT_WINDOWED, **_NO_LEVELS},
        "the ViT with FFTNet's global adaptive spectral filter as the token mixer", {}),
    "fftnet-vit-windowed": (ViT, {"mixer": "fft-windowed", **_NO_LEVELS},
        "FFTNet with a windowed local branch (w 16, hop 8), gated per head", {"window": 16}),
    "wavelet-vit": (ViT, {"mixer": "wavelet", **_NOT_WINDOWED},
        "the ViT with context-scaled Haar sub-bands (3 levels) as the token mixer", {"levels": 3}),
    "hybrid-vit": (ViT, {"mixer": "hybrid", **_NOT_WINDOWED},
        "the ViT with the global FFT filter and the wavelet mixer, gated per head", {"levels": 3}),
    "feedback-vit": (FeedbackViT, {},
        "the attention ViT in contextual feedback loops on the block outputs (T = 2)", {}),
    "audio-cnn": (AudioCNN, {},
        "log-mel CNN: 3 convs, global average pool, Linear 128-256-12", {}),
    "feedback-audio-cnn": (FeedbackAudioCNN, {},
        "the audio CNN trunk in contextual feedback loops (T = 2)", {}),
    # The Long Range Arena classifiers: token ids in; task= picks LRA's size for that task
    "lra-transformer": (SequenceClassifier, {"mixer": "attention"}, "LRA classifier, softmax attention", {}),
    "lra-fnet": (SequenceClassifier, {"mixer": "fnet"}, "LRA classifier, FNet's parameter-free Re(FFT2)", {}),
    "lra-fftnet": (SequenceClassifier, {"mixer": "fft"}, "LRA classifier, FFTNet's global spectral filter",
                   {}),
    "lra-fftnet-windowed": (SequenceClassifier, {"mixer": "fft-windowed"},
                            "LRA classifier, FFTNet windowed (w 16)", {}),
    "audio-resnet": (AudioResNet, {}, "keyword-spotting ResNet with batch norm: conv, 4x3 pool, 3 blocks",
                     {}),
    "feedback-audio-resnet": (FeedbackAudioResNet, {}, "the audio ResNet in contextual feedback loops", {}),
}


def available() -> list[str]:
    """The registered model names."""
    return list(_REGISTRY)


def describe(name: str) -> str:
    """One line about the model ``name``."""
    return _entry(name)[2]


def _entry(name: str):
    if name not in _REGISTRY:
        raise KeyError(f"models: unknown model {name!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def _defaults(name: str) -> dict:
    """The constructor's settings of model ``name`` and their defaults, as Python values."""
    cls, fixed, _, defaults = _entry(name)
    classes = [cls] + ([ContextualFeedback] if issubclass(cls, ContextualFeedback) else [])
    found = {}
    for c in classes:
        for p in list(inspect.signature(c.__init__).parameters.values())[1:]:
            variadic = p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            if not variadic and p.name != "network" and p.name not in fixed:
                found[p.name] = defaults.get(p.name, p.default)
    return found


def settings(name: str) -> dict:
    """The settings ``create(name, ...)`` accepts, each with its default (``create(name)`` builds
    exactly that), as JSON values: tuples such as the conv widths become lists."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in _defaults(name).items()}


def effective_settings(name: str, **config) -> dict:
    """Every setting of the model that ``create(name, **config)`` builds: the defaults updated by
    ``config``."""
    accepted = settings(name)
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise ValueError(f"models.create({name!r}): unknown setting(s) {unknown}; "
                         f"accepted: {sorted(accepted)}")
    return {**accepted, **config}


def create(name: str, **config) -> Module:
    """A new model ``name`` (see :func:`available`) with its default settings updated by ``config``."""
    cls, fixed, _, _ = _entry(name)
    effective_settings(name, **config)  # rejects unknown settings, naming the accepted ones
    return cls(**fixed, **{**_defaults(name), **config})


def count_parameters(model: Module) -> int:
    """Number of trained scalars in ``model``."""
    return model.num_parameters()


def training_loss(model: Module, logits: Tensor, labels, label_smoothing: float = 0.0) -> Tensor:
    """The scalar loss a model trains with: cross-entropy of the final ``logits``; for a feedback
    model with ``step_loss=True``, the mean of the cross-entropies of every step's logits y_0..y_T
    (from ``model.step_logits`` of the forward pass that gave ``logits``)."""
    steps = model.step_logits if isinstance(model, RefiningClassifier) else []
    if steps and model.step_loss and len(steps) > 1:
        if steps[-1] is not logits:
            raise ValueError("training_loss: logits are not the last forward pass's final logits "
                             "(model.step_logits[-1]); call it right after model(x)")
        losses = [cross_entropy(y, labels, label_smoothing) for y in steps]
        return sum(losses[1:], losses[0]) / len(losses)
    return cross_entropy(logits, labels, label_smoothing)


# ---- counting multiply-accumulates ----------------------------------------------------------------

def _linear_macs(module, inputs, out) -> int:
    return out.size * module.in_features


def _conv_macs(module, inputs, out) -> int:
    return out.size * module.in_channels * module.kernel_size[0] * module.kernel_size[1]


def _attention_macs(module, inputs, out) -> int:
    # Q K^T and (weights) V: 2 N^2 d per head and example; qkv and proj are Linear layers, counted apart.
    b, n, _ = inputs[0].shape
    return 2 * b * n * n * module.qkv_dim


_MAC_RULES = {Linear: _linear_macs, Conv2d: _conv_macs, MultiHeadSelfAttention: _attention_macs}


def _rule(module):
    """How a module's MACs are counted: its own ``macs(*input_shapes)`` (the mixers, the feedback
    adapters), or a rule of _MAC_RULES; None for the rest."""
    if hasattr(module, "macs"):
        return lambda m, inputs, out: m.macs(*[a.shape for a in inputs])
    return next((rule for cls, rule in _MAC_RULES.items() if isinstance(module, cls)), None)


@contextlib.contextmanager
def _counting(model: Module, total: list):
    """Wrap the forward of every module with a counting rule so that each call adds its MACs."""
    wrapped = []
    try:
        for module in model.modules():
            rule = _rule(module)
            if rule is None:
                continue

            def counted(*args, _module=module, _forward=module.forward, _rule=rule):
                out = _forward(*args)
                total[0] += _rule(_module, [a for a in args if isinstance(a, Tensor)], out)
                return out
            object.__setattr__(module, "forward", counted)
            wrapped.append(module)
        yield
    finally:
        for module in wrapped:
            del module.__dict__["forward"]


def count_flops(model: Module, input_shape) -> int:
    """Multiply-accumulates (MACs) of one forward pass in evaluation mode on an input of
    ``input_shape`` (batch axis included: (1, 3, 32, 32) gives the count per CIFAR image; token
    models, whose ``input_dtype`` is an integer type, get zeros of that type).

    Counted (analytically, from the shapes met in one forward pass of zeros): Linear layers
    (in x out per row), convolutions (C_in kh kw per output element), the two matrix products of
    self-attention (2 N^2 d per head), FFTs along tokens (n log2 n per real
    transform of n points: ``minifb.layers.fft_mixer.fft_macs``; FNet's complex 2-D FFT twice
    that per axis), Haar transforms
    (2 per output coefficient and level), the feedback adapters (as 1x1 convolutions) and, for
    feedback models, all ``steps_eval`` refinement steps. Not counted: elementwise operations,
    normalisation, pooling, softmax and activations. FLOPs are about twice the MACs.
    """
    total = [0]
    was_training = model.training
    device = next((p.device for p in model.parameters()), "cpu")
    dtype = getattr(model, "input_dtype", None) or next((p.dtype for p in model.parameters()), np.float32)
    x = Tensor(np.zeros(tuple(input_shape), dtype=dtype), device=device)
    model.eval()
    try:
        with no_grad(), _counting(model, total):
            model(x)
    finally:
        model.train(was_training)
    return total[0]
