"""Without PyTorch (an optional extra), the tests that need it skip cleanly.

pytest puts each test folder's parent on ``sys.path``, so a test folder named like a package the
tests import (a folder ``tests/torch``) would, where PyTorch is not installed, import as an empty
namespace package, and ``pytest.importorskip("torch")`` would hand it over instead of skipping.
Here those tests run in a subprocess that cannot see the installed PyTorch.
"""
import pathlib
import subprocess
import sys

# Not conftest.REPOSITORY: with tests/torch_checks on the command line, `conftest` may name that folder's.
REPOSITORY = pathlib.Path(__file__).resolve().parents[1]

# Finds torch (and torchaudio) anywhere on sys.path except where packages are installed, as on a
# machine without them; everything else imports as usual.
HIDE_TORCH_AND_RUN_PYTEST = """
import importlib.machinery, site, sys
installed = set(site.getsitepackages() + [site.getusersitepackages()])

class HideInstalledTorch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] not in ("torch", "torchaudio"):
            return None
        visible = [p for p in (path if path is not None else sys.path) if p not in installed]
        spec = importlib.machinery.PathFinder.find_spec(name, visible)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return spec

sys.meta_path.insert(0, HideInstalledTorch)
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""

NEEDS_TORCH = ["tests/test_optim.py::test_optimizers_match_pytorch",
               "tests/test_optim.py::test_step_and_one_cycle_schedules_match_pytorch",
               "tests/test_data_audio.py", "tests/torch_checks"]


def test_tests_that_need_torch_skip_without_it():
    run = subprocess.run([sys.executable, "-c", HIDE_TORCH_AND_RUN_PYTEST, "-q", "-p", "no:cacheprovider",
                          "-k", "torch or pytorch", *NEEDS_TORCH],
                         cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
    output = run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == 0, f"pytest without torch: exit code {run.returncode}\n{output}"
    assert "skipped" in summary and "failed" not in summary and "error" not in summary, summary
