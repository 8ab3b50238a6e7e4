#!/usr/bin/env python3
"""Per-layer analysis of a trained feedback model: how much each stage moves at each refinement step.

    python experiments/layer_analysis.py RUN [RUN ...] --data-dir DIR [--device cuda] [--steps 4]
        [--limit-test N] [--figure results/figures/layer_analysis.png]

For each run folder (written by ``python -m minifb train`` for a feedback model, with its
``checkpoint.npz``), the model is rebuilt from the settings stored in the checkpoint and run on
the test set with ``--steps`` refinement steps (more than it was trained with shows whether
the iteration settles). For every refined stage l and step t = 1..T it records the feedback
diagnostics of minifb (``ContextualFeedback.diagnostics``), averaged over the test set:

    KL(softmax h_l^t || softmax h_l^(t-1))   (softmax over each example's flattened activations)
    mean squared change of h_l between steps t-1 and t

and the same KL for the logits, plus the test accuracy after every step. They go to
``RUN/layer_analysis.json``; the figure (two panels, KL and MSE against the step, one line per
stage, log scale) is drawn from those files, here and by ``experiments/summarize.py``.
Plotting needs matplotlib (the plot extra); the numbers do not.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import sys

ANALYSIS_FILE = "layer_analysis.json"


def analyse(run: pathlib.Path, data_dir: str, device: str, steps: int, limit_test: int | None) -> dict:
    """The per-stage, per-step diagnostics of RUN's checkpoint on the test set (see the docstring)."""
    from minifb import backend, models
    from minifb.checkpoint import load_checkpoint
    from minifb.evaluate import stored_run
    from minifb.train import evaluate, load_task

    checkpoint = run / "checkpoint.npz"
    extra = stored_run(checkpoint)
    config = extra["config"]
    if not config["model"].startswith("feedback"):
        raise ValueError(f"layer_analysis: {run} holds a {config['model']!r}, not a feedback model")
    backend.check_device(device)
    data = load_task(config["task"], data_dir, False, device, config["limit_train"],
                     limit_test if limit_test is not None else config["limit_test"], with_train=False)
    model = models.create(config["model"], num_classes=data.num_classes, **config["model_config"]).to(device)
    load_checkpoint(checkpoint, model)
    model.steps_eval = steps
    result = evaluate(model, data.test_x, data.test_y, data.prepare)
    stages = sorted({int(m.group(1)) for key in result for m in [re.match(r"stage(\d+)_kl_\d+$", key)] if m})
    return {
        "run": run.name, "model": config["model"], "model_config": config["model_config"],
        "epoch": extra["epoch"], "steps": steps, "test_examples": len(data.test_y),
        "test_accuracy_per_step": result["test_accuracy_per_step"],
        "logits_kl": [result[f"kl_{t}"] for t in range(1, steps + 1)],
        "rel_change": [result[f"rel_change_{t}"] for t in range(1, steps + 1)],
        "stages": {str(l): {"kl": [result[f"stage{l}_kl_{t}"] for t in range(1, steps + 1)],
                            "mse": [result[f"stage{l}_mse_{t}"] for t in range(1, steps + 1)]} for l in stages},
    }


def write_json(path: pathlib.Path, value) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(partial, path)


def plot(analyses: list[dict], figure: pathlib.Path) -> bool:
    """Two panels per analysed run (KL left, MSE right), one line per stage; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("layer_analysis: matplotlib is not installed (pip install minifb[plot]): no figure",
              file=sys.stderr)
        return False
    fig, axes = plt.subplots(len(analyses), 2, figsize=(9, 3.2 * len(analyses)), squeeze=False)
    for row, analysis in zip(axes, analyses):
        steps = range(1, analysis["steps"] + 1)
        for l, values in analysis["stages"].items():
            row[0].plot(steps, values["kl"], marker="o", label=f"stage {l}")
            row[1].plot(steps, values["mse"], marker="o", label=f"stage {l}")
        row[0].plot(steps, analysis["logits_kl"], marker="s", color="black", linestyle="--", label="logits")
        accuracy = ", ".join(f"{100 * a:.1f}" for a in analysis["test_accuracy_per_step"])
        row[0].set_title(f"{analysis['run']}: KL between steps", fontsize=9)
        row[1].set_title(f"MSE between steps; accuracy t=0..{analysis['steps']}: {accuracy}", fontsize=8)
        for ax, label in zip(row, ("KL(h_t || h_t-1)", "mean squared change")):
            ax.set_xlabel("refinement step t")
            ax.set_ylabel(label)
            ax.set_yscale("log")
            ax.set_xticks(list(steps))
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    partial = figure.with_name(figure.stem + ".part" + figure.suffix)
    fig.savefig(partial, dpi=120)
    plt.close(fig)
    os.replace(partial, figure)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders with checkpoint.npz (feedback models)")
    parser.add_argument("--data-dir", required=True, help="the dataset the runs were trained on")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=4, help="refinement steps at evaluation (default 4)")
    parser.add_argument("--limit-test", type=int, default=None, help="use N test examples")
    parser.add_argument("--figure", default=None, help="also draw the figure to this PNG")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    analyses = []
    for run in map(pathlib.Path, args.runs):
        analysis = analyse(run, args.data_dir, args.device, args.steps, args.limit_test)
        write_json(run / ANALYSIS_FILE, analysis)
        print(json.dumps({"run": str(run), "test_accuracy_per_step": analysis["test_accuracy_per_step"]}))
        analyses.append(analysis)
    if args.figure:
        plot(analyses, pathlib.Path(args.figure))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))  # minifb from this checkout
    raise SystemExit(main())
