"""The training tasks' data on the device, and how raw examples become model input.

``load_task(task, ...)`` reads a task's dataset, keeps the asked subsets, moves them to the
training device and pairs them with the task's pipeline: ``augment(x, rng)`` for training batches
and ``prepare(x)`` for evaluation, both from raw arrays (uint8 images, int16 waveforms) to the
float32 Tensors a model reads. Keeping the raw arrays on the device and converting per batch
there keeps the host out of the training loop.
"""
from __future__ import annotations

import dataclasses
import sys
from typing import Callable

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor
from . import speech_commands
from .audio import log_mel_spectrogram, pcm16_to_float
from .augment import (mix_background_noise, normalize, random_crop_flip, random_time_shift, spec_augment,
                      stack_noise)
from .cifar10 import load_cifar10
from .lra import load_lra
from .samples import load_cifar10_sample

# cifar10-sample: the shipped 2,000/1,000 images; lra-*: Long Range Arena tasks (minifb/data/lra.py)
TASKS = ("cifar10", "cifar10-sample", "speech-commands", "lra-listops", "lra-image", "lra-pathfinder")
LRA_CLASSES = {"lra-listops": 10, "lra-image": 10, "lra-pathfinder": 2}
STATISTICS_CHUNK = 500  # clips per log-mel batch while measuring the band statistics


@dataclasses.dataclass
class TaskData:
    """A dataset held on the training device, and how raw examples become model input.

    ``train_x``/``test_x`` are raw arrays (uint8 images, int16 or float32 waveforms);
    ``augment(x, rng)`` turns a raw training batch into augmented float32 model input, drawing
    its random choices from the NumPy generator ``rng``; ``prepare(x)`` does the same without
    augmentation (evaluation). ``val_x``/``val_y``: a validation split, for the tasks that have one
    (LRA), evaluated every epoch beside the test set.
    """

    train_x: object
    train_y: object
    test_x: object
    test_y: object
    augment: Callable
    prepare: Callable
    num_classes: int
    unit: str  # "images", "clips" or "sequences", for the throughput in the metrics
    val_x: object = None
    val_y: object = None


def subset(n: int, limit: int | None) -> np.ndarray:
    """Indices of the first ``limit`` examples of a fixed shuffle (all classes, not just the first)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:limit])


def load_speech_commands_split(data_dir, train: bool, download: bool):
    """(int16 waveforms, labels) of the 12-class task: the full archive's official split when its
    word folders are under ``data_dir``, else the speaker-disjoint split of the v0.02 test set."""
    split = "train" if train else "test"
    if (speech_commands.dataset_folder(data_dir, "v0.02") / "yes").is_dir():
        return speech_commands.load_speech_commands(data_dir, split=split)[:2]
    return speech_commands.load_speech_commands_test_set_split(data_dir, split, download=download)[:2]


def cifar10_pipeline():
    """(augment, prepare) of CIFAR-10: random crop (pad 4) and flip, then the CIFAR mean/std."""
    def augment(images, rng):
        return Tensor(normalize(random_crop_flip(images, padding=4, rng=rng)))

    def prepare(images):
        return Tensor(normalize(images))
    return augment, prepare


def log_mel(waveforms):
    """(B, 40, frames) log-mel spectrograms of int16 or float waveforms."""
    return log_mel_spectrogram(pcm16_to_float(waveforms) if waveforms.dtype.kind == "i" else waveforms)


def mel_statistics(waveforms):
    """(mean, std) of each mel band over every frame of ``waveforms``, each of shape (40,).

    Computed in chunks of STATISTICS_CHUNK clips, so that the spectrograms of the whole training
    set never sit in memory at once; two passes (mean, then squared deviations) for accuracy.
    """
    xp = backend.get_array_module(waveforms)
    chunks = [log_mel(waveforms[i:i + STATISTICS_CHUNK]) for i in range(0, len(waveforms), STATISTICS_CHUNK)]
    count = sum(len(c) * c.shape[2] for c in chunks)
    mean = sum(c.sum(axis=(0, 2)) for c in chunks) / count
    std = xp.sqrt(sum(((c - mean[:, None]) ** 2).sum(axis=(0, 2)) for c in chunks) / count)
    return mean, std


def speech_pipeline(train_waveforms, data_dir, masks=None):
    """(augment, prepare) of Speech Commands: int16 clips -> (N, 1, 40, 98) standardised log-mel.

    Augmentation (the dataset's reference recipe): a time shift of up to 100 ms, then background
    noise from ``_background_noise_`` (when that folder is there). The 40 mel bands are
    standardised with each band's mean and standard deviation over the training clips. ``masks``
    (freq_masks, freq_width, time_masks, time_width), when given, adds SpecAugment's masks to the
    standardised training features, set to 0, the mean of every band (augment.spec_augment).
    """
    xp = backend.get_array_module(train_waveforms)
    mean, std = mel_statistics(train_waveforms)
    scale, shift = (1 / xp.maximum(std, 1e-6))[:, None], mean[:, None]

    def features(waveforms):
        return Tensor(((log_mel(waveforms) - shift) * scale)[:, None])
    try:
        bank, lengths = stack_noise(speech_commands.load_background_noise(data_dir).values())
        noise = xp.asarray(bank)
    except OSError:
        noise = None
        print(f"train: no _background_noise_ folder under {data_dir}: augmenting with time shifts only",
              file=sys.stderr)

    def augment(waveforms, rng):
        shifted = random_time_shift(pcm16_to_float(waveforms), rng=rng)
        x = features(shifted if noise is None else mix_background_noise(shifted, noise, lengths, rng=rng))
        return x if masks is None else Tensor(spec_augment(x.data, *masks, rng=rng))
    return augment, features


def load_task(task: str, data_dir: str, download: bool, device: str, limit_train=None, limit_test=None,
              with_train: bool = True, spec_augment=None) -> TaskData:
    """The task's data on ``device`` (training arrays None unless ``with_train``).

    CIFAR-10 from the official pickles, or the shipped sample (no ``data_dir`` needed); Speech
    Commands as :func:`load_speech_commands_split` says (its training clips are read even without
    ``with_train``: they give the feature statistics). ``spec_augment``: the masks of
    :func:`speech_pipeline` (Speech Commands only).
    """
    if task not in TASKS:
        raise ValueError(f"load_task: unknown task {task!r}; expected one of {TASKS}")
    if spec_augment is not None and task != "speech-commands":
        raise ValueError(f"load_task: spec_augment applies to speech-commands only, not to {task!r}")
    if task.startswith("lra-"):
        return load_lra_task(task, data_dir, download, device, limit_train, limit_test, with_train)
    xp = backend.xp_for(device)
    if task == "cifar10":
        def load(train):
            return load_cifar10(data_dir, train=train, download=download)
    elif task == "cifar10-sample":
        load = load_cifar10_sample
    else:
        def load(train):
            return load_speech_commands_split(data_dir, train, download)

    def on_device(train: bool, limit):
        x, y = load(train)
        keep = subset(len(y), limit)
        return xp.asarray(np.ascontiguousarray(x[keep])), xp.asarray(y[keep], dtype=xp.int64)
    test_x, test_y = on_device(False, limit_test)
    if task != "speech-commands":
        train_x, train_y = on_device(True, limit_train) if with_train else (None, None)
        augment, prepare = cifar10_pipeline()
        return TaskData(train_x, train_y, test_x, test_y, augment, prepare, 10, "images")
    train_x, train_y = on_device(True, limit_train)
    augment, prepare = speech_pipeline(train_x, data_dir, spec_augment)
    if not with_train:
        train_x = train_y = None
    classes = len(speech_commands.LABELS_12)
    return TaskData(train_x, train_y, test_x, test_y, augment, prepare, classes, "clips")


def load_lra_task(task: str, data_dir, download: bool, device: str, limit_train=None, limit_test=None,
                  with_train: bool = True) -> TaskData:
    """An LRA task's token ids (uint8) and labels on ``device``: its train, val and test splits
    (``limit_test`` caps val and test alike). The generated sets (ListOps without the official files,
    Pathfinder) are minifb's with data seed 0, whatever the training seed. Tokens go to the model
    as they are: no augmentation."""
    xp = backend.xp_for(device)

    def on_device(split, limit):
        tokens, labels = load_lra(task[len("lra-"):], data_dir, split, seed=0, download=download)
        keep = subset(len(labels), limit)
        return xp.asarray(np.ascontiguousarray(tokens[keep])), xp.asarray(labels[keep], dtype=xp.int64)
    train_x, train_y = on_device("train", limit_train) if with_train else (None, None)
    val_x, val_y = on_device("val", limit_test)
    test_x, test_y = on_device("test", limit_test)
    return TaskData(train_x, train_y, test_x, test_y, lambda tokens, rng: tokens, lambda tokens: tokens,
                    LRA_CLASSES[task], "sequences", val_x, val_y)
