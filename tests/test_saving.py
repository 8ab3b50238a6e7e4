"""minifb.save / minifb.load, and what `import minifb` makes available."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minifb
from conftest import REPOSITORY
from minifb.autograd import cross_entropy
from minifb.optim import SGD, Adam


def small_model(seed=0):
    minifb.seed(seed)
    return minifb.models.create("cnn", image_size=8, widths=(2, 3, 4), hidden=5, dropout=0.0)


def test_import_minifb_is_enough_for_models_optim_save_and_load():
    code = ("import minifb; m = minifb.models.create('cnn', image_size=8, widths=(2, 2, 2), hidden=4); "
            "minifb.optim.Adam(m.parameters()); print(minifb.models.available()[0], callable(minifb.save))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPOSITORY)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cnn", "True"]


def test_a_model_round_trip(tmp_path):
    model, other = small_model(0), small_model(1)
    minifb.save(model, tmp_path / "model.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # no temporary file left
    assert minifb.load(tmp_path / "model.npz", into=other) is other
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    state = minifb.load(tmp_path / "model.npz")  # the state dict itself, for load_state_dict
    assert state.keys() == model.state_dict().keys() and isinstance(state["head.1.weight"], np.ndarray)
    with np.load(tmp_path / "model.npz", allow_pickle=False) as plain:  # a plain npz, no pickles
        assert "state/head.1.weight" in plain.files and "meta" in plain.files


def test_an_optimizer_round_trip_continues_identically(tmp_path):
    runs = []
    for _ in range(2):
        model = small_model(0)
        optimizer = Adam([{"params": model.stages.parameters()}, {"params": model.head.parameters(), "lr": 0.01}],
                         lr=0.002, betas=(0.8, 0.9))
        runs.append((model, optimizer))
    x = minifb.tensor(np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32))
    y = np.array([0, 1, 2, 3])

    def step(model, optimizer):
        optimizer.zero_grad()
        cross_entropy(model(x), y).backward()
        optimizer.step()
    step(*runs[0])
    minifb.save(runs[0][0], tmp_path / "model.npz")
    minifb.save(runs[0][1], tmp_path / "adam.npz")
    minifb.load(tmp_path / "model.npz", into=runs[1][0])
    minifb.load(tmp_path / "adam.npz", into=runs[1][1])
    assert runs[1][1].param_groups[1]["lr"] == 0.01 and runs[1][1].betas == (0.8, 0.9)
    for run in runs:
        step(*run)
    for a, b in zip(runs[0][0].state_dict().values(), runs[1][0].state_dict().values()):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_errors_are_clear_and_change_nothing(tmp_path):
    model = small_model()
    with pytest.raises(FileNotFoundError, match="save: the folder"):
        minifb.save(model, tmp_path / "missing" / "model.npz")
    with pytest.raises(TypeError, match="save: expected a Module, an Optimizer or a state dict, got list"):
        minifb.save([1, 2], tmp_path / "x.npz")
    with pytest.raises(TypeError, match="must be JSON"):
        minifb.save({"a": object()}, tmp_path / "x.npz")
    assert not any(tmp_path.iterdir())
    with pytest.raises(FileNotFoundError, match="load: no file at"):
        minifb.load(tmp_path / "nothing.npz")
    (tmp_path / "foreign.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="is not a file written by minifb.save"):
        minifb.load(tmp_path / "foreign.npz")
    np.savez(tmp_path / "other.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="is not a file written by minifb.save"):
        minifb.load(tmp_path / "other.npz")
    minifb.save(SGD(model.parameters(), lr=0.1), tmp_path / "sgd.npz")
    with pytest.raises(ValueError, match=r"holds the state of an optimizer \(SGD\), not of a module \(CNN\)"):
        minifb.load(tmp_path / "sgd.npz", into=model)
    before = model.state_dict()
    minifb.save(minifb.models.create("cnn", image_size=8, widths=(2, 3, 6), hidden=5), tmp_path / "wider.npz")
    with pytest.raises(ValueError, match="has shape"):
        minifb.load(tmp_path / "wider.npz", into=model)
    for a, b in zip(before.values(), model.state_dict().values()):
        np.testing.assert_array_equal(a, b)  # refused before anything was written
