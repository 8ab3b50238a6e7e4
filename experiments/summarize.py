#!/usr/bin/env python3
"""Results table of the GPU runs: mean and standard deviation of test accuracy per configuration.

    python experiments/summarize.py [RESULTS_DIR] [--out results/summary.md]
    python experiments/summarize.py RESULTS_DIR --lra [--out results/lra.md]

Every run folder written by ``python -m minifb train`` (config.json, metrics.jsonl, final.json)
is grouped by its folder name without the trailing ``-s<seed>``; unfinished runs (no final.json)
are listed apart. The standard deviation is the sample one (ddof 1) over seeds.

``--lra``: the Long Range Arena runs (tasks lra-*), finished or stopped by their time limit, as
two tables: test accuracy beside the source's numbers, and each run's details. A run's test
accuracy is the one of its epoch with the best validation accuracy (the earliest of equals), as
LRA reports; the epochs done and the examples seen say how far each run got.
"""
import argparse
import json
import os
import pathlib
import re
import statistics


def read_runs(results: pathlib.Path) -> tuple[dict, list]:
    """{configuration: [run, ...]} of finished runs, and the names of unfinished ones."""
    groups, unfinished = {}, []
    for config_path in sorted(results.glob("*/config.json")):
        folder = config_path.parent
        final_path = folder / "final.json"
        if not final_path.exists():
            unfinished.append(folder.name)
            continue
        config = json.loads(config_path.read_text())
        final = json.loads(final_path.read_text())
        name = re.sub(r"-s\d+$", "", folder.name)
        groups.setdefault(name, []).append({"config": config, "final": final})
    return groups, unfinished


def mean_std(values: list[float]) -> str:
    if len(values) < 2:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def table(groups: dict) -> str:
    rows = ["| run | model | settings | epochs | seeds | parameters | test accuracy (%) | feedback models: at t=0 (%) "
            "| images or clips / s | device |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, runs in sorted(groups.items()):
        config = runs[0]["config"]
        settings = ", ".join(f"{k}={v}" for k, v in sorted(config["model_config"].items())) or "defaults"
        accuracies = [r["final"]["test_accuracy"] for r in runs]
        speed_key = next(k for k in runs[0]["final"] if k.endswith("_per_second"))
        speed = statistics.mean(r["final"][speed_key] for r in runs)
        seeds = ",".join(str(r["config"]["seed"]) for r in runs)
        # Accuracy of the plain forward pass y_0 of a feedback model, before any refinement step.
        steps = [r["final"].get("test_accuracy_per_step", []) for r in runs]
        before = mean_std([s[0] for s in steps]) if all(len(s) > 1 for s in steps) else ""
        rows.append(f"| {name} | {config['model']} | {settings} | {config['epochs']} | {seeds} | "
                    f"{config['num_parameters']:,} | {mean_std(accuracies)} | {before} | {speed:,.0f} | "
                    f"{config['environment']['device_name']} |")
    return "\n".join(rows) + "\n"


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results")
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--lra", action="store_true", help="the Long Range Arena tables")
    args = parser.parse_args()
    if args.lra:
        runs = read_lra_runs(pathlib.Path(args.results))
        if not runs:
            raise SystemExit(f"summarize: no LRA runs with a finished epoch under {args.results}")
        text = lra_tables(runs)
    else:
        groups, unfinished = read_runs(pathlib.Path(args.results))
        if not groups:
            raise SystemExit(f"summarize: no finished runs (config.json + final.json) under {args.results}")
        text = table(groups)
        if unfinished:
            text += f"\nUnfinished (no final.json yet): {', '.join(unfinished)}\n"
    print(text, end="")
    if args.out:
        partial = pathlib.Path(args.out + ".part")
        partial.write_text(text)
        os.replace(partial, args.out)


if __name__ == "__main__":
    main()
