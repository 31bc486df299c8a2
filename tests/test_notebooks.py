"""The lecture, runnable, in Spanish: docs/notebooks/ holds one notebook per section of
the lecture, in its order. Each runs top to bottom in a fresh kernel (every claim in
them is an assert), and the repository keeps them without outputs."""

import json
import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"
# The lecture's sections, in its order: notebook k's first heading is section k's title.
SECTIONS = [
    "Regresión lineal como red neuronal",
    "Regresión logística",
    "Regresión softmax",
    "Limitaciones",
    "Funciones de activación",
    "Cómo predecir y cómo comparar",
    "Regla de la cadena, gradiente y Jacobiano",
    "Cada bloque como una pieza de lego",
    "Gradiente descendente estocástico",
    "Dropout",
]
TIMEOUT = 120  # seconds per notebook (each is written to run in a few)
KERNEL = "bricks-notebook-tests"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def _read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _first_heading(nb):
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^# (.+)$", "".join(cell["source"]), re.M)
            if m:
                return m.group(1).strip()
    return None


def test_the_notebooks_follow_the_lecture():
    """Numbered 01-..., 02-..., with no gap, each headed by its section's title."""
    assert len(PATHS) == len(SECTIONS), f"expected {len(SECTIONS)} notebooks in {NOTEBOOKS}, found {len(PATHS)}"
    for k, path in enumerate(PATHS, start=1):
        assert re.fullmatch(rf"{k:02d}-[a-z0-9-]+\.ipynb", path.name), (
            f"notebook {k} should be named {k:02d}-<name>.ipynb (lowercase, dashes), got {path.name}"
        )
        heading = _first_heading(_read(path))
        assert heading is not None and heading.startswith(SECTIONS[k - 1]), (
            f"{path.name}: expected the heading '# {SECTIONS[k - 1]}...', got {heading!r}"
        )


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_the_notebook_is_stored_without_outputs(path):
    nb = _read(path)
    assert nb["metadata"].get("language_info", {}).get("name", "python") == "python"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}, cell {i}: expected no outputs, got {len(cell['outputs'])}"
            assert cell["execution_count"] is None, (
                f"{path.name}, cell {i}: expected execution_count null, got {cell['execution_count']}"
            )


def test_the_notebooks_are_linked_from_readme_and_docs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/notebooks/" in readme
    page = (ROOT / "docs" / "content" / "notebooks.md").read_text(encoding="utf-8")
    for path in PATHS:
        assert path.name in page, f"docs/content/notebooks.md does not list {path.name}"
    assert "notebooks.md" in (ROOT / "docs" / "content" / "index.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """A Jupyter folder with a kernel spec for this interpreter (no `jupyter kernelspec
    install` needed: a fresh `pip install ".[test]"` runs the notebooks as they are)."""
    pytest.importorskip("ipykernel")
    folder = tmp_path_factory.mktemp("jupyter")
    spec = folder / "kernels" / KERNEL / "kernel.json"
    spec.parent.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.write_text(json.dumps({"argv": argv, "display_name": "bricks (tests)", "language": "python"}))
    return folder


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_the_notebook_runs_top_to_bottom(path, kernels, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    monkeypatch.setenv("JUPYTER_PATH", str(kernels))  # searched first: finds KERNEL
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel's connection file and IPython's profile in tmp_path, not in $HOME
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    # an editable install rebuilds on import, streaming to stderr, which a kernel has no file for
    monkeypatch.setenv("SKBUILD_EDITABLE_VERBOSE", "0")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=KERNEL, timeout=TIMEOUT, resources={"metadata": {"path": str(tmp_path)}}
    )  # the notebook's working folder is tmp_path: nothing it writes lands in the repository
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError at the first failing cell (an assert)
    seconds = time.perf_counter() - start
    assert seconds < TIMEOUT, f"{path.name}: expected under {TIMEOUT} s, took {seconds:.1f} s"
    print(f"{path.name}: {seconds:.1f} s")
