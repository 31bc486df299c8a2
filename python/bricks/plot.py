"""Pictures: training curves, decision boundaries, the activations and the graph.

matplotlib is an optional extra (``pip install "bricks[plot]"``); it is imported
only when a picture is drawn, so ``import bricks`` never needs it. Every function
builds a ``matplotlib.figure.Figure`` directly, without ``pyplot``: nothing depends
on a display or on the interactive backend, nothing is left open in pyplot's figure
registry, and nothing is shown. Each function returns the Figure (in Jupyter it
shows inline as the cell's value, a PNG, with or without ``%matplotlib inline``)
and, given ``path``, saves it (PNG unless the path's suffix names another format
matplotlib writes, such as ``.svg`` or ``.pdf``).

    >>> import bricks.plot
    >>> bricks.plot.history(model.fit(X, y, ..., validation_split=0.1), "curves.png")
    >>> bricks.plot.decision_boundary(model, X, y, "boundary.png")
    >>> bricks.plot.activations("activations.png")
    >>> bricks.plot.model_graph(model, "model.png")      # needs Graphviz's dot

The picture of the graph is drawn by Graphviz's ``dot`` program from
``model.to_dot()``; without Graphviz, ``model.to_dot()`` still gives the DOT text.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from . import _checks, _core, blocks
from .graph import Model

DPI = 100
CLASS_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


# -- matplotlib, lazily ------------------------------------------------------------
def figure(figsize):
    """A Figure not managed by pyplot (no display, no backend switch, no registry)."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise ImportError(
            'bricks.plot needs matplotlib, an optional extra: pip install matplotlib (or pip install "bricks[plot]")'
        ) from None
    return _inline_figure_class()(figsize=figsize, dpi=DPI, layout="constrained")


_INLINE_FIGURE = None


def _inline_figure_class():
    """``InlineFigure``: a matplotlib Figure that Jupyter shows inline as a PNG even when
    pyplot (and so the inline backend) was never imported, as it has ``_repr_png_``. With
    ``%matplotlib inline``, IPython's own Figure formatter takes precedence and draws
    the same picture. Made on first use (matplotlib is optional); reachable as
    ``bricks.plot.InlineFigure``, so that such a figure pickles."""
    global _INLINE_FIGURE
    if _INLINE_FIGURE is None:
        from matplotlib.figure import Figure

        class InlineFigure(Figure):
            """A matplotlib Figure with a PNG repr for Jupyter."""

            def _repr_png_(self):
                """The figure as PNG bytes (IPython calls this to show it)."""
                buf = io.BytesIO()
                self.savefig(buf, format="png", dpi=DPI)
                return buf.getvalue()

        InlineFigure.__module__, InlineFigure.__qualname__ = __name__, "InlineFigure"
        _INLINE_FIGURE = InlineFigure
    return _INLINE_FIGURE


def __getattr__(name):
    """``bricks.plot.InlineFigure``, made when first asked for (it needs matplotlib)."""
    if name == "InlineFigure":
        return _inline_figure_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def save_figure(fig, path):
    """Write ``fig`` to ``path`` (folders created; the format from the suffix); None: keep it."""
    if path is not None:
        path = Path(os.fspath(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = path.suffix[1:].lower() or "png"
        fig.savefig(path, format=fmt, dpi=DPI)
    return fig


# -- training curves --------------------------------------------------------------------
def history(hist, path=None, *, title=None):
    """Loss and accuracy per epoch, train and validation, from ``Model.fit``'s History.

    Args:
        hist: a ``bricks.History`` or its ``.history`` dict (``{"loss": [...],
            "val_loss": [...], "accuracy": [...], ...}``).
        path: where to save the picture (optional).
        title: a title over the figure (optional).

    Returns:
        The Figure: one axes for the loss, and a second one for the accuracy when
        it was logged (classifiers). Each axes has one line for training and one
        for validation when validation data was given.
    """
    logs = getattr(hist, "history", hist)
    if not isinstance(logs, dict):
        raise TypeError(f"history: expected a bricks.History or its .history dict, got {type(hist).__name__}")
    if not logs.get("loss"):
        raise ValueError(f"history: no 'loss' was logged (have {sorted(logs)})")
    panels = [("loss", "loss")] + ([("accuracy", "accuracy")] if logs.get("accuracy") else [])
    fig = figure((5.0 * len(panels), 3.6))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (key, label) in zip(axes, panels):
        for k, style, name in ((key, "-", "train"), ("val_" + key, "--", "validation")):
            values = logs.get(k)
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, marker="o" if len(values) <= 30 else None, markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    if len(panels) == 2:
        axes[1].set_ylim(top=1.02)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


# -- decision boundaries -------------------------------------------------------------------
def class_labels(y, classes=None):
    """Integer labels from labels (N,), a column of 0/1 targets (N, 1) or one-hot rows;
    with ``classes`` (an estimator's sorted ``classes_``), the index of each label in it."""
    a = np.asarray(y)
    if classes is not None and a.ndim == 1:
        classes = np.asarray(classes)
        idx = np.clip(np.searchsorted(classes, a), 0, len(classes) - 1)
        if not np.array_equal(classes[idx], a):
            raise ValueError(f"decision_boundary: y has labels that are not in the model's classes_ {classes.tolist()}")
        return idx.astype(np.int64)
    if a.ndim == 2 and a.shape[1] > 1:
        return a.argmax(1).astype(np.int64)
    a = a.reshape(-1)
    if a.dtype.kind == "f":
        if np.all((a == 0) | (a == 1)):
            return a.astype(np.int64)
        raise ValueError("decision_boundary: y must be class labels, 0/1 targets or one-hot rows")
    return a.astype(np.int64)


def _probabilities(model, grid):
    """Class probabilities (or scores) of the model on the grid, shape (M, C) or (M, 1)."""
    kw = {"batch_size": 4096} if isinstance(model, Model) else {}
    if hasattr(model, "predict_proba"):
        try:
            return np.asarray(model.predict_proba(grid, **kw), dtype=np.float64)
        except ValueError as e:  # a bricks model that is not a classifier
            if "not a classifier" not in str(e):
                raise
    out = np.asarray(model.predict(grid, **kw), dtype=np.float64)
    return out if out.ndim == 2 else out.reshape(-1, 1)


def decision_regions(model, X, resolution=200, margin=0.25):
    """The grid behind ``decision_boundary``: ``(xx, yy, p1, classes)``.

    ``xx``, ``yy`` are (resolution, resolution) coordinates spanning X's range plus a
    margin; ``classes`` the predicted class at each point; ``p1`` the probability of
    class 1 for binary models (one output column, or two), else None.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary: X must have 2 features (N, 2), got shape {X.shape}")
    resolution = _checks.integer(resolution, "decision_boundary", "resolution", low=2)
    lo, hi = X.min(0), X.max(0)
    pad = np.maximum(hi - lo, 1e-3) * margin
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    dtype = getattr(model, "dtype", None)
    if dtype is not None:
        grid = grid.astype(dtype)
    known = getattr(model, "classes_", None)
    if known is not None and not hasattr(model, "predict_proba"):
        # a scikit-learn style classifier without probabilities (SVC, Perceptron, ...):
        # predict gives class labels, placed by their index in classes_ (sorted)
        return xx, yy, None, class_labels(np.asarray(model.predict(grid)), known).reshape(xx.shape)
    P = _probabilities(model, grid)
    if P.shape[0] != grid.shape[0]:
        raise ValueError(f"decision_boundary: the model gave {P.shape[0]} rows for {grid.shape[0]} points")
    if P.shape[1] == 1:
        p1 = P[:, 0]
        classes = (p1 > 0.5).astype(np.int64)
    elif P.shape[1] == 2:
        p1 = P[:, 1]
        classes = P.argmax(1)
    else:
        p1, classes = None, P.argmax(1)
    shape = xx.shape
    return xx, yy, None if p1 is None else p1.reshape(shape), classes.reshape(shape)


def decision_boundary(model, X, y, path=None, resolution=200, *, ax=None, title=None):
    """The regions a classifier assigns to each class, over 2-D data, with the data on top.

    Args:
        model: a trained model with ``predict_proba`` (bricks classifiers, scikit-learn
            style estimators, whose ``classes_`` name the classes) or ``predict``
            (outputs read as class scores: one column is thresholded at 0.5, several
            are reduced by argmax).
        X: (N, 2) inputs.
        y: class labels (N,), 0/1 targets (N, 1) or one-hot rows.
        path: where to save the picture (optional).
        resolution: grid points per axis.
        ax: draw into this matplotlib axes instead of a new figure.
        title: the axes' title.

    Returns:
        The Figure. Binary models: P(class 1) as shades from blue to red, the 0.5
        contour as a black line, and a colorbar; several classes: one colour per class.
    """
    from matplotlib.colors import ListedColormap

    xx, yy, p1, classes = decision_regions(model, X, resolution)
    X = np.asarray(X, dtype=np.float64)
    classes_ = getattr(model, "classes_", None)  # scikit-learn style estimators
    labels = class_labels(y, classes_)
    if labels.shape[0] != X.shape[0]:
        raise ValueError(f"decision_boundary: X has {X.shape[0]} rows but y has {labels.shape[0]}")
    if ax is None:
        fig = figure((5.2 if p1 is not None else 4.6, 4.2))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    n_classes = int(max(labels.max(initial=0), classes.max(initial=0)) + 1)
    if classes_ is not None:
        n_classes = max(n_classes, len(classes_))
    colors = [CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(n_classes)]
    if p1 is not None:
        cs = ax.contourf(xx, yy, p1, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
        if p1.min() < 0.5 < p1.max():
            ax.contour(xx, yy, p1, levels=[0.5], colors="k", linewidths=1.5)
        fig.colorbar(cs, ax=ax, label="P(class 1)")
    else:
        ax.contourf(xx, yy, classes, levels=np.arange(n_classes + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.35)
    for k in range(n_classes):
        sel = labels == k
        if sel.any():
            ax.scatter(
                X[sel, 0],
                X[sel, 1],
                s=22,
                c=colors[k],
                edgecolors="k",
                linewidths=0.5,
                label=f"class {k if classes_ is None else classes_[k]}",
            )
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(loc="best", fontsize="small", framealpha=0.8)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


# -- the activations ------------------------------------------------------------------------
ACTIVATIONS = (
    ("Sigmoid", "σ(x) = 1 / (1 + e⁻ˣ)", "σ′(x) = σ(x)(1 − σ(x))"),
    ("Tanh", "tanh(x)", "tanh′(x) = 1 − tanh²(x)"),
    ("ReLU", "ReLU(x) = max(0, x)", "ReLU′(x) = 1[x > 0]"),
)


def activation_curves(x=None):
    """``{name: (x, y, dy/dx)}`` for Sigmoid, Tanh and ReLU, computed by the blocks
    themselves: y from ``forward``, the derivative from ``backward`` of ones (for an
    elementwise block, the vector-Jacobian product with ones is the derivative)."""
    x = np.linspace(-5.0, 5.0, 401) if x is None else np.asarray(x, dtype=np.float64).ravel()
    out = {}
    for name, _, _ in ACTIVATIONS:
        blk = getattr(blocks, name)(dtype=np.float64)
        y = blk.forward(x[:, None])
        d = blk.backward(np.ones_like(y))
        out[name] = (x, y[:, 0].copy(), d[:, 0].copy())
    return out


def activations(path=None):
    """The lecture's table of activations: sigmoid, tanh and ReLU (solid) with their
    derivatives (dashed), one axes each, as computed by the blocks' forward and backward.

    Returns:
        The Figure (three axes, two lines each).
    """
    curves = activation_curves()
    fig = figure((10.5, 3.3))
    axes = fig.subplots(1, len(ACTIVATIONS))
    for ax, (name, f_label, d_label) in zip(axes, ACTIVATIONS):
        x, y, d = curves[name]
        ax.plot(x, y, "-", color="#1f77b4", lw=2, label=f_label)
        ax.plot(x, d, "--", color="#d62728", lw=2, label=d_label)
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right" if name == "Tanh" else "upper left", fontsize="small", framealpha=0.9)
    axes[0].set_ylim(-0.1, 1.1)
    axes[1].set_ylim(-1.1, 1.1)
    axes[2].set_ylim(-0.3, 3.0)
    return save_figure(fig, path)


# -- the graph (Graphviz) -----------------------------------------------------------------------
GRAPHVIZ_MISSING = (
    "model_graph: drawing the graph needs Graphviz's `dot` program, which was not found "
    "on PATH. Install Graphviz (apt-get install graphviz, brew install graphviz, conda "
    "install graphviz, or https://graphviz.org/download/). The DOT text is available "
    "without it: model.to_dot()."
)


def model_graph(model, path, *, dot=None, timeout=60.0):
    """Render ``model.to_dot()`` to ``path`` with Graphviz's ``dot`` program.

    The format is the path's suffix (``.png``, ``.svg``, ``.pdf``, ...; PNG when there
    is none). Matplotlib is not needed.

    Args:
        model: a ``bricks.Model`` or ``Sequential`` (anything with ``to_dot()``).
        path: the file to write.
        dot: the ``dot`` executable (default: found on PATH).

    Returns:
        The path written, as a ``pathlib.Path``.

    Raises:
        RuntimeError: Graphviz is not installed (the message says so and points to
            ``model.to_dot()``), or ``dot`` failed.
    """
    if not hasattr(model, "to_dot"):
        raise TypeError(f"model_graph: expected a bricks model, got {type(model).__name__}")
    text = model.to_dot()
    exe = dot or shutil.which("dot")
    if exe is None:
        raise RuntimeError(GRAPHVIZ_MISSING)
    path = Path(os.fspath(path))
    fmt = path.suffix[1:].lower() or "png"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        r = subprocess.run(
            [exe, f"-T{fmt}", "-o", str(path)], input=text.encode(), capture_output=True, timeout=timeout
        )
    except OSError as e:
        raise RuntimeError(f"model_graph: could not run Graphviz's dot ({exe}): {e}") from e
    if r.returncode != 0:
        raise RuntimeError(
            f"model_graph: Graphviz's dot failed (exit {r.returncode}) writing "
            f"{fmt}: {r.stderr.decode(errors='replace').strip()}"
        )
    return path


def graph_svg(model, *, dot=None, timeout=60.0):
    """The graph (``model.to_dot()``) drawn by Graphviz's ``dot`` as SVG text, or None
    when Graphviz is not installed, ``dot`` fails, or the model cannot draw its graph yet
    (a Sequential before its input width is known).

    This is what a model shows in Jupyter (``Model._repr_svg_``): a display never
    raises, so every failure is None (``model_graph`` says why instead).

    Args:
        model: a ``bricks.Model`` or ``Sequential``.
        dot: the ``dot`` executable (default: found on PATH).
        timeout: seconds ``dot`` may take.
    """
    try:
        text = model.to_dot()
    except (_core.StateError, AttributeError):
        return None
    exe = dot or shutil.which("dot")
    if exe is None:
        return None
    try:
        r = subprocess.run([exe, "-Tsvg"], input=text.encode(), capture_output=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return r.stdout.decode("utf-8", errors="replace")
