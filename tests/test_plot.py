"""bricks.plot: the pictures are drawn headless, saved as valid PNGs, and show the right data."""

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # headless, whatever the machine has
pytest.importorskip("matplotlib")

import bricks as bk  # noqa: E402
from bricks import plot  # noqa: E402
from bricks.examples import gating, learn_targets, linear_regression, xor  # noqa: E402
from bricks.examples.pictures import example_plots  # noqa: E402

F = np.float64
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _agg(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def assert_png(path, fig=None, min_bytes=5000):
    """A real PNG: signature, IHDR of the figure's pixel size, and not a blank image."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert len(data) >= min_bytes, f"{path} is only {len(data)} bytes"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    if fig is not None:
        w, h = fig.get_size_inches() * plot.DPI
        assert (width, height) == (round(w), round(h))
    import matplotlib.image

    pixels = matplotlib.image.imread(path)
    assert pixels.std() > 0.05, f"{path} looks blank"
    return width, height


def xor_network():
    """A hand-set hidden layer that solves XOR: h1 ≈ OR, h2 ≈ AND, out ≈ OR and not AND."""
    hidden, out = bk.Linear(2, 2, dtype=F), bk.Linear(2, 1, dtype=F)
    hidden.params["weight"][...] = [[20, 20], [20, 20]]
    hidden.params["bias"][...] = [-10, -30]
    out.params["weight"][...] = [[20, -20]]
    out.params["bias"][...] = [-10]
    return bk.Sequential(hidden, bk.Sigmoid(dtype=F), out, bk.Sigmoid(dtype=F))


# -- headless and lazy -------------------------------------------------------------------------
def test_import_is_lazy_and_drawing_needs_no_display(tmp_path):
    """Importing bricks.plot does not import matplotlib; drawing never touches pyplot,
    so it works with no display and no backend configured."""
    code = (
        "import sys, bricks.plot as P\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        f"P.activations({str(tmp_path / 'a.png')!r})\n"
        "assert 'matplotlib' in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "ok"  # (an editable install may log a rebuild first)
    assert_png(tmp_path / "a.png")


# -- training curves ------------------------------------------------------------------------------
def test_history_classifier_has_loss_and_accuracy_train_and_validation(tmp_path):
    X, y = bk.datasets.blobs(240, centers=3, seed=0)
    model = bk.Sequential(bk.Linear(2, 3, seed=0))
    hist = model.fit(
        X,
        y,
        loss=bk.CrossEntropyLoss(),
        optimizer=bk.SGD(model, lr=0.1),
        epochs=6,
        batch_size=16,
        seed=0,
        validation_split=0.25,
        verbose=0,
    )
    path = tmp_path / "curves.png"
    fig = plot.history(hist, path)
    assert path.exists()
    assert_png(path, fig)
    axes = fig.get_axes()
    assert len(axes) == 2
    for ax, key in zip(axes, ("loss", "accuracy")):
        assert ax.get_ylabel() == key
        lines = ax.get_lines()
        assert len(lines) == 2
        np.testing.assert_allclose(lines[0].get_ydata(), hist.history[key])
        np.testing.assert_allclose(lines[1].get_ydata(), hist.history["val_" + key])
        np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(1, 7))
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "validation"]


def test_history_regression_has_loss_only():
    logs = {"loss": [1.0, 0.5, 0.25, 0.2]}
    fig = plot.history(logs)  # the .history dict works too
    (ax,) = fig.get_axes()
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), logs["loss"])


def test_history_rejects_what_is_not_a_history():
    with pytest.raises(ValueError, match="no 'loss'"):
        plot.history({"accuracy": [0.5]})
    with pytest.raises(TypeError, match="History"):
        plot.history([1.0, 0.5])


# -- decision boundaries --------------------------------------------------------------------------
def test_decision_regions_of_a_hand_set_xor_network():
    model = xor_network()
    xx, yy, p1, classes = plot.decision_regions(model, xor.X, resolution=61)
    assert xx.shape == yy.shape == p1.shape == classes.shape == (61, 61)
    assert xx.min() < 0 and xx.max() > 1 and yy.min() < 0 and yy.max() > 1
    assert 0 <= p1.min() and p1.max() <= 1
    for (a, b), t in zip(xor.X, xor.Y[:, 0]):
        i, j = np.abs(yy[:, 0] - b).argmin(), np.abs(xx[0] - a).argmin()
        assert classes[i, j] == t, f"grid point near ({a}, {b})"
        assert (p1[i, j] > 0.9) if t else (p1[i, j] < 0.1)
    # the centre of the square is XOR-true (between the two lines), its far corners are not
    assert classes[30, 30] == 1


def test_decision_boundary_binary_figure(tmp_path):
    model = xor_network()
    path = tmp_path / "xor.png"
    fig = plot.decision_boundary(model, xor.X, xor.Y, path, resolution=50, title="XOR")
    assert_png(path, fig)
    ax, cbar = fig.get_axes()  # the plot and its colorbar
    assert cbar.get_ylabel() == "P(class 1)"
    assert ax.get_title() == "XOR"
    from matplotlib.collections import PathCollection

    scatters = [c for c in ax.collections if type(c) is PathCollection]
    assert len(scatters) == 2  # one per class, the data on top of the regions
    np.testing.assert_array_equal(scatters[0].get_offsets(), xor.X[[0, 3]])
    np.testing.assert_array_equal(scatters[1].get_offsets(), xor.X[[1, 2]])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1"]


def test_decision_boundary_multiclass_colours_the_predicted_classes(tmp_path):
    X, y = bk.datasets.blobs(300, centers=[[-3, 0], [3, 0], [0, 4]], cluster_std=0.6, seed=1)
    model = bk.Sequential(bk.Linear(2, 3, seed=0))
    model.fit(
        X, y, loss=bk.CrossEntropyLoss(), optimizer=bk.SGD(model, lr=0.2), epochs=20, batch_size=16, seed=0, verbose=0
    )
    xx, yy, p1, classes = plot.decision_regions(model, X, resolution=80)
    assert p1 is None
    for k, (cx, cy) in enumerate([[-3, 0], [3, 0], [0, 4]]):
        i, j = np.abs(yy[:, 0] - cy).argmin(), np.abs(xx[0] - cx).argmin()
        assert classes[i, j] == k
    path = tmp_path / "blobs.png"
    fig = plot.decision_boundary(model, X, y, path, resolution=80)
    assert_png(path, fig)
    (ax,) = fig.get_axes()  # no colorbar for several classes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class 0", "class 1", "class 2"]


class SignClassifier:
    """A scikit-learn style estimator with named classes: 'left' for x1 < 0, else 'right'."""

    classes_ = np.array(["left", "right"])

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-10 * np.asarray(X)[:, 0]))
        return np.column_stack([1 - p, p])


def test_decision_boundary_of_an_estimator_with_named_classes():
    X = np.array([[-1.0, 0.0], [-0.5, 1.0], [0.5, 0.0], [1.0, 1.0], [2.0, -1.0]])
    y = np.array(["left", "left", "right", "right", "right"])
    xx, yy, p1, classes = plot.decision_regions(SignClassifier(), X, resolution=41)
    np.testing.assert_array_equal(classes, (xx > 0).astype(int) | ((xx == 0) & (p1 > 0.5)))
    fig = plot.decision_boundary(SignClassifier(), X, y, resolution=41)
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["class left", "class right"]
    with pytest.raises(ValueError, match="not in the model's classes_"):
        plot.decision_boundary(SignClassifier(), X, np.array(["left"] * 4 + ["up"]))


def test_decision_boundary_checks_its_inputs():
    model = xor_network()
    with pytest.raises(ValueError, match="2 features"):
        plot.decision_boundary(model, np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="4 rows but y has 3"):
        plot.decision_boundary(model, xor.X, np.zeros(3, np.int64), resolution=10)
    with pytest.raises(ValueError, match="resolution"):
        plot.decision_regions(model, xor.X, resolution=1)


# -- activations ----------------------------------------------------------------------------------
def test_activations_table(tmp_path):
    path = tmp_path / "act.png"
    fig = plot.activations(path)
    assert_png(path, fig)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["Sigmoid", "Tanh", "ReLU"]
    expected = {
        "Sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
        "Tanh": (np.tanh, lambda x: 1 / np.cosh(x) ** 2),
        "ReLU": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    }
    for ax in axes:
        f, df = expected[ax.get_title()]
        fline, dline = ax.get_lines()
        x = fline.get_xdata()
        assert x.min() <= -4 and x.max() >= 4
        np.testing.assert_allclose(fline.get_ydata(), f(x), atol=1e-12)
        np.testing.assert_allclose(dline.get_ydata(), df(x), atol=1e-12)
        assert fline.get_linestyle() == "-" and dline.get_linestyle() == "--"


def test_activation_curves_come_from_forward_and_backward():
    c = plot.activation_curves([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(c["Sigmoid"][2][1], 0.25)
    np.testing.assert_allclose(c["Tanh"][2][1], 1.0)
    np.testing.assert_array_equal(c["ReLU"][1], [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(c["ReLU"][2], [0.0, 0.0, 1.0])  # 0 at the kink


# -- the graph ------------------------------------------------------------------------------------
def gating_model():
    x = bk.Input(4, name="x")
    h = bk.ReLU()(bk.Linear(4, 8)(x))
    g = bk.Softmax()(bk.Linear(4, 8)(x))
    y = bk.Linear(8, 1)(bk.Hadamard()(h, g))
    return bk.Model(inputs=x, outputs=y)


def test_model_graph_without_graphviz_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="Graphviz") as e:
        plot.model_graph(gating_model(), tmp_path / "g.png")
    assert "model.to_dot()" in str(e.value) and "`dot`" in str(e.value)
    assert not (tmp_path / "g.png").exists()


def test_model_graph_checks_the_model(tmp_path):
    with pytest.raises(TypeError, match="bricks model"):
        plot.model_graph(object(), tmp_path / "g.png")
    with pytest.raises(bk.StateError, match="input width"):  # a chain that has not seen data
        plot.model_graph(bk.Sequential(bk.ReLU()), tmp_path / "g.png")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_model_graph_renders_with_graphviz(tmp_path):
    model = gating_model()
    png = plot.model_graph(model, tmp_path / "sub" / "g.png")
    assert png == tmp_path / "sub" / "g.png"
    assert_png(png, min_bytes=2000)
    svg = plot.model_graph(model, tmp_path / "g.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    for n in model._nodes + model.inputs:
        assert n.name in svg
    with pytest.raises(RuntimeError, match="dot failed"):
        plot.model_graph(model, tmp_path / "g.nosuchformat")


# -- the examples' pictures -------------------------------------------------------------------------
def trained_xor_models():
    bk.manual_seed(0)
    linear = bk.Sequential(bk.Linear(2, 1, dtype=F), bk.Sigmoid(dtype=F))
    linear.fit(
        xor.X, xor.Y, loss=bk.BCELoss(dtype=F), optimizer=bk.SGD(linear, lr=0.5), epochs=300, batch_size=4, verbose=0
    )
    return linear, xor_network()


def test_example_plots_xor(tmp_path):
    linear, hidden = trained_xor_models()
    result = {**xor.run(verbose=False, epochs=50), "linear_model": linear, "hidden_model": hidden}
    (path,) = example_plots("xor", result, tmp_path / "out")
    assert path == tmp_path / "out" / "xor.png"
    assert_png(path, min_bytes=20000)


def test_example_plots_of_the_examples_that_already_return_enough(tmp_path):
    for name, module in (
        ("gating", gating),
        ("linear_regression", linear_regression),
        ("learn_targets", learn_targets),
    ):
        (path,) = example_plots(name, module.run(verbose=False), tmp_path)
        assert path.name == f"{name}.png"
        assert_png(path)


def test_example_plots_softmax_and_logistic(tmp_path):
    X, y = bk.datasets.digits()
    Xtr, Xte, ytr, yte = bk.datasets.train_test_split(X, y, test_size=0.25, seed=0)
    model = bk.Sequential(bk.Linear(64, 10, seed=0))
    hist = model.fit(
        Xtr,
        ytr,
        loss=bk.CrossEntropyLoss(),
        optimizer=bk.SGD(model, lr=0.5),
        epochs=3,
        batch_size=32,
        seed=0,
        validation_split=0.1,
        verbose=0,
    )
    paths = example_plots(
        "softmax_regression",
        {"history": hist, "test_accuracy": 0.9, "model": model, "X_test": Xte, "y_test": yte},
        tmp_path,
    )
    assert [p.name for p in paths] == ["softmax_regression.png", "softmax_regression_confusion.png"]
    for p in paths:
        assert_png(p)

    rng = np.random.default_rng(0)
    Xl = np.concatenate([rng.normal(-2, 0.7, (50, 2)), rng.normal(2, 0.7, (50, 2))])
    t = np.repeat([0.0, 1.0], 50)[:, None]
    logistic = bk.Sequential(bk.Linear(2, 1, seed=0), bk.Sigmoid())
    h = logistic.fit(
        Xl, t, loss=bk.BCELoss(), optimizer=bk.SGD(logistic, lr=0.5), epochs=5, batch_size=16, seed=0, verbose=0
    )
    (p,) = example_plots(
        "logistic_regression", {"model": logistic, "X": Xl, "t": t, "loss": h.history["loss"]}, tmp_path
    )
    assert_png(p)


def test_example_plots_names_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match=r"lacks \['linear_model', 'hidden_model'\]"):
        example_plots("xor", {"slide_hidden": np.zeros((4, 2))}, tmp_path)
    with pytest.raises(ValueError, match="unknown example"):
        example_plots("mnist", {}, tmp_path)
    assert not list(tmp_path.iterdir())


# -- the wiring: Model.plot and `python -m bricks.examples NAME --plot DIR` -------------------------
def test_model_plot_renders_or_says_graphviz_is_needed(tmp_path, monkeypatch):
    if not hasattr(bk.Model, "plot"):
        pytest.skip("Model.plot is not wired to bricks.plot.model_graph yet")
    model = gating_model()
    if shutil.which("dot"):
        assert_png(Path(model.plot(tmp_path / "g.png")), min_bytes=2000)
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    with pytest.raises(RuntimeError, match="Graphviz.*model.to_dot()"):
        model.plot(tmp_path / "h.png")


def test_examples_plot_option_writes_every_picture(tmp_path, capsys):
    from bricks.examples import NAMES
    from bricks.examples.__main__ import main

    try:
        main(["all", "--plot", str(tmp_path)])
    except SystemExit as e:  # argparse rejects an unknown option with exit code 2
        if e.code == 2 and "--plot" in capsys.readouterr().err:
            pytest.skip("python -m bricks.examples has no --plot option yet")
        raise
    for name in NAMES:
        assert_png(tmp_path / f"{name}.png")


def test_decision_regions_of_a_classifier_without_probabilities(tmp_path):
    """SVC/Perceptron have no predict_proba: their predicted labels give the regions
    (all classes, string labels included), not a 'P(class 1)' read off the labels."""
    pytest.importorskip("sklearn")
    from sklearn.svm import SVC

    X, y = bk.datasets.blobs(n_samples=300, centers=3, n_features=2, seed=0)
    svc = SVC().fit(X, y)
    _, _, p1, regions = bk.plot.decision_regions(svc, X)
    assert p1 is None and set(np.unique(regions)) == {0, 1, 2}
    names = np.array(["a", "b", "c"])[y]
    bk.plot.decision_boundary(SVC().fit(X, names), X, names, tmp_path / "svc.png")
    assert (tmp_path / "svc.png").stat().st_size > 0
