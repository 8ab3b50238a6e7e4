"""Every notebook in notebooks/ runs top to bottom without an error and draws at least one figure.

Each notebook is executed by nbclient in a fresh python3 kernel with notebooks/ as its working
directory, the repository on PYTHONPATH (so minifb need not be installed) and MINIFB_DEVICE set
to the device under test: the notebooks read it and run the same cells on NumPy or CuPy.
Needs the `notebooks` extra (nbclient, nbformat, ipykernel, matplotlib); skipped without it.
"""
import os

import pytest

from conftest import REPOSITORY

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need the `notebooks` extra: nbformat")
nbclient = pytest.importorskip("nbclient", reason="the notebook tests need the `notebooks` extra: nbclient")
pytest.importorskip("ipykernel", reason="the notebook tests need the `notebooks` extra: ipykernel")
pytest.importorskip("matplotlib", reason="the notebook tests need the `notebooks` extra: matplotlib")

NOTEBOOK_DIR = REPOSITORY / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120


def test_the_notebooks_are_there():
    assert len(NOTEBOOKS) >= 6, f"expected the six teaching notebooks in {NOTEBOOK_DIR}, found {NOTEBOOKS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    dirty = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs; store notebooks with outputs stripped"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_draws(path, device, monkeypatch):
    monkeypatch.setenv("MINIFB_DEVICE", device)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # headless; the notebooks' %matplotlib inline still renders PNGs
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])))
    # One BLAS thread: the notebooks' arrays are small, and BLAS threads that wait for a busy core
    # made runs on a loaded two-core machine several times slower and erratic.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(variable, "1")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    figures = [out for out in outputs if "image/png" in out.get("data", {})]
    assert figures, f"{path.name}: ran, but no cell produced a figure (no image/png output)"


def test_the_notebooks_extra_brings_a_front_end_and_nbconvert():
    """`pip install minifb[notebooks]` must be enough to open the notebooks (`jupyter notebook`)
    and to run them from the shell (`jupyter nbconvert --execute`), not only for the tests' nbclient."""
    import tomllib
    extra = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["optional-dependencies"]["notebooks"]
    assert {"notebook", "nbconvert", "nbclient", "ipykernel", "matplotlib"} <= set(extra)


def test_nbconvert_executes_a_notebook_as_a_user_would(tmp_path):
    pytest.importorskip("nbconvert", reason="running notebooks from the shell needs the `notebooks` extra: nbconvert")
    import subprocess
    import sys
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                             str(NOTEBOOK_DIR / "01_tape.ipynb"), "--output-dir", str(tmp_path)],
                            capture_output=True, text=True, cwd=NOTEBOOK_DIR, env=environment, timeout=600)
    assert result.returncode == 0, result.stderr
    executed = nbformat.read(tmp_path / "01_tape.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in executed.cells if cell.cell_type == "code")
