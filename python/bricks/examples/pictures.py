"""Pictures of the lecture's examples (``python -m bricks.examples --plot DIR``), drawn
with ``bricks.plot``'s pieces. They live with the examples so that ``bricks.plot``
never depends on them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..metrics import confusion_matrix
from ..plot import CLASS_COLORS, class_labels, decision_boundary, figure, history, save_figure
from .gating import make_data
from .linear_regression import TRUE_B, TRUE_W
from .xor import X, Y

# What each example's run() result must hold for its pictures (see example_plots).
EXAMPLE_KEYS = {
    "linear_regression": ("weight", "bias"),
    "logistic_regression": ("model", "X", "t"),
    "softmax_regression": ("history",),
    "xor": ("linear_model", "hidden_model", "slide_hidden"),
    "gating": ("model",),
    "learn_targets": ("graph",),
}


def _need(name, result, keys):
    missing = [k for k in keys if k not in result]
    if missing:
        raise ValueError(
            f"example_plots({name!r}): the example's result lacks {missing}; "
            f"its run() must return {list(keys)} for the pictures"
        )


def example_plots(name, result, outdir):
    """Write the pictures of one of the lecture's examples (``bricks.examples``) as PNGs.

    One or two files per example, into ``outdir``:

    - ``linear_regression.png``: learned against true weights (and the loss curve
      when the result has a ``history``);
    - ``logistic_regression.png``: the decision boundary (and the loss per epoch);
    - ``softmax_regression.png``: training curves (and
      ``softmax_regression_confusion.png`` when the result has ``model``, ``X_test``
      and ``y_test``);
    - ``xor.png``: the decision boundary of one linear layer against one hidden
      layer, and the XOR points in the slide's hidden space;
    - ``gating.png``: the gating network's predictions against the targets (and the
      linear model's when the result has ``linear_model``);
    - ``learn_targets.png``: the learned class prototypes and the class means.

    Args:
        name: the example's name (``python -m bricks.examples`` lists them).
        result: the dict its ``run()`` returned; ``EXAMPLE_KEYS[name]`` lists what it needs.
        outdir: the folder to write into (created if needed).

    Returns:
        The list of paths written.

    Raises:
        ValueError: an unknown example, or a result that lacks what its pictures need.
    """
    if name not in EXAMPLE_KEYS:
        raise ValueError(f"example_plots: unknown example {name!r}; have {sorted(EXAMPLE_KEYS)}")
    if not isinstance(result, dict):
        raise TypeError(f"example_plots: result must be the dict run() returned, got {type(result).__name__}")
    _need(name, result, EXAMPLE_KEYS[name])
    outdir = Path(os.fspath(outdir))
    outdir.mkdir(parents=True, exist_ok=True)
    fig = globals()[f"_plot_{name}"](result)
    path = outdir / f"{name}.png"
    save_figure(fig, path)
    written = [path]
    if name == "softmax_regression" and "model" in result and "X_test" in result and "y_test" in result:
        cm = _confusion(result)
        written.append(outdir / "softmax_regression_confusion.png")
        save_figure(cm, written[-1])
    return written


def _plot_linear_regression(r):
    has_hist = "history" in r
    fig = figure((9.0 if has_hist else 4.8, 3.6))
    axes = fig.subplots(1, 2 if has_hist else 1, squeeze=False)[0]
    learned = np.concatenate([np.ravel(r["weight"]), np.ravel(r["bias"])])
    true = np.concatenate([TRUE_W.ravel(), TRUE_B.ravel()])
    names = [f"w{i + 1}" for i in range(TRUE_W.size)] + ["b"]
    pos = np.arange(len(names))
    ax = axes[0]
    ax.bar(pos - 0.2, true, 0.4, label="true", color="#7f7f7f")
    ax.bar(pos + 0.2, learned, 0.4, label="learned", color="#1f77b4")
    ax.set_xticks(pos, names)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_title("Linear + MSE recovers the weights")
    ax.legend()
    if has_hist:
        _loss_axes(axes[1], r["history"])
    return fig


def _loss_axes(ax, hist):
    logs = getattr(hist, "history", hist)
    for k, style in (("loss", "-"), ("val_loss", "--")):
        if logs.get(k):
            ax.plot(np.arange(1, len(logs[k]) + 1), logs[k], style, label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()


def _plot_logistic_regression(r):
    loss = r.get("loss")
    fig = figure((9.6 if loss else 5.2, 4.0))
    axes = fig.subplots(1, 2 if loss else 1, squeeze=False)[0]
    decision_boundary(
        r["model"], r["X"], r["t"], ax=axes[0], resolution=150, title="Linear + Sigmoid: a line separates the classes"
    )
    if loss:
        _loss_axes(axes[1], {"loss": list(loss)})
        axes[1].set_title("binary cross-entropy per epoch")
    return fig


def _plot_softmax_regression(r):
    acc = r.get("test_accuracy")
    title = "softmax regression on the digits" + (f" (test accuracy {100 * acc:.1f}%)" if acc else "")
    return history(r["history"], title=title)


def _confusion(r):
    pred = np.asarray(r["model"].predict(r["X_test"])).argmax(1)
    C = confusion_matrix(r["y_test"], pred)
    fig = figure((4.6, 4.0))
    ax = fig.add_subplot()
    im = ax.imshow(C, cmap="Blues")
    for (i, j), v in np.ndenumerate(C):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color="white" if v > C.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (test)")
    fig.colorbar(im, ax=ax)
    return fig


def _plot_xor(r):
    fig = figure((13.5, 4.0))
    axes = fig.subplots(1, 3)
    for ax, key, what in (
        (axes[0], "linear_model", "one linear layer"),
        (axes[1], "hidden_model", "one hidden layer (tanh)"),
    ):
        m = r[key]
        acc = float(((np.asarray(m.predict(X)) > 0.5) == (Y > 0.5)).mean())
        decision_boundary(m, X, Y, ax=ax, resolution=120, title=f"{what}: accuracy {100 * acc:.0f}%")
    H = np.asarray(r["slide_hidden"])
    ax = axes[2]
    labels = class_labels(Y)
    for k in (0, 1):
        sel = labels == k
        ax.scatter(H[sel, 0], H[sel, 1], s=60, c=CLASS_COLORS[k], edgecolors="k", label=f"class {k}")
    names = {}
    for (x1, x2), h in zip(X.astype(int), H):  # inputs that land on one point share a label
        names.setdefault(tuple(np.round(h, 12)), []).append(f"({x1},{x2})")
    for h, xs in names.items():
        ax.annotate(" ".join(xs), h, textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_title("the slide's hidden space: σ(W x + b)")
    ax.set_xlabel("h₁")
    ax.set_ylabel("h₂")
    ax.margins(0.25)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def _plot_gating(r):
    X, y = make_data(400, np.random.default_rng(2024))
    models = [("gated: Linear(v ⊙ Softmax(Linear x))", r["model"])]
    if "linear_model" in r:
        models.append(("one linear layer", r["linear_model"]))
    fig = figure((4.6 * len(models), 4.2))
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    lim = float(np.abs(y).max()) * 1.1
    for ax, (what, m) in zip(axes, models):
        pred = np.asarray(m.predict(X)).reshape(-1)
        mse = float(((pred - y[:, 0]) ** 2).mean())
        for c, color in ((0, CLASS_COLORS[0]), (1, CLASS_COLORS[1])):
            sel = X[:, 0] == c
            ax.scatter(
                y[sel, 0],
                pred[sel],
                s=10,
                c=color,
                alpha=0.7,
                label=f"context c = {c} (target {'a' if c == 0 else 'b'})",
            )
        ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel("target y")
        ax.set_ylabel("prediction")
        ax.set_title(f"{what}\ntest MSE {mse:.2g}", fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper left")
    return fig


def _plot_learn_targets(r):
    g = r["graph"]
    P, M = np.asarray(g["prototypes"]), np.asarray(g["class_means"])
    fig = figure((4.8, 4.2))
    ax = fig.add_subplot()
    if "data" in g and "labels" in g:
        data, labels = np.asarray(g["data"]), np.asarray(g["labels"])
        for k in range(len(M)):
            sel = labels == k
            ax.scatter(data[sel, 0], data[sel, 1], s=6, alpha=0.3, c=CLASS_COLORS[k])
    for k in range(len(M)):
        ax.scatter(
            *M[k],
            marker="o",
            s=120,
            facecolors="none",
            edgecolors=CLASS_COLORS[k],
            lw=2,
            label="class mean" if k == 0 else None,
        )
        ax.scatter(
            *P[k], marker="x", s=80, c=CLASS_COLORS[k], lw=2, label="learned target (prototype)" if k == 0 else None
        )
    ax.set_title("targets learned through dL/dt = 2 (t − x) / N", fontsize="medium")
    ax.set_xlabel("z₁")
    ax.set_ylabel("z₂")
    ax.margins(0.2)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
