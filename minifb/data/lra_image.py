"""LRA Image (Tay et al., 2021): CIFAR-10 as sequences of 1,024 grayscale 8-bit pixels.

Each 32x32 RGB image becomes one gray level per pixel, read in row-major order: 1,024 tokens in
0..255, classified into CIFAR-10's 10 classes. The gray level is TensorFlow's rgb_to_grayscale,
which LRA's input pipeline calls on the uint8 images: the pixels scaled to [0, 1], weighted
0.2989 R + 0.5870 G + 0.1140 B in float32, and turned back into uint8 by truncating y (255 + 0.5).

Split (LRA's TFDS splits train[:90%] / train[90%:] / test): the first 45,000 of the 50,000
training images for training, the last 5,000 for validation, the 10,000 test images for the test,
in the order of the batch files (LRA took TFDS's order of the same images).
"""
from __future__ import annotations

import numpy as np

from .cifar10 import load_cifar10

GRAY_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], np.float32)
SPLITS = ("train", "val", "test")
TRAIN_FRACTION = 0.9  # of the training images; the rest is the validation split


def split_slice(split: str, n: int) -> slice:
    """The images of ``split`` among the n of its file set: train[:90%], train[90%:], all of test."""
    if split == "test":
        return slice(None)
    cut = int(n * TRAIN_FRACTION)
    return slice(0, cut) if split == "train" else slice(cut, n)


def grayscale(images) -> np.ndarray:
    """uint8 images (N, H, W, 3) -> uint8 gray levels (N, H, W), TensorFlow's rgb_to_grayscale."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"grayscale: expected uint8 images (N, H, W, 3), got {images.dtype} {images.shape}")
    levels = (images.astype(np.float32) * np.float32(1 / 255)) @ GRAY_WEIGHTS
    return np.clip(levels * np.float32(255.5), 0, 255).astype(np.uint8)


def load_lra_image(root, split: str = "train", download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(tokens uint8 (N, 1024), labels int64 (N,)) of LRA Image's ``split``: train, val or test.
    ``root`` holds ``cifar-10-batches-py/`` (see ``load_cifar10``)."""
    if split not in SPLITS:
        raise ValueError(f"load_lra_image: split must be one of {tuple(SPLITS)}, got {split!r}")
    images, labels = load_cifar10(root, train=split != "test", download=download)
    part = split_slice(split, len(labels))
    return grayscale(images[part]).reshape(-1, 32 * 32), labels[part]
