"""Metrics on NumPy arrays: accuracy, top-k accuracy, MSE, MAE, confusion matrix; and by
name (``resolve``) for ``metrics=`` in compile, fit and evaluate."""

from __future__ import annotations

import numpy as np


def _labels(y, who):
    y = np.asarray(y)
    if y.ndim == 2:  # one-hot or probability rows
        y = y.argmax(1)
    if y.ndim != 1:
        raise ValueError(f"{who}: expected labels of shape (N,) or rows (N, C), got {y.shape}")
    return y


def accuracy(y_true, y_pred, *, loss=None) -> float:
    """Fraction of right predictions.

    With ``loss`` (the model's loss block, e.g. ``model.loss_block``) the loss's own
    rule decides, the one fit and evaluate count with: argmax for CrossEntropyLoss,
    logits above 0 for BCEWithLogitsLoss, probabilities above 0.5 for BCELoss. Without
    it, rows (scores, one-hot) are reduced by argmax and a single column of scores is
    thresholded at 0.5 (probabilities: pass ``loss=`` for logits)."""
    if loss is not None:
        yt, yp = np.asarray(y_true), np.asarray(y_pred)
        if yt.shape[:1] != yp.shape[:1] or yt.size == 0:
            raise ValueError(f"accuracy: need two non-empty arrays of equal length, got {yt.shape} and {yp.shape}")
        return float(np.mean(loss.correct(yp, yt)))
    yp = np.asarray(y_pred)
    if yp.ndim == 2 and yp.shape[1] == 1:
        yp = (yp[:, 0] > 0.5).astype(np.int64)
    yt, yp = _labels(y_true, "accuracy"), _labels(yp, "accuracy")
    if yt.shape != yp.shape or yt.size == 0:
        raise ValueError(f"accuracy: need two non-empty arrays of equal length, got {yt.shape} and {yp.shape}")
    return float(np.mean(yt == yp))


def top_k_accuracy(y_true, scores, k: int = 5) -> float:
    """Fraction of samples whose label is among the k highest scores."""
    scores = np.asarray(scores)
    yt = _labels(y_true, "top_k_accuracy")
    if scores.ndim != 2 or scores.shape[0] != yt.size:
        raise ValueError(f"top_k_accuracy: scores must be (N, C) with N = {yt.size}, got {scores.shape}")
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"top_k_accuracy: k must be in [1, {scores.shape[1]}], got {k}")
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(np.mean((top == yt[:, None]).any(1)))


def mse(y_true, y_pred) -> float:
    """Mean squared error over all elements."""
    return float(np.mean((np.asarray(y_true, float) - np.asarray(y_pred, float)) ** 2))


def mae(y_true, y_pred) -> float:
    """Mean absolute error over all elements."""
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """C[i, j] = number of samples of true class i predicted as j."""
    yt, yp = _labels(y_true, "confusion_matrix"), _labels(y_pred, "confusion_matrix")
    if yt.shape != yp.shape:
        raise ValueError(f"confusion_matrix: lengths differ: {yt.shape} and {yp.shape}")
    n = n_classes or int(max(yt.max(initial=-1), yp.max(initial=-1)) + 1)
    if yt.size and (min(yt.min(), yp.min()) < 0 or max(yt.max(), yp.max()) >= n):
        raise ValueError(f"confusion_matrix: labels must be in [0, {n})")
    C = np.zeros((n, n), np.int64)
    np.add.at(C, (yt, yp), 1)
    return C


# -- metrics by name, for compile(metrics=...), fit(metrics=...) and evaluate(metrics=...) --
def _top_k(y_true, y_pred):
    k = min(5, np.shape(y_pred)[1]) if np.ndim(y_pred) == 2 else 1
    return top_k_accuracy(y_true, y_pred, k)


_NAMED = {"accuracy": accuracy, "top_k_accuracy": _top_k, "mse": mse, "mae": mae}
_ALIASES = {"acc": "accuracy", "top_k": "top_k_accuracy", "mean_squared_error": "mse", "mean_absolute_error": "mae"}


def names() -> list:
    """The metric names ``metrics=`` takes (besides callables ``f(y_true, y_pred) -> float``)."""
    return sorted(_NAMED)


def resolve(metric, who: str = "metrics", *, loss=None):
    """``(name, f(y_true, y_pred))`` for a metric name of ``names()`` or a callable
    (logged under its ``__name__``). "accuracy" follows the loss's rule when it has one;
    "top_k_accuracy" takes k = min(5, classes)."""
    if isinstance(metric, str):
        name = _ALIASES.get(metric, metric)
        if name not in _NAMED:
            raise ValueError(f"{who}: unknown metric {metric!r}; known: {names()} (or a callable f(y_true, y_pred))")
        if name == "accuracy" and getattr(loss, "accuracy_rule", None) is not None:
            return name, lambda yt, yp: accuracy(yt, yp, loss=loss)
        return name, _NAMED[name]
    if metric is confusion_matrix:
        raise ValueError(f"{who}: confusion_matrix is not a number per epoch; metrics take {names()} or callables")
    if callable(metric):
        name = getattr(metric, "__name__", type(metric).__name__)
        return _ALIASES.get(name, name), metric
    raise TypeError(f"{who}: a metric must be a name of {names()} or a callable, got {type(metric).__name__}")


def value_of(name: str, fn, y_true, y_pred) -> float:
    """fn(y_true, y_pred) as a float (a clear error when it is not a number)."""
    v = fn(y_true, y_pred)
    try:
        return float(v)
    except (TypeError, ValueError):
        raise TypeError(f"metric {name!r} must return a number, got {type(v).__name__}") from None
