"""``python -m minifb plot RUN_DIR... [--out FILE.png]``: learning curves of training runs.

Each run folder holds ``metrics.jsonl`` (one JSON object per epoch, written by ``train``). The
figure has two panels: loss per epoch (train solid, test dashed) and accuracy per epoch. Needs
matplotlib (``pip install minifb[plot]``).
"""
from __future__ import annotations

import json
import pathlib

from .atomic_file import atomic_write


def add_arguments(parser) -> None:
    parser.add_argument("runs", nargs="+", help="run folders (each with metrics.jsonl)")
    parser.add_argument("--out", default="curves.png", help="PNG file to write (default: curves.png)")
    parser.add_argument("--title", default=None, help="figure title")


def read_metrics(run_dir) -> list[dict]:
    """The per-epoch records of a run folder, in file order."""
    path = pathlib.Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise OSError(f"plot: no metrics.jsonl in {run_dir}")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"plot: {path} line {number} is not JSON ({e})") from e
    if not records:
        raise ValueError(f"plot: {path} has no epochs yet")
    return records


def import_pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a clear error when it is missing."""
    try:
        import matplotlib
    except ImportError as e:
        raise RuntimeError("plotting needs matplotlib, which is not installed: "
                           "pip install minifb[plot]") from e
    matplotlib.use("Agg")  # no display needed: we only write files
    import matplotlib.pyplot as plt
    return plt


def plot_runs(runs: dict[str, list[dict]], out, title: str | None = None) -> pathlib.Path:
    """Draw loss and accuracy per epoch of each named run; write the PNG atomically."""
    plt = import_pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for (name, records), color in zip(runs.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 10):
        epochs = [r["epoch"] for r in records]
        for key, style, label in (("train", "-", "train"), ("test", "--", "test")):
            ax_loss.plot(epochs, [r.get(f"{key}_loss") for r in records], style, color=color,
                         label=f"{name} {label}")
            ax_acc.plot(epochs, [r.get(f"{key}_accuracy") for r in records], style, color=color,
                        label=f"{name} {label}")
    for ax, what in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy")):
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out, "plot") as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)
    return out


def run(args) -> int:
    names = [pathlib.Path(r).resolve().name for r in args.runs]
    if len(set(names)) < len(names):  # folder names collide: label the curves with the paths given
        names = [str(r) for r in args.runs]
    runs = {name: read_metrics(r) for name, r in zip(names, args.runs)}
    out = plot_runs(runs, args.out, args.title)
    print(f"wrote {out}")
    return 0
