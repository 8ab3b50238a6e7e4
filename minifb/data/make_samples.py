"""Build the shipped samples from the full datasets:

    python -m minifb.data.make_samples CIFAR_ROOT SPEECH_COMMANDS_ROOT

CIFAR_ROOT holds cifar-10-batches-py/, SPEECH_COMMANDS_ROOT holds speech_commands_test_set_v0.02/.
The choice is deterministic: the first 200 training and 100 test images of each class in file
order, and 20 clips per class of the test set drawn with numpy.random.default_rng(0).
"""
from __future__ import annotations

import argparse

import numpy as np

from ..atomic_file import atomic_write
from .cifar10 import load_cifar10
from .samples import CIFAR10_SAMPLE, SPEECH_COMMANDS_SAMPLE, encode_rows
from .speech_commands import LABELS_12, load_speech_commands_test_set


def first_per_class(labels: np.ndarray, count: int) -> np.ndarray:
    """Positions of the first ``count`` examples of every class, in their original order."""
    chosen = np.concatenate([np.flatnonzero(labels == c)[:count] for c in np.unique(labels)])
    return np.sort(chosen)


def save_npz(path, **arrays) -> None:
    """np.savez_compressed to a temporary name, then renamed."""
    with atomic_write(path, "make_samples") as f:
        np.savez_compressed(f, **arrays)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Build minifb's shipped CIFAR-10 and Speech Commands "
                                                 "samples.")
    parser.add_argument("cifar_root")
    parser.add_argument("speech_commands_root")
    args = parser.parse_args(argv)
    arrays = {}
    for part, train, count in (("train", True, 200), ("test", False, 100)):
        images, labels = load_cifar10(args.cifar_root, train=train)
        keep = first_per_class(labels, count)
        arrays[f"{part}_images"] = encode_rows(images[keep])
        arrays[f"{part}_labels"] = labels[keep].astype(np.uint8)
    save_npz(CIFAR10_SAMPLE, **arrays)

    waveforms, labels, names = load_speech_commands_test_set(args.speech_commands_root)
    rng = np.random.default_rng(0)
    keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), 20, replace=False)
                                   for c in range(len(LABELS_12))]))
    save_npz(SPEECH_COMMANDS_SAMPLE, waveforms=waveforms[keep], labels=labels[keep].astype(np.uint8),
             names=np.array([names[i] for i in keep]))
    for path in (CIFAR10_SAMPLE, SPEECH_COMMANDS_SAMPLE):
        print(f"{path.name}: {path.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
