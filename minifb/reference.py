"""``python -m minifb reference MODEL --seed S --out FILE.npz``: a model's weights, a batch, its
logits, loss and gradients in one file, to check another implementation against minifb.

Contents of the file (plain ``numpy.load`` reads it; no pickles):

    config           a JSON string: model name and its settings (every one, defaults included:
                     ``models.create(name, **settings)`` rebuilds the model), seed, batch, dtype, input shape,
                     the steps taken, which parameters were moved off their initial value, version
    input            the batch, (N, C, H, W), standard normal draws (like normalised images);
                     for the token models (lra-*) int64 ids (N, length), uniform over the vocabulary
    labels           int64 (N,), drawn uniformly from the classes
    logits           (N, classes): the model's output
    step_logits      (T + 1, N, classes): the logits of each refinement step of a feedback model
                     (index 0: the plain forward pass; just one entry for plain models)
    loss             0-d: minifb.models.training_loss(model, logits, labels): the mean
                     cross-entropy of the final logits, or its mean over the steps with step_loss
    weights/<name>   every entry of model.state_dict() (PyTorch's names and layouts)
    grad/<name>      dL/d(parameter) for every trained parameter

The model runs in evaluation mode: dropout is off and a feedback model takes steps_eval steps, so
the numbers do not depend on random masks. Parameters that start as a constant (the alpha logits
of feedback, FFTNet's W_base and bias, norm weights and biases) get U(-0.5, 0.5) added, so that
swapping two of them, or reading one in the wrong layout, changes the result (``--keep-init``
keeps them). float64 by default, so that a comparison shows implementation errors rather than
rounding. Check your implementation with :func:`minifb.testing.compare` (docs/validate.md).
"""
from __future__ import annotations

import json
import os

import numpy as np

from . import backend
from .atomic_file import atomic_write
from .settings_argument import read_settings

AUDIO_INPUT = (40, 98)  # log-mel bands and frames of a 1 s clip (docs/design.md: 30 ms window, 10 ms hop)


def add_arguments(parser) -> None:
    from . import models
    parser.add_argument("model", help=f"model name: {', '.join(models.available())}")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the batch and the labels "
                                                            "(default 0)")
    parser.add_argument("--batch", type=int, default=4, help="batch size (default 4)")
    parser.add_argument("--config", default="{}", metavar="JSON_OR_FILE",
                        help='model settings as JSON, e.g. \'{"mode": "all-stages", "steps_eval": 3}\'')
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="default float64")
    parser.add_argument("--device", choices=backend.DEVICES, default="cpu", help="default cpu")
    parser.add_argument("--input-shape", default=None,
                        help="C,H,W of one input (default: the model's images, or 1,40,98 log-mel for audio "
                             "models)")
    parser.add_argument("--keep-init", action="store_true",
                        help="leave constant-initialised parameters at their initial values")


def input_shape(model) -> tuple:
    """(C, H, W) of one input: the model's image size, or a 1 s log-mel spectrogram for audio
    models; (length,) for the token models (lra-*)."""
    network = getattr(model, "network", model)
    if hasattr(network, "vocab_size"):
        return (network.max_length,)
    channels = network.in_channels
    if hasattr(network, "image_size"):
        return (channels, network.image_size, network.image_size)
    return (channels,) + AUDIO_INPUT


def move_constant_parameters(model, rng) -> list[str]:
    """Add U(-0.5, 0.5) to every parameter whose entries are all equal; returns their names."""
    moved = []
    for name, p in model.named_parameters():
        values = backend.asnumpy(p.data)
        if values.size and np.ptp(values) == 0:
            p.data = p.data + backend.to_device(rng.uniform(-0.5, 0.5, p.shape).astype(p.dtype), p.device)
            moved.append(name)
    return moved


def export(name: str, seed: int = 0, batch: int = 4, settings=None, dtype: str = "float64",
           device: str = "cpu",
           shape=None, keep_init: bool = False) -> dict:
    """The arrays of a reference file (see the module docstring) as a dict of numpy arrays."""
    from . import models
    from .autograd.tensor import Tensor
    from .testing import cast

    settings = dict(settings or {})
    if batch < 1:
        raise ValueError(f"reference: the batch size must be at least 1, got {batch}")
    backend.seed(seed)
    model = models.create(name, **settings)
    rng = np.random.default_rng(seed)
    moved = [] if keep_init else move_constant_parameters(model, rng)
    cast(model, dtype).to(device).eval()
    shape = tuple(shape) if shape else input_shape(model)
    if hasattr(model, "vocab_size"):   # token ids, uniform over the vocabulary
        x = rng.integers(0, model.vocab_size, (batch,) + shape).astype(np.int64)
    else:
        x = rng.standard_normal((batch,) + shape).astype(dtype)
    labels = rng.integers(0, model.num_classes, batch).astype(np.int64)

    logits = model(Tensor(x, device=device))
    loss = models.training_loss(model, logits, backend.to_device(labels, device))
    loss.backward()
    steps = model.step_logits  # every registered model is a RefiningClassifier
    config = {"model": name, "settings": models.effective_settings(name, **settings), "seed": seed,
              "batch": batch, "dtype": dtype,
              "input_shape": list(shape), "training": False, "steps": len(steps) - 1,
              "moved_parameters": moved,
              "loss": "minifb.models.training_loss (mean cross-entropy)", "minifb_version": _version()}
    arrays = {"config": np.array(json.dumps(config)), "input": x, "labels": labels,
              "logits": backend.asnumpy(logits.data),
              "step_logits": np.stack([backend.asnumpy(y.data) for y in steps]),
              "loss": backend.asnumpy(loss.data)}
    arrays.update({f"weights/{k}": v for k, v in model.state_dict().items()})
    for k, p in model.named_parameters():
        arrays[f"grad/{k}"] = backend.asnumpy(p.grad) if p.grad is not None else np.zeros(p.shape, p.dtype)
    return arrays


def write(path, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` as .npz under a temporary name in the same folder, then rename."""
    with atomic_write(path, "reference") as f:
        np.savez(f, **arrays)


def _folder_of(path) -> str:
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise OSError(f"reference: the folder {folder} of {os.fspath(path)} does not exist")
    return folder


def run(args) -> int:
    _folder_of(args.out)  # before the work, not after it
    settings = read_settings(args.config, "reference")
    shape = None
    if args.input_shape:
        try:
            shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError:
            raise ValueError(f"reference: --input-shape must be C,H,W integers, "
                             f"got {args.input_shape!r}") from None
    arrays = export(args.model, args.seed, args.batch, settings, args.dtype, args.device, shape,
                    args.keep_init)
    write(args.out, arrays)
    grads = sum(k.startswith("grad/") for k in arrays)
    print(f"reference: wrote {args.out}: {args.model}, batch {args.batch}, {args.dtype}, "
          f"loss {float(arrays['loss']):.6f}, {grads} parameter gradients")
    return 0


def _version() -> str:
    from . import __version__
    return __version__
