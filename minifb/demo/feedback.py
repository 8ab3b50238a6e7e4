"""Part 3 of the demo: contextual feedback, does the refinement converge, and what does it buy?

A small FeedbackCNN (16 x 16 images, conv widths 8-16-16, hidden 32; head-only feedback, learnable
alpha) is trained with T = 2 refinement steps and then tested with more steps than it was
trained with. For each step t it records the test accuracy of y_t and the relative change of
the logits ||y_t - y_t-1|| / ||y_t||; the ratio of successive changes is the empirical
contraction factor (below 1: every step moves the logits less than the one before, as the
iterates of a contraction do). The plain CNN of the same widths, trained the same way, is the
baseline for accuracy.
"""
from __future__ import annotations

from .training import train_and_test

CNN = {"widths": (4, 8, 16), "hidden": 32}
STEPS_TRAIN = 2


def runs(data, seeds, epochs: int, steps_eval: int, say, batch_size: int = 100,
         lr: float = 3e-3) -> list[dict]:
    """Train FeedbackCNN (T = 2) and the plain CNN for each seed; one result per run."""
    results = []
    for seed in seeds:
        result = train_and_test("feedback-cnn", {**CNN, "steps_train": STEPS_TRAIN}, data, seed, epochs,
                                batch_size, lr, steps_eval=steps_eval)
        per_step = result["test_accuracy_per_step"]
        factors = contraction_factors(result, steps_eval)
        results.append({"model": "feedback-cnn", "seed": seed, "contraction": factors, **result})
        say(f"  feedback-cnn, seed {seed}: accuracy t=0 {per_step[0]:.1%}, t={STEPS_TRAIN} "
            f"{per_step[STEPS_TRAIN]:.1%}, t={steps_eval} {per_step[-1]:.1%}; contraction factors "
            + " ".join(f"{c:.2f}" for c in factors) + f" ({result['seconds']:.1f} s)")
    for seed in seeds:
        result = train_and_test("cnn", CNN, data, seed, epochs, batch_size, lr)
        results.append({"model": "cnn", "seed": seed, **result})
        say(f"  cnn,          seed {seed}: accuracy {result['test_accuracy']:.1%} "
            f"({result['seconds']:.1f} s)")
    return results


def contraction_factors(result: dict, steps: int) -> list[float]:
    """||y_t - y_t-1|| / ||y_t-1 - y_t-2|| for t = 2..steps (from the evaluation's diagnostics)."""
    return [result[f"contraction_{t}"] for t in range(2, steps + 1)]


def relative_changes(result: dict, steps: int) -> list[float]:
    """||y_t - y_t-1|| / ||y_t|| for t = 1..steps."""
    return [result[f"rel_change_{t}"] for t in range(1, steps + 1)]
