"""The Python layer's imports run one way (see docs/content/architecture.md):

    _core, _arrays, _version, distributed -> node -> block -> blocks, losses -> optim -> graph (Model)
    -> sequential -> callbacks, metrics, training -> io, interop, onnx_export, plot, check
    -> sklearn, datasets, examples, __main__

Parsed with ``ast``: module-level imports of bricks' own modules form no cycle, and a
function-level import of one is allowed only in Model's one-line facade methods (which
reach the layers above graph). Optional third-party packages may be imported lazily."""

import ast
import pathlib

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
