"""Shared test set-up: hypothesis profiles, the backend parametrization, shared data paths."""
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minifb
from minifb import backend

# 'ci' keeps the whole suite within a few minutes on 2 cores; 'dev' searches harder. The `device`
# fixture is function-scoped but only a name, the same for every example, so its health check is off.
SUPPRESSED_CHECKS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
settings.register_profile("ci", max_examples=12, deadline=None, suppress_health_check=SUPPRESSED_CHECKS)
settings.register_profile("dev", max_examples=100, deadline=None, suppress_health_check=SUPPRESSED_CHECKS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]  # the checkout, for subprocesses' PYTHONPATH
SHARED_DATA = REPOSITORY.parent / "shared" / "data"


def _devices():
    params = [pytest.param("cpu", id="cpu")]
    params.append(pytest.param("cuda", id="cuda", marks=pytest.mark.gpu))
    return params


@pytest.fixture(params=_devices())
def device(request):
    """Each test that takes `device` runs on NumPy and, when a GPU is there, on CuPy."""
    if request.param == "cuda" and not backend.cuda_available():
        pytest.skip("no CUDA GPU with CuPy on this machine")
    return request.param


@pytest.fixture
def xp(device):
    """The array module of `device`."""
    return backend.xp_for(device)


@pytest.fixture(autouse=True)
def _seeded():
    minifb.seed(0)
    np.random.seed(0)
    yield


def cpp20_compiler(folder) -> str:
    """A C++ compiler that builds C++20 with <barrier> (for the CPU build of the CUDA kernels in
    tests/cuda_emulator), tried in ``folder``; the test is skipped where there is none."""
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++ compiler for the CPU build of the CUDA kernels")
    probe = pathlib.Path(folder) / "probe.cpp"
    probe.write_text("#include <barrier>\nint main() { std::barrier<> b(1); b.arrive_and_wait(); }\n")
    if subprocess.run([compiler, "-std=c++20", "-pthread", str(probe), "-o", str(probe.with_suffix(""))],
                      capture_output=True).returncode:
        pytest.skip(f"{compiler} cannot build C++20 with <barrier>")
    return compiler
