"""Metrics on NumPy arrays: accuracy, top-k accuracy, MSE, MAE, confusion matrix."""

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
