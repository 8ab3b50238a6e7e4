"""`python -m minifb train|eval|plot` end to end, in subprocesses, on tiny CIFAR-10 pickles."""
import importlib.util
import json
import os
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPOSITORY
from minifb import backend

TIMING_KEYS = ("seconds", "images_per_second", "sequences_per_second")


def write_tiny_cifar(root: pathlib.Path, per_batch: int = 16) -> pathlib.Path:
    """The official cifar-10-batches-py layout with ``per_batch`` images per batch file.

    Class k is an image of one colour (a function of k) plus noise, so that a few steps of
    training can tell the classes apart.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (10, 3))
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, per_batch)
        images = colours[labels][:, :, None] + rng.integers(-20, 21, (per_batch, 3, 1024))
        data = np.clip(images, 0, 255).astype(np.uint8).reshape(per_batch, 3072)
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": data,
                         b"filenames": [b"%d.png" % i for i in range(per_batch)]}, f, protocol=2)
    return root


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    return write_tiny_cifar(tmp_path_factory.mktemp("cifar"))


def minifb_cli(*args, cwd=None, env=None):
    """Run `python -m minifb ARGS` as a user would; returns the CompletedProcess."""
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "OMP_NUM_THREADS": "1", **(env or {})}
    environment.pop("MINIFB_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "minifb", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=300)


def read_lines(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_timing(record: dict) -> dict:
    """The record without its timings, lists spread into numbered keys (flat, for pytest.approx)."""
    flat = {}
    for key, value in record.items():
        if key in TIMING_KEYS:
            continue
        if isinstance(value, list):
            flat.update({f"{key}[{i}]": v for i, v in enumerate(value)})
        else:
            flat[key] = value
    return flat


def assert_records_close(actual: list[dict], expected: list[dict], rel: float) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert a == pytest.approx(e, rel=rel)


def train_args(data, out, device, *extra):
    return ["train", "cifar10", "--model", "cnn", "--data-dir", data, "--out", out, "--device", device,
            "--epochs", 2, "--batch-size", 16, "--limit-train", 32, "--limit-test", 12, "--no-progress", *extra]


def test_train_resume_and_eval(tiny_cifar, tmp_path, device):
    run = tmp_path / "whole"
    run.mkdir()  # with the line of a first epoch that was interrupted before its checkpoint
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "train_loss": 9.0}) + "\n")
    whole = minifb_cli(*train_args(tiny_cifar, run, device))
    assert whole.returncode == 0, whole.stderr
    metrics = read_lines(run / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2]
    for m in metrics:
        assert 0 <= m["train_accuracy"] <= 1 and 0 <= m["test_accuracy"] <= 1
        assert np.isfinite(m["train_loss"]) and np.isfinite(m["test_loss"]) and m["images_per_second"] > 0
        assert m["lr"] == 1e-3
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "cnn" and config["train_examples"] == 32 and config["test_examples"] == 12
    assert "--limit-train 32" in config["command"] and config["environment"]["numpy"] == np.__version__
    final = json.loads((run / "final.json").read_text())
    assert without_timing(final) == without_timing({k: v for k, v in metrics[-1].items() if k != "lr"})
    assert json.loads(whole.stdout.splitlines()[-1])["test_accuracy"] == final["test_accuracy"]

    # Interrupted after epoch 1, then resumed: the same numbers as the uninterrupted run.
    first = minifb_cli(*train_args(tiny_cifar, tmp_path / "resumed", device, "--stop-after", 1))
    assert first.returncode == 0, first.stderr
    assert not (tmp_path / "resumed" / "final.json").exists()
    assert len(read_lines(tmp_path / "resumed" / "metrics.jsonl")) == 1
    second = minifb_cli(*train_args(tiny_cifar, tmp_path / "resumed", device, "--resume"))
    assert second.returncode == 0, second.stderr
    resumed = read_lines(tmp_path / "resumed" / "metrics.jsonl")
    assert_records_close([without_timing(m) for m in resumed], [without_timing(m) for m in metrics], rel=1e-6)

    # Interrupted between the last checkpoint and final.json: --resume only writes final.json.
    (run / "final.json").unlink()
    finished = minifb_cli(*train_args(tiny_cifar, run, device, "--resume"))
    assert finished.returncode == 0 and "already trained for 2 epochs" in finished.stdout, finished.stderr
    assert json.loads((run / "final.json").read_text()) == final

    evaluated = minifb_cli("eval", run / "checkpoint.npz", "--data-dir", tiny_cifar, "--device", device, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["epoch"] == 2 and result["model"] == "cnn"
    assert result["test_accuracy"] == final["test_accuracy"]
    assert result["test_loss"] == pytest.approx(final["test_loss"], rel=1e-6)


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_unknown_model_is_one_clear_line(tiny_cifar, tmp_path):
    result = minifb_cli("train", "cifar10", "--model", "resnet-1000", "--data-dir", tiny_cifar,
                        "--out", tmp_path / "run")
    assert_one_line_error(result, "unknown model 'resnet-1000'", "cnn")
    assert not (tmp_path / "run").exists()


def test_missing_data_without_download_is_one_clear_line(tmp_path):
    result = minifb_cli("train", "cifar10", "--model", "cnn", "--data-dir", tmp_path / "nothing-here",
                        "--out", tmp_path / "run")
    assert_one_line_error(result, "nothing-here", "download")


def test_cuda_without_gpu_is_one_clear_line(tiny_cifar, tmp_path):
    if backend.cuda_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    result = minifb_cli("train", "cifar10", "--model", "cnn", "--device", "cuda", "--data-dir", tiny_cifar,
                        "--out", tmp_path / "run")
    assert_one_line_error(result, "cuda", "CuPy")


def test_resume_without_checkpoint_and_changed_settings(tiny_cifar, tmp_path):
    result = minifb_cli(*train_args(tiny_cifar, tmp_path / "run", "cpu", "--resume"))
    assert_one_line_error(result, "--resume", "no checkpoint")
    assert minifb_cli(*train_args(tiny_cifar, tmp_path / "run", "cpu", "--stop-after", 1)).returncode == 0
    changed = minifb_cli(*train_args(tiny_cifar, tmp_path / "run", "cpu", "--resume", "--lr", "0.01"))
    assert_one_line_error(changed, "lr was 0.001, now 0.01")
    again = minifb_cli(*train_args(tiny_cifar, tmp_path / "run", "cpu"))
    assert_one_line_error(again, "already holds a run")


def test_zero_epochs_is_refused_not_replaced_by_the_recipe(tiny_cifar, tmp_path):
    result = minifb_cli("train", "cifar10", "--model", "cnn", "--data-dir", tiny_cifar, "--epochs", 0,
                        "--out", tmp_path / "run")
    assert_one_line_error(result, "--epochs must be at least 1, got 0")


def test_feedback_flags_on_a_plain_model_are_refused(tiny_cifar, tmp_path):
    result = minifb_cli(*train_args(tiny_cifar, tmp_path / "run", "cpu", "--steps-train", 3))
    assert_one_line_error(result, "--steps-train", "feedback models")


def test_plot_writes_png_or_says_matplotlib_is_missing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    records = [{"epoch": e, "train_loss": 2.0 / e, "test_loss": 2.1 / e, "train_accuracy": 0.2 * e,
                "test_accuracy": 0.19 * e} for e in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = minifb_cli("plot", run, "--out", tmp_path / "curves.png")
    if importlib.util.find_spec("matplotlib") is None:
        assert_one_line_error(result, "matplotlib")
    else:
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = minifb_cli("plot", tmp_path / "no-run")
    assert_one_line_error(missing, "no metrics.jsonl")


def test_the_shipped_sample_trains_and_evaluates_offline(tmp_path):
    """`train cifar10-sample` needs no data folder; eval rebuilds the model from the checkpoint alone."""
    runs = {}
    for name in ("cnn", "feedback-cnn"):
        runs[name] = tmp_path / name
        result = minifb_cli("train", "cifar10-sample", "--model", name, "--out", runs[name], "--epochs", 1,
                            "--limit-train", 32, "--limit-test", 40, "--batch-size", 16, "--no-progress")
        assert result.returncode == 0, result.stderr
        final = json.loads((runs[name] / "final.json").read_text())
        assert final["epoch"] == 1 and 0 <= final["test_accuracy"] <= 1
    assert len(final["test_accuracy_per_step"]) == 3  # T = 2 refinement steps after the plain pass
    evaluated = minifb_cli("eval", runs["cnn"] / "checkpoint.npz", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    cnn = json.loads((runs["cnn"] / "final.json").read_text())
    assert json.loads(evaluated.stdout)["test_accuracy"] == cnn["test_accuracy"]
    longer = minifb_cli("eval", runs["feedback-cnn"] / "checkpoint.npz", "--steps-eval", 4, "--json")
    assert longer.returncode == 0, longer.stderr
    assert len(json.loads(longer.stdout)["test_accuracy_per_step"]) == 5  # y_0 and four refinements
    table = minifb_cli("eval", runs["feedback-cnn"] / "checkpoint.npz", "--steps-eval", 4)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()  # readable by default: a line per fact, a row per refinement step
    feedback = json.loads((runs["feedback-cnn"] / "final.json").read_text())
    assert lines[0].split() == ["checkpoint", str(runs["feedback-cnn"] / "checkpoint.npz")]
    assert "test accuracy" in lines[2] and lines[2].endswith("%") and max(len(line) for line in lines) < 120
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["step", "accuracy"])
    assert "rel_change" in lines[header] and "contraction" in lines[header]
    assert [line.split()[0] for line in lines[header + 1:]] == ["0", "1", "2", "3", "4"]
    assert lines[header + 1].split()[1] == f"{feedback['test_accuracy_per_step'][0]:.2%}"
    plain = minifb_cli("eval", runs["cnn"] / "checkpoint.npz", "--steps-eval", 4)
    assert_one_line_error(plain, "--steps-eval applies to feedback models")


def write_tiny_speech_commands(root: pathlib.Path, speakers: int = 5) -> pathlib.Path:
    """The layout of the v0.02 test set (one clip per class and speaker, each a tone whose pitch
    tells the class) plus one background-noise file, as the archives extract."""
    from minifb.data.speech_commands import LABELS_12, NOISE_FOLDER, SILENCE, UNKNOWN
    from minifb.data.wav import write_wav
    rng = np.random.default_rng(0)
    time = np.arange(16000) / 16000
    for k, label in enumerate(LABELS_12):
        folder = root / "speech_commands_test_set_v0.02" / label
        folder.mkdir(parents=True)
        for s in range(speakers):
            speaker = f"{1000 + 37 * s:08x}"
            name = {SILENCE: f"{s}.wav", UNKNOWN: f"bed_{speaker}_nohash_0.wav.wav"}.get(label, f"{speaker}_nohash_0.wav")
            tone = 8000 * np.sin(2 * np.pi * 200 * (k + 1) * time) + rng.normal(0, 500, 16000)
            write_wav(folder / name, tone.astype(np.int16))
    noise = root / "speech_commands_v0.02" / NOISE_FOLDER
    noise.mkdir(parents=True)
    write_wav(noise / "white_noise.wav", rng.normal(0, 3000, 40000).astype(np.int16))
    return root


def test_speech_training_masks_the_features(tmp_path, device):
    """The speech pipeline with SpecAugment: augmented features hold whole masked bands and frame
    blocks at 0 (the band means), evaluation features none; without masks nothing is 0 there."""
    from minifb.backend import asnumpy
    from minifb.data.tasks import load_task
    root = write_tiny_speech_commands(tmp_path / "speech", speakers=2)
    masked = load_task("speech-commands", root, False, device, spec_augment=[2, 7, 2, 12])
    plain = load_task("speech-commands", root, False, device)
    clips = masked.train_x[:8]
    x = asnumpy(masked.augment(clips, np.random.default_rng(0)).data)[:, 0]
    y = asnumpy(plain.augment(clips, np.random.default_rng(0)).data)[:, 0]
    assert x.shape == y.shape == (8, 40, 98)
    bands, frames = (x == 0).all(axis=2), (x == 0).all(axis=1)
    assert bands.any() and frames.any() and not (y == 0).any()
    np.testing.assert_array_equal(x == 0, bands[:, :, None] | frames[:, None, :])
    np.testing.assert_array_equal(asnumpy(masked.prepare(clips).data), asnumpy(plain.prepare(clips).data))
    with pytest.raises(ValueError, match="spec_augment applies to speech-commands only"):
        load_task("cifar10-sample", None, False, device, spec_augment=[1, 1, 1, 1])


def test_speech_commands_train_and_eval(tmp_path, device):
    data = write_tiny_speech_commands(tmp_path / "speech")
    out = tmp_path / "run"
    result = minifb_cli("train", "speech-commands", "--model", "feedback-audio-cnn", "--data-dir", data,
                        "--out", out, "--device", device, "--epochs", 1, "--batch-size", 16, "--limit-train", 40,
                        "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "time shifts only" not in result.stderr  # the noise folder was found and used
    config = json.loads((out / "config.json").read_text())
    # The speaker-disjoint split of the test-set layout: every clip lands in exactly one part.
    assert config["train_examples"] == 40 and 0 < config["test_examples"] <= 20
    final = json.loads((out / "final.json").read_text())
    assert final["clips_per_second"] > 0 and len(final["test_accuracy_per_step"]) == 3
    # eval standardises the features with the same training clips' statistics: the same loss.
    evaluated = minifb_cli("eval", out / "checkpoint.npz", "--data-dir", data, "--device", device, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads(evaluated.stdout)
    assert result["test_accuracy"] == final["test_accuracy"]
    assert result["test_loss"] == pytest.approx(final["test_loss"], rel=1e-6)


def test_train_takes_model_settings_from_json_or_a_file_and_its_bar_ends_at_n_of_n(tmp_path):
    settings = {"image_size": 32, "patch": 8, "dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2, "mixer_norm": "post"}
    (tmp_path / "small-vit.json").write_text(json.dumps(settings))
    runs = {}
    for how, given in (("json", json.dumps(settings)), ("file", tmp_path / "small-vit.json")):
        runs[how] = tmp_path / how
        result = minifb_cli("train", "cifar10-sample", "--model", "fftnet-vit", "--config", given, "--out", runs[how],
                            "--epochs", 2, "--limit-train", 32, "--limit-test", 16, "--batch-size", 16)
        assert result.returncode == 0, result.stderr
        assert json.loads((runs[how] / "config.json").read_text())["model_config"] == settings
    # The same settings either way, so the same run; the epoch bar's last state is 2/2.
    assert read_lines(runs["json"] / "metrics.jsonl")[-1]["test_loss"] == read_lines(
        runs["file"] / "metrics.jsonl")[-1]["test_loss"]
    bar = [state for state in result.stderr.replace("\r", "\n").splitlines() if state.startswith("training")]
    assert "2/2" in bar[-1] and not any("3/2" in state for state in bar)
    evaluated = minifb_cli("eval", runs["file"] / "checkpoint.npz", "--json")  # eval rebuilds the small ViT
    assert evaluated.returncode == 0, evaluated.stderr
    final = json.loads((runs["file"] / "final.json").read_text())
    assert json.loads(evaluated.stdout)["test_accuracy"] == final["test_accuracy"]


@pytest.mark.parametrize("given,message", [
    ('{"dim": 16', "--config '{\"dim\": 16' is not valid JSON"),
    ("no-such-file.json", "nor a file that exists"),
    ("[1, 2]", "must be a JSON object of settings"),
    ('{"deep": 2}', "unknown setting(s) ['deep']"),
    ('{"num_classes": 3}', "num_classes comes from the task"),
    ('{"steps_eval": 3}', "given both by --config and by their own flags"),
])
def test_train_config_errors_are_one_line_and_come_before_any_work(given, message, tmp_path):
    extra = ["--steps-eval", 4] if "steps_eval" in given else []
    result = minifb_cli("train", "cifar10-sample", "--model", "feedback-cnn", "--config", given,
                        "--out", tmp_path / "run", *extra, cwd=tmp_path)
    assert_one_line_error(result, message)
    assert not (tmp_path / "run").exists()


def test_reference_takes_its_settings_from_a_file_too(tmp_path):
    (tmp_path / "tiny.json").write_text('{"widths": [2, 2, 2], "hidden": 4, "image_size": 8}')
    result = minifb_cli("reference", "cnn", "--config", tmp_path / "tiny.json", "--out", tmp_path / "ref.npz")
    assert result.returncode == 0, result.stderr
    config = json.loads(str(np.load(tmp_path / "ref.npz")["config"]))
    assert config["settings"]["widths"] == [2, 2, 2] and config["settings"]["hidden"] == 4
