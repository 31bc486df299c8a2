"""The Python layer's imports run one way (see docs/content/architecture.md):

    _core, _arrays, _version, distributed -> node -> block -> blocks, losses -> optim -> graph (Model)
    -> sequential -> callbacks, metrics, training -> io, interop, onnx_export, plot, check
    -> sklearn, datasets, examples, __main__

Parsed with ``ast``: module-level imports of bricks' own modules form no cycle, and a
function-level import of one is allowed only in Model's one-line facade methods (which
reach the layers above graph) and in the package's ``__getattr__`` (PEP 562), which loads
the submodules named in ``bricks._LAZY`` on first use. Optional third-party packages may
be imported lazily. ``import bricks`` itself, run as a user runs it, loads none of the
optional modules."""

import ast
import json
import os
import pathlib
import subprocess
import sys

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "python" / "bricks"
# Model's facade methods (graph.py) and what each may import lazily.
FACADES = {
    "fit",
    "evaluate",
    "predict",
    "predict_proba",
    "save",
    "astype",
    "to_onnx",
    "state_dict",
    "load_state_dict",
    "plot",
    "__reduce_ex__",
    "_repr_svg_",
}


def _modules():
    for f in sorted(PKG.rglob("*.py")):
        rel = f.relative_to(PKG).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(["bricks", *parts]), f


def _targets(node, module, is_pkg):
    """The bricks modules an import statement names (absolute names)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name == "bricks" or a.name.startswith("bricks.")]
    if node.level == 0:
        base = node.module or ""
        if not (base == "bricks" or base.startswith("bricks.")):
            return []
    else:
        pkg = module.split(".") if is_pkg else module.split(".")[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else []))
    out = []
    for a in node.names:  # `from . import x` may name a submodule
        sub = f"{base}.{a.name}"
        out.append(
            sub
            if (PKG.parent / (sub.replace(".", "/") + ".py")).exists() or (PKG.parent / sub.replace(".", "/")).is_dir()
            else base
        )
    return out


def _imports():
    top, lazy = {}, []
    for module, f in _modules():
        tree = ast.parse(f.read_text())
        is_pkg = f.name == "__init__.py"
        top[module] = {
            t for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) for t in _targets(n, module, is_pkg)
        } - {module}
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for n in ast.walk(fn):
                    if isinstance(n, (ast.Import, ast.ImportFrom)):
                        for t in _targets(n, module, is_pkg):
                            lazy.append((module, fn.name, t, n.lineno))
    return top, lazy


def test_no_module_level_cycle():
    top, _ = _imports()
    # the package's __init__ re-exports everything: edges into it are the ones that matter
    graph = {m: {t for t in ts if t in top and t != "bricks"} for m, ts in top.items() if m != "bricks"}
    state, path = {}, []

    def visit(m):
        state[m] = "active"
        path.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "active":
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(t) :] + [t]))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_lazy_internal_imports_only_in_model_facades():
    _, lazy = _imports()
    bad = [
        f"{m}:{line} in {fn}() imports {t}" for m, fn, t, line in lazy if not (m == "bricks.graph" and fn in FACADES)
    ]
    assert not bad, "function-level imports of bricks modules outside Model's facades:\n" + "\n".join(bad)


def test_no_module_reads_the_model_internals():
    # Model's storage is graph.py's (and sequential.py's) own business: everyone else uses
    # the documented surface (nodes, blocks, executor, prepare, ...)
    import re

    private = re.compile(
        r"\._(graph|nodes|blocks|chain|ensure|prepare|select|cores|pred_inputs|"
        r"loss_block|layers|pending)\b"
    )
    hits = [
        f"{f.relative_to(PKG)}:{i}: {line.strip()}"
        for _, f in _modules()
        if f.name not in ("graph.py", "sequential.py")
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert not hits, "\n".join(hits)


# -- start-up: what `import bricks` loads (issue 14) -------------------------------------

# Nothing of these may be loaded by `import bricks` alone: the optional libraries, the
# heavy standard modules only saving, downloading or drawing needs, and bricks' own
# submodules that load on first use.
OPTIONAL = (
    "matplotlib",
    "sklearn",
    "onnx",
    "onnxruntime",
    "tqdm",
    "pandas",
    "scipy",
    "torch",
    "IPython",
    "mpi4py",
    "scipy_openblas32",
    "importlib.metadata",
    "urllib.request",
    "ssl",
    "subprocess",
    "zipfile",
    "gzip",
    "hashlib",
    "csv",
    "json",
    "html",
    "difflib",
)
LAZY_SUBMODULES = (
    "check",
    "callbacks",
    "datasets",
    "metrics",
    "plot",
    "training",
    "io",
    "interop",
    "onnx_export",
    "sklearn",
    "examples",
)


def _run(code: str):
    """Run code in a fresh interpreter; its last printed line, parsed as JSON."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _modules_after(statement: str) -> set:
    return set(_run(f"{statement}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"))


def test_import_bricks_loads_no_optional_module():
    import bricks as bk

    if not list(pathlib.Path(bk.__file__).parent.glob("_core*.so")):
        # scikit-build-core's editable loader rebuilds on import (subprocess, metadata)
        pytest.skip("an editable install: its import hook loads modules of its own")
    numpy_alone = _modules_after("import numpy")
    loaded = _modules_after("import bricks") - numpy_alone  # what a NumPy release loads is not ours
    heavy = {m for m in loaded if m.split(".")[0] in OPTIONAL or m in OPTIONAL}
    own = {m for m in loaded if m.startswith("bricks.") and m.split(".")[1] in LAZY_SUBMODULES}
    assert not heavy, f"import bricks loads optional modules: {sorted(heavy)}"
    assert not own, f"import bricks loads submodules meant to load on first use: {sorted(own)}"


def test_a_model_predicts_without_the_optional_modules():
    # the everyday path (build, predict) stays light too; training loads training's modules
    loaded = _modules_after(
        "import numpy as np, bricks as bk\n"
        "model = bk.Sequential(bk.Linear(4, 8), bk.ReLU(), bk.Linear(8, 2))\n"
        "model.predict(np.ones((3, 4), np.float32))"
    )
    heavy = sorted(m for m in loaded if m.split(".")[0] in ("matplotlib", "sklearn", "onnx", "onnxruntime", "torch"))
    assert not heavy, f"predicting loads {heavy}"


def test_every_public_name_works_after_a_plain_import():
    # what a user types: bk.X, from bricks import X, dir(bk), from bricks import *
    import bricks as bk

    res = _run(
        "import json, bricks as bk\n"
        "missing = [n for n in bk.__all__ if not hasattr(bk, n)]\n"
        "undir = sorted(set(bk.__all__) - set(dir(bk)))\n"
        "ns = {}\n"
        "exec('from bricks import *', ns)\n"
        "starred = sorted(set(bk.__all__) - set(ns))\n"
        "from bricks import load, History, gradcheck, datasets\n"
        "same = [load is bk.io.load, History is bk.training.History, gradcheck is bk.check.gradcheck,\n"
        "        datasets is bk.datasets, bk.plot.__name__ == 'bricks.plot']\n"
        "print(json.dumps([missing, undir, starred, same]))"
    )
    missing, undir, starred, same = res
    assert missing == [] and undir == [] and starred == [], res
    assert all(same), same
    assert set(bk._LAZY) <= set(dir(bk))


def test_a_misspelled_name_is_an_attribute_error_that_names_it():
    import bricks as bk

    with pytest.raises(AttributeError, match="'Liner'"):
        bk.Liner  # noqa: B018
    assert not hasattr(bk, "no_such_name")


def test_bricks_imports_where_the_run_path_does_not_reach_openblas(tmp_path):
    # The extension finds libscipy_openblas.so by its run path, ../scipy_openblas32/lib
    # beside bricks/. A copy of the package elsewhere (a build tree, a vendored copy)
    # has no such folder: bricks then loads OpenBLAS through the scipy_openblas32 package.
    import shutil

    import bricks as bk

    pkg = pathlib.Path(bk.__file__).parent
    if not list(pkg.glob("_core*.so")):
        pytest.skip("the extension is not inside the package folder (an editable install)")
    shutil.copytree(pkg, tmp_path / "bricks", ignore=shutil.ignore_patterns("__pycache__"))
    assert not (tmp_path / "scipy_openblas32").exists()
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    code = (
        "import json, sys, numpy as np, bricks as bk\n"
        "y = bk.Linear(3, 2).forward(np.ones((4, 3), np.float32))\n"
        "print(json.dumps([bk.__file__, 'scipy_openblas32' in sys.modules, y.shape]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    where, fallback, shape = json.loads(out.stdout.strip().splitlines()[-1])
    assert where == str(tmp_path / "bricks" / "__init__.py")
    assert fallback and shape == [4, 2]
