#!/usr/bin/env python3
"""Tables and figures of the GPU runs, from the run folders alone.

    python experiments/summarize.py [RESULTS_DIR] [--out results/summary.md] [--figures results/figures]
                                    [--readme README.md] [--epoch N]
    python experiments/summarize.py RESULTS_DIR --lra [--out results/lra.md]

Every run folder written by ``python -m minifb train`` (config.json, metrics.jsonl, and
final.json once finished) is read. The sections:

- all runs: finished runs grouped by folder name without the trailing ``-s<seed>``, mean and
  sample standard deviation (ddof 1) of the test accuracy over seeds;
- speech: the Speech Commands runs, per seed and mean ± std, with their recipe; a run that
  stopped early is shown with the epoch it reached;
- ablation: head-only FeedbackCNN on CIFAR-10 by refinement steps T and alpha, every other
  setting the recipe's, compared at one epoch (``--epoch``, default the last epoch that every
  ablation run reached), with the CNN and the plain all-stages FeedbackCNN at that epoch;
- all-stages: the trainings of all-stages FeedbackCNN, at the same epoch, with the accuracy of
  every refinement step;
- per-layer analysis: the ``layer_analysis.json`` files of experiments/layer_analysis.py.

Runs are sorted into the ablation and all-stages tables by their stored settings, not by their
names, so the 20-epoch runs of cifar_cnn.sh count as the ablation's T = 2, learnable cell. With
``--readme``, every block of that file between ``<!-- summarize:NAME -->`` and
``<!-- /summarize:NAME -->`` is replaced by the section NAME (speech, ablation, all-stages,
layers, runs). Figures (``--figures``) need matplotlib.

``--lra``: the Long Range Arena runs (tasks lra-*), finished or stopped by their time limit, as
two tables: test accuracy beside the source's numbers, and each run's details. A run's test
accuracy is the one of its epoch with the best validation accuracy (the earliest of equals), as
LRA reports; the epochs done and the examples seen say how far each run got.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import statistics
import sys

ALPHAS = ("0.0", "0.5", "learnable", "gated")  # the ablation's columns, as str(alpha)
SECTIONS = ("runs", "speech", "ablation", "all-stages", "layers")
FEEDBACK_DEFAULTS = {"mode": "head-only", "alpha": "learnable", "steps_train": 2, "steps_eval": 2,
                     "step_loss": False, "alpha_init": 0.5, "detach": "none", "context_dim": 64}
CNN_RECIPE = {"lr": 1e-3, "batch_size": 128, "schedule": "constant", "weight_decay": 0.0,
              "label_smoothing": 0.0, "limit_train": None, "limit_test": None}


# ---- reading run folders ------------------------------------------------------------------------

def read_runs(results: pathlib.Path) -> list[dict]:
    """Every run folder under ``results`` with a config.json: name, group, config, metrics, final."""
    runs = []
    for config_path in sorted(results.glob("*/config.json")):
        folder = config_path.parent
        metrics_path, final_path = folder / "metrics.jsonl", folder / "final.json"
        metrics = ([json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
                   if metrics_path.exists() else [])
        runs.append({"name": folder.name, "group": re.sub(r"-s\d+$", "", folder.name), "folder": folder,
                     "config": json.loads(config_path.read_text()), "metrics": metrics,
                     "final": json.loads(final_path.read_text()) if final_path.exists() else None})
    return runs


def feedback_settings(run: dict) -> dict:
    """The feedback settings of a run with the model's defaults filled in (alpha as a string)."""
    settings = {**FEEDBACK_DEFAULTS, **run["config"]["model_config"]}
    settings["alpha"] = settings["alpha"] if isinstance(settings["alpha"], str) else str(float(settings["alpha"]))
    return settings


def at_epoch(run: dict, epoch: int) -> dict | None:
    """The metrics line of ``epoch``, or None when the run has not reached it."""
    return next((m for m in run["metrics"] if m["epoch"] == epoch), None)


def epochs_done(run: dict) -> int:
    return run["metrics"][-1]["epoch"] if run["metrics"] else 0


def on_cnn_recipe(run: dict) -> bool:
    config = run["config"]
    return config["task"] == "cifar10" and all(config.get(k, v) == v for k, v in CNN_RECIPE.items())


# ---- formatting -----------------------------------------------------------------------------------

def percent(value: float) -> str:
    return f"{100 * value:.2f}"


def mean_std(values: list[float]) -> str:
    if not values:
        return ""
    if len(values) < 2:
        return percent(values[0])
    return f"{percent(statistics.mean(values))} ± {percent(statistics.stdev(values))}"


def seeds_of(runs: list[dict]) -> str:
    return ",".join(str(r["config"]["seed"]) for r in runs)


def markdown(header: list[str], rows: list[list[str]], align: str) -> str:
    """A Markdown table; ``align`` has one letter per column: l (text) or r (numbers)."""
    rule = ["---" if a == "l" else "---:" for a in align]
    return "\n".join("| " + " | ".join(map(str, row)) + " |" for row in [header, rule, *rows]) + "\n"


# ---- the sections ---------------------------------------------------------------------------------

def runs_table(runs: list[dict]) -> str:
    groups = {}
    for run in runs:
        if run["final"] is not None:
            groups.setdefault(run["group"], []).append(run)
    rows = []
    for name, members in sorted(groups.items()):
        config = members[0]["config"]
        settings = ", ".join(f"{k}={v}" for k, v in sorted(config["model_config"].items())) or "defaults"
        speed_key = next(k for k in members[0]["final"] if k.endswith("_per_second"))
        steps = [r["final"].get("test_accuracy_per_step", []) for r in members]
        before = mean_std([s[0] for s in steps]) if all(len(s) > 1 for s in steps) else ""
        rows.append([name, config["model"], settings, config["epochs"], seeds_of(members),
                     f"{config['num_parameters']:,}", mean_std([r["final"]["test_accuracy"] for r in members]),
                     before, f"{statistics.mean(r['final'][speed_key] for r in members):,.0f}",
                     config["environment"]["device_name"]])
    unfinished = sorted(r["name"] for r in runs if r["final"] is None)
    text = markdown(["run", "model", "settings", "epochs", "seeds", "parameters", "test accuracy (%)",
                     "feedback models: at t=0 (%)", "images or clips / s", "device"], rows, "lllrrrrrrl")
    if unfinished:
        text += f"\nUnfinished (no final.json yet): {', '.join(unfinished)}\n"
    return text


def recipe_text(config: dict) -> str:
    masks = config.get("spec_augment")
    schedule = config.get("schedule", "constant")
    if schedule == "cosine":
        schedule = f"cosine, {config.get('warmup_epochs', 0)} warm-up"
    return (f"Adam {config['lr']:g}, {schedule}, "
            f"{'masks ' + ','.join(map(str, masks)) if masks else 'no masks'}")


def speech_table(runs: list[dict]) -> str:
    groups = {}
    for run in runs:
        if run["config"]["task"] == "speech-commands" and run["metrics"]:
            groups.setdefault(run["group"], []).append(run)
    rows = []
    for name, members in sorted(groups.items()):
        config = members[0]["config"]
        values, cells, train = [], [], []
        for run in sorted(members, key=lambda r: r["config"]["seed"]):
            last = run["metrics"][-1]
            values.append(last["test_accuracy"])
            train.append(last["train_accuracy"])
            short = "" if last["epoch"] == run["config"]["epochs"] else f" (epoch {last['epoch']})"
            cells.append(f"{run['config']['seed']}: {percent(last['test_accuracy'])}{short}")
        steps = [r["metrics"][-1].get("test_accuracy_per_step", []) for r in members]
        before = mean_std([s[0] for s in steps]) if all(len(s) > 1 for s in steps) else ""
        rows.append([name, config["model"], f"{config['num_parameters']:,}", recipe_text(config),
                     config["epochs"], "; ".join(cells), mean_std(values), before, mean_std(train)])
    if not rows:
        return "No Speech Commands runs.\n"
    return markdown(["run", "model", "parameters", "recipe", "epochs", "test accuracy by seed (%)",
                     "mean ± std (%)", "feedback: at t=0 (%)", "train accuracy (%)"], rows, "llrlrlrrr")


def ablation_runs(runs: list[dict]) -> list[dict]:
    """Head-only FeedbackCNN runs on the CNN recipe whose settings differ from the defaults only in
    T (the same in training and evaluation) and alpha."""
    chosen = []
    for run in runs:
        if run["config"]["model"] != "feedback-cnn" or not on_cnn_recipe(run) or not run["metrics"]:
            continue
        s = feedback_settings(run)
        fixed = {k: v for k, v in FEEDBACK_DEFAULTS.items() if k not in ("alpha", "steps_train", "steps_eval")}
        if all(s[k] == v for k, v in fixed.items()) and s["steps_train"] == s["steps_eval"]:
            chosen.append(run)
    return chosen


def common_epoch(runs: list[dict], epoch: int | None) -> int | None:
    if epoch is not None:
        return epoch
    return min((epochs_done(r) for r in runs), default=None)


def accuracies_at(runs: list[dict], epoch: int, step: int | None = None) -> list[float]:
    """Test accuracy at ``epoch`` of every run that reached it (of refinement ``step`` if given)."""
    values = []
    for run in runs:
        record = at_epoch(run, epoch)
        if record is not None:
            values.append(record["test_accuracy"] if step is None else record["test_accuracy_per_step"][step])
    return values


def reference_runs(runs: list[dict]) -> dict:
    """The CNN and the plain all-stages FeedbackCNN on the CNN recipe (references at an epoch)."""
    cnn = [r for r in runs if r["config"]["model"] == "cnn" and on_cnn_recipe(r)]
    plain_all = [r for r in runs if r["config"]["model"] == "feedback-cnn" and on_cnn_recipe(r)
                 and feedback_settings(r) == {**FEEDBACK_DEFAULTS, "mode": "all-stages"}]
    return {"cnn": cnn, "feedback-cnn, all-stages, plain training": plain_all}


def ablation_cells(runs: list[dict]) -> dict:
    cells = {}
    for run in ablation_runs(runs):
        s = feedback_settings(run)
        cells.setdefault((s["steps_train"], s["alpha"]), []).append(run)
    return cells


def ablation_table(runs: list[dict], epoch: int | None) -> str:
    cells = ablation_cells(runs)
    epoch = common_epoch([r for members in cells.values() for r in members], epoch)
    if epoch is None:
        return "No ablation runs.\n"
    rows = []
    for steps in sorted({t for t, _ in cells}):
        row = [f"T = {steps}"]
        for alpha in ALPHAS:
            members = cells.get((steps, alpha), [])
            values = accuracies_at(members, epoch)
            row.append(f"{mean_std(values)} ({len(values)})" if values else "")
        rows.append(row)
    text = (f"Test accuracy (%) after epoch {epoch}, mean ± std over seeds (number of seeds); "
            f"head-only FeedbackCNN, the CNN recipe:\n\n")
    text += markdown(["steps", "alpha = 0 (fixed)", "alpha = 0.5 (fixed)", "alpha learnable", "alpha gated"],
                     rows, "lrrrr")
    references = [f"{name}: {mean_std(accuracies_at(members, epoch))} ({len(accuracies_at(members, epoch))})"
                  for name, members in reference_runs(runs).items() if accuracies_at(members, epoch)]
    if references:
        text += f"\nAt epoch {epoch} as well: " + "; ".join(references) + ".\n"
    return text


def all_stages_groups(runs: list[dict]) -> dict:
    groups = {}
    for run in runs:
        if run["config"]["model"] == "feedback-cnn" and on_cnn_recipe(run) and run["metrics"]:
            s = feedback_settings(run)
            if s["mode"] == "all-stages":
                key = ", ".join(f"{k}={s[k]}" for k in ("step_loss", "alpha_init", "detach", "alpha", "steps_train"))
                groups.setdefault(key, []).append(run)
    return groups


def all_stages_table(runs: list[dict], epoch: int | None) -> str:
    groups = all_stages_groups(runs)
    epoch = common_epoch([r for members in groups.values() for r in members], epoch)
    if epoch is None:
        return "No all-stages runs.\n"
    head_only = ablation_cells(runs).get((2, "learnable"), [])
    rows = []
    for key, members in sorted(groups.items()):
        reached = [r for r in members if at_epoch(r, epoch)]
        steps = len(reached[0]["metrics"][0]["test_accuracy_per_step"]) if reached else 0
        per_step = " / ".join(mean_std(accuracies_at(reached, epoch, t)) for t in range(steps))
        finals = [r["final"]["test_accuracy"] for r in members if r["final"] is not None]
        rows.append([key, seeds_of(reached), mean_std(accuracies_at(reached, epoch)), per_step,
                     f"{mean_std(finals)} ({members[0]['config']['epochs']})" if finals else ""])
    for name, members in [("head-only, T = 2, learnable (reference)", head_only),
                          *[(f"{n} (reference)", m) for n, m in reference_runs(runs).items() if n == "cnn"]]:
        if accuracies_at(members, epoch):
            finals = [r["final"]["test_accuracy"] for r in members if r["final"] is not None]
            rows.append([name, seeds_of(members), mean_std(accuracies_at(members, epoch)), "",
                         f"{mean_std(finals)} ({members[0]['config']['epochs']})" if finals else ""])
    text = f"All-stages FeedbackCNN on CIFAR-10, test accuracy (%) after epoch {epoch}:\n\n"
    return text + markdown(["training", "seeds", f"epoch {epoch}", f"by step t = 0 / 1 / ... (epoch {epoch})",
                            "final (epochs)"], rows, "llrrr")


def layer_analyses(results: pathlib.Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(results.glob("*/layer_analysis.json"))]


def layers_table(analyses: list[dict]) -> str:
    if not analyses:
        return "No per-layer analysis (experiments/layer_analysis.py) yet.\n"
    rows = []
    for a in analyses:
        for stage, values in a["stages"].items():
            rows.append([a["run"], f"epoch {a['epoch']}", f"stage {stage}",
                         " / ".join(f"{v:.2e}" for v in values["kl"]), " / ".join(f"{v:.2e}" for v in values["mse"])])
        rows.append([a["run"], f"epoch {a['epoch']}", "logits", " / ".join(f"{v:.2e}" for v in a["logits_kl"]),
                     "accuracy t = 0..: " + " / ".join(percent(v) for v in a["test_accuracy_per_step"])])
    return markdown(["run", "checkpoint", "stage", "KL between steps t = 1 / 2 / ...",
                     "mean squared change t = 1 / 2 / ..."], rows, "lllll")


# ---- figures --------------------------------------------------------------------------------------

def pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        print("summarize: matplotlib is not installed (pip install minifb[plot]): no figures", file=sys.stderr)
        return None


def save(fig, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".part" + path.suffix)
    fig.tight_layout()
    fig.savefig(partial, dpi=120)
    os.replace(partial, path)


def finish(fig, ax, xlabel: str, ylabel: str, title: str, legend_size: int, path):
    """Label, grid and legend a one-panel figure, save it to ``path`` and close it; returns ``path``."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    save(fig, path)
    import matplotlib.pyplot as plt  # loaded already: figures exist only when it is
    plt.close(fig)
    return path


def mean_curve(members: list[dict]) -> tuple[list[int], list[float]]:
    """Epochs that every member reached, and the mean test accuracy at each."""
    last = min(epochs_done(r) for r in members)
    epochs = list(range(1, last + 1))
    return epochs, [statistics.mean(at_epoch(r, e)["test_accuracy"] for r in members) for e in epochs]


def figures(runs: list[dict], results: pathlib.Path, out: pathlib.Path, epoch: int | None) -> list[pathlib.Path]:
    plt = pyplot()
    if plt is None:
        return []
    written = []
    speech = {}
    for run in runs:
        if run["config"]["task"] == "speech-commands" and run["metrics"]:
            speech.setdefault(run["group"], []).append(run)
    if speech:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, members in sorted(speech.items()):
            epochs, values = mean_curve(members)
            ax.plot(epochs, [100 * v for v in values], label=f"{name} ({len(members)} seeds)")
        written.append(finish(fig, ax, "epoch", "test accuracy (%), mean over seeds", "Speech Commands, 949 test clips", 7, out / "speech.png"))
    cells = ablation_cells(runs)
    at = common_epoch([r for members in cells.values() for r in members], epoch)
    if cells and at is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        for alpha in ALPHAS:
            points = [(t, accuracies_at(cells[(t, alpha)], at)) for t in sorted({t for t, _ in cells})
                      if accuracies_at(cells.get((t, alpha), []), at)]
            if points:
                ax.errorbar([t for t, _ in points], [100 * statistics.mean(v) for _, v in points],
                            yerr=[100 * statistics.stdev(v) if len(v) > 1 else 0 for _, v in points],
                            marker="o", capsize=3, label=f"alpha = {alpha}")
        cnn = accuracies_at(reference_runs(runs)["cnn"], at)
        if cnn:
            ax.axhline(100 * statistics.mean(cnn), color="gray", linestyle="--", label="CNN")
        written.append(finish(fig, ax, "refinement steps T", f"test accuracy (%) after epoch {at}", "CIFAR-10, head-only FeedbackCNN", 8, out / "ablation.png"))
    groups = all_stages_groups(runs)
    if groups:
        fig, ax = plt.subplots(figsize=(7, 4))
        references = {"head-only T = 2 learnable": cells.get((2, "learnable"), []),
                      "cnn": reference_runs(runs)["cnn"]}
        for name, members in [*sorted(groups.items()), *references.items()]:
            if members:
                epochs, values = mean_curve(members)
                style = "--" if name in references else "-"
                ax.plot(epochs, [100 * v for v in values], style, label=f"{name} ({len(members)})")
        written.append(finish(fig, ax, "epoch", "test accuracy (%)", "CIFAR-10, all-stages FeedbackCNN", 6, out / "all_stages.png"))
    analyses = layer_analyses(results)
    if analyses:
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
        from layer_analysis import plot
        if plot(analyses, out / "layer_analysis.png"):
            written.append(out / "layer_analysis.png")
    return written


# ---- Long Range Arena ----------------------------------------------------------------------------

LRA_TASKS = {"lra-listops": "ListOps", "lra-image": "Image", "lra-pathfinder": "Pathfinder"}
LRA_MODELS = {"lra-transformer": "Transformer", "lra-fnet": "FNet", "lra-fftnet": "FFTNet (no windowing)",
              "lra-fftnet-windowed": "FFTNet (windowing)"}
# The source's LRA table (test accuracy, %); its Pathfinder is LRA's official set, minifb's is generated.
SOURCE = {"lra-transformer": {"lra-listops": 36.06, "lra-image": 41.51, "lra-pathfinder": 80.38},
          "lra-fnet": {"lra-listops": 35.33, "lra-image": 38.67, "lra-pathfinder": 77.80},
          "lra-fftnet": {"lra-listops": 37.65, "lra-image": 42.02, "lra-pathfinder": 80.71},
          "lra-fftnet-windowed": {"lra-listops": 38.02, "lra-image": 42.45, "lra-pathfinder": 80.99}}


def read_lra_runs(results: pathlib.Path) -> list[dict]:
    """Every LRA run with at least one epoch: settings, the best-validation epoch, epochs done."""
    runs = []
    for config_path in sorted(results.glob("*/config.json")):
        config = json.loads(config_path.read_text())
        metrics_path = config_path.parent / "metrics.jsonl"
        if config.get("task") not in LRA_TASKS or not metrics_path.exists():
            continue
        epochs = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()]
        if not epochs:
            continue
        best = max(epochs, key=lambda m: (m["val_accuracy"], -m["epoch"]))
        runs.append({"name": config_path.parent.name, "config": config, "best": best, "done": len(epochs),
                     "finished": (config_path.parent / "final.json").exists(),
                     "speed": statistics.mean(m["sequences_per_second"] for m in epochs)})
    return runs


def lra_tables(runs: list[dict]) -> str:
    """Markdown: accuracy beside the source (mean over seeds where there are several), then the runs."""
    cells = {}
    for run in runs:
        cells.setdefault((run["config"]["model"], run["config"]["task"]), []).append(run["best"]["test_accuracy"])
    header = " | ".join(f"{name} (minifb) | {name} (source)" for name in LRA_TASKS.values())
    rows = [f"| model | {header} |", "| --- |" + " ---: |" * (2 * len(LRA_TASKS))]
    for model, label in LRA_MODELS.items():
        values = []
        for task in LRA_TASKS:
            got = cells.get((model, task))
            values += [mean_std(got) if got else "", f"{SOURCE[model][task]:.2f}"]
        rows.append(f"| {label} | " + " | ".join(values) + " |")
    rows += ["", "Pathfinder (minifb) is minifb's generated Pathfinder-32 (docs/lra.md), the source's is LRA's "
             "official set; the minifb columns follow the reduced protocol of experiments/lra.sh.",
             "", "| run | task | model | parameters | epochs done | best val epoch | val accuracy (%) "
             "| test accuracy (%) | training examples | sequences / s | device |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for run in runs:
        c, best = run["config"], run["best"]
        done = f"{run['done']} of {c['epochs']}" + ("" if run["finished"] else " (time limit)")
        rows.append(f"| {run['name']} | {c['task']} | {c['model']} | {c['num_parameters']:,} | {done} | "
                    f"{best['epoch']} | {100 * best['val_accuracy']:.2f} | {100 * best['test_accuracy']:.2f} | "
                    f"{c['train_examples']:,} | {run['speed']:,.0f} | {c['environment']['device_name']} |")
    return "\n".join(rows) + "\n"


# ---- output ---------------------------------------------------------------------------------------

def sections(runs: list[dict], results: pathlib.Path, epoch: int | None) -> dict:
    return {"runs": runs_table(runs), "speech": speech_table(runs), "ablation": ablation_table(runs, epoch),
            "all-stages": all_stages_table(runs, epoch), "layers": layers_table(layer_analyses(results))}


def fill_readme(text: str, parts: dict) -> str:
    """Replace every <!-- summarize:NAME --> ... <!-- /summarize:NAME --> block by the section NAME."""
    def replace(match):
        name = match.group(1)
        if name not in parts:
            raise SystemExit(f"summarize: the README asks for an unknown section {name!r}; known: {SECTIONS}")
        return f"<!-- summarize:{name} -->\n{parts[name]}<!-- /summarize:{name} -->"
    return re.sub(r"<!-- summarize:([\w-]+) -->\n.*?<!-- /summarize:\1 -->", replace, text, flags=re.S)


def write_text(path: pathlib.Path, text: str) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(text)
    os.replace(partial, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results")
    parser.add_argument("--out", default=None, help="also write all sections to this Markdown file")
    parser.add_argument("--figures", default=None, help="draw the figures into this folder (needs matplotlib)")
    parser.add_argument("--readme", default=None, help="fill the summarize blocks of this Markdown file")
    parser.add_argument("--epoch", type=int, default=None,
                        help="compare the ablation and all-stages runs at this epoch (default: the last "
                             "epoch all of them reached)")
    parser.add_argument("--lra", action="store_true", help="the Long Range Arena tables only")
    args = parser.parse_args(argv)
    results = pathlib.Path(args.results)
    if args.lra:
        lra_runs = read_lra_runs(results)
        if not lra_runs:
            raise SystemExit(f"summarize: no LRA runs with a finished epoch under {args.results}")
        text = lra_tables(lra_runs)
        print(text, end="")
        if args.out:
            write_text(pathlib.Path(args.out), text)
        return 0
    runs = read_runs(results)
    if not runs:
        raise SystemExit(f"summarize: no run folders (config.json) under {results}")
    parts = sections(runs, results, args.epoch)
    titles = {"runs": "All finished runs", "speech": "Speech Commands", "ablation": "CFL ablation",
              "all-stages": "All-stages feedback", "layers": "Per-layer analysis"}
    text = "".join(f"## {titles[name]}\n\n{parts[name]}\n" for name in SECTIONS)
    print(text, end="")
    if args.out:
        write_text(pathlib.Path(args.out), text)
    if args.figures:
        for path in figures(runs, results, pathlib.Path(args.figures), args.epoch):
            print(f"figure: {path}")
    if args.readme:
        readme = pathlib.Path(args.readme)
        write_text(readme, fill_readme(readme.read_text(), parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
