"""The Long Range Arena tasks minifb trains on, as token arrays with train / val / test splits.

    tokens, labels = load_lra("listops", data_dir, "train")      # uint8 (N, 2000), int64 (N,)

- ``listops``: the official release when its files are there (``DATA/lra_release/listops-1000/``
  or ``DATA/listops-1000/``, ``basic_{train,val,test}.tsv``); else minifb's generated set with LRA's
  settings and sizes (96,000 / 2,000 / 2,000), written once in the official layout under
  ``DATA/minifb-listops-s{seed}/`` and tokenised into ``tokens.npz`` beside it.
- ``image``: CIFAR-10 (``DATA/cifar-10-batches-py``) as 1,024 gray levels (``lra_image``).
- ``pathfinder``: minifb's generated Pathfinder-32 (``pathfinder``), 80,000 / 10,000 / 10,000
  images, cached in ``DATA/minifb-pathfinder32-s{seed}/pathfinder.npz``.

Generated sets are written through temporary names and renamed, so a reader never sees half a
file; ``python -m minifb.data.lra DATA`` prepares them once, before parallel runs read them.
"""
from __future__ import annotations

import pathlib
import sys
import time

import numpy as np

from ..atomic_file import atomic_write
from . import listops
from .lra_image import load_lra_image
from .pathfinder import generate_pathfinder

TASKS = ("listops", "image", "pathfinder")
SPLITS = ("train", "val", "test")
LISTOPS_SIZES = (96_000, 2_000, 2_000)      # LRA's
PATHFINDER_SIZES = (80_000, 10_000, 10_000)  # minifb's set (LRA's Pathfinder-32: 160,000 / 20,000 / 20,000)
OFFICIAL_LISTOPS = ("lra_release/listops-1000", "listops-1000")


def load_lra(task: str, data_dir, split: str, seed: int = 0, download: bool = False):
    """(tokens uint8 (N, length), labels int64 (N,)) of ``split`` (train, val, test) of an LRA task;
    ``seed`` chooses minifb's generated set (ListOps without the official files, Pathfinder)."""
    if task not in TASKS or split not in SPLITS:
        raise ValueError(f"load_lra: task must be one of {TASKS} and split one of {SPLITS}, "
                         f"got {task!r}, {split!r}")
    data_dir = pathlib.Path(data_dir)
    if task == "image":
        return load_lra_image(data_dir, split, download=download)
    if task == "listops":
        official = official_listops(data_dir)
        if official is not None:
            return listops.read_listops_tsv(official / f"basic_{split}.tsv")
        arrays = _cached(data_dir / f"minifb-listops-s{seed}", "tokens.npz",
                         lambda folder: _make_listops(folder, seed))
    else:
        arrays = _cached(data_dir / f"minifb-pathfinder32-s{seed}", "pathfinder.npz",
                         lambda folder: _make_pathfinder(seed))
    return arrays[f"{split}_tokens"], arrays[f"{split}_labels"]


def official_listops(data_dir) -> pathlib.Path | None:
    """The folder of the official ListOps release under ``data_dir``, or None."""
    for name in OFFICIAL_LISTOPS:
        folder = pathlib.Path(data_dir) / name
        if all((folder / f"basic_{split}.tsv").is_file() for split in SPLITS):
            return folder
    return None


def _cached(folder: pathlib.Path, name: str, make) -> dict:
    """The arrays of ``folder/name``, made by ``make(folder)`` and saved atomically when missing."""
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        arrays = make(folder)
        with atomic_write(path, "load_lra") as f:
            np.savez(f, **arrays)
        print(f"load_lra: wrote {path} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def _splits(tokens, labels, sizes) -> dict:
    bounds = np.cumsum((0,) + tuple(sizes))
    arrays = {}
    for split, a, b in zip(SPLITS, bounds[:-1], bounds[1:]):
        arrays[f"{split}_tokens"], arrays[f"{split}_labels"] = tokens[a:b], labels[a:b]
    return arrays


def _make_listops(folder: pathlib.Path, seed: int) -> dict:
    """Generate ListOps with LRA's settings and write the official TSV layout (reading it back gives
    the same tokens: tests/test_data_lra.py), for other implementations to train on the same set."""
    tokens, _, labels = listops.generate_listops(sum(LISTOPS_SIZES), seed)
    arrays = _splits(tokens, labels, LISTOPS_SIZES)
    for split in SPLITS:
        tokens, labels = arrays[f"{split}_tokens"], arrays[f"{split}_labels"]
        listops.write_listops_tsv(folder / f"basic_{split}.tsv", tokens, labels)
    return arrays


def _make_pathfinder(seed: int) -> dict:
    images, labels = generate_pathfinder(sum(PATHFINDER_SIZES), seed)
    return _splits(images.reshape(len(images), -1), labels, PATHFINDER_SIZES)


def main(argv=None) -> int:
    """``python -m minifb.data.lra DATA [TASK ...] [--seed S]``: make the generated sets now."""
    import argparse
    parser = argparse.ArgumentParser(prog="python -m minifb.data.lra", description=main.__doc__)
    parser.add_argument("data_dir")
    parser.add_argument("tasks", nargs="*", metavar="TASK", help="listops, pathfinder (default: both)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tasks) - {"listops", "pathfinder"})
    if unknown:
        parser.error(f"only listops and pathfinder are generated, not {', '.join(unknown)}")
    for task in args.tasks or ("listops", "pathfinder"):
        tokens, labels = load_lra(task, args.data_dir, "train", args.seed)
        print(f"{task}: {len(labels)} training sequences of {tokens.shape[1]} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
