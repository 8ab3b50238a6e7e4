"""benchmarks/distributed.py --quick: the CPU smoke run over the fake communicator writes its rows."""
import json
import os
import subprocess
import sys

from conftest import REPOSITORY


def test_distributed_benchmark_quick_run(tmp_path):
    results = tmp_path / "distributed.json"
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    run = subprocess.run([sys.executable, str(REPOSITORY / "benchmarks" / "distributed.py"), "--quick",
                          "--batch", "2", "--json", str(results)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(results.read_text())
    assert data["device"] == "cpu" and data["communicator"].startswith("fake")
    assert [r["gpus"] for r in data["rows"]] == [1, 2]
    for r in data["rows"]:
        assert r["step_ms"] > 0 and r["batch_per_gpu"] == 2
        assert abs(r["images_per_second"] - r["gpus"] * 2 / (r["step_ms"] / 1e3)) < 1e-6 * r["images_per_second"]
    assert data["rows"][0]["scaling"] == 1.0
    assert "scaling" in run.stdout
