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
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(f"load_cifar10: {path} holds data {data.shape} and {len(labels)} labels; "
                         f"expected (N, 3072) uint8 and N labels")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # planes -> channels-last
    return np.ascontiguousarray(images), labels


def load_cifar10(root, train: bool = True, download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) of the training (50,000) or test (10,000) set.

    ``root`` is the folder that holds ``cifar-10-batches-py/``. With ``download=True`` a missing
    folder is fetched from the official URL (md5-checked, extracted safely); present data is
    used as it is.
    """
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

