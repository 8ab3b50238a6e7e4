"""The demo's figure: four panels, one PNG (needs matplotlib)."""
from __future__ import annotations

import pathlib

from ..atomic_file import atomic_write
from ..plot import import_pyplot
from .feedback import STEPS_TRAIN, relative_changes
from .statistics import mean_sd

COLORS = {"fft": "tab:blue", "attention": "tab:orange", "feedback-cnn": "tab:green", "cnn": "tab:gray"}


def draw(results: dict, out) -> pathlib.Path:
    """Mixer cost against N, accuracy per mixer and seed, the feedback's change per step and its
    accuracy per step; written atomically to ``out``."""
    plt = import_pyplot()
    fig, ((cost, accuracy), (change, per_step)) = plt.subplots(2, 2, figsize=(11, 8))

    for kind in ("attention", "fft"):
        rows = [r for r in results["cost"] if r["mixer"] == kind]
        cost.plot([r["tokens"] for r in rows], [1e3 * r["seconds"] for r in rows], "o-", color=COLORS[kind],
                  label=f"{kind}: time")
        cost.plot([r["tokens"] for r in rows], [r["macs"] / 1e6 for r in rows], "s--", color=COLORS[kind],
                  alpha=0.6, label=f"{kind}: MMACs / example")
    cost.set(xscale="log", yscale="log", xlabel="tokens N", ylabel="ms (forward + backward) and MMACs",
             title="one mixing layer: cost against N")
    cost.legend(fontsize=8)

    for i, kind in enumerate(("fft", "attention")):
        values = [100 * r["test_accuracy"] for r in results["mixing"] if r["mixer"] == kind]
        mean, sd = mean_sd(values)
        accuracy.plot([i] * len(values), values, "o", color=COLORS[kind], alpha=0.6)
        accuracy.errorbar(i + 0.15, mean, yerr=sd, fmt="D", color=COLORS[kind], capsize=4)
    accuracy.axhline(10, color="k", lw=0.8, ls=":", label="chance")
    accuracy.set(xticks=[0, 1], xticklabels=["FFT mixer", "attention"], xlim=(-0.5, 1.5),
                 ylabel="test accuracy (%)",
                 title="small ViT, CIFAR-10 sample: seeds, mean ± sd")
    accuracy.legend(fontsize=8)

    feedback = [r for r in results["feedback"] if r["model"] == "feedback-cnn"]
    steps = results["settings"]["steps_eval"]
    for r in feedback:
        change.plot(range(1, steps + 1), relative_changes(r, steps), "o-", color=COLORS["feedback-cnn"],
                    alpha=0.7)
        per_step.plot(range(steps + 1), [100 * a for a in r["test_accuracy_per_step"]], "o-",
                      color=COLORS["feedback-cnn"], alpha=0.7)
    change.set(yscale="log", xlabel="refinement step t", ylabel="||y_t - y_t-1|| / ||y_t||",
               title="FeedbackCNN: change of the logits per step")
    for r in [r for r in results["feedback"] if r["model"] == "cnn"]:
        per_step.axhline(100 * r["test_accuracy"], color=COLORS["cnn"], lw=0.8)
    per_step.axvline(STEPS_TRAIN, color="k", ls=":", lw=0.8)
    per_step.set(xlabel="refinement step t (trained with T = 2, dotted)", ylabel="test accuracy (%)",
                 title="FeedbackCNN per step (green), CNN (grey)")
    for ax in (cost, accuracy, change, per_step):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out = pathlib.Path(out)
    with atomic_write(out, "demo") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
    return out
