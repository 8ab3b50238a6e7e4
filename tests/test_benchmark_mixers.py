"""benchmarks/mixers.py --quick: the CPU smoke run writes results for every mixer and mode, and a figure."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import REPOSITORY

MODES = {"forward", "forward+backward"}


@pytest.mark.slow
def test_mixers_benchmark_quick_run(tmp_path):
    results, figure = tmp_path / "mixers.json", tmp_path / "mixers.png"
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    run = subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / "mixers.py"), "--quick", "--lengths", "16", "32",
                          "--steps", "1", "--json", str(results), "--png", str(figure)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(results.read_text())
    rows = data["results"]
    assert data["settings"]["lengths"] == [16, 32] and data["settings"]["device"] == "cpu"
    from minifb.layers.vit import MIXERS
    for kind in MIXERS:
        for n in (16, 32):
            measured = [r for r in rows if r["mixer"] == kind and r["n"] == n]
            assert {r["mode"] for r in measured} == MODES, (kind, n)
            assert all(r["ms"] > 0 and r["batch"] == 64 // n for r in measured)
    kernel_rows = [r for r in rows if r["mixer"] == "attention-kernel"]
    assert kernel_rows and all("CUDA only" in r["skipped"] for r in kernel_rows)  # said so, not left out
    if importlib.util.find_spec("torch") is not None:
        assert any(r["mixer"] == "torch sdpa fp32" and "ms" in r for r in rows)
        assert any(r["mixer"] == "torch fft" and "ms" in r for r in rows)
    if importlib.util.find_spec("matplotlib") is not None:
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "forward+backward, median ms" in run.stdout
