"""`python -m minifb train lra-*`: the LRA tasks through the same loop, run folder and resume."""
import json

import numpy as np
import pytest

from minifb import __main__ as cli
from minifb.data import lra
from test_cli import assert_records_close, minifb_cli, read_lines, without_timing, write_tiny_cifar

SMALL = '{"dim": 8, "depth": 1, "heads": 2, "mlp_dim": 8}'


def lra_args(task, model, data, out, *extra, settings=SMALL):
    return ["train", task, "--model", model, "--data-dir", data, "--out", out, "--epochs", 2, "--batch-size", 8,
            "--model-config", settings, "--no-progress", *extra]


def test_lra_image_trains_resumes_and_evaluates(tmp_path):
    data = write_tiny_cifar(tmp_path / "data")
    whole = minifb_cli(*lra_args("lra-image", "lra-fnet", data, tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    metrics = read_lines(tmp_path / "whole" / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2]
    for m in metrics:
        assert 0 <= m["val_accuracy"] <= 1 and 0 <= m["test_accuracy"] <= 1 and m["sequences_per_second"] > 0
    config = json.loads((tmp_path / "whole" / "config.json").read_text())
    # 80 training images of the tiny set: 72 (90%) to train on, 8 to validate; its 16 test images
    assert (config["train_examples"], config["val_examples"], config["test_examples"]) == (72, 8, 16)
    assert config["model_config"] == {**json.loads(SMALL), "task": "image"}
    first = minifb_cli(*lra_args("lra-image", "lra-fnet", data, tmp_path / "resumed", "--stop-after", 1))
    assert first.returncode == 0, first.stderr
    second = minifb_cli(*lra_args("lra-image", "lra-fnet", data, tmp_path / "resumed", "--resume"))
    assert second.returncode == 0, second.stderr
    resumed = read_lines(tmp_path / "resumed" / "metrics.jsonl")
    assert_records_close([without_timing(m) for m in resumed], [without_timing(m) for m in metrics], rel=1e-6)
    evaluated = minifb_cli("eval", tmp_path / "whole" / "checkpoint.npz", "--data-dir", data, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout.splitlines()[-1])["test_accuracy"] == metrics[-1]["test_accuracy"]


@pytest.mark.parametrize("task, model", [("lra-listops", "lra-fnet"), ("lra-pathfinder", "lra-fftnet-windowed")])
def test_generated_lra_tasks_train(tmp_path, monkeypatch, capsys, task, model):
    """The generated sets are made on first use (small here) and trained on like any task."""
    monkeypatch.setattr(lra, "LISTOPS_SIZES", (24, 8, 8))
    monkeypatch.setattr(lra, "PATHFINDER_SIZES", (24, 8, 8))
    out = tmp_path / "run"
    assert cli.main([str(a) for a in lra_args(task, model, tmp_path, out, "--epochs", 1)]) == 0
    record = json.loads((out / "final.json").read_text())
    assert record["epoch"] == 1 and np.isfinite(record["train_loss"]) and 0 <= record["val_accuracy"] <= 1
    folder = "minifb-listops-s0" if task == "lra-listops" else "minifb-pathfinder32-s0"
    assert (tmp_path / folder).is_dir()
    config = json.loads((out / "config.json").read_text())
    assert config["train_examples"] == 24 and config["model_config"]["task"] == task[len("lra-"):]


def test_lra_models_and_tasks_go_together(tmp_path, capsys):
    data = write_tiny_cifar(tmp_path / "data")
    assert cli.main(["train", "cifar10", "--model", "lra-fnet", "--data-dir", str(data)]) == 2
    assert "lra-* models train on the lra-* tasks only" in capsys.readouterr().err
    assert cli.main(["train", "lra-image", "--model", "cnn", "--data-dir", str(data)]) == 2
    assert "lra-* models train on the lra-* tasks only" in capsys.readouterr().err
    assert cli.main(["train", "lra-image", "--model", "lra-fnet", "--data-dir", str(data), "--model-config", "[1]"]) == 2
    assert "--config '[1]' must be a JSON object" in capsys.readouterr().err
