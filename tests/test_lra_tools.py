"""The LRA tools: the efficiency benchmark's CPU smoke run, the summary tables, the experiment
script's syntax, and the command that prepares the generated sets."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPOSITORY
from minifb.data import lra


def test_lra_efficiency_quick_run(tmp_path):
    results = tmp_path / "lra_efficiency.json"
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY), OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / "lra_efficiency.py"), "--quick",
                          "--steps", "1", "--json", str(results)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(results.read_text())
    assert data["settings"]["lengths"] == [32, 64] and data["settings"]["device"] == "cpu"
    rows = {(r["mixer"], r["n"]): r for r in data["results"]}
    for mixer in ("attention", "fnet", "fft", "fft-windowed"):
        for n in (32, 64):
            assert rows[mixer, n]["steps_per_second"] > 0 and rows[mixer, n]["parameters"] > 0
    assert rows["attention", 32]["parameters"] > rows["fnet", 32]["parameters"]   # FNet mixes without weights
    assert all("CUDA only" in rows["attention-kernel", n]["skipped"] for n in (32, 64))
    assert "N=64 steps/s" in run.stdout


def write_run(folder, task, model, accuracies, epochs=3, finished=False):
    """A run folder as `train` writes it: config.json and one metrics line per (val, test) pair."""
    folder.mkdir(parents=True)
    config = {"task": task, "model": model, "epochs": epochs, "num_parameters": 1234, "train_examples": 100,
              "environment": {"device_name": "GPU"}}
    (folder / "config.json").write_text(json.dumps(config))
    lines = [json.dumps({"epoch": e, "val_accuracy": v, "test_accuracy": t, "sequences_per_second": 10.0})
             for e, (v, t) in enumerate(accuracies, 1)]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if finished:
        (folder / "final.json").write_text("{}")


def test_summarize_lra_reports_the_best_validation_epoch(tmp_path):
    write_run(tmp_path / "lra-image-lra-fnet-s0", "lra-image", "lra-fnet", [(0.2, 0.25), (0.4, 0.35), (0.4, 0.5)],
              finished=True)
    write_run(tmp_path / "lra-listops-lra-fftnet-s0", "lra-listops", "lra-fftnet", [(0.3, 0.31)])
    run = subprocess.run([sys.executable, str(REPOSITORY / "experiments" / "summarize.py"), str(tmp_path), "--lra",
                          "--out", str(tmp_path / "lra.md")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "lra.md").read_text()
    assert text == run.stdout
    fnet = next(line for line in text.splitlines() if line.startswith("| FNet |"))
    assert fnet.split(" | ")[3:5] == ["35.00", "38.67"]          # epoch 2: the first best validation epoch
    fftnet = next(line for line in text.splitlines() if line.startswith("| FFTNet (no windowing) |"))
    assert fftnet.split(" | ")[1:3] == ["31.00", "37.65"]
    assert "| 1 of 3 (time limit) |" in text and "| 3 of 3 |" in text


def test_lra_experiment_script_parses():
    assert subprocess.run(["bash", "-n", str(REPOSITORY / "experiments" / "lra.sh")]).returncode == 0


def test_prepare_command_makes_the_generated_sets(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lra, "LISTOPS_SIZES", (10, 2, 2))
    monkeypatch.setattr(lra, "PATHFINDER_SIZES", (10, 2, 2))
    assert lra.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "listops: 10 training sequences of 2000 tokens" in out and "pathfinder: 10 training sequences of 1024" in out
    assert (tmp_path / "minifb-listops-s0" / "basic_train.tsv").exists()
    with pytest.raises(SystemExit):
        lra.main([str(tmp_path), "image"])   # CIFAR-10 is read, not generated
