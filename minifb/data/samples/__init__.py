"""Small real samples shipped with minifb for offline demos (sources and licences in ATTRIBUTION.md beside
it).

- cifar10_sample.npz: 2,000 training and 1,000 test CIFAR-10 images, 200 and 100 per class.
  Images are stored as differences of horizontally neighbouring pixels modulo 256 (a lossless
  predictor that compresses better); a cumulative sum modulo 256 restores them exactly.
- speech_commands_sample.npz: 20 clips per class of the official 12-class Speech Commands
  test set (int16, 16 kHz, one second), with their labels and file names.
Built by ``python -m minifb.data.make_samples`` from the full datasets.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parent  # the data files sit beside this module
CIFAR10_SAMPLE = SAMPLES / "cifar10_sample.npz"
SPEECH_COMMANDS_SAMPLE = SAMPLES / "speech_commands_sample.npz"


def encode_rows(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) -> the difference of each pixel and its left neighbour, modulo 256."""
    return np.diff(images, axis=2, prepend=np.zeros_like(images[:, :, :1]))


def decode_rows(differences: np.ndarray) -> np.ndarray:
    """The inverse of encode_rows: a cumulative sum along the width, modulo 256."""
    return np.cumsum(differences, axis=2, dtype=np.uint8)


def load_cifar10_sample(train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64) of the shipped CIFAR-10 sample (2,000 train / 1,000
    test)."""
    part = "train" if train else "test"
    with np.load(CIFAR10_SAMPLE) as sample:
        return decode_rows(sample[f"{part}_images"]), sample[f"{part}_labels"].astype(np.int64)


def load_speech_commands_sample() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(waveforms int16 (240, 16000), labels int64 in LABELS_12 order, names) of the shipped
    Speech Commands sample: 20 test-set clips per class."""
    with np.load(SPEECH_COMMANDS_SAMPLE) as sample:
        return sample["waveforms"], sample["labels"].astype(np.int64), [str(n) for n in sample["names"]]
