"""`python -m minifb demo`: what it prints, writes and concludes; its statistics; the BLAS thread switch."""
import importlib.util
import json
import math

import numpy as np
import pytest

from minifb.demo import statistics, summary
from minifb.threads import _controls, blas_threads
from test_cli import assert_one_line_error, minifb_cli

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
PNG = b"\x89PNG\r\n\x1a\n"


def check_demo_output(result, out, seeds, steps_eval):
    assert result.returncode == 0, result.stderr
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert [c["name"] for c in numbers["gradients"]] == ["FFT mixer", "Haar wavelets", "feedback loop", "control"]
    assert all(c["ok"] for c in numbers["gradients"])
    assert {r["mixer"] for r in numbers["cost"]} == {"attention", "fft"}
    assert len(numbers["mixing"]) == 2 * seeds and len(numbers["feedback"]) == 2 * seeds
    for run in numbers["feedback"]:
        if run["model"] == "feedback-cnn":
            assert len(run["test_accuracy_per_step"]) == steps_eval + 1 and len(run["contraction"]) == steps_eval - 1
    text = result.stdout
    for fragment in ("1/3 backward passes", "2/3 FFT mixing", "3/3 feedback", "summary", "seed noise",
                     "contraction factor", f"numbers: {out.with_suffix('.json')}"):
        assert fragment in text
    if HAS_MATPLOTLIB:
        assert out.read_bytes()[:8] == PNG and f"figure: {out}" in text
    else:
        assert not out.exists() and "matplotlib is not installed" in text
    return numbers


def test_a_small_demo_runs_and_says_what_it_found(tmp_path):
    out = tmp_path / "figures" / "demo.png"  # the folder is made
    result = minifb_cli("demo", "--out", out, "--seeds", 2, "--epochs", 1, "--train-images", 200,
                        "--test-images", 100, "--tokens", "16,32", "--steps-eval", 3)
    numbers = check_demo_output(result, out, seeds=2, steps_eval=3)
    assert numbers["settings"]["train_images"] == 200 and numbers["settings"]["test_images"] == 100
    assert sorted({r["tokens"] for r in numbers["cost"]}) == [16, 32]
    # Attention's MACs grow as N^2, the FFT mixer's about as N log N.
    macs = {(r["mixer"], r["tokens"]): r["macs"] for r in numbers["cost"]}
    assert macs["attention", 32] / macs["attention", 16] > macs["fft", 32] / macs["fft", 16]


@pytest.mark.slow
def test_the_default_demo(tmp_path):
    """README's first command as it runs for a user (about 10 to 50 s on two cores)."""
    out = tmp_path / "demo.png"
    numbers = check_demo_output(minifb_cli("demo", "--out", out), out, seeds=3, steps_eval=6)
    assert numbers["settings"]["train_images"] == 2000 and numbers["settings"]["test_images"] == 1000
    long = {r["mixer"]: r for r in numbers["cost"] if r["tokens"] == 1024}
    assert long["attention"]["macs"] > 50 * long["fft"]["macs"]


@pytest.mark.parametrize("args,message", [
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--train-images", "10"], "--train-images must be at least 100"),
    (["--steps-eval", "2"], "--steps-eval must exceed the 2 training steps"),
    (["--tokens", "64,x"], "--tokens must be comma-separated integers"),
    (["--out", "demo.svg"], "must end in .png"),
])
def test_demo_refuses_bad_options_in_one_line(args, message, tmp_path):
    assert_one_line_error(minifb_cli("demo", *args, cwd=tmp_path), message)
    assert not any(tmp_path.iterdir())


def fake_results(fft, attention, trained, first, last, cnn, factors):
    """The smallest results dict that summary() reads."""
    checks = [{"name": n, "ok": True} for n in ("FFT mixer", "Haar wavelets", "feedback loop", "control")]
    cost = [{"mixer": m, "tokens": n, "seconds": s, "macs": c}
            for m, n, s, c in (("attention", 64, 1.0, 10), ("fft", 64, 1.0, 1), ("attention", 1024, 50.0, 1000),
                               ("fft", 1024, 2.0, 10))]
    mixing = [{"mixer": "fft", "test_accuracy": a} for a in fft] + [{"mixer": "attention", "test_accuracy": a}
                                                                     for a in attention]
    feedback = [{"model": "feedback-cnn", "test_accuracy_per_step": [f, t, t, l], "contraction": factors}
                for f, t, l in zip(first, trained, last)] + [{"model": "cnn", "test_accuracy": a} for a in cnn]
    settings = {"seeds": len(fft), "epochs": 1, "train_images": 200, "test_images": 100, "steps_eval": 3,
                "steps_train": 2, "tokens": [64, 1024], "threads": 1, "cpu_count": 2}
    return {"settings": settings, "gradients": checks, "cost": cost, "mixing": mixing, "feedback": feedback,
            "seconds": 12.0}


def test_the_summary_calls_noise_noise_and_a_clear_gap_a_finding():
    noisy = "\n".join(summary(fake_results(fft=[0.30, 0.25, 0.35], attention=[0.28, 0.33, 0.27],
                                           trained=[0.3, 0.3, 0.3], first=[0.2, 0.2, 0.2], last=[0.3, 0.31, 0.29],
                                           cnn=[0.3, 0.2, 0.4], factors=[0.5, 1.2])))
    assert "difference +0.7 points, within seed noise" in noisy
    assert "does NOT always converge" in noisy and "1 of 6 steps below 1" not in noisy and "3 of 6" in noisy
    clear = "\n".join(summary(fake_results(fft=[0.40, 0.41, 0.42], attention=[0.30, 0.31, 0.30],
                                           trained=[0.3, 0.3, 0.3], first=[0.2, 0.2, 0.2], last=[0.3, 0.31, 0.29],
                                           cnn=[0.3, 0.2, 0.4], factors=[0.5, 0.6])))
    assert "difference +10.7 points, beyond seed noise" in clear and "the refinement converges" in clear
    assert "attention against the FFT mixer, one layer: 1.0x the time and 10x the MACs at 64 tokens; 25.0x the time and 100x the MACs at 1024 tokens" in clear


def test_welch_and_paired_t_against_known_values():
    # Welch: means 2 and 5, variances 1 and 1, n = 3 each: t = -3 / sqrt(2/3) = -3.674, df = 4.
    verdict = statistics.welch([1, 2, 3], [4, 5, 6])
    assert verdict.t == pytest.approx(-3.6742, abs=1e-4) and verdict.critical == 2.776 and verdict.significant
    # Paired: differences 1, 2, 3: mean 2, sd 1, t = 2 sqrt(3) = 3.464 < 4.303 (df 2).
    verdict = statistics.paired([2, 4, 6], [1, 2, 3])
    assert verdict.t == pytest.approx(3.4641, abs=1e-4) and not verdict.significant and "within seed noise" in str(verdict)
    assert "no spread" in str(statistics.welch([1], [2])) and math.isnan(statistics.paired([1], [0]).t)
    assert statistics.welch([1, 1], [1, 1]).significant is False
    assert statistics.t_critical(5.9) == 2.571 and statistics.t_critical(500) == 1.96
    with pytest.raises(ValueError, match="differ in length"):
        statistics.paired([1, 2], [1])


@pytest.mark.skipif(not _controls(), reason="NumPy's BLAS here is not an OpenBLAS whose threads can be set")
def test_blas_threads_sets_and_restores_the_count():
    get = _controls()[0][0]
    before = get()
    with blas_threads(1) as changed:
        assert changed and get() == 1
        assert np.allclose(np.ones((64, 64)) @ np.ones((64, 64)), 64)
    assert get() == before
    with pytest.raises(ValueError, match="blas_threads: count must be an integer >= 1"):
        with blas_threads(0):
            pass
