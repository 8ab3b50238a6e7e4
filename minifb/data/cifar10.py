"""CIFAR-10 (Krizhevsky, 2009) from the official python layout ``cifar-10-batches-py``.

Each batch file is a pickled dict with b'data', a uint8 (10000, 3072) array holding the red,
green and blue 32x32 planes of each image in row-major order, and b'labels' (0..9). Images are
returned channels-last, (N, 32, 32, 3) uint8, the layout of the files after one reshape;
``minifb.data.augment.normalize`` turns them into float32 NCHW for the networks.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .. import checks
from .download import download_and_extract

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCHES = ("test_batch",)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# Per-channel (R, G, B) mean and standard deviation of the 50,000 training images scaled to
# [0, 1]; the published CIFAR-10 statistics, checked against the real data in the tests.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
    except (OSError, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"load_cifar10: cannot read batch {path} ({e})") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(map(repr, batch))[:5] if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"load_cifar10: {path} is not a CIFAR-10 batch: expected a dict with b'data' and "
                         f"b'labels', got {found}")
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
    except ValueError as e:  # ragged lists
        raise ValueError(f"load_cifar10: {path} holds data or labels that are not arrays ({e})") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.ndim != 1 \
            or labels.dtype.kind not in "iu" or len(labels) != len(data):
        raise ValueError(f"load_cifar10: {path} holds data {data.dtype} {data.shape} and labels "
                         f"{labels.dtype} {labels.shape}; expected (N, 3072) uint8 and N integer labels")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise ValueError(f"load_cifar10: {path} holds labels from {labels.min()} to {labels.max()}; "
                         f"CIFAR-10 labels are 0..{len(CLASSES) - 1}")
    labels = labels.astype(np.int64)
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # planes -> channels-last
    return np.ascontiguousarray(images), labels


def load_cifar10(root, train: bool = True, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) of the training (50,000) or test (10,000) set.

    ``root`` is the folder that holds ``cifar-10-batches-py/``. With ``download=True`` a missing
    folder is fetched from the official URL (md5-checked, extracted safely); present data is
    used as it is.
    """
    if not isinstance(root, (str, Path)) or not str(root):
        raise TypeError(f"load_cifar10: root must be a folder path, got {root!r}")
    checks.flag("load_cifar10", "train", train)
    checks.flag("load_cifar10", "download", download)
    root = Path(root)
    folder = root / FOLDER
    if download:
        download_and_extract(URL, root / "cifar-10-python.tar.gz", folder, checksum=MD5, algorithm="md5")
    names = TRAIN_BATCHES if train else TEST_BATCHES
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"load_cifar10: {', '.join(missing)} not found in {folder}; pass download=True, or download "
            f"{URL} (md5 {MD5}) by hand and extract it in {root}")
    parts = [_read_batch(folder / n) for n in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

