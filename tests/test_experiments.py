"""The experiment scripts' Python parts: summarize.py's tables from run folders, and the per-layer
analysis of a trained feedback model (layer_analysis.py) against `minifb eval`."""
import json
import pathlib
import sys

import pytest

from test_cli import minifb_cli

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "experiments"))
import layer_analysis  # noqa: E402
import summarize  # noqa: E402


def write_run(results, name, model, accuracies, epochs=None, task="cifar10", seed=0, finished=None, **config):
    """A run folder as `minifb train` writes it: config.json, one metrics line per accuracy, and
    final.json when the run reached its epochs (or ``finished``)."""
    folder = results / name
    folder.mkdir(parents=True)
    epochs = epochs or len(accuracies)
    settings = {"task": task, "model": model, "model_config": {}, "epochs": epochs, "batch_size": 128, "lr": 1e-3,
                "schedule": "constant", "warmup_epochs": 0, "spec_augment": None, "weight_decay": 0.0,
                "label_smoothing": 0.0, "seed": seed, "limit_train": None, "limit_test": None,
                "num_parameters": 1000, "environment": {"device_name": "test GPU"}, **config}
    (folder / "config.json").write_text(json.dumps(settings))
    steps = settings["model_config"].get("steps_eval", 2) + 1 if model.startswith("feedback") else 1
    lines = [{"epoch": e, "test_accuracy": a, "train_accuracy": a / 2, "images_per_second": 10.0,
              "test_accuracy_per_step": [a / 2] * (steps - 1) + [a]} for e, a in enumerate(accuracies, 1)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    if finished if finished is not None else len(accuracies) == epochs:
        (folder / "final.json").write_text(json.dumps(lines[-1]))


def test_summarize_sorts_runs_by_their_settings(tmp_path):
    results = tmp_path / "results"
    for seed, top in enumerate((0.80, 0.82, 0.84)):  # the 20-epoch head-only runs: the T = 2 learnable cell
        write_run(results, f"cifar10-feedback-cnn-head-only-s{seed}", "feedback-cnn",
                  [0.5, 0.6, 0.7, 0.72, top] + [0.9] * 15, seed=seed, model_config={"mode": "head-only"})
    write_run(results, "cifar10-cnn-s0", "cnn", [0.5, 0.55, 0.6, 0.65, 0.70] + [0.8] * 15)
    write_run(results, "cifar10-ablation-T1-alpha-0-s0", "feedback-cnn", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
              model_config={"mode": "head-only", "steps_train": 1, "steps_eval": 1, "alpha": 0.0})
    write_run(results, "cifar10-ablation-T3-alpha-gated-s0", "feedback-cnn", [0.2, 0.3, 0.4, 0.5, 0.61],
              epochs=6, model_config={"steps_train": 3, "steps_eval": 3, "alpha": "gated"})  # stopped early
    write_run(results, "cifar10-ablation-T4-alpha-0.5-s0", "feedback-cnn", [0.9] * 6, lr=3e-3,  # not the recipe
              model_config={"steps_train": 4, "steps_eval": 4, "alpha": 0.5})
    write_run(results, "cifar10-all-stages-step-loss-s0", "feedback-cnn", [0.3, 0.4, 0.5, 0.6, 0.66, 0.7],
              model_config={"mode": "all-stages", "step_loss": True})
    write_run(results, "speech-audio-resnet-cosine-specaug-s0", "audio-resnet", [0.5, 0.86], epochs=60,
              task="speech-commands", schedule="cosine", warmup_epochs=3, spec_augment=[2, 7, 2, 12], lr=2e-3)
    runs = summarize.read_runs(results)
    cells = summarize.ablation_cells(runs)
    assert sorted(cells) == [(1, "0.0"), (2, "learnable"), (3, "gated")]  # the lr=3e-3 run is left out
    table = summarize.ablation_table(runs, None)
    assert "after epoch 5" in table  # the last epoch every ablation run reached
    assert "| T = 2 |  |  | 82.00 ± 2.00 (3) |  |" in table
    assert "| T = 1 | 50.00 (1) |" in table and "| T = 3 |  |  |  | 61.00 (1) |" in table
    assert "cnn: 70.00 (1)" in table
    assert "after epoch 4" in summarize.ablation_table(runs, 4)
    stages = summarize.all_stages_table(runs, None)  # at the last epoch of the all-stages runs
    assert "after epoch 6" in stages and "step_loss=True" in stages
    assert "| 70.00 | 35.00 / 35.00 / 70.00 |" in stages
    assert "head-only, T = 2, learnable (reference) | 0,1,2 | 90.00 ± 0.00 |" in stages
    assert "| 66.00 | 33.00 / 33.00 / 66.00 |" in summarize.all_stages_table(runs, 5)
    speech = summarize.speech_table(runs)
    assert "0: 86.00 (epoch 2)" in speech and "Adam 0.002, cosine, 3 warm-up, masks 2,7,2,12" in speech
    readme = "intro\n<!-- summarize:speech -->\nold table\n<!-- /summarize:speech -->\nend\n"
    filled = summarize.fill_readme(readme, summarize.sections(runs, results, None))
    assert "old table" not in filled and "0: 86.00 (epoch 2)" in filled and filled.endswith("end\n")
    assert summarize.fill_readme(filled, summarize.sections(runs, results, None)) == filled
    with pytest.raises(SystemExit, match="unknown section 'tables'"):
        summarize.fill_readme("<!-- summarize:tables -->\n<!-- /summarize:tables -->", {})
    pytest.importorskip("matplotlib")
    written = summarize.figures(runs, results, tmp_path / "figures", None)
    assert sorted(p.name for p in written) == ["ablation.png", "all_stages.png", "speech.png"]
    assert all(p.stat().st_size > 0 for p in written)


@pytest.mark.slow
def test_layer_analysis_of_a_trained_all_stages_model(tmp_path):
    """Per-stage KL and MSE for every step of a checkpoint; its last-step accuracy is what
    `minifb eval --steps-eval` reports for the same checkpoint."""
    run = tmp_path / "run"
    trained = minifb_cli("train", "cifar10-sample", "--model", "feedback-cnn", "--mode", "all-stages", "--step-loss",
                         "--alpha-init", "0.9", "--epochs", 1, "--limit-train", 64, "--limit-test", 40, "--out", run,
                         "--no-progress")
    assert trained.returncode == 0, trained.stderr
    assert layer_analysis.main([str(run), "--data-dir", "unused", "--steps", "3"]) == 0
    analysis = json.loads((run / "layer_analysis.json").read_text())
    assert analysis["steps"] == 3 and analysis["test_examples"] == 40 and analysis["epoch"] == 1
    assert sorted(analysis["stages"]) == ["1", "2", "3", "4"] and len(analysis["test_accuracy_per_step"]) == 4
    for values in analysis["stages"].values():
        assert len(values["kl"]) == len(values["mse"]) == 3
        assert all(v >= 0 for v in values["kl"] + values["mse"]) and values["mse"][0] > 0
    evaluated = minifb_cli("eval", run / "checkpoint.npz", "--steps-eval", 3, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["test_accuracy_per_step"] == analysis["test_accuracy_per_step"]
    assert result["stage2_kl_3"] == pytest.approx(analysis["stages"]["2"]["kl"][2], rel=1e-9)
    plain = tmp_path / "plain"
    plain.mkdir()
    from minifb import models
    from minifb.checkpoint import save_checkpoint
    save_checkpoint(plain / "checkpoint.npz", models.create("cnn", image_size=8, widths=(2, 2, 2), hidden=4),
                    extra={"epoch": 1, "config": {"model": "cnn"}})
    with pytest.raises(ValueError, match="holds a 'cnn', not a feedback model"):
        layer_analysis.analyse(plain, "unused", "cpu", 2, None)
