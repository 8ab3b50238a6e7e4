"""The training loop: resuming, learning, evaluation of feedback steps, and its small helpers."""
import json

import numpy as np
import pytest

import minifb
from minifb import models, train
from minifb.checkpoint import load_checkpoint
from test_cli import assert_records_close, without_timing, write_tiny_cifar


def tiny_task(tmp_path, device, limit_train=32, limit_test=24):
    root = write_tiny_cifar(tmp_path / "data")
    return train.load_task("cifar10", root, False, device, limit_train, limit_test)


def settings(**overrides):
    return {"epochs": 2, "batch_size": 16, "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant",
            "warmup_epochs": 0, "label_smoothing": 0.0, "seed": 0, **overrides}


SMALL = {"widths": (4, 8, 8), "hidden": 16}  # the real architectures, narrower: fast tests of the loop


def new_run(name, device, config, seed=0, **model_config):
    minifb.seed(seed)
    model = models.create(name, **SMALL, **model_config).to(device)
    return model, train.build_optimizer(model, config)


def read_metrics(folder):
    return [without_timing(json.loads(line)) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_resumed_run_equals_uninterrupted_run(tmp_path, device):
    data = tiny_task(tmp_path, device)
    config = settings(schedule="cosine", warmup_epochs=1)  # the schedule's state must be restored too
    feedback = {"mode": "all-stages", "steps_train": 2, "steps_eval": 2}

    def start(seed=0):
        model, optimizer = new_run("feedback-cnn", device, config, seed=seed, **feedback)
        return model, optimizer, train.build_schedule(optimizer, config, len(data.train_y))

    whole = tmp_path / "whole"
    whole.mkdir()
    model, optimizer, schedule = start()
    final = train.fit(model, optimizer, data, config, whole, progress=False, schedule=schedule)

    part = tmp_path / "part"
    part.mkdir()
    model, optimizer, schedule = start()
    assert train.fit(model, optimizer, data, config, part, stop_after=1, progress=False, schedule=schedule) is None
    model, optimizer, schedule = start(seed=123)  # other weights: the load must win
    extra = load_checkpoint(part / "checkpoint.npz", model, optimizer, schedule)
    assert extra["epoch"] == 1 and extra["config"] == config
    resumed = train.fit(model, optimizer, data, config, part, start_epoch=2, progress=False, schedule=schedule)

    tolerance = 1e-6 if device == "cpu" else 1e-5
    assert_records_close(read_metrics(part), read_metrics(whole), rel=tolerance)
    assert without_timing(resumed) == pytest.approx(without_timing(final), rel=tolerance)
    assert json.loads((part / "final.json").read_text())["epoch"] == 2
    # Two steps per epoch: warm-up at 1/2 and 2/2 of the rate, then the cosine from its top.
    assert [m["lr"] for m in read_metrics(whole)] == pytest.approx([5e-4, 1e-3])


def test_training_learns_separable_classes(tmp_path, device):
    data = tiny_task(tmp_path, device, limit_train=80, limit_test=16)
    config = settings(epochs=6, batch_size=8, lr=3e-3)
    minifb.seed(0)
    model = models.create("cnn", widths=(8, 16, 16), hidden=32).to(device)
    train.fit(model, train.build_optimizer(model, config), data, config, tmp_path, progress=False)
    metrics = read_metrics(tmp_path)
    assert metrics[-1]["train_loss"] < 0.75 * metrics[0]["train_loss"]
    assert metrics[-1]["test_accuracy"] >= 0.3  # ten classes: chance is 0.1


def test_evaluate_reports_every_refinement_step(tmp_path, device):
    data = tiny_task(tmp_path, device, limit_train=16, limit_test=24)
    model, _ = new_run("feedback-cnn", device, settings(), steps_eval=3)
    result = train.evaluate(model, data.test_x, data.test_y, data.prepare, batch_size=10)  # 3 uneven batches
    assert len(result["test_accuracy_per_step"]) == 4
    assert result["test_accuracy_per_step"][-1] == result["test_accuracy"]
    for t in (1, 2, 3):
        assert np.isfinite(result[f"rel_change_{t}"]) and result[f"stage4_mse_{t}"] >= 0
    # The loss is the mean over all test images whatever the batch size.
    assert train.evaluate(model, data.test_x, data.test_y, data.prepare, batch_size=24)["test_loss"] == \
        pytest.approx(result["test_loss"], rel=1e-5)


def test_time_limit_stops_after_one_epoch(tmp_path, device):
    data = tiny_task(tmp_path, device, limit_train=16, limit_test=8)
    config = settings(epochs=3)
    model, optimizer = new_run("cnn", device, config)
    assert train.fit(model, optimizer, data, config, tmp_path, time_limit=1e-6, progress=False) is None
    assert [m["epoch"] for m in read_metrics(tmp_path)] == [1]


def test_subset_mixes_the_whole_set_and_is_fixed():
    picked = train.subset(1000, 50)
    assert len(set(picked)) == 50 and list(picked) == sorted(picked) and picked.max() > 500
    assert np.array_equal(picked, train.subset(1000, 50))
    assert np.array_equal(train.subset(7, 50), np.arange(7)) and np.array_equal(train.subset(7, None), np.arange(7))


class Args:
    """Stands in for the parsed command line of `train`."""

    def __init__(self, model, task="cifar10", model_config=None, **given):
        self.model, self.task, self.model_config = model, task, model_config
        for name in train.FEEDBACK_SETTINGS:
            setattr(self, name, given.get(name))


def test_model_config_parses_feedback_settings():
    assert train.model_config(Args("feedback-cnn", alpha="0.25", steps_train=3)) == {"alpha": 0.25, "steps_train": 3}
    assert train.model_config(Args("feedback-cnn", alpha="gated")) == {"alpha": "gated"}
    assert train.model_config(Args("cnn")) == {}
    with pytest.raises(ValueError, match="--alpha"):
        train.model_config(Args("feedback-cnn", alpha="half"))
    with pytest.raises(ValueError, match="--mode only apply to feedback models"):
        train.model_config(Args("cnn", mode="head-only"))


def test_model_config_of_the_lra_classifiers():
    assert train.model_config(Args("lra-fnet", task="lra-image")) == {"task": "image"}
    given = Args("lra-fftnet", task="lra-listops", model_config='{"dim": 64, "depth": 2}')
    assert train.model_config(given) == {"dim": 64, "depth": 2, "task": "listops"}
    with pytest.raises(ValueError, match="--config '{dim: 64}' is not valid JSON"):
        train.model_config(Args("lra-fnet", task="lra-image", model_config="{dim: 64}"))


def test_recipes_follow_the_sources():
    assert train.recipe("cifar10", "cnn") == {"lr": 1e-3, "batch_size": 128, "epochs": 20, "schedule": "constant",
                                              "warmup_epochs": 0, "spec_augment": None}
    assert train.recipe("cifar10", "fftnet-vit")["lr"] == 7e-4
    assert train.recipe("lra-image", "lra-fnet") == {"lr": 5e-4, "batch_size": 256, "epochs": 200,
                                                     "schedule": "constant", "warmup_epochs": 0, "spec_augment": None}
    assert train.recipe("lra-listops", "lra-fnet")["batch_size"] == 32
    speech = train.recipe("speech-commands", "audio-resnet")
    assert speech["schedule"] == "cosine" and speech["warmup_epochs"] == 3 and speech["spec_augment"] == [2, 7, 2, 12]


def parsed(*argv):
    import argparse
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def test_run_settings_take_the_recipe_unless_given():
    args = parsed("speech-commands", "--model", "audio-resnet")
    config = train.run_config(args)
    assert (config["schedule"], config["warmup_epochs"], config["spec_augment"]) == ("cosine", 3, [2, 7, 2, 12])
    short = train.run_config(parsed("speech-commands", "--model", "audio-resnet", "--epochs", 2))
    assert short["warmup_epochs"] == 1  # the recipe's 3 warm-up epochs do not fit 2 epochs
    old = train.run_config(parsed("speech-commands", "--model", "audio-cnn", "--schedule", "constant",
                                  "--warmup-epochs", 0, "--spec-augment", "none", "--lr", 1e-3))
    assert (old["schedule"], old["warmup_epochs"], old["spec_augment"], old["lr"]) == ("constant", 0, None, 1e-3)
    assert train.run_config(parsed("speech-commands", "--model", "audio-cnn", "--spec-augment", "1,5,0,0")
                            )["spec_augment"] == [1, 5, 0, 0]
    cifar = train.run_config(parsed("cifar10", "--model", "feedback-cnn", "--alpha-init", 0.9, "--detach", "context"))
    assert cifar["spec_augment"] is None and cifar["schedule"] == "constant"
    assert cifar["model_config"] == {"alpha_init": 0.9, "detach": "context"}
    for bad in ("2,7,2", "2,7,2,x", "2,-1,2,3"):
        with pytest.raises(ValueError, match="--spec-augment must be four integers"):
            train.run_config(parsed("speech-commands", "--model", "audio-cnn", "--spec-augment", bad))
    args = parsed("cifar10", "--model", "cnn", "--spec-augment", "2,7,2,12")
    with pytest.raises(ValueError, match="--spec-augment applies to speech-commands only"):
        train.check_arguments(args, train.run_config(args))
    with pytest.raises(ValueError, match="--alpha-init only apply to feedback models"):
        train.run_config(parsed("cifar10", "--model", "cnn", "--alpha-init", 0.9))


def test_metric_files_are_strict_json(tmp_path):
    path = tmp_path / "metrics.jsonl"
    for epoch in (1, 2, 3):
        train.append_line(path, {"epoch": epoch, "contraction_2": float("nan"), "steps": [1.0, float("inf")]})
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"epoch": 1, "contraction_2": None, "steps": [1.0, None]}
    train.keep_epochs_up_to(path, 2)  # what --resume does after a checkpoint of epoch 2
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [1, 2]
    assert not list(tmp_path.glob("*.part"))


def test_a_captured_step_trains_like_the_eager_one(tmp_path, device):
    """fit(cuda_graph=True): on the GPU the step is replayed from a CUDA graph, on the CPU it runs as a
    CapturedStep's eager fallback; either way the metrics are those of the plain eager loop. (A model
    without dropout: on the GPU the plain loop draws masks from CuPy, a captured step from Philox.)"""
    data = tiny_task(tmp_path, device)
    config = settings(epochs=2)
    records = []
    for cuda_graph in (False, True):
        folder = tmp_path / f"graph-{cuda_graph}"
        folder.mkdir()
        model, optimizer = new_run("feedback-cnn", device, config)
        train.fit(model, optimizer, data, config, folder, progress=False, cuda_graph=cuda_graph)
        records.append(read_metrics(folder))
    assert_records_close(records[1], records[0], rel=1e-6 if device == "cpu" else 1e-4)
