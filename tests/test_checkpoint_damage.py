"""Damaged checkpoints and full disks: one line naming the file and what is wrong; nothing is changed."""
import os
import pathlib
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import minifb as mf
from minifb.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minifb.evaluate import stored_run
from minifb.layers import Linear, ReLU, Sequential
from minifb.optim import AdamW

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]


def small_run(seed=0):
    mf.seed(seed)
    model = Sequential(Linear(4, 6), ReLU(), Linear(6, 3))
    opt = AdamW(model.parameters(), lr=0.01)
    loss = model(mf.tensor(np.ones((2, 4), np.float32))).sum()
    loss.backward()
    opt.step()
    return model, opt


@pytest.fixture
def checkpoint(tmp_path):
    model, opt = small_run()
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, opt, extra={"config": {"model": "mlp"}, "epoch": 1})
    return path


def flip_last_data_byte(path, entry):
    """Change one byte of the array data of ``entry`` (a real bit flip: the zip's CRC no longer fits)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(entry)
    local_header = raw[info.header_offset:info.header_offset + 30]
    name_length, extra_length = int.from_bytes(local_header[26:28], "little"), int.from_bytes(local_header[28:30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    raw[start + info.compress_size - 1] ^= 0x5A
    path.write_bytes(bytes(raw))


def assert_unchanged(model, before):
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


DAMAGE = {
    "empty": (lambda p: p.write_bytes(b""), r"the file is empty"),
    "cut in half": (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
                    r"not a whole \.npz archive, probably cut short"),
    "cut at the end": (lambda p: p.write_bytes(p.read_bytes()[:-8]), r"not a whole \.npz archive"),
    "a few bytes": (lambda p: p.write_bytes(b"\x93NUMPY"), r"empty or cut short|not a whole"),
    "flipped byte in the weights": (lambda p: flip_last_data_byte(p, "model/0.weight.npy"),
                                    r"its entry 'model/0\.weight\.npy' is damaged \(CRC-32 check failed"),
    "flipped byte in the optimizer": (lambda p: flip_last_data_byte(p, "optimizer/1.exp_avg.npy"),
                                      r"its entry 'optimizer/1\.exp_avg\.npy' is damaged \(CRC-32"),
    "a .npy cut short": (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': "
                                               b"False, 'shape': (3,), }" + b" " * 70 + b"\n" + b"\x00" * 5),
                         r"empty or cut short"),
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(3000)),
                     r"neither an \.npz archive nor a \.npy array \(foreign or random bytes\)"),
    "pickles": (lambda p: np.savez(p, meta=np.array([{"a": 1}], dtype=object)),
                r"an entry holds pickled Python objects"),
    "a .npy array": (lambda p: np.save(open(p, "wb"), np.zeros(3)), r"a single \.npy array, not an \.npz"),
    "meta not JSON": (lambda p: np.savez(open(p, "wb"), meta=np.array("{oops")), r"its 'meta' entry is not valid JSON"),
    "meta a list": (lambda p: np.savez(open(p, "wb"), meta=np.array("[1, 2]")), r"'meta' entry is not a JSON object"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_checkpoint_is_one_line_naming_the_file_and_changes_nothing(checkpoint, damage):
    spoil, reason = DAMAGE[damage]
    spoil(checkpoint)
    model, opt = small_run(seed=1)
    before, before_opt = model.state_dict(), opt.state_dict()
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(checkpoint, model, opt)
    message = str(info.value)
    assert message.startswith(f"load_checkpoint: {checkpoint} ") and "\n" not in message
    assert re.search(reason, message), message
    assert_unchanged(model, before)
    assert opt.state_dict().keys() == before_opt.keys()


def test_the_model_alone_loads_past_damaged_optimizer_state(checkpoint):
    flip_last_data_byte(checkpoint, "optimizer/1.exp_avg.npy")
    model, _ = small_run(seed=1)
    assert stored_run(checkpoint)["epoch"] == 1  # eval reads the settings and the model, not the optimizer
    load_checkpoint(checkpoint, model)
    assert_unchanged(model, small_run(seed=0)[0].state_dict())


def test_eval_of_a_damaged_checkpoint_is_one_line(checkpoint):
    flip_last_data_byte(checkpoint, "meta.npy")
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    environment.pop("MINIFB_DEBUG", None)
    result = subprocess.run([sys.executable, "-m", "minifb", "eval", str(checkpoint)], capture_output=True,
                            text=True, env=environment, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (f"minifb eval: error: eval: {checkpoint} is not a readable checkpoint: "
                                     f"its entry 'meta.npy' is damaged (CRC-32 check failed: changed bytes)")


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"load_checkpoint: no checkpoint at .*nothing\.npz"):
        load_checkpoint(tmp_path / "nothing.npz", small_run()[0])


FULL_DISK = """
import resource, signal, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from test_checkpoint_damage import small_run
from minifb.checkpoint import save_checkpoint
model, opt = small_run()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    save_checkpoint(sys.argv[1], model, opt)
except OSError as e:
    print(e.errno, e, sep="|")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="file-size limits as on Linux")
def test_a_full_disk_names_the_file_and_keeps_the_old_checkpoint(checkpoint):
    old = checkpoint.read_bytes()
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    result = subprocess.run([sys.executable, "-c", FULL_DISK, str(checkpoint), str(REPOSITORY / "tests")],
                            capture_output=True, text=True, env=environment, timeout=120)
    errno, message = result.stdout.strip().split("|")
    assert int(errno) == 27, result
    assert message == f"[Errno 27] save_checkpoint: cannot write {checkpoint} (File too large)"
    assert checkpoint.read_bytes() == old
    assert os.listdir(checkpoint.parent) == ["checkpoint.npz"]
