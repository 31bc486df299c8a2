"""At home in Jupyter: what a notebook shows for models, blocks and pictures, and fit's
progress bar there. The reprs are called as IPython calls them (its DisplayFormatter,
or the ``_repr_*_`` methods directly); no kernel is started."""

import html
import inspect
import os
import pickle
import sys
import types
from html.parser import HTMLParser

import numpy as np
import pytest

import bricks as bk
from bricks import training
from bricks.block import formulas, registry
from registry import SPECS

F = np.float64
NASTY = '<b>x</b> & "y"'  # a node name a user might choose: HTML must not run it


class Cells(HTMLParser):
    """The rows of the table cells (th and td) in an HTML text, and the rest of its text."""

    def __init__(self):
        super().__init__()
        self.rows, self.cell, self.text = [], None, []

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        else:
            self.text.append(data)


def parse(text):
    p = Cells()
    p.feed(text)
    return p


def classifier():
    x = bk.Input(4, name=NASTY, dtype=F)
    h = bk.ReLU(dtype=F)(bk.Linear(4, 8, dtype=F, seed=0)(x))
    out = bk.Linear(8, 3, dtype=F, seed=1)(h)
    return bk.Model(x, out)


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH without Graphviz's dot."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


@pytest.fixture
def fake_dot(monkeypatch, tmp_path):
    """A stand-in for Graphviz's dot on PATH: an SVG wrapping the DOT text it was given
    (escaped), so the tests see what reached it."""
    d = tmp_path / "bin"
    d.mkdir()
    script = d / "dot"
    script.write_text(
        f"#!{sys.executable}\n"
        "import html, sys\n"
        "assert sys.argv[1:] == ['-Tsvg'], sys.argv\n"
        "src = sys.stdin.read()\n"
        "print('<?xml version=\"1.0\"?>')\n"
        "print('<svg xmlns=\"http://www.w3.org/2000/svg\"><text>' + html.escape(src) + '</text></svg>')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(d))
    return script


# -- Model: the summary table --------------------------------------------------------------
def test_model_html_is_the_summary_table_with_names_escaped():
    m = classifier()
    page = m._repr_html_()
    assert "<b>x</b>" not in page and html.escape(NASTY) in page
    table = parse(page)
    lines = m.summary().splitlines()
    header, rows, total = lines[0], lines[2:-2], lines[-1]
    assert table.rows[0] == header.split()
    assert len(table.rows) - 1 == len(rows) == 1 + len(m.nodes)
    for cells, line in zip(table.rows[1:], rows):  # the same cells, in the same order
        assert " ".join(" ".join(c.split()) for c in cells) == " ".join(line.split())
    assert table.rows[1][0] == NASTY  # unescaped back, the user's name exactly
    assert [r[3] for r in table.rows[1:]] == ["0", str(4 * 8 + 8), "0", str(8 * 3 + 3)]
    assert total in "".join(table.text)


def test_sequential_shows_its_table_once_it_knows_its_width():
    m = bk.Sequential(bk.ReLU(), bk.Tanh())  # no Linear: the width comes with the data
    assert m._repr_html_() is None  # IPython then shows repr(m)
    assert m._repr_mimebundle_() == {"text/plain": repr(m)}
    m.forward(np.ones((2, 3), np.float32))
    rows = parse(m._repr_html_()).rows
    assert [r[1] for r in rows[1:]] == ["Input", "ReLU", "Tanh"]
    assert [r[2] for r in rows[1:]] == ["(None, 3)"] * 3


# -- Model: the graph ----------------------------------------------------------------------
def test_without_graphviz_there_is_no_svg_and_no_error(no_dot):
    m = classifier()
    assert m._repr_svg_() is None
    bundle = m._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/html"] == m._repr_html_()
    assert bundle["text/plain"] == repr(m)


def test_with_graphviz_the_graph_is_drawn_from_the_dot_source(fake_dot):
    m = classifier()
    svg = m._repr_svg_()
    assert svg.startswith("<?xml") and html.escape(m.to_dot()) in svg  # dot was given to_dot()
    bundle = m._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html", "image/svg+xml"}
    assert bundle["image/svg+xml"] == svg
    page = bundle["text/html"]
    assert page.startswith(m._repr_html_())  # the table, then the picture inline
    assert "<?xml" not in page and '<svg xmlns="http://www.w3.org/2000/svg">' in page


def test_a_failing_dot_gives_no_svg(monkeypatch, tmp_path):
    d = tmp_path / "bin"
    d.mkdir()
    (d / "dot").write_text("#!/bin/sh\necho 'Error: syntax error' >&2\nexit 1\n")
    (d / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(d))
    m = classifier()
    assert m._repr_svg_() is None
    assert "image/svg+xml" not in m._repr_mimebundle_()


@pytest.mark.skipif(not __import__("shutil").which("dot"), reason="Graphviz's dot is not installed")
def test_real_graphviz_draws_every_node():
    m = classifier()
    svg = m._repr_svg_()
    assert "<svg" in svg
    for n in [*m.inputs, *m.nodes]:
        assert html.escape(n.name, quote=False) in svg


def test_ipython_displays_the_model(no_dot):
    formatters = pytest.importorskip("IPython.core.formatters")
    m = classifier()
    data, _ = formatters.DisplayFormatter().format(m)
    assert data["text/plain"] == repr(m)
    assert data["text/html"] == m._repr_html_()
    assert "image/svg+xml" not in data
    seq = bk.Sequential(bk.ReLU())  # cannot say its shapes yet: no error either
    data, _ = formatters.DisplayFormatter().format(seq)
    assert set(data) == {"text/plain"}


# -- blocks: their formulas --------------------------------------------------------------
def one_of_each():
    seen = {}
    for spec in SPECS:
        seen.setdefault(spec.cls, spec.build(3))
    return seen


def test_every_registered_block_has_forward_and_backward_formulas():
    built = one_of_each()
    assert set(registry().values()) <= set(built)
    for name, cls in registry().items():
        found = formulas(cls)
        assert found is not None, f"{name}: its docstring has no Backward formula"
        forward, backward = found
        assert "=" in forward, f"{name}: no formula in the forward {forward!r}"
        assert backward.startswith("Backward") and "dL/d" in backward, f"{name}: {backward!r}"
        doc = inspect.cleandoc(cls.__doc__).replace("``", "")
        assert backward.splitlines()[0] in doc and forward.splitlines()[0] in doc  # the docstring's own
        page = built[cls]._repr_html_()
        assert html.escape(forward) in page and html.escape(backward) in page, name
        assert f"<strong>{name}</strong>" in page
        assert formulas(built[cls]) == found


def test_block_html_shows_its_config():
    page = bk.Linear(3, 5, bias=False, dtype=F, seed=0)._repr_html_()
    text = "".join(parse(page).text)
    assert "in_features=3" in text and "out_features=5" in text and "bias=False" in text
    assert "dL/dW += dyᵀ x" in text


def test_your_own_block_shows_its_escaped_config_and_no_formulas_it_lacks():
    class Tag(bk.Block):
        def __init__(self, tag="<i>hi</i>", *, dtype=None):
            super().__init__(dtype=dtype)

        def forward(self, x):
            return x

        def backward(self, dy):
            return dy

    blk = Tag(tag="<i>hi</i>")
    assert formulas(blk) is None
    page = blk._repr_html_()
    assert "<i>hi</i>" not in page and html.escape("'<i>hi</i>'") in page
    assert "Backward" not in page

    class Documented(Tag):
        """Doubles: ``y = 2x``.

        Backward: dL/dx = 2 dy.
        Shapes: x, y (N, D).
        """

    assert formulas(Documented) == ("Doubles: y = 2x.", "Backward: dL/dx = 2 dy.")


# -- fit's progress bar -------------------------------------------------------------------
def fake_tqdm_module(made):
    class FakeBar:
        def __init__(self, **kwargs):
            self.kwargs, self.n, self.closed = kwargs, 0, False
            made.append(self)

        def update(self, k):
            self.n += k

        def set_postfix(self, *args, **kwargs):
            pass

        def close(self):
            self.closed = True

    return types.SimpleNamespace(tqdm=FakeBar)


def small_fit(**kwargs):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = rng.integers(0, 3, 40)
    m = classifier()
    m.fit(X, y, loss=bk.CrossEntropyLoss(dtype=F), optimizer=bk.SGD(m, lr=0.1), epochs=2, batch_size=8, **kwargs)


def test_in_a_notebook_fit_draws_tqdm_auto_bars(monkeypatch, capsys):
    made = []
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake_tqdm_module(made))
    monkeypatch.setattr(training, "_in_notebook", lambda: True)
    small_fit()  # verbose="auto": stderr is no terminal, but this is a notebook
    assert [b.kwargs["desc"] for b in made] == ["epoch 1/2", "epoch 2/2"]
    assert all(b.closed and b.n == b.kwargs["total"] == 40 for b in made)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(training, "_in_notebook", lambda: False)
    small_fit()  # nor a notebook: silent
    assert len(made) == 2


def test_in_a_notebook_without_tqdm_fit_prints_a_line_per_epoch(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import tqdm.auto fails
    monkeypatch.setattr(training, "_in_notebook", lambda: True)
    small_fit()
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(" - ")[0] for ln in lines] == ["epoch 1/2", "epoch 2/2"]


def test_a_notebook_is_an_ipython_shell_with_a_kernel(monkeypatch):
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    assert training._in_notebook()
    shell.kernel = None  # IPython in a terminal
    assert not training._in_notebook()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: None))
    assert not training._in_notebook()
    monkeypatch.delitem(sys.modules, "IPython")
    assert not training._in_notebook()


# -- pictures inline ----------------------------------------------------------------------
def test_pictures_show_inline_as_png_without_pyplot(monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    from bricks import plot

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    m = bk.Sequential(bk.Linear(2, 2, dtype=F, seed=0))
    figures = [
        plot.history({"loss": [1.0, 0.5], "accuracy": [0.5, 0.9]}),
        plot.decision_boundary(m, X, y, resolution=20),
        plot.activations(),
    ]
    for fig in figures:
        png = fig._repr_png_()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        w, h = (round(v) for v in fig.get_size_inches() * plot.DPI)
        assert int.from_bytes(png[16:20], "big") == w and int.from_bytes(png[20:24], "big") == h
    again = pickle.loads(pickle.dumps(figures[0]))  # a figure of bricks still pickles
    assert again._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _ = formatters.DisplayFormatter().format(figures[0])
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
    if "matplotlib.pyplot" in sys.modules:  # drawing left nothing open in pyplot
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []
    assert os.environ["MPLBACKEND"] == "Agg"
