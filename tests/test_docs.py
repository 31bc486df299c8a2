"""The documentation site: it builds with warnings as errors, every block has a page with
its formulas, and the code on the pages runs (the "write your own block" page included).
Every shell command on the pages and in the README runs and gives what the page says."""

import importlib.util
import inspect
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import bricks as bk
from bricks.block import registry
from bricks.check import GradcheckError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONTENT = DOCS / "content"
CONFIG = DOCS / "mkdocs.yml"

# Every block and loss bricks exports, and the page that documents it.
BLOCK_PAGES = {
    "Linear": "linear",
    "ReLU": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "LeakyReLU": "leaky-relu",
    "ELU": "elu",
    "GELU": "gelu",
    "Softplus": "softplus",
    "Softmax": "softmax",
    "LogSoftmax": "log-softmax",
    "Hadamard": "hadamard",
    "Dropout": "dropout",
    "Add": "add",
    "Concat": "concat",
    "Identity": "identity",
    "LayerNorm": "layer-norm",
    "BatchNorm": "batch-norm",
    "MSELoss": "mse-loss",
    "BCELoss": "bce-loss",
    "BCEWithLogitsLoss": "bce-with-logits-loss",
    "CrossEntropyLoss": "cross-entropy-loss",
}
PAGES_WITH_CODE = ["getting-started.md", "composition.md", "training.md", "own-block.md", "pictures.md"] + [
    f"blocks/{p}.md" for p in BLOCK_PAGES.values()
]
PAGES_WITH_CODE.append("cluster.md")  # training on a cluster: its one-process learning-rate snippet


def code_blocks(page):
    """The ```python blocks of a page, in order (```text and ```bash ones are not run)."""
    return re.findall(r"^```python\n(.*?)^```\s*$", (CONTENT / page).read_text(encoding="utf-8"), re.S | re.M)


def run_page(page):
    namespace = {"__name__": f"docs:{page}"}
    for i, block in enumerate(code_blocks(page)):
        exec(compile(block, f"{CONTENT / page} (python block {i + 1})", "exec"), namespace)
    return namespace


# -- the build ----------------------------------------------------------------------------------
def _have(module):
    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(
    not (_have("mkdocs") and _have("mkdocstrings") and _have("mkdocstrings_handlers.python")),
    reason="mkdocs and mkdocstrings[python] are not installed (pip install '.[docs]')",
)
def test_site_builds_strict_and_self_contained(tmp_path):
    site = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0, f"mkdocs build --strict failed:\n{r.stdout}\n{r.stderr}"
    for page in (
        ["index", "getting-started", "composition", "training", "pictures", "own-block", "architecture", "benchmarks"]
        + ["cluster"]
        + [f"blocks/{p}" for p in BLOCK_PAGES.values()]
        + [
            f"api/{m}"
            for m in (
                "bricks",
                "datasets",
                "metrics",
                "callbacks",
                "optim",
                "plot",
                "sklearn",
                "onnx_export",
                "interop",
            )
        ]
    ):
        assert (site / f"{page}.html").is_file(), f"{page} was not built"
    # the API reference is generated from the docstrings
    api = (site / "api" / "bricks.html").read_text(encoding="utf-8")
    for text in ("Fully connected layer", "Binary cross-entropy from logits", "gradcheck", "A graph of blocks"):
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
    assert set(registry()) == set(BLOCK_PAGES), "a block without a documentation page (or a stale page)"
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


def test_every_block_has_its_files_under_one_name():
    """architecture.md, "Adding a block": one snake_case name (its page's name, with
    underscores) names a block's header, source and NumPy reference; its class name is
    bound, exported, registered and has a test spec."""
    import reference
    from registry import SPECS

    assert "## Adding a block" in (CONTENT / "architecture.md").read_text(encoding="utf-8")
    binding = (ROOT / "cpp" / "bindings" / "module.cpp").read_text(encoding="utf-8")
    for name, page in BLOCK_PAGES.items():
        snake = page.replace("-", "_")
        for path in (f"cpp/include/bricks/blocks/{snake}.h", f"cpp/src/blocks/{snake}.cpp"):
            assert (ROOT / path).is_file(), f"{name}: no {path}"
        assert f'#include "bricks/blocks/{snake}.h"' in binding, f"{name}: not included in module.cpp"
        assert any(s in binding for s in (f'(m, "{name}")', f"BRICKS_SIMPLE({name})", f"BRICKS_LOSS({name})")), (
            f"{name}: not bound"
        )
        assert callable(getattr(reference, snake, None)), f"{name}: no tests/reference.py:{snake}"
        assert name in bk.__all__ and registry()[name] is getattr(bk, name)
        assert any(s.cls.__name__ == name for s in SPECS), f"{name}: no spec in tests/registry.py"


@pytest.mark.parametrize("page", PAGES_WITH_CODE)
def test_the_code_on_the_page_runs(page, tmp_path, monkeypatch, capsys):
    if page == "pictures.md":
        pytest.importorskip("matplotlib")
        monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)  # nothing a page writes lands in the repository ...
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # ... or stays in /tmp
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
API_MODULES = (
    "bricks",
    "bricks.datasets",
    "bricks.metrics",
    "bricks.callbacks",
    "bricks.optim",
    "bricks.plot",
    "bricks.sklearn",
    "bricks.onnx_export",
    "bricks.interop",
)


def _docstrings():
    import importlib

    seen = set()
    for modname in API_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError:  # an optional extra that is not installed
            continue
        objs = [(modname, mod)]
        # dir(), not vars(): bricks' lazy names (bk.load, bk.History, ...) are loaded by getattr
        for name, obj in ((n, getattr(mod, n)) for n in dir(mod) if not n.startswith("_")):
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
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
    """The README's python blocks, in order in one namespace, as a reader would paste them;
    each prints what its comments say."""
    for extra in ("sklearn", "onnx"):
        pytest.importorskip(extra)
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```\s*$", text, re.S | re.M)
    assert len(blocks) == 6, "the README's examples changed: check what this test expects of each"
    ns = {"__name__": "readme"}
    out = []
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md (python block {i + 1})", "exec"), ns)
        out.append(capsys.readouterr().out)
    # 1. softmax regression block by block: "about 0.96"
    assert "about 0.96" in blocks[0]
    assert abs(float(re.search(r"test accuracy ([0-9.]+)", out[0]).group(1)) - 0.96) <= 0.02, out[0]
    # 2. the same data, an MLP by fit: "{'loss': about 0.1, 'accuracy': about 0.97}"
    assert "{'loss': about 0.1, 'accuracy': about 0.97}" in blocks[1]
    result = eval(out[1].strip().splitlines()[-1], {})
    assert abs(result["accuracy"] - 0.97) <= 0.02 and 0.03 < result["loss"] < 0.2, out[1]
    # 3. the graph: "a table of the 7 nodes; total parameters: 89", then DOT
    assert "a table of the 7 nodes; total parameters: 89" in blocks[2]
    table = out[2].split("digraph")[0]
    assert len(re.findall(r"^\w+_\d+ ", table, re.M)) == 7 and "total parameters: 89 " in table
    assert out[2].count(" -> ") == 7  # the fan-out: x feeds two blocks
    # 4. the residual MLP: "the skip connection: an Add node"
    assert "the skip connection: an Add node" in blocks[3]
    add = ns["res"].outputs[0].inputs[0]
    assert isinstance(add.block, bk.Add) and add.inputs[1] is ns["h"]
    # 5. save, load, export: identical predictions, and the files
    np.testing.assert_array_equal(ns["same"].predict(ns["Xte"]), ns["model"].predict(ns["Xte"]))
    for name in ("digits.npz", "digits.onnx"):
        assert (tmp_path / name).stat().st_size > 0
    # 6. scikit-learn: "three scores, each about 0.9"
    assert "three scores, each about 0.9" in blocks[5]
    scores = [float(v) for v in out[5].strip().strip("[]").split()]
    assert len(scores) == 3 and all(abs(v - 0.9) <= 0.05 for v in scores), scores
    for img in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (ROOT / img).is_file(), f"README shows a missing picture {img}"


# -- the shell commands -------------------------------------------------------------------------
# Every command the README and the pages show is run here and its stated result checked.
# A command is a line of a ```bash block, whose "# ..." comment states what it gives, or a
# `python -m ...`, `bricks ...` or `pip install ...` span in the prose. COMMANDS maps each
# command, as written, to the function that runs it; a page that shows a command missing
# there fails test_every_shell_command_has_a_test. Commands run in one folder, as a reader
# would run them, with the installed package (`pip install` itself is not run: it checks
# that the extra exists).
SHELL_PAGES = ["README.md"] + [f"docs/content/{p.relative_to(CONTENT)}" for p in sorted(CONTENT.rglob("*.md"))]
TOLERANCE = 2.0  # percentage points around a stated "about X%": other CPUs round differently


def shell_commands(page):
    """(command, stated result) for each command on a page: a ```bash line and its comment, or a
    span in the prose and its paragraph."""
    text = (ROOT / page).read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"^```(?:bash|sh|console)\n(.*?)^```\s*$", text, re.S | re.M):
        for line in block.splitlines():
            if line.strip():
                command, _, stated = line.partition("  #")
                found.append((command.strip(), stated.strip()))
    prose = re.sub(r"^```.*?^```\s*$", "", text, flags=re.S | re.M)
    for paragraph in re.split(r"\n\s*\n", prose):
        for span in re.findall(r"`([^`]+)`", paragraph):
            span = " ".join(span.split())
            if re.match(r"(python -m |bricks (train|evaluate|info)\b|pip install )", span):
                found.append((span, " ".join(paragraph.split())))
    return found


def _path_env(work):
    # `python` and `bricks` are this environment's, as after `pip install .`
    shim = work / ".bin"
    if not shim.is_dir():
        shim.mkdir()
        (shim / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # a symlink
        (shim / "python").chmod(0o755)  # would lose the venv
    path = os.pathsep.join([str(shim), os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path}


_ran = {}


def sh(command, work, timeout=600):
    """Run a command line in bash in the shared folder, once per test session."""
    if command not in _ran:
        _ran[command] = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, cwd=work, env=_path_env(work), timeout=timeout
        )
    r = _ran[command]
    assert r.returncode == 0, f"{command}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def _accuracy(out):
    return float(re.findall(r"test accuracy ([0-9.]+)%", out)[-1])


def _check_stated_accuracy(out, stated, command):
    want = float(re.search(r"about ([0-9.]+)%", stated).group(1))
    got = _accuracy(out)
    assert abs(got - want) <= TOLERANCE, f"{command}: the page says about {want}%, it gave {got}%"


def _pip_install(command):
    """`pip install . && rest`: the extra named exists (nothing is installed); returns rest."""
    from importlib.metadata import metadata

    install, _, rest = command.partition(" && ")
    extras = set(metadata("bricks").get_all("Provides-Extra") or [])
    for target in install.split()[2:]:
        target = target.strip("'\"")
        extra = re.fullmatch(r"(?:\.|bricks)\[(\w+)\]", target)
        if extra:
            assert extra.group(1) in extras, f"{command}: no extra {extra.group(1)!r} (have {sorted(extras)})"
        else:
            assert target == "." or target in ("matplotlib",), f"{command}: installs {target!r}"
    return rest


def run_train(command, stated, work):
    """A `bricks train` / `python -m bricks train` line: the test accuracy it states."""
    out = sh(_pip_install(command) if command.startswith("pip ") else command, work)
    if "about" in stated:
        _check_stated_accuracy(out, stated, command)
    else:  # the prose: "prints ... the final test accuracy"
        assert "test accuracy" in stated and _accuracy(out) > 90, out[-2000:]
    m = re.search(r"--out (\S+)", command)
    if m:
        assert (work / m.group(1)).stat().st_size > 0
        assert f"saved to {m.group(1)}" in out


def run_evaluate(command, stated, work):
    """`bricks evaluate digits.npz`: the accuracy of the train line that saved it."""
    (train,) = [c for c in COMMANDS if c.startswith("bricks train") and "--out digits.npz" in c]
    trained = _accuracy(sh(train, work))
    assert "the same test accuracy" in stated
    assert _accuracy(sh(command, work)) == trained


def run_mnist(command, stated, work):
    """MNIST needs a download: with BRICKS_TEST_MNIST=DIR (the four files) the command runs as
    written on them (about 15 s); otherwise on small synthetic IDX files, which checks the
    command's flags and the MNIST path, not the accuracy (the files being there, --download
    fetches nothing)."""
    assert "~/data/mnist" in command
    real = os.environ.get("BRICKS_TEST_MNIST")
    if real:
        out = sh(command.replace("~/data/mnist", real), work, timeout=1800)
        _check_stated_accuracy(out, stated, command)
        return
    folder = work / "fake-mnist"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    templates = rng.integers(0, 2, size=(10, 28, 28)) * 200
    for kind, n in (("train", 500), ("t10k", 100)):
        labels = np.arange(n, dtype=np.uint8) % 10
        images = np.clip(templates[labels] + rng.integers(0, 56, size=(n, 28, 28)), 0, 255).astype(np.uint8)
        for name, array, code in ((f"{kind}-images-idx3-ubyte", images, 3), (f"{kind}-labels-idx1-ubyte", labels, 1)):
            header = struct.pack(">BBBB", 0, 0, 8, code) + struct.pack(f">{array.ndim}I", *array.shape)
            (folder / name).write_bytes(header + array.tobytes())
    out = sh(command.replace("~/data/mnist", str(folder)), work)
    assert "mnist (500 train, 100 test, 784 features, 10 classes)" in out
    assert _accuracy(out) > 95, out[-2000:]
    assert sorted(os.listdir(folder)) == sorted(
        f"{k}-{w}-idx{d}-ubyte" for k in ("train", "t10k") for w, d in (("images", 3), ("labels", 1))
    )


def run_pytest(command, stated, work):
    """The suite cannot run itself: the test extra exists and every test file collects."""
    assert "every test passes" in stated
    rest = _pip_install(command)
    assert rest == "python -m pytest"
    out = sh(f"{sys.executable} -m pytest --collect-only -q -p no:cacheprovider {ROOT / 'tests'}", work)
    assert re.search(r"\d+ tests collected", out), out[-3000:]


def run_mkdocs(command, stated, work):
    """The site builds strictly (built into the test's folder, not the repository) and the
    configured site_dir is the one the README names."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    rest = _pip_install(command)
    assert rest == "mkdocs build --strict -f docs/mkdocs.yml"
    site_dir = re.search(r"^site_dir:\s*(\S+)", CONFIG.read_text(encoding="utf-8"), re.M).group(1)
    named = re.search(r"writes the site to (\S+)", stated).group(1)
    assert (DOCS / site_dir).resolve() == (ROOT / named).resolve()
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d", str(work / "site")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert (work / "site" / "index.html").is_file()


def run_examples(command, stated, work):
    """`python -m bricks.examples [xor] [--plot DIR]`: what each example learned, and the picture."""
    folder = None
    if "--plot " in command:
        pytest.importorskip("matplotlib")
        folder = command.split("--plot ")[1]
        if folder == "DIR":  # a placeholder in the prose
            command = command.replace("--plot DIR", "--plot pics-dir")
    out = sh(command, work)
    assert "one linear layer: accuracy 50% (at most 75%)" in out
    assert "one hidden layer (tanh): accuracy 100%" in out
    names = re.findall(r"^== (\w+) ==$", out, re.M)
    if command == "python -m bricks.examples":
        from bricks.examples import NAMES

        assert names == list(NAMES) and len(names) == 6 and "all six" in stated
        assert re.search(r"softmax regression on digits: test accuracy 9\d\.\d\d%", out)
    else:
        assert names == ["xor"]
    if folder:
        written = command.split("--plot ")[1] + "/xor.png"
        assert f"wrote {written}" in out and (work / written).read_bytes()[:4] == b"\x89PNG"
        assert f"{folder}/xor.png" in stated, "the page should say where the picture goes"


def run_help(command, stated, work):
    """`bricks train --help`: every flag with its default (tests/test_cli.py checks each)."""
    out = " ".join(sh(command, work).split())
    assert out.count("(default: ") >= 20 and "(default: he_uniform)" in out


def run_info(command, stated, work):
    import bricks as bk

    out = sh(command, work)
    assert f"thread(s); kernels {bk.cpu_info()['isa']}" in out


def run_bench(command, stated, work):
    """The benchmark, cut to its smallest config, one thread, bricks and NumPy (seconds instead
    of minutes): it runs and prints the check that every library trained."""
    assert re.search(r"(2-3 minutes|< 30 s): the table below", stated)
    short = (
        " --configs tiny --threads 1 --libs bricks-step,bricks-fit,numpy --repeats 1 --time 0.05"
        " --gap 0.1 --retries 0 --import-runs 1"
    )
    out = sh(command.replace("python bench/", f"python {ROOT}/bench/") + short, work)
    assert re.search(r"^tiny +1 ", out, re.M), out[-3000:]
    assert "check: every library's loss went down from its first step to its last (it trains)" in out


def run_bench_busy(command, stated, work):
    """The benchmark beside a busy neighbour, cut to one small block: the spinner runs,
    every threading variant is measured, and the spinner is gone afterwards."""
    assert "busy neighbour" in stated
    short = " --configs small --repeats 1 --time 0.05 --gap 0.1 --retries 0 --import-runs 1"
    out = sh(command.replace("python bench/", f"python {ROOT}/bench/") + short, work)
    assert "busy neighbour: 1 process(es) spinning" in out, out[-3000:]
    assert re.search(r"^small +2 ", out, re.M), out[-3000:]
    for lib in ("bricks-pool", "bricks-openblas", "bricks-1thread"):
        assert lib in out, out[-3000:]
    assert "check: every library's loss went down from its first step to its last (it trains)" in out
    pids = [int(p) for p in re.search(r"busy neighbour stopped \(pid ([\d ]+)\)", out).group(1).split()]
    assert len(pids) == 1 and not any(os.path.exists(f"/proc/{p}") for p in pids), "the spinner outlived the run"


def run_mpi_train(command, stated, work):
    """`mpiexec -n 2 bricks train --distributed ...`: one report, and the test accuracy of the
    same training in one process (float rounding may flip a sample of 360)."""
    pytest.importorskip("mpi4py")
    out = sh(command, work)
    assert out.count("test accuracy") == 1, out[-2000:]
    one = sh("bricks train --data digits --threads 1", work)
    assert abs(_accuracy(out) - _accuracy(one)) <= 100 / 360 + 1e-9, (out[-500:], one[-500:])
    assert "a sample of 360 may flip" in stated


def run_pip_only(command, stated, work):
    """`pip install matplotlib` / `pip install ".[plot]"`: installs, not run; the extra exists."""
    assert _pip_install(command) == ""


COMMANDS = {
    "pip install . && python -m bricks train": run_train,
    "python -m bricks train": run_train,
    'pip install ".[test]" && python -m pytest': run_pytest,
    "bricks train --hidden 256,128 --optimizer adam --lr 1e-3 --epochs 20 --out digits.npz": run_train,
    "bricks evaluate digits.npz": run_evaluate,
    "bricks train --data spirals --hidden 64,64 --activation tanh --dtype float64 --schedule cosine": run_train,
    "bricks train --data mnist --data-path ~/data/mnist --download --hidden 256,256 --batch-size 128": run_mnist,
    "bricks train --help": run_help,
    "bricks info": run_info,
    "python -m bricks.examples": run_examples,
    "python -m bricks.examples xor": run_examples,
    "python -m bricks.examples xor --plot pics": run_examples,
    "python -m bricks.examples xor --plot DIR": run_examples,
    'pip install ".[docs]" && mkdocs build --strict -f docs/mkdocs.yml': run_mkdocs,
    "env -u OPENBLAS_CORETYPE python bench/train_speed.py --quick": run_bench,
    "env -u OPENBLAS_CORETYPE python bench/train_speed.py": run_bench,
    "env -u OPENBLAS_CORETYPE python bench/train_speed.py --configs medium,large --threads 2 --libs "
    "bricks-step,bricks-pool,bricks-openblas,bricks-1thread,torch,torch-1thread --busy": run_bench_busy,
    "pip install matplotlib": run_pip_only,
    'pip install ".[plot]"': run_pip_only,
    'pip install ".[mpi]"': run_pip_only,
    "mpiexec -n 2 bricks train --distributed --data digits": run_mpi_train,
}
SHOWN = [(page, command, stated) for page in SHELL_PAGES for command, stated in shell_commands(page)]


def test_every_shell_command_has_a_test():
    assert len(SHOWN) >= 20, "the pages lost their commands (or the extraction broke)"
    untested = [(page, command) for page, command, _ in SHOWN if command not in COMMANDS]
    assert not untested, f"commands shown but run by no test (add them to COMMANDS): {untested}"
    unstated = [(page, command) for page, command, stated in SHOWN if not stated]
    assert not unstated, f"```bash lines without a '# result' comment: {unstated}"
    shown = {command for _, command, _ in SHOWN}
    assert not set(COMMANDS) - shown, f"stale COMMANDS entries: {set(COMMANDS) - shown}"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("reader")


@pytest.mark.skipif(shutil.which("bash") is None, reason="the commands are bash command lines")
@pytest.mark.parametrize("page, command, stated", SHOWN, ids=[f"{p}: {c}" for p, c, _ in SHOWN])
def test_the_shell_command_does_what_the_page_says(page, command, stated, work):
    COMMANDS[command](command, stated, work)


def test_cluster_page_quotes_the_bench_model():
    """docs/content/cluster.md's alpha-beta parameters and predicted step times are the
    ring-allreduce model on bench/distributed_model.json (written by bench/distributed.py)."""
    import json

    model = json.loads((ROOT / "bench" / "distributed_model.json").read_text(encoding="utf-8"))
    page = (CONTENT / "cluster.md").read_text(encoding="utf-8")
    assert "model, not a measurement" in page
    for a in model["allreduce"].values():
        assert f"{a['alpha_s'] * 1e6:.2f} µs" in page and f"{a['beta_s_per_byte'] * 1e9:.3f} ns/B" in page
    used = model["allreduce"][model["model_transport"]]  # the veth pair's fit, or loopback TCP's
    alpha, beta = used["alpha_s"], used["beta_s_per_byte"]
    for name in ("medium", "large"):
        m = model["nets"][name]
        for K in (2, 4, 8, 16, 32, 64, 128, 256):
            ring = 2 * (K - 1) / K * m["grad_bytes"] * beta + 2 * (K - 1) * alpha
            strong, weak = m["compute_s_1r"] / K + ring, m["compute_s_1r"] + ring
            row = rf"^\| {K} \| {strong * 1e3:.3f} \| [^|]+ \| [^|]+ \| {weak * 1e3:.3f} \|"
            assert re.search(row, page, re.M), f"{name}, K={K}: no row {row}"
