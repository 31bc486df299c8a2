"""The lecture's blocks. Shapes: N samples (rows), D features.

Each docstring gives the forward formula, the backward formula for every input
(the vector-Jacobian product for an upstream gradient dy), the shapes, and what
forward caches for backward.
"""
from __future__ import annotations

import numpy as np

from . import _core
from .block import Block, _seed, init_dtype


class Linear(Block):
    r"""Fully connected layer: ``y = x Wᵀ + b`` (the lecture's ``y = W x + b``, one sample per row).

    Backward:
        dL/dx = dy W;   dL/dW += dyᵀ x;   dL/db += Σ_rows dy

    Shapes: x (N, in_features), y (N, out_features); ``params["weight"]`` (out, in) as
    in PyTorch, so weights move between the two unchanged; ``params["bias"]`` (out,).
    Caches: x.

    Args:
        in_features, out_features: sizes.
        bias: learn an additive bias (default True).
        init: ``"glorot_uniform"`` (default: W ~ U(-a, a), a = sqrt(6 / (in + out)), b = 0),
            ``"he_uniform"`` (a = sqrt(6 / in)), ``"he_normal"`` (W ~ N(0, 2 / in)) or
            ``"torch"`` (W, b ~ U(-k, k), k = 1 / sqrt(in), PyTorch's default).
        dtype: np.float32 (default) or np.float64.
        seed: seed of the initialisation (default: drawn from ``bk.manual_seed``'s stream).

    Example:
        >>> lin = bk.Linear(784, 10)
        >>> logits = lin.forward(images)          # (N, 784) -> (N, 10)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 init: str = "glorot_uniform", dtype=None, seed=None):
        for n, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"Linear: {n} must be an int, got {type(v).__name__}")
        in_features, out_features = int(in_features), int(out_features)  # NumPy ints too
        super().__init__(_core.Linear(in_features, out_features, bool(bias), init_dtype(dtype, "Linear"),
                                      str(init), _seed(seed, "Linear")))
        self._cfg = {"in_features": in_features, "out_features": out_features,
                     "bias": bool(bias), "init": str(init)}

    @property
    def in_features(self) -> int:
        return self._cfg["in_features"]

    @property
    def out_features(self) -> int:
        return self._cfg["out_features"]

    def config(self) -> dict:
        return {**self._cfg, **super().config()}


class _Simple(Block):
    _core_cls = None

    def __init__(self, *, dtype=None):
        super().__init__(self._core_cls(init_dtype(dtype, type(self).__name__)))


class ReLU(_Simple):
    r"""Rectified linear unit: ``y = max(0, x)``, elementwise.

    Backward: dL/dx = dy ⊙ 1[y > 0] (gates the gradient; 0 at the kink x = 0).
    Shapes: x, y (N, D). Caches: y.
    """
    _core_cls = _core.ReLU


class Sigmoid(_Simple):
    r"""Logistic sigmoid: ``y = 1 / (1 + e^{-x})``, elementwise, stable for any finite x.

    Backward (from the output): dL/dx = dy ⊙ y (1 − y).
    Shapes: x, y (N, D). Caches: y.
    """
    _core_cls = _core.Sigmoid


class Tanh(_Simple):
    r"""Hyperbolic tangent: ``y = tanh(x)``, elementwise.

    Backward (from the output): dL/dx = dy ⊙ (1 − y²).
    Shapes: x, y (N, D). Caches: y.
    """
    _core_cls = _core.Tanh


class Softmax(_Simple):
    r"""Row-wise softmax: ``y_ij = e^{x_ij} / Σ_k e^{x_ik}`` (max-shifted: stable for ±1e4).

    Backward: dL/dx = y ⊙ (dy − ⟨dy, y⟩), the inner product taken per row.
    Shapes: x, y (N, C). Caches: y.
    """
    _core_cls = _core.Softmax


class LogSoftmax(_Simple):
    r"""Row-wise log-softmax: ``y_ij = x_ij − log Σ_k e^{x_ik}`` (stable log-sum-exp).

    Backward: dL/dx = dy − softmax(x) ⊙ Σ_k dy_ik, with softmax(x) = e^y.
    Shapes: x, y (N, C). Caches: y.
    """
    _core_cls = _core.LogSoftmax


class Hadamard(_Simple):
    r"""Elementwise product of two inputs: ``y = a ⊙ b`` ("learn conditionals: use softmax").

    Backward: dL/da = dy ⊙ b;   dL/db = dy ⊙ a (never by dividing y by an input).
    Shapes: a, b, y (N, D). Caches: a and b.
    ``forward(a, b)`` returns y; ``backward(dy)`` returns the tuple (dL/da, dL/db).
    """
    n_inputs = 2
    _core_cls = _core.Hadamard


class Dropout(Block):
    r"""Inverted dropout: ``y = x ⊙ m``, ``m_ij = 1[u_ij ≥ p] / (1 − p)``, u ~ U[0, 1), in training mode.

    In eval mode (``blk.eval()``) y = x. The expected value of y is x in both modes.
    Backward: dL/dx = dy ⊙ m (the same mask as the forward; dy in eval mode).
    Shapes: x, y (N, D). Caches: the mask m.

    Args:
        p: drop probability in [0, 1).
        seed: seed of the mask stream (default: drawn from ``bk.manual_seed``'s stream).
    """

    def __init__(self, p: float = 0.5, *, dtype=None, seed=None):
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"Dropout: p must be a number, got {type(p).__name__}")
        super().__init__(_core.Dropout(float(p), init_dtype(dtype, "Dropout"), _seed(seed, "Dropout")))
        self._p = float(p)

    @property
    def p(self) -> float:
        return self._p

    def config(self) -> dict:
        return {"p": self._p, **super().config()}
