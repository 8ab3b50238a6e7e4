"""`python -m minifb reference`, minifb.testing.compare, and the examples of docs/validate.md.

The examples are run from the document itself (its bash and python code blocks, in order, in a
temporary folder), so the document cannot drift away from the code.
"""
import json
import os
import pathlib
import re
import shlex
import sys

import numpy as np
import pytest
import torch

from minifb import models as mf_models
from minifb import reference
from minifb.__main__ import main
from minifb.testing import MismatchError, compare, torch_state_dict
import torch_models as T
import upstream_twins

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "validate.md"
SMALL_VIT = '{"image_size": 8, "patch": 4, "dim": 12, "depth": 2, "heads": 2, "mlp_ratio": 2}'


def code_blocks(path):
    """(language, code) of every fenced block of a Markdown file, in order."""
    return re.findall(r"^```(\w+)\n(.*?)^```", path.read_text(), flags=re.S | re.M)


def run_the_guide(blocks, namespace, monkeypatch, edit=lambda code: code):
    """Run docs/validate.md's blocks in order: bash lines through minifb's CLI, python blocks in one
    namespace; sh blocks (fetching the public code) are not run. The public modules are the
    stand-ins of upstream_twins.py, and PyTorch's default dtype is restored afterwards."""
    monkeypatch.setitem(sys.modules, "fftnet_modules", upstream_twins)
    monkeypatch.setitem(sys.modules, "cbl_model", upstream_twins)
    monkeypatch.setattr(sys, "path", list(sys.path))
    dtype = torch.get_default_dtype()
    try:
        for lang, code in blocks:
            if lang == "bash":
                for line in code.splitlines():
                    argv = shlex.split(line)
                    assert argv[:3] == ["python", "-m", "minifb"], f"unexpected command in docs/validate.md: {line}"
                    assert main(argv[3:]) == 0, line
            elif lang == "python":
                exec(compile(edit(code), f"{DOC.name} block", "exec"), namespace)
    finally:
        torch.set_default_dtype(dtype)


def test_the_steps_of_docs_validate_md_run(tmp_path, monkeypatch, capsys):
    blocks = code_blocks(DOC)
    assert [lang for lang, _ in blocks].count("python") >= 6, "docs/validate.md lost its examples"
    fetches = [code for lang, code in blocks if lang == "sh"]  # the commits the guide names
    assert "git -C fft checkout b3cc304" in fetches[0] and "git -C cbl checkout 401abf2" in fetches[1]
    monkeypatch.chdir(tmp_path)
    run_the_guide(blocks, {"__name__": "validate_md"}, monkeypatch)
    out = capsys.readouterr().out
    counts = re.findall(r"compare \(rtol=1e-07, atol=1e-10\): (\d+) of (\d+) arrays match\n", out)
    # public FFTNet, public CBL_CNN, own FFTNet, own feedback CNN: every array of each matches
    assert counts == [("38", "38"), ("17", "17"), ("38", "38"), ("18", "18")], out
    text = DOC.read_text()  # the counts the text shows
    assert text.count("38 of 38 arrays match") == 2 and text.count("17 of 17 arrays match") == 1
    assert "do not" not in out


def guide_block(blocks, fragment):
    """The index of the first block of the guide containing ``fragment``."""
    return next(i for i, (_, code) in enumerate(blocks) if fragment in code)


def test_a_wrong_implementation_fails_the_documented_check(tmp_path, monkeypatch):
    """The guide's own FFTNet with the modReLU floor changed must not pass."""
    monkeypatch.chdir(tmp_path)
    blocks = code_blocks(DOC)
    first, last = guide_block(blocks, "out fftnet.npz"), guide_block(blocks, "MINE = NameMap([(r\"^stem")
    keep = [blocks[guide_block(blocks, "import torch")], blocks[first], blocks[last - 1], blocks[last]]
    with pytest.raises(MismatchError, match="MISMATCH"):
        run_the_guide(keep, {"__name__": "validate_md"}, monkeypatch,
                      edit=lambda code: code.replace("r.clamp(min=1e-3)", "r.clamp(min=1e-3) * 1.001"))


@pytest.mark.parametrize("upstream,option,plain", [
    ("fftnet-b3cc304.npz", ', "mixer_norm": "post"', ""),  # a pre-norm reference
    ("cbl.npz", '{"alpha": "raw"}', '{"mode": "head-only"}'),   # alpha a logit under a sigmoid
])
def test_the_public_forms_are_needed(upstream, option, plain, tmp_path, monkeypatch):
    """Without the upstream option, the reference of minifb's default form does not pass the
    public code's check: the option is what makes them match."""
    monkeypatch.chdir(tmp_path)
    blocks = code_blocks(DOC)
    write = guide_block(blocks, f"--out {upstream}")
    check = guide_block(blocks, f'np.load("{upstream}")')
    keep = [blocks[guide_block(blocks, "import torch")], blocks[guide_block(blocks, "class PatchEmbed")],
            blocks[guide_block(blocks, "from cbl_model import")], (blocks[write][0], blocks[write][1].replace(option, plain)),
            blocks[check]]
    with pytest.raises((MismatchError, KeyError, RuntimeError)):
        run_the_guide(keep, {"__name__": "validate_md"}, monkeypatch)


def load_into_twin(path):
    """The torch twin of the model in a reference file, with the file's weights; and the file."""
    ref = np.load(path)
    config = json.loads(str(ref["config"]))
    model, renames = T.twin(config["model"], **config["settings"])
    model.to(getattr(torch, config["dtype"])).eval()
    weights = {k[len("weights/"):]: ref[k] for k in ref.files if k.startswith("weights/")}
    model.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict(weights, renames).items()})
    return model, renames, ref, config


EXPORTS = [("feedback-vit",
            ["--config", SMALL_VIT[:-1] + ', "mixer": "hybrid", "mode": "all-stages", "alpha": "gated"}']),
           ("fftnet-vit-windowed", ["--config", SMALL_VIT[:-1] + ', "patch": 2, "window": 4}', "--dtype", "float32"]),
           ("feedback-audio-cnn", ["--config", '{"widths": [4, 8, 8], "hidden": 16, "step_loss": true}',
                                   "--input-shape", "1,12,20"]),
           ("fftnet-vit", ["--config", SMALL_VIT[:-1] + ', "mixer_norm": "post"}']),
           ("feedback-cnn", ["--config", '{"widths": [4, 8, 8], "hidden": 8, "image_size": 8, "alpha": "raw", '
                                         '"mode": "all-stages"}'])]


@pytest.mark.parametrize("name,options", EXPORTS, ids=[f"{e[0]}-{i}" for i, e in enumerate(EXPORTS)])
def test_reference_file_matches_the_torch_twin(name, options, tmp_path, device, check):
    """Everything the file promises, checked through compare() against an independent PyTorch twin
    (the file made on the test's device, the twin run on the CPU)."""
    path = tmp_path / "ref.npz"
    args = ["reference", name, "--seed", "3", "--batch", "3", "--out", str(path), "--device", device]
    assert main(args + options) == 0
    model, renames, ref, config = load_into_twin(path)
    assert config["model"] == name and config["batch"] == 3 and config["seed"] == 3 and not config["training"]
    assert ref["input"].shape == (3, *config["input_shape"]) and ref["labels"].dtype == np.int64
    assert ref["logits"].dtype == np.dtype(config["dtype"])

    logits = model(torch.from_numpy(ref["input"]))
    labels = torch.from_numpy(ref["labels"])
    loss = model.loss(labels) if hasattr(model, "loss") else torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    assert len(model.step_logits) == config["steps"] + 1
    to_minifb = [(new, old) for old, new in renames]  # the twin's names back to minifb's
    actual = {"logits": logits, "step_logits": torch.stack(model.step_logits), "loss": loss}
    actual.update({f"weights/{k}": v for k, v in torch_state_dict(model.state_dict(), to_minifb).items()})
    grads = {k: p.grad for k, p in model.named_parameters()}
    actual.update({f"grad/{k}": v for k, v in torch_state_dict(grads, to_minifb).items()})
    # float32, windowed FFTNet: each implementation is up to ~5e-5 of an array's largest entry
    # away from the float64 result (modReLU divides by |Y|: small spectra amplify rounding). On
    # the CPU both use pocketfft and differ by ~1.5e-5 of it; cuFFT rounds differently, so on CuPy
    # expect up to twice 5e-5. Element-wise tolerances fail on near-zero gradient entries.
    float32 = config["dtype"] == "float32"
    rtol, atol = (1e-3, 1e-3) if float32 else (1e-9, 1e-11)
    report = compare(path, actual, rtol=rtol, atol=atol, keys=("logits", "step_logits", "loss", "weights/", "grad/"),
                     verbose=False, scale_atol=float32)
    assert report.ok and len(report.rows) == len(ref.files) - 3  # all but config, input and labels
    check.close(f"{name} loss (reference file)", ref["loss"], loss)


@pytest.mark.slow
@pytest.mark.parametrize("name", mf_models.available())
def test_every_model_at_its_default_size_matches_its_twin(name, device, check):
    """The configurations of the paper (CIFAR ViT: 65 tokens, D 192, depth 6; windows of 16; 3 Haar
    levels; 40 x 98 log-mel input), exported in float64 on the test's device, against the twin."""
    # The LRA classifiers at LRA Image's size (ListOps' 2,000 tokens of width 512 take far longer in float64)
    settings = {"task": "image"} if name.startswith("lra-") else None
    arrays = reference.export(name, seed=1, batch=2, device=device, settings=settings)
    config = json.loads(str(arrays["config"]))
    model, renames = T.twin(name, **config["settings"])
    model.double().eval()
    weights = {k[len("weights/"):]: v for k, v in arrays.items() if k.startswith("weights/")}
    model.load_state_dict({k: torch.from_numpy(v) for k, v in torch_state_dict(weights, renames).items()})
    logits = model(torch.from_numpy(arrays["input"]))
    labels = torch.from_numpy(arrays["labels"])
    loss = model.loss(labels) if hasattr(model, "loss") else torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    check.close(f"{name} logits", arrays["logits"], logits)
    check.close(f"{name} loss", arrays["loss"], loss)
    check.close(f"{name} step logits", arrays["step_logits"], torch.stack(model.step_logits))
    to_minifb = [(new, old) for old, new in renames]
    grads = torch_state_dict({k: p.grad for k, p in model.named_parameters()}, to_minifb)
    for key, grad in grads.items():
        check.close(f"{name} grad of {key}", arrays[f"grad/{key}"], grad)


def test_reference_is_reproducible_and_written_atomically(tmp_path, monkeypatch, capsys):
    path = tmp_path / "cnn.npz"
    args = ["reference", "cnn", "--seed", "5", "--batch", "2", "--out", str(path),
            "--config", '{"widths": [4, 4, 4], "hidden": 8}']
    assert main(args) == 0
    first = dict(np.load(path))
    assert main(args) == 0
    second = dict(np.load(path))
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not a private temporary one

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")
    monkeypatch.setattr(reference.np, "savez", disk_full)
    assert main(args + ["--seed", "6"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.npz"]  # the old file, no partial one
    assert np.array_equal(np.load(path)["logits"], first["logits"])


@pytest.mark.parametrize("args,message", [
    (["nope"], "unknown model 'nope'"),
    (["cnn", "--config", "{mode"], "--config '{mode' is not valid JSON"),
    (["cnn", "--config", '{"steps": 2}'], "unknown setting(s) ['steps']"),
    (["cnn", "--batch", "0"], "batch size must be at least 1"),
    (["cnn", "--input-shape", "3,x,32"], "--input-shape must be C,H,W"),
])
def test_reference_errors_are_one_line(args, message, tmp_path, capsys):
    assert main(["reference", *args, "--out", str(tmp_path / "r.npz")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_reference_refuses_a_missing_folder_before_working(tmp_path, capsys):
    assert main(["reference", "cnn", "--out", str(tmp_path / "missing" / "r.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


# ---- compare ------------------------------------------------------------------------------------

EXPECTED = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([1 + 2j, 3 - 1j]), "config": np.array("{}")}


def test_compare_passes_within_tolerance_and_skips_text_entries():
    report = compare(EXPECTED, {"a": EXPECTED["a"] * (1 + 1e-9), "b": torch.tensor(EXPECTED["b"])}, verbose=False)
    assert report.ok and bool(report) and [r.key for r in report.rows] == ["a", "b"]


def test_compare_reports_the_worst_element():
    actual = {"a": EXPECTED["a"].copy(), "b": EXPECTED["b"]}
    actual["a"][1, 2] += 0.01
    actual["a"][0, 1] += 0.001
    with pytest.raises(MismatchError) as failure:
        compare(EXPECTED, actual, rtol=1e-5, verbose=False)
    text = str(failure.value)
    assert "MISMATCH a: max abs err 1.000e-02, max rel err 2.000e-03, worst at (1, 2): expected 5.0, got 5.01" in text
    assert "ok       b" in text and "1 of 2 arrays match, 1 do not" in text


def test_compare_reports_missing_extra_shape_and_nan_without_raising_when_asked():
    actual = {"a": np.zeros((3, 2)), "c": np.ones(2)}
    report = compare(EXPECTED, actual, raise_on_mismatch=False, verbose=False)
    assert not report.ok
    status = {r.key: r.status for r in report.rows}
    assert status == {"a": "shape", "b": "missing", "c": "extra"}
    nan = compare({"x": np.array([1.0, np.nan])}, {"x": np.array([1.0, 2.0])}, raise_on_mismatch=False, verbose=False)
    assert not nan.ok and nan.rows[0].index == (1,)
    same_nan = compare({"x": np.array([np.nan, np.inf])}, {"x": np.array([np.nan, np.inf])}, verbose=False)
    assert same_nan.ok


def test_compare_keys_select_by_name_and_prefix():
    expected = {"logits": np.ones(2), "grad/w": np.ones(3), "grad/b": np.ones(1), "weights/w": np.ones(3)}
    actual = {"logits": np.ones(2), "grad/w": np.ones(3), "grad/b": np.ones(1)}
    assert len(compare(expected, actual, keys=("logits", "grad/"), verbose=False).rows) == 3
    with pytest.raises(MismatchError, match="MISSING  weights/w"):
        compare(expected, actual, verbose=False)
    with pytest.raises(KeyError, match="'grads/' selects nothing"):
        compare(expected, actual, keys=("grads/",), verbose=False)


def test_compare_reads_npz_files_and_prints(tmp_path, capsys):
    np.savez(tmp_path / "e.npz", **EXPECTED)
    compare(tmp_path / "e.npz", {"a": EXPECTED["a"], "b": EXPECTED["b"]})
    assert "2 of 2 arrays match" in capsys.readouterr().out
    with pytest.raises(ValueError, match="non-negative"):
        compare(EXPECTED, {}, rtol=-1)


def test_compare_scale_atol_measures_errors_against_the_largest_entry():
    expected = {"g": np.array([100.0, 1e-4, -50.0])}
    actual = {"g": np.array([100.0, 1e-4 + 5e-4, -50.0])}  # 5e-6 of the largest entry, 5x the tiny one
    with pytest.raises(MismatchError, match=r"worst at \(1,\)"):
        compare(expected, actual, rtol=1e-3, atol=1e-5, verbose=False)
    report = compare(expected, actual, rtol=1e-3, atol=1e-5, scale_atol=True, verbose=False)
    assert report.ok and str(report).startswith("compare (rtol=0.001, atol=1e-05 x max|expected|): 1 of 1")
    with pytest.raises(MismatchError, match="MISMATCH g"):
        compare(expected, actual, rtol=1e-3, atol=1e-6, scale_atol=True, verbose=False)
    infinite = {"g": np.array([np.inf, 1.0])}
    assert compare(infinite, {"g": np.array([np.inf, 1.0 + 1e-6])}, atol=1e-5, scale_atol=True, verbose=False).ok
