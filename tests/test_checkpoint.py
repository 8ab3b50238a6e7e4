"""Checkpoints: a resumed run continues exactly; mismatches are named; interrupted saves leave no trace."""
import json
import os

import numpy as np
import pytest

import minifb as mf
from minifb.autograd import cross_entropy
from minifb.checkpoint import load_checkpoint, save_checkpoint
from minifb.layers import BatchNorm1d, Dropout, Linear, ReLU, Sequential
from minifb.optim import AdamW, CosineWarmup

DATA = np.random.default_rng(0)
X = DATA.standard_normal((16, 5)).astype(np.float32)
Y = DATA.integers(0, 3, 16)


def tiny_mlp(device, seed, p=0.2):
    mf.seed(seed)
    model = Sequential(Linear(5, 8), BatchNorm1d(8), ReLU(), Dropout(p), Linear(8, 3)).to(device)
    opt = AdamW(model.parameters(), lr=0.05)
    return model, opt, CosineWarmup(opt, warmup_steps=2, total_steps=10)


def train_step(model, opt, schedule, device):
    loss = cross_entropy(model(mf.tensor(X, device=device)), mf.backend.to_device(Y, device))
    opt.zero_grad()
    loss.backward()
    opt.step()
    schedule.step()
    return loss.item()


def test_resumed_run_continues_with_the_identical_loss(device, tmp_path):
    # GPU dropout masks come from cupy.random, whose state a checkpoint does not hold
    p = 0.2 if device == "cpu" else 0.0
    model, opt, schedule = tiny_mlp(device, seed=0, p=p)
    for _ in range(2):
        train_step(model, opt, schedule, device)
    path = tmp_path / "run.npz"
    save_checkpoint(path, model, opt, schedule, extra={"epoch": 2, "note": "after two steps"})
    lr_at_save = opt.lr
    train_step(model, opt, schedule, device)
    loss_a = train_step(model, opt, schedule, device)

    fresh, fresh_opt, fresh_schedule = tiny_mlp(device, seed=1, p=p)  # the generator is now elsewhere too
    extra = load_checkpoint(path, fresh, fresh_opt, fresh_schedule)
    assert extra == {"epoch": 2, "note": "after two steps"}
    assert fresh_schedule.step_count == 2 and fresh_opt.lr == lr_at_save
    train_step(fresh, fresh_opt, fresh_schedule, device)
    loss_b = train_step(fresh, fresh_opt, fresh_schedule, device)
    assert loss_b == loss_a
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_the_file_is_plain_npz(tmp_path):
    model, opt, schedule = tiny_mlp("cpu", seed=0)
    train_step(model, opt, schedule, "cpu")
    path = tmp_path / "plain.npz"
    save_checkpoint(path, model, opt, schedule)
    with np.load(path, allow_pickle=False) as data:
        assert "model/0.weight" in data.files and "model/1.running_var" in data.files
        assert "optimizer/0.exp_avg" in data.files
        meta = json.loads(str(data["meta"]))
    assert meta["optimizer"]["0.step"] == 1 and meta["scheduler"]["step_count"] == 1
    assert meta["rng"]["bit_generator"] == "PCG64"


def test_model_only_round_trip(device, tmp_path):
    model, _, _ = tiny_mlp(device, seed=0)
    path = tmp_path / "model.npz"
    save_checkpoint(path, model)
    other, opt, _ = tiny_mlp(device, seed=5)
    assert load_checkpoint(path, other) is None
    for (name, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        load_checkpoint(path, other, opt)


def test_mismatched_checkpoint_names_key_and_shapes_and_changes_nothing(tmp_path):
    model, opt, schedule = tiny_mlp("cpu", seed=0)
    path = tmp_path / "small.npz"
    save_checkpoint(path, model, opt, schedule)
    mf.seed(1)
    wider = Sequential(Linear(5, 9), BatchNorm1d(9), ReLU(), Dropout(0.2), Linear(9, 3))
    before = wider.state_dict()
    with pytest.raises(ValueError, match=r"key '0.weight' has shape \(8, 5\) in the state, \(9, 5\) in the model"):
        load_checkpoint(path, wider)
    for name, value in wider.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_a_failing_optimizer_load_puts_the_model_back(tmp_path):
    model, opt, schedule = tiny_mlp("cpu", seed=0)
    train_step(model, opt, schedule, "cpu")
    path = tmp_path / "run.npz"
    save_checkpoint(path, model, opt)
    other, _, _ = tiny_mlp("cpu", seed=3)
    before = other.state_dict()
    wrong = AdamW(list(other.parameters())[::-1], lr=0.1)  # the parameters in another order
    with pytest.raises(ValueError, match="has shape"):
        load_checkpoint(path, other, wrong)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_interrupted_save_leaves_no_partial_file(tmp_path, monkeypatch):
    model, opt, schedule = tiny_mlp("cpu", seed=0)
    path = tmp_path / "run.npz"
    save_checkpoint(path, model, extra={"version": "old"})
    old_bytes = path.read_bytes()

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, opt, schedule, extra={"version": "new"})
    assert os.listdir(tmp_path) == ["run.npz"]  # no temporary file left behind
    assert path.read_bytes() == old_bytes       # the previous checkpoint is intact
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "fresh.npz", model)
    assert not (tmp_path / "fresh.npz").exists()


def test_extra_must_be_json(tmp_path):
    model, _, _ = tiny_mlp("cpu", seed=0)
    with pytest.raises(TypeError, match="extra must be JSON-serialisable"):
        save_checkpoint(tmp_path / "x.npz", model, extra={"array": np.zeros(2)})
    assert os.listdir(tmp_path) == []


def test_clear_errors_for_a_missing_folder_and_a_foreign_file(tmp_path):
    model, _, _ = tiny_mlp("cpu", seed=0)
    with pytest.raises(FileNotFoundError, match="save_checkpoint: the folder .* does not exist"):
        save_checkpoint(tmp_path / "missing" / "run.npz", model)
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="is not a minifb checkpoint"):
        load_checkpoint(tmp_path / "foreign.npz", model)


def test_parameter_groups_survive_a_checkpoint(tmp_path):
    model = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    opt = AdamW([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.5,
                                                      "betas": (0.7, 0.8)}], lr=0.1)
    x, y = mf.tensor(np.ones((2, 3), np.float32)), np.array([0, 1])
    cross_entropy(model(x), y).backward()
    opt.step()
    save_checkpoint(tmp_path / "c.npz", model, opt)
    again = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    restored = AdamW([{"params": again[0].parameters()}, {"params": again[2].parameters()}], lr=0.9)
    load_checkpoint(tmp_path / "c.npz", again, restored)
    assert restored.param_groups[1]["betas"] == (0.7, 0.8) and restored.param_groups[1]["lr"] == 0.5
    assert restored.lr == 0.1 and restored.state_dict()["0.step"] == 1
