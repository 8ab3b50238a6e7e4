"""A training loss that is not finite stops the run, naming the epoch and the steps; the checkpoint
of the last finite epoch is kept, and the command exits with an error line."""
import json
import re

import numpy as np
import pytest

import minifb
from minifb import models, train
from minifb.checkpoint import load_checkpoint
from test_cli import assert_one_line_error, minifb_cli, train_args, write_tiny_cifar
from test_train import SMALL, settings, tiny_task

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaNs are made on purpose


class BlowUpAt:
    """A schedule that sets an enormous learning rate from step ``at`` on (the weights then overflow)."""

    def __init__(self, optimizer, at):
        self.optimizer, self.at, self.steps = optimizer, at, 0

    def step(self):
        self.steps += 1
        if self.steps >= self.at:
            self.optimizer.lr = 1e30

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def start(device, config):
    minifb.seed(0)
    model = models.create("cnn", **SMALL).to(device)
    return model, train.build_optimizer(model, config)


def test_a_loss_that_blows_up_in_the_second_epoch_stops_there_and_keeps_the_first(tmp_path):
    data = tiny_task(tmp_path, "cpu", limit_train=48)  # 3 steps of 16 per epoch
    config = settings(epochs=3)
    model, optimizer = start("cpu", config)
    with pytest.raises(train.NonFiniteLoss) as info:
        train.fit(model, optimizer, data, config, tmp_path, progress=False, schedule=BlowUpAt(optimizer, at=4))
    message = str(info.value)
    # The rate is set after step 4 (the first of epoch 2), step 5 updates with it: step 6 is the first bad loss.
    assert re.match(r"train: the training loss is (nan|inf|-inf) in epoch 2, step 3 of 3 \(", message), message
    assert f"{tmp_path / 'checkpoint.npz'} keeps epoch 1, the last with finite losses" in message
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1]
    fresh, _ = start("cpu", config)
    assert load_checkpoint(tmp_path / "checkpoint.npz", fresh)["epoch"] == 1
    assert all(np.isfinite(v).all() for v in fresh.state_dict().values())


def test_on_the_gpu_path_the_error_gives_the_steps_between_two_readings(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "_reads_are_free", lambda xp: False)  # read as on the GPU: not every step
    monkeypatch.setattr(train, "PROGRESS_EVERY", 2)
    data = tiny_task(tmp_path, "cpu", limit_train=80)  # 5 steps of 16
    config = settings(epochs=1)
    model, optimizer = start("cpu", config)
    with pytest.raises(train.NonFiniteLoss, match=r"in epoch 1, between steps 3 and 4 of 5 \(.*\); no checkpoint was written$"):
        train.fit(model, optimizer, data, config, tmp_path, progress=True, schedule=BlowUpAt(optimizer, at=2))
    model, optimizer = start("cpu", config)
    with pytest.raises(train.NonFiniteLoss, match=r"in epoch 1, between steps 1 and 5 of 5"):
        train.fit(model, optimizer, data, config, tmp_path, progress=False, schedule=BlowUpAt(optimizer, at=2))


def test_weights_broken_by_the_last_step_of_an_epoch_are_not_checkpointed(tmp_path):
    data = tiny_task(tmp_path, "cpu", limit_train=48)
    config = settings(epochs=2)
    model, optimizer = start("cpu", config)
    with pytest.raises(train.NonFiniteLoss, match=r"the test loss after epoch 1 is nan .*no checkpoint was written"):
        train.fit(model, optimizer, data, config, tmp_path, progress=False, schedule=BlowUpAt(optimizer, at=2))
    assert not (tmp_path / "checkpoint.npz").exists()


def test_train_with_an_enormous_learning_rate_exits_with_one_line(tmp_path):
    data = write_tiny_cifar(tmp_path / "data")
    result = minifb_cli(*train_args(data, tmp_path / "run", "cpu", "--lr", "1e12"))
    assert_one_line_error(result, "train: the training loss is", "in epoch 1, step", "of 2")
