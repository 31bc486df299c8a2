"""Losses: blocks with two inputs (prediction, target) and a scalar output.

Reduction: the mean over the batch (N rows) of a per-sample sum over features.
``L = loss.forward(pred, target)`` returns a float; ``dpred, dtarget = loss.backward()``
returns the gradients of L (times ``dL``, default 1) w.r.t. both inputs: targets
learn too, as in the lecture. Integer class labels get ``None``. Targets may be bool
arrays (read as 0/1); predictions must be numbers.

Sample weights: ``loss.sample_weight = w`` (one finite weight >= 0 per row of the next
batches; ``None`` for none) scales each sample's loss before the mean,
``L = (1/N) Σ_i w_i l_i`` (Keras's "sum_over_batch_size"), and its gradient rows
likewise; the weights get no gradient. ``fit`` and ``evaluate`` set them per batch
from their ``sample_weight=``/``class_weight=`` (see training.md) and clear them after.
"""

from __future__ import annotations

import numpy as np

from . import _checks, _core
from ._arrays import as_array, as_float_matrix, as_labels, check_binary_targets
from .block import Block, init_dtype


class Loss(Block, abstract=True):
    """Base of the losses. Each loss declares what it implies, and every part of bricks
    (fit's counters, evaluate, ``bk.metrics.accuracy``, predict_proba, the estimators,
    the CLI) reads it from here:

    - ``target_kind``: what the target holds, ``"values"``, ``"probabilities"`` (0/1
      or in [0, 1], per output) or ``"labels"`` (class labels, or one-hot rows);
    - ``probability_map``: how a prediction becomes class probabilities, ``None`` (not
      a classifier), ``"identity"`` (it is one), ``"sigmoid"`` or ``"softmax"``;
    - ``accuracy_rule``: ``None`` (no accuracy), ``"argmax"`` (the highest score is the
      class), or a number: the threshold a prediction must exceed to say 1 (0 for
      logits, 0.5 for probabilities).
    """

    n_inputs = 2
    _core_cls = None
    target_kind = "values"
    probability_map = None
    accuracy_rule = None

    @property
    def _binary(self) -> bool:  # integer targets must be 0/1 labels
        return self.target_kind == "probabilities"

    def probabilities(self, pred) -> np.ndarray:
        """Class probabilities from predictions (N, C), by ``probability_map``."""
        p = np.asarray(pred)
        if self.probability_map == "softmax":
            e = np.exp(p - p.max(1, keepdims=True))
            return e / e.sum(1, keepdims=True)
        if self.probability_map == "sigmoid":
            return 1.0 / (1.0 + np.exp(-p))
        if self.probability_map == "identity":
            return p
        raise ValueError(f"{type(self).__name__} is not a classification loss: its predictions are not probabilities")

    def correct(self, pred, target) -> np.ndarray:
        """Per sample, whether the prediction is right by ``accuracy_rule`` (bool (N,)).
        The one definition of accuracy in bricks: fit counts the same natively."""
        pred, target = np.asarray(pred), np.asarray(target)
        rule = self.accuracy_rule
        if rule is None:
            raise ValueError(f"{type(self).__name__} has no accuracy (a regression loss)")
        if pred.ndim == 1:
            pred = pred[:, None]
        if rule == "argmax":
            labels = target.argmax(1) if target.ndim == 2 else target
            return pred.argmax(1) == labels
        if target.ndim == 1:
            target = target[:, None]
        return ((pred > rule) == (target > 0.5)).all(1)

    _sample_weight = None
    _adopts_dtype = True  # built without dtype=: takes the model's (compile) or its inputs'

    def __init__(self, *, dtype=None):
        super().__init__(self._core_cls(init_dtype(dtype, type(self).__name__)))

    def _as_input(self, x, i):
        if i == 1 and self._binary and not isinstance(x, (str, bytes)) and x is not None:
            x = as_array(x, self.name, "input 1")
            check_binary_targets(x, self.name, type(self).__name__, "input 1 (targets)")
        # targets (input 1) may be bool, read as 0/1; predictions must be numbers
        return as_float_matrix(x, self.dtype, self.name, f"input {i}", bool_ok=i == 1)

    @property
    def sample_weight(self):
        """Per-sample weights of the next forwards (a (N,) float64 copy), or None."""
        return self._sample_weight if getattr(self._core, "has_sample_weight", False) else None

    @sample_weight.setter
    def sample_weight(self, w):
        if w is None:
            self._core.set_sample_weight(None)
            self._sample_weight = None
            return
        w = _checks.weights(w, self.name, "sample_weight", all_zero_ok=True)
        if not getattr(self._core, "supports_sample_weight", False):
            raise ValueError(f"{self.name}: this loss does not take sample weights")
        self._core.set_sample_weight(w)
        self._sample_weight = w

    def forward(self, *inputs) -> float:
        """``forward(pred, target)``: the loss value L for a batch (weighted by
        ``sample_weight`` when set: it must have one entry per row)."""
        super().forward(*inputs)
        return self._runner.loss_value  # the double the loss was summed in, not its float32 rounding

    def backward(self, dL: float = 1.0):
        """(dL/dpred, dL/dtarget), scaled by ``dL``."""
        dL = _checks.number(dL, self.name, "dL")
        return super().backward(np.full((1, 1), dL, dtype=self.dtype))


class MSELoss(Loss):
    r"""The lecture's quadratic loss: ``L = (1/N) Σ_i ‖x_i − t_i‖²``.

    Reduction: summed over the D features, averaged over the N samples, so for D > 1
    it is D times PyTorch's default ``MSELoss()`` (``reduction="mean"`` divides by N·D);
    the two agree for one output column.
    Backward: dL/dx = 2 (x − t) / N;   dL/dt = 2 (t − x) / N (learn the targets).
    Shapes: x, t (N, D); L a float. Caches: x and t.
    """

    _core_cls = _core.MSELoss
    target_kind = "values"


class BCELoss(Loss):
    r"""Binary cross-entropy from probabilities p ∈ [0, 1]:
    ``L = −(1/N) Σ_ij [t log p + (1 − t) log(1 − p)]``, each log clamped at −100 (as PyTorch).

    Reduction: summed over the D features, averaged over the N samples, so for D > 1
    it is D times PyTorch's default ``BCELoss()`` (``reduction="mean"`` divides by N·D);
    the two agree for one output column.
    Targets t in [0, 1]; bool targets read as 0/1, and integer targets other than 0/1
    are a ValueError (class labels of more classes belong to CrossEntropyLoss).
    Backward: dL/dp = (p − t) / (N · max(p (1 − p), 1e-12));
    dL/dt = (log(1 − p) − log p) / N.
    Shapes: p, t (N, D); L a float. Caches: t, log p and log(1 − p).
    Predictions outside [0, 1] are a ValueError (use BCEWithLogitsLoss on logits).
    """

    _core_cls = _core.BCELoss
    target_kind, probability_map, accuracy_rule = "probabilities", "identity", 0.5


class BCEWithLogitsLoss(Loss):
    r"""Binary cross-entropy from logits x (the sigmoid folded in, stable for any x):
    ``L = (1/N) Σ_ij [max(x, 0) − x t + log(1 + e^{−|x|})]``.

    Reduction: summed over the D features, averaged over the N samples, so for D > 1
    it is D times PyTorch's default ``BCEWithLogitsLoss()`` (``reduction="mean"``
    divides by N·D); the two agree for one output column.
    Targets t in [0, 1]; bool targets read as 0/1, and integer targets other than 0/1
    are a ValueError (class labels of more classes belong to CrossEntropyLoss).
    Backward: dL/dx = (σ(x) − t) / N;   dL/dt = −x / N.
    Shapes: x, t (N, D); L a float. Caches: x and t.
    """

    _core_cls = _core.BCEWithLogitsLoss
    target_kind, probability_map, accuracy_rule = "probabilities", "sigmoid", 0.0


class CrossEntropyLoss(Loss):
    r"""Cross-entropy from logits x (log-softmax folded in, stable log-sum-exp).

    With integer class labels y (N,):  ``L = −(1/N) Σ_i log softmax(x_i)[y_i]``;
    with probability rows t (N, C):    ``L = −(1/N) Σ_ij t_ij log softmax(x_i)_j``.

    Backward: dL/dx = (softmax(x) − onehot(y)) / N for labels (they get no gradient:
    ``None``); for rows dL/dx = (softmax(x) · Σ_j t_ij − t) / N, which is
    (softmax(x) − t) / N when rows sum to 1, and dL/dt = −log softmax(x) / N
    (backprop into the labels). Rows need not sum to 1: the formulas stay exact.
    Shapes: x (N, C); L a float. Caches: log softmax(x) and the target.

    ``weight`` (C,), class weights c as PyTorch's ``weight=`` (finite, >= 0, not all 0):
    for labels the weighted mean ``L = −Σ_i c_{y_i} log softmax(x_i)[y_i] / Σ_i c_{y_i}``,
    dL/dx_i = c_{y_i} (softmax(x_i) − onehot(y_i)) / Σ_i c_{y_i} (a batch whose classes
    all weigh 0 has L = 0 and no gradient, where PyTorch gives NaN); for rows
    ``L = −(1/N) Σ_ij c_j t_ij log softmax(x_i)_j``, dL/dx_ij = (softmax(x_i)_j Σ_k c_k t_ik
    − c_j t_ij) / N, dL/dt_ij = −c_j log softmax(x_i)_j / N. Sample weights s_i multiply
    sample i's term (and gradient rows) on top; the denominators stay as written.
    """

    _core_cls = _core.CrossEntropyLoss
    target_kind, probability_map, accuracy_rule = "labels", "softmax", "argmax"

    def __init__(self, weight=None, *, dtype=None):
        dt = init_dtype(dtype, "CrossEntropyLoss")
        w = None if weight is None else _checks.weights(weight, "CrossEntropyLoss", "weight")
        if w is not None and w.size == 0:
            raise ValueError("CrossEntropyLoss: weight must have one entry per class, got an empty array")
        Block.__init__(self, _core.CrossEntropyLoss(dt, [] if w is None else w.tolist()))
        self._weight = w

    @property
    def weight(self):
        """The class weights (a (C,) float64 copy), or None."""
        return None if self._weight is None else self._weight.copy()

    def config(self) -> dict:
        return {**({"weight": self._weight.tolist()} if self._weight is not None else {}), **super().config()}

    def _as_input(self, x, i):
        if i == 1:
            a = as_array(x, self.name, "input 1")
            if a.ndim == 1 or a.dtype.kind in "iu":
                return as_labels(a, self.name, "class labels")
        return super()._as_input(x, i)


# -- losses by name, for compile(loss="...") (Keras and PyTorch spellings) ----------------
# name -> (loss class, or None for "BCELoss after a final Sigmoid, BCEWithLogitsLoss otherwise")
_BY_NAME = {
    "cross_entropy": CrossEntropyLoss,
    "crossentropy": CrossEntropyLoss,
    "categorical_crossentropy": CrossEntropyLoss,
    "sparse_categorical_crossentropy": CrossEntropyLoss,
    "crossentropyloss": CrossEntropyLoss,
    "binary_crossentropy": None,
    "bce": None,
    "bceloss": BCELoss,
    "bce_with_logits": BCEWithLogitsLoss,
    "bcewithlogitsloss": BCEWithLogitsLoss,
    "mse": MSELoss,
    "mean_squared_error": MSELoss,
    "mseloss": MSELoss,
}


def names() -> list:
    """The loss names ``compile(loss=...)`` takes (lower case; ``-`` reads as ``_``)."""
    return sorted(_BY_NAME)


def _spelling(name: str, known, who: str, what: str) -> str:
    """``name`` normalised (lower case, ``-`` as ``_``) if known, else a ValueError listing
    the known names (and the closest one)."""
    key = name.strip().lower().replace("-", "_")
    if key in known:
        return key
    import difflib  # here, not at import: only a misspelled name needs it

    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{who}: unknown {what} {name!r}{hint}; known: {sorted(known)}")


def from_name(name: str, who: str = "compile", *, dtype=None, ends_in_sigmoid: bool = False) -> Loss:
    """A new loss block for a name of ``names()``.

    Every cross-entropy name (Keras's ``"categorical_crossentropy"`` and
    ``"sparse_categorical_crossentropy"``, PyTorch-ish ``"cross_entropy"``) gives
    `CrossEntropyLoss`, which takes **logits** and class labels or one-hot rows: end
    the model with the last Linear, not with Softmax. ``"binary_crossentropy"`` and
    ``"bce"`` give `BCELoss` (probabilities, as Keras's default) when the model ends in
    Sigmoid (``ends_in_sigmoid``), and `BCEWithLogitsLoss` otherwise; ``"bce_with_logits"``
    is always `BCEWithLogitsLoss`. ``"mse"``/``"mean_squared_error"`` give `MSELoss`.
    """
    if not isinstance(name, str):
        raise TypeError(f"{who}: a loss name must be a str, got {type(name).__name__}")
    cls = _BY_NAME[_spelling(name, _BY_NAME, who, "loss")]
    if cls is None:
        cls = BCELoss if ends_in_sigmoid else BCEWithLogitsLoss
    return cls(dtype=dtype)
