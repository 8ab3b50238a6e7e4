#!/usr/bin/env python3
"""Results table of the GPU runs: mean and standard deviation of test accuracy per configuration.

    python experiments/summarize.py [RESULTS_DIR] [--out results/summary.md]

Every run folder written by ``python -m minifb train`` (config.json, metrics.jsonl, final.json)
is grouped by its folder name without the trailing ``-s<seed>``; unfinished runs (no final.json)
are listed apart. The standard deviation is the sample one (ddof 1) over seeds.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results")
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    args = parser.parse_args()
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
