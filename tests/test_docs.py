"""The documentation site: it builds with warnings as errors, every block has a page with
its formulas, and the code on the pages runs (the "write your own block" page included)."""
import importlib.util
import inspect
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import bricks as bk
from bricks.check import GradcheckError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONTENT = DOCS / "content"
CONFIG = DOCS / "mkdocs.yml"

# Every block and loss bricks exports, and the page that documents it.
BLOCK_PAGES = {
    "Linear": "linear", "ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
    "Softmax": "softmax", "LogSoftmax": "log-softmax", "Hadamard": "hadamard",
    "Dropout": "dropout", "MSELoss": "mse-loss", "BCELoss": "bce-loss",
    "BCEWithLogitsLoss": "bce-with-logits-loss", "CrossEntropyLoss": "cross-entropy-loss",
}
PAGES_WITH_CODE = ["getting-started.md", "composition.md", "training.md", "own-block.md",
                   "pictures.md"] + [f"blocks/{p}.md" for p in BLOCK_PAGES.values()]


def code_blocks(page):
    """The ```python blocks of a page, in order (```text and ```bash ones are not run)."""
    return re.findall(r"^```python\n(.*?)^```\s*$", (CONTENT / page).read_text(encoding="utf-8"),
                      re.S | re.M)


def run_page(page):
    namespace = {"__name__": f"docs:{page}"}
    for i, block in enumerate(code_blocks(page)):
        exec(compile(block, f"{CONTENT / page} (python block {i + 1})", "exec"), namespace)
    return namespace


# -- the build ----------------------------------------------------------------------------------
def _have(module):
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not (_have("mkdocs") and _have("mkdocstrings") and _have("mkdocstrings_handlers.python")),
                    reason="mkdocs and mkdocstrings[python] are not installed (pip install '.[docs]')")
def test_site_builds_strict_and_self_contained(tmp_path):
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG),
                        "-d", str(site)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    for page in ["index", "getting-started", "composition", "training", "pictures", "own-block",
                 "benchmarks"] + [f"blocks/{p}" for p in BLOCK_PAGES.values()] + \
                [f"api/{m}" for m in ("bricks", "datasets", "metrics", "callbacks", "optim", "plot", "sklearn",
                                      "onnx_export", "interop")]:
        assert (site / f"{page}.html").is_file(), f"{page} was not built"
    # the API reference is generated from the docstrings
    api = (site / "api" / "bricks.html").read_text(encoding="utf-8")
    for text in ("Fully connected layer", "Binary cross-entropy from logits", "gradcheck",
                 "A graph of blocks"):
        assert text in api
    assert "Stochastic gradient descent" in (site / "api" / "optim.html").read_text(encoding="utf-8")
    assert "EarlyStopping" in (site / "api" / "callbacks.html").read_text(encoding="utf-8")
    assert "two_moons" in (site / "api" / "datasets.html").read_text(encoding="utf-8")
    assert "decision_boundary" in (site / "api" / "plot.html").read_text(encoding="utf-8")
    assert "MLPClassifier" in (site / "api" / "sklearn.html").read_text(encoding="utf-8")
    # the pictures are there, and nothing is loaded from the network when the site is viewed
    assert (site / "img" / "xor.png").is_file() and (site / "img" / "activations.png").is_file()
    for html in site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        remote = re.findall(r"<(?:script|link|img)[^>]*(?:src|href)=\"(?:https?:)?//[^\"]+\"", text)
        assert not remote, f"{html.relative_to(site)} loads {remote}"


# -- the pages ----------------------------------------------------------------------------------
def test_every_block_has_a_page_with_its_formulas():
    exported = {name for name, obj in vars(bk).items()
                if inspect.isclass(obj) and issubclass(obj, bk.Block) and obj not in (bk.Block, bk.Loss)}
    assert exported == set(BLOCK_PAGES), "a block without a documentation page (or a stale page)"
    nav = CONFIG.read_text(encoding="utf-8")
    for name, page in BLOCK_PAGES.items():
        text = (CONTENT / "blocks" / f"{page}.md").read_text(encoding="utf-8")
        assert text.startswith(f"# {name}\n")
        assert "## Forward" in text and "## Backward" in text
        assert re.search(r"dL/d\w+\s*=", text), f"{page}: no backward formula"
        assert f"{name}: blocks/{page}.md" in nav
        code = "".join(code_blocks(f"blocks/{page}.md"))
        assert f"bk.{name}(" in code
        assert name == "Dropout" or "bk.gradcheck(" in code
    table = (CONTENT / "blocks" / "index.md").read_text(encoding="utf-8")
    for name, page in BLOCK_PAGES.items():
        assert f"[{name}]({page}.md)" in table


@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_the_code_on_the_page_runs(page, tmp_path, monkeypatch, capsys):
    if page == "pictures.md":
        pytest.importorskip("matplotlib")
        monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)  # nothing a page writes lands in the repository ...
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # ... or stays in /tmp
    assert code_blocks(page), f"{page} has no python code"
    run_page(page)


def test_own_block_page_checks_python_blocks_with_gradcheck():
    ns = run_page("own-block.md")
    Scale, Softplus = ns["Scale"], ns["Softplus"]
    x = np.random.default_rng(5).normal(size=(3, 4))
    assert bk.gradcheck(Scale(4), x)
    assert bk.gradcheck(Softplus(), x)
    with pytest.raises(GradcheckError, match="input 0"):
        bk.gradcheck(Softplus(bug=True), x)

    class ForgetsTheInput(Scale):
        """dL/dgamma without the factor x: only a check of the parameters finds it."""

        def backward(self, dy):
            self.grads["gamma"] += dy.sum(0)
            self.grads["beta"] += dy.sum(0)
            return dy * self.params["gamma"]

    with pytest.raises(GradcheckError, match="parameter 'gamma'"):
        bk.gradcheck(ForgetsTheInput(4), x)


def test_readme_pictures_are_small_pngs():
    for name in ("xor.png", "activations.png"):
        data = (CONTENT / "img" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 600 and height >= 250
        assert 10_000 < len(data) < 100_000, f"{name}: {len(data)} bytes"


# -- docstrings are Markdown on the site ----------------------------------------------------------
API_MODULES = ("bricks", "bricks.datasets", "bricks.metrics", "bricks.callbacks", "bricks.optim",
               "bricks.plot", "bricks.sklearn", "bricks.onnx_export", "bricks.interop")


def _docstrings():
    import importlib

    seen = set()
    for modname in API_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:  # an optional extra that is not installed
            continue
        objs = [(modname, mod)]
        for name, obj in vars(mod).items():
            if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("bricks"):
                continue
            objs.append((f"{obj.__module__}.{obj.__qualname__}", obj))
            if inspect.isclass(obj):
                for mname, m in vars(obj).items():
                    if not mname.startswith("_"):
                        m = m.fget if isinstance(m, property) else m
                        objs.append((f"{obj.__module__}.{obj.__qualname__}.{mname}", m))
        for where, obj in objs:
            doc = inspect.getdoc(obj) if callable(obj) or inspect.ismodule(obj) else None
            if doc and (where, doc) not in seen:
                seen.add((where, doc))
                yield where, doc


def test_docstrings_have_no_raw_html_or_sphinx_roles():
    """The API pages render docstrings as Markdown: a bare <y, dy> is an HTML tag (the text
    vanishes) and a Sphinx role such as :class:`X` shows up literally."""
    bad = []
    for where, doc in _docstrings():
        prose = re.sub(r"``.*?``|`[^`]*`", "", doc, flags=re.S)
        prose = "\n".join(line for line in prose.splitlines() if not line.lstrip().startswith(">>>"))
        if re.search(r"<[A-Za-z/]", prose) or re.search(r":(class|func|meth|mod|attr):", doc):
            bad.append(where)
    assert not bad, f"docstrings that do not render: {sorted(set(bad))}"


def test_the_readme_code_runs(tmp_path, monkeypatch, capsys):
    """The README's python blocks, in order in one namespace, as a reader would paste them."""
    for extra in ("sklearn", "onnx"):
        pytest.importorskip(extra)
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```\s*$", text, re.S | re.M)
    assert len(blocks) >= 5, "the README lost its examples"
    ns = {"__name__": "readme"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md (python block {i + 1})", "exec"), ns)
    out = capsys.readouterr().out
    acc = float(re.search(r"test accuracy ([0-9.]+)", out).group(1))
    assert acc > 0.9, out  # the README says "about 0.96"
    np.testing.assert_array_equal(ns["same"].predict(ns["Xte"]), ns["model"].predict(ns["Xte"]))
    for name in ("digits.npz", "digits.onnx"):
        assert (tmp_path / name).stat().st_size > 0
    for img in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (ROOT / img).is_file(), f"README shows a missing picture {img}"
