"""scikit-learn estimators backed by bricks: ``MLPClassifier`` and ``MLPRegressor``.

    >>> from bricks.sklearn import MLPClassifier
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0)
    >>> clf.fit(X_train, y_train).score(X_test, y_test)

They follow scikit-learn's conventions (parameters stored unchanged by ``__init__``,
validated in ``fit``; ``get_params``/``set_params``/``clone``; fitted attributes end
in ``_``), so they work in ``Pipeline``, ``GridSearchCV``, ``cross_val_score``, and
pickle (the bricks network travels as the bytes of its ``.npz`` save file). Inside,
each is a ``bk.Sequential`` of ``Linear`` → activation (→ ``Dropout``) blocks trained
by bricks' native loop (``Model.fit``) with ``SGD``/``Adam``/``AdamW``.

scikit-learn is an optional extra (``pip install "bricks[sklearn]"``); ``import
bricks`` does not need it, only ``import bricks.sklearn`` does.

Differences from ``sklearn.neural_network.MLP*`` worth knowing:

* ``dtype="float32"`` by default (bricks' native precision); predictions are returned
  as float64 arrays, but carry float32 precision (``dtype="float64"`` for more).
* ``alpha`` is an L2 penalty in scikit-learn's scale (the objective is the mean loss
  plus ``alpha / (2 · batch_size) · ‖θ‖²``), applied as the optimizer's
  ``weight_decay``. Unlike scikit-learn it also decays the biases. With
  ``solver="adamw"`` it is AdamW's decoupled decay rate instead (``weight_decay=alpha``).
* ``loss_curve_`` holds the mean training loss per epoch without the penalty term:
  the cross-entropy for the classifier, half the squared error averaged over samples
  and outputs for the regressor (scikit-learn's "squared_error").
* The SGD step, the convergence test (``tol``, ``n_iter_no_change``: an epoch that does
  not improve by ``tol`` counts, more than ``n_iter_no_change`` of them in a row stop)
  and early stopping follow scikit-learn's rules, so ``learning_rate_init`` means the
  same.
* The classifier ends in a softmax over the classes, also for two classes
  (scikit-learn: one logistic output), so ``n_outputs_`` is 2 there and the last of
  ``coefs_`` has two columns. For multilabel targets (an indicator matrix y of 0/1,
  (n_samples, n_labels)) it ends, as scikit-learn's, in one logistic output per label,
  trained on the binary cross-entropy (``bk.BCEWithLogitsLoss``: the sigmoid is folded
  into the loss, as the softmax is into ``bk.CrossEntropyLoss``, so ``model_``
  outputs logits); ``predict`` gives the indicator matrix (probability above 0.5),
  ``predict_proba`` the (n_samples, n_labels) probabilities, ``classes_`` is
  ``arange(n_labels)`` and ``score`` the subset accuracy.
* ``warm_start=True`` as in scikit-learn: ``fit`` again starts from the weights the
  previous fit left (with a new optimizer, as scikit-learn makes), ``loss_curve_``
  grows, ``n_iter_`` counts this fit's epochs, and the stopping rule carries on from
  the previous fit's best loss; the classes (or outputs) and the architecture must be
  those of the previous fit. With ``warm_start=False`` every fit starts over.
* Extra parameters: ``dropout`` (after each hidden activation) and ``dtype``;
  ``solver="adamw"``. Not available: ``solver="lbfgs"``, learning-rate schedules,
  ``beta_1``/``beta_2``/``epsilon`` (Adam's defaults are used).
* ``sample_weight`` (``fit``, ``partial_fit``, ``score``) weighs each sample's loss as
  scikit-learn does: for a full batch the loss is the weighted mean Σ w l / Σ w and the
  L2 penalty is divided by Σ w, so weight 0 is dropping a sample and an integer weight
  repeating it. Minibatches differ slightly: bricks scales the weights to mean 1 over
  the data and each batch's loss is Σ w l / batch size (scikit-learn divides by the
  batch's Σ w).
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("bricks.sklearn needs scikit-learn >= 1.6: pip install 'bricks[sklearn]'") from e

from . import _checks
from .blocks import Dropout, Linear, ReLU, Sigmoid, Tanh
from .callbacks import Callback, put_weights, weights_of
from .sequential import Sequential
from .io import load as _load
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .optim import SGD, Adam, AdamW

__all__ = ["MLPClassifier", "MLPRegressor"]

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "logistic": Sigmoid, "identity": None}
_SOLVERS = ("sgd", "adam", "adamw")
_SPARSE = ("csr", "csc", "coo")


# -- helpers --------------------------------------------------------------------------
def _draw_seed(rng) -> int:
    return int(rng.randint(np.iinfo(np.int32).max))


def _canonical(a, dtype) -> np.ndarray:
    """A C-contiguous array of ``dtype`` whose dtype object is NumPy's own instance.

    Arrays that come through pickle (joblib/loky workers, memmaps) carry an equal
    but distinct dtype object, which bricks' native core does not recognise."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a.view(np.dtype(a.dtype.type))


def _model_to_bytes(model) -> bytes:
    with tempfile.TemporaryDirectory(prefix="bricks-sk-") as d:
        path = os.path.join(d, "model.npz")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def _model_from_bytes(blob: bytes):
    with tempfile.TemporaryDirectory(prefix="bricks-sk-") as d:
        path = os.path.join(d, "model.npz")
        with open(path, "wb") as f:
            f.write(blob)
        return _load(path)


class _NoImprovement(Callback):
    """scikit-learn's stopping rule: an epoch whose training loss is not below the best
    so far minus ``tol`` (or, with a validation set, whose score is not above the best
    plus ``tol``) counts as no improvement, any other epoch resets the count, and
    training stops when the count exceeds ``n_iter_no_change``. With a validation set
    the weights of the best-scoring epoch are restored at the end."""

    def __init__(self, tol, n_iter_no_change, on_score, best=None, count=0):
        self.tol, self.patience, self.on_score = tol, n_iter_no_change, on_score
        self.start_best, self.start_count = best, count  # a warm start carries on from the previous fit

    def on_train_begin(self, logs=None):
        self.count, self.best, self.weights = self.start_count, (-np.inf if self.on_score else np.inf), None
        if self.start_best is not None:
            self.best = self.start_best
            if self.on_score:  # the weights the previous fit kept are the best so far
                self.weights = weights_of(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if self.on_score:
            v = logs["val_score"]
            self.count = self.count + 1 if v < self.best + self.tol else 0
            if v > self.best:
                self.best, self.weights = v, weights_of(self.model)
        else:
            v = logs["train_loss"]
            self.count = self.count + 1 if v > self.best - self.tol else 0
            self.best = min(self.best, v)
        if self.count > self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.weights is not None:
            put_weights(self.model, self.weights)


class _EpochScores(Callback):
    """Adds sklearn-scale metrics to each epoch's logs, before _NoImprovement reads them:
    ``train_loss`` (the loss in scikit-learn's scale) and, with a validation set,
    ``val_score`` (accuracy for classifiers, R² for regressors)."""

    def __init__(self, loss_scale, val=None, classifier=True, val_weight=None):
        self.loss_scale, self.val, self.classifier, self.val_weight = loss_scale, val, classifier, val_weight
        self.losses, self.scores = [], []

    def on_epoch_end(self, epoch, logs=None):
        logs["train_loss"] = logs["loss"] * self.loss_scale
        self.losses.append(logs["train_loss"])
        if self.val is not None:
            Xv, yv = self.val
            if self.classifier and self.val_weight is None:
                score = logs["val_accuracy"]
            elif self.classifier:  # weighted, as scikit-learn scores it (subset accuracy for multilabel)
                right = self.model.loss_block.correct(self.model.predict(Xv), yv)
                score = np.average(right, weights=self.val_weight)
            else:
                score = r2_score(yv, self.model.predict(Xv).astype(np.float64), sample_weight=self.val_weight)
            logs["val_score"] = float(score)
            self.scores.append(float(score))


# -- the shared estimator ---------------------------------------------------------------
class _BaseMLP(BaseEstimator):
    _is_classifier = False

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=1e-4,
        batch_size="auto",
        learning_rate_init=1e-3,
        momentum=0.9,
        nesterovs_momentum=True,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        dropout=0.0,
        verbose=False,
        warm_start=False,
        dtype="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.verbose = verbose
        self.warm_start = warm_start
        self.dtype = dtype

    # -- parameter checks (in fit, as scikit-learn does) --------------------------------
    def _hidden_sizes(self):
        h = self.hidden_layer_sizes
        sizes = [h] if _checks.is_int(h) else h
        try:
            sizes = list(sizes)
        except TypeError:
            sizes = None
        if sizes is None or not all(_checks.is_int(s) and s > 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be a positive int or a sequence of positive ints, got {h!r}")
        return [int(s) for s in sizes]

    def _check_params(self):
        name = type(self).__name__

        def bad(param, want):
            raise ValueError(f"{name}: {param} must be {want}, got {getattr(self, param)!r}")

        self._hidden_sizes()
        try:  # scikit-learn's convention: a bad parameter is a ValueError, whatever its type
            _checks.choice(self.activation, name, "activation", sorted(_ACTIVATIONS))
            _checks.choice(self.solver, name, "solver", _SOLVERS)
            _checks.non_negative_float(self.alpha, name, "alpha")
            if isinstance(self.batch_size, str):
                _checks.choice(self.batch_size, name, "batch_size", ("auto",))
            else:
                _checks.positive_int(self.batch_size, name, "batch_size")
            _checks.positive_float(self.learning_rate_init, name, "learning_rate_init")
            _checks.number(self.momentum, name, "momentum", low=0, high=1)
            for p in ("nesterovs_momentum", "shuffle", "early_stopping", "warm_start"):
                _checks.boolean(getattr(self, p), name, p)
            _checks.positive_int(self.max_iter, name, "max_iter")
            _checks.non_negative_float(self.tol, name, "tol")
            _checks.number(
                self.validation_fraction, name, "validation_fraction", low=0, high=1, low_open=True, high_open=True
            )
            _checks.positive_int(self.n_iter_no_change, name, "n_iter_no_change")
            _checks.probability(self.dropout, name, "dropout")
        except TypeError as e:
            raise ValueError(str(e)) from None
        if not (isinstance(self.verbose, (bool, np.bool_)) or _checks.is_int(self.verbose)):
            bad("verbose", "a bool or an int")
        try:
            dt = np.dtype(self.dtype)
        except TypeError:
            dt = None
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            bad("dtype", "'float32' or 'float64'")
        return dt

    # -- data ------------------------------------------------------------------------
    def _validate_X(self, X, dtype, reset):
        X = validate_data(self, X, accept_sparse=_SPARSE, dtype=dtype, reset=reset)
        return self._dense(X)

    @staticmethod
    def _dense(X):
        if hasattr(X, "toarray"):  # sparse input: the network is dense anyway
            X = X.toarray()
        return _canonical(X, X.dtype)

    def _batch_size(self, n):
        return min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)

    # -- the network ---------------------------------------------------------------------
    def _build(self, n_in, n_out, dtype, rng):
        act = _ACTIVATIONS[self.activation]
        init = "he_uniform" if self.activation == "relu" else "glorot_uniform"
        blocks, width = [], n_in
        for h in self._hidden_sizes():
            blocks.append(Linear(width, h, init=init, dtype=dtype, seed=_draw_seed(rng)))
            if act is not None:
                blocks.append(act(dtype=dtype))
            if self.dropout:
                blocks.append(Dropout(float(self.dropout), dtype=dtype, seed=_draw_seed(rng)))
            width = h
        blocks.append(Linear(width, n_out, init="glorot_uniform", dtype=dtype, seed=_draw_seed(rng)))
        model = Sequential(*blocks)
        model.compile(self._make_loss(dtype), self._make_optimizer(model))
        return model

    def _architecture(self, dtype):
        """What a warm start must find unchanged: the network's shape and dtype."""
        return {
            "hidden_layer_sizes": tuple(self._hidden_sizes()),
            "activation": self.activation,
            "dropout": float(self.dropout),
            "dtype": np.dtype(dtype).name,
        }

    def _make_optimizer(self, model):
        lr = float(self.learning_rate_init)
        if self.solver == "adamw":
            return AdamW(model, lr=lr, weight_decay=float(self.alpha))
        # the gradient of scikit-learn's alpha / (2 · batch) · ‖θ‖², relative to our loss
        # (with sample weights scikit-learn divides by the batch's weight sum instead)
        wd = float(self.alpha) * self._grad_scale / (self._fit_batch_size * self._weight_mean)
        if self.solver == "adam":
            return Adam(model, lr=lr, weight_decay=wd)
        momentum = float(self.momentum)
        # SGD steps scale with the gradient, and ours is _grad_scale times scikit-learn's
        return SGD(
            model,
            lr=lr / self._grad_scale,
            momentum=momentum,
            weight_decay=wd,
            nesterov=bool(self.nesterovs_momentum) and momentum > 0,
        )

    # -- training --------------------------------------------------------------------------
    def _start(self, X, y_enc, n_out, dtype):
        """A fresh network and training record (fit, or partial_fit's first call)."""
        self._rng = check_random_state(self.random_state)
        self._fit_batch_size = self._batch_size(X.shape[0])
        self.n_outputs_ = n_out
        self._model = self._build(X.shape[1], n_out, dtype, self._rng)
        self._fitted_architecture = self._architecture(dtype)
        self.n_layers_ = len(self._hidden_sizes()) + 2
        self.out_activation_ = self._out_activation()
        self._no_improvement_count = 0
        self.loss_curve_ = []
        self.n_iter_ = 0
        self.t_ = 0
        self.best_loss_ = None
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _out_activation(self):
        return "identity"

    def _restart(self, X, sample_weight, dtype):
        """A warm start (fit with ``warm_start=True`` on a fitted estimator): the same
        network, a new optimizer and random state, as scikit-learn's ``fit`` makes them."""
        now = self._architecture(dtype)
        before = getattr(self, "_fitted_architecture", now)
        if now != before:
            changed = {k: (before[k], v) for k, v in now.items() if v != before[k]}
            raise ValueError(
                f"{type(self).__name__}: warm_start=True continues the fitted network, so its "
                + ", ".join(f"{k} must stay {a!r} (got {b!r})" for k, (a, b) in changed.items())
                + "; use warm_start=False to fit a new one"
            )
        self._rng = check_random_state(self.random_state)
        self._fit_batch_size = self._batch_size(X.shape[0])
        self._weight_mean = 1.0 if sample_weight is None else float(sample_weight.mean())
        self._model.optimizer = self._make_optimizer(self._model)
        self.n_iter_ = 0  # scikit-learn counts each fit's epochs; loss_curve_ keeps them all

    def _stratify(self, y_enc):
        return None

    def _train(self, X, y_enc, epochs, incremental, sample_weight=None):
        model, rng = self._model, self._rng
        val = wv = None
        if self.early_stopping and not incremental:
            split = train_test_split(
                *((X, y_enc) if sample_weight is None else (X, y_enc, sample_weight)),
                test_size=float(self.validation_fraction),
                random_state=_draw_seed(rng),
                stratify=self._stratify(y_enc),
            )
            X, Xv, y_enc, yv = split[:4]
            if sample_weight is not None:
                sample_weight, wv = split[4:]
            val = (Xv, yv)
        scores = _EpochScores(self._loss_scale, val, self._is_classifier, wv)
        callbacks = [scores]
        if not incremental:
            on_score = val is not None
            best = self.best_validation_score_ if on_score else self.best_loss_  # None on a first fit
            stop = _NoImprovement(
                float(self.tol), int(self.n_iter_no_change), on_score, best, getattr(self, "_no_improvement_count", 0)
            )
            callbacks.append(stop)
        model.fit(
            X,
            y_enc,
            epochs=int(epochs),
            batch_size=self._batch_size(X.shape[0]),
            shuffle=bool(self.shuffle),
            seed=_draw_seed(rng),
            validation_data=val if wv is None else (*val, wv),
            callbacks=callbacks,
            verbose=2 if self.verbose else 0,
            sample_weight=sample_weight,
        )
        self.loss_curve_ = list(self.loss_curve_) + scores.losses
        self.loss_ = self.loss_curve_[-1]
        self.n_iter_ += len(scores.losses)
        self.t_ += X.shape[0] * len(scores.losses)
        if incremental:
            if not self.early_stopping:
                self.best_loss_ = min(self.loss_curve_)
            return
        self._no_improvement_count = stop.count
        if val is not None:
            self.validation_scores_ = list(self.validation_scores_ or []) + scores.scores
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        else:
            self.best_loss_ = min(self.loss_curve_)
        if not model.stop_training and self.n_iter_ >= self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                f"the optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=4,
            )

    @staticmethod
    def _sample_weight(sample_weight, X):
        """scikit-learn's checks (length, finite, >= 0), and not all zero (nothing to learn)."""
        if sample_weight is None:
            return None
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if not w.any():
            raise ValueError("Sample weights must contain at least one non-zero number (all weights are zero)")
        return w

    _weight_mean = 1.0  # mean sample weight of the first fit: scales the L2 penalty

    def _fit(self, X, y, sample_weight=None):
        dtype = self._check_params()
        if self.warm_start and hasattr(self, "_model"):  # go on from the previous fit's weights
            X, y_enc, _ = self._validate_fit_data(X, y, self._model.dtype, reset=False, warm=True)
            sample_weight = self._sample_weight(sample_weight, X)
            self._restart(X, sample_weight, dtype)
        else:
            X, y_enc, n_out = self._validate_fit_data(X, y, dtype, reset=True)
            sample_weight = self._sample_weight(sample_weight, X)
            self._weight_mean = 1.0 if sample_weight is None else float(sample_weight.mean())
            self._start(X, y_enc, n_out, dtype)
        self._train(X, y_enc, self.max_iter, incremental=False, sample_weight=sample_weight)
        return self

    def _partial_fit(self, X, y, classes=None, sample_weight=None):
        dtype = self._check_params()
        first = not hasattr(self, "_model")
        if first:
            X, y_enc, n_out = self._validate_fit_data(X, y, dtype, reset=True, classes=classes)
            sample_weight = self._sample_weight(sample_weight, X)
            self._weight_mean = 1.0 if sample_weight is None else float(sample_weight.mean())
            self._start(X, y_enc, n_out, dtype)
        else:
            X, y_enc, _ = self._validate_fit_data(X, y, self._model.dtype, reset=False, classes=classes)
            sample_weight = self._sample_weight(sample_weight, X)
        self._train(X, y_enc, 1, incremental=True, sample_weight=sample_weight)
        return self

    def _outputs(self, X):
        check_is_fitted(self)
        X = self._validate_X(X, self._model.dtype, reset=False)
        return self._model.predict(X).astype(np.float64)

    # -- the fitted network -----------------------------------------------------------
    def _linears(self):
        check_is_fitted(self)
        return [b for b in self._model.blocks if isinstance(b, Linear)]

    @property
    def coefs_(self):
        """Weight matrices in scikit-learn's layout, (n_in, n_out) per layer (copies)."""
        return [np.array(b.params["weight"].T) for b in self._linears()]

    @property
    def intercepts_(self):
        """Bias vectors per layer (copies)."""
        return [np.array(b.params["bias"]) for b in self._linears()]

    @property
    def model_(self):
        """The trained ``bk.Sequential`` (shared, not a copy)."""
        check_is_fitted(self)
        return self._model

    # -- pickling: native objects travel as the bytes of bricks' save format -----------
    def __getstate__(self):
        state = dict(super().__getstate__())
        model = state.pop("_model", None)
        if model is not None:
            state["_model_npz"] = _model_to_bytes(model)
        return state

    def __setstate__(self, state):
        state = dict(state)
        blob = state.pop("_model_npz", None)
        super().__setstate__(state)
        if blob is not None:
            self._model = _model_from_bytes(blob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (binary, multiclass and multilabel), trained by bricks.

    The network is ``Linear → activation (→ Dropout)`` per hidden layer, then a
    ``Linear`` with one output per class; it is trained on the cross-entropy of the
    softmax (``bk.CrossEntropyLoss``). Labels may be of any type (ints, strings, ...):
    ``classes_`` holds them sorted, and they are encoded as 0..K-1.

    Multilabel targets, an indicator matrix y of 0/1 (n_samples, n_labels) as
    ``sklearn.datasets.make_multilabel_classification`` gives, are learned as
    scikit-learn does: one logistic output per label, trained on the binary
    cross-entropy (``bk.BCEWithLogitsLoss``); ``classes_`` is ``arange(n_labels)``,
    ``predict`` returns the indicator matrix (1 where the probability is above 0.5),
    ``predict_proba`` the (n_samples, n_labels) probabilities and ``score`` the subset
    accuracy (every label of a sample right).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer; ``()`` gives softmax regression.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    solver : {"sgd", "adam", "adamw"}, default="adam"
    alpha : float, default=1e-4
        L2 penalty in scikit-learn's scale (see the module docstring).
    batch_size : int or "auto", default="auto"
        ``min(200, n_samples)`` for "auto"; larger values are clipped to n_samples.
    learning_rate_init : float, default=1e-3
    momentum : float, default=0.9
        SGD momentum; ``nesterovs_momentum`` (default True) for Nesterov's.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    random_state : int, RandomState or None, default=None
        Seeds the initial weights, the shuffling, dropout and the validation split.
    tol, n_iter_no_change : float, int, default=1e-4, 10
        Training stops when the loss (or, with ``early_stopping``, the validation
        accuracy) has not improved by ``tol`` for ``n_iter_no_change`` epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (default 0.1, stratified) and stop on its
        accuracy; the weights of the best epoch are kept.
    dropout : float, default=0.0
        Dropout rate after each hidden activation (training only).
    verbose : bool, default=False
        A line per epoch on stderr.
    warm_start : bool, default=False
        When True, ``fit`` on a fitted estimator continues from its weights (same
        classes and architecture; a new optimizer; ``loss_curve_`` grows), as
        scikit-learn's; when False, every ``fit`` starts over.
    dtype : {"float32", "float64"}, default="float32"

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_ (for DataFrames), n_outputs_, n_layers_,
    loss_, loss_curve_, n_iter_, t_ (samples seen), best_loss_, validation_scores_,
    best_validation_score_, out_activation_, coefs_, intercepts_, model_ (the bricks
    network).
    """

    _is_classifier = True
    _loss_scale = 1.0  # both cross-entropies are scikit-learn's log losses (summed over labels)
    _grad_scale = 1.0
    _multilabel = False

    def _make_loss(self, dtype):
        return BCEWithLogitsLoss(dtype=dtype) if self._multilabel else CrossEntropyLoss(dtype=dtype)

    def _out_activation(self):
        return "logistic" if self._multilabel else "softmax"

    def _stratify(self, y_enc):
        return None if self._multilabel else y_enc  # as scikit-learn: no stratified multilabel split

    def _validate_fit_data(self, X, y, dtype, reset, classes=None, warm=False):
        X, y = validate_data(self, X, y, accept_sparse=_SPARSE, dtype=dtype, reset=reset, multi_output=True)
        X = self._dense(X)
        if hasattr(y, "toarray"):  # a sparse indicator matrix
            y = y.toarray()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(
                f"{type(self).__name__} supports binary, multiclass and multilabel-indicator targets, got {kind!r}"
            )
        multilabel = kind == "multilabel-indicator"
        if not reset and multilabel != self._multilabel:
            raise ValueError(
                f"y is {'a multilabel indicator matrix' if multilabel else 'a vector of labels'}, but "
                f"{type(self).__name__} was fitted on {'multilabel' if self._multilabel else 'single-label'} targets"
            )
        if multilabel:
            return X, self._indicator(y, dtype, reset, classes), y.shape[1]
        if warm:  # scikit-learn's rule: a warm start sees the same classes
            if set(unique_labels(y)) != set(self.classes_):
                raise ValueError(
                    f"warm_start can only be used where `y` has the same classes as in the previous call "
                    f"to fit. Previously got {self.classes_}, `y` has {unique_labels(y)}"
                )
        if classes is not None:
            classes = unique_labels(classes)
            if hasattr(self, "classes_") and not reset and not np.array_equal(self.classes_, classes):
                raise ValueError(f"classes={classes!r} is not the same as on the previous call ({self.classes_!r})")
        if reset:
            if classes is None:
                classes = unique_labels(y)
            if len(classes) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes, but "
                    f"the data contains only one class: {classes[0]!r}"
                )
            self.classes_ = classes
            self._multilabel = False
        missing = np.setdiff1d(unique_labels(y), self.classes_)
        if len(missing):
            raise ValueError(f"y contains labels not in classes_ {self.classes_!r}: {missing!r}")
        y_enc = np.searchsorted(self.classes_, y).astype(np.int64)
        return X, y_enc, len(self.classes_)

    def _indicator(self, y, dtype, reset, classes):
        """A multilabel indicator matrix as the network's 0/1 targets; ``classes_`` is
        ``arange(n_labels)``, as scikit-learn sets it."""
        labels = np.arange(y.shape[1])
        if classes is not None and not np.array_equal(unique_labels(classes), labels):
            raise ValueError(
                f"for multilabel targets of {y.shape[1]} columns classes must be their indices "
                f"{labels!r}, got {np.asarray(classes)!r}"
            )
        if reset:
            self.classes_, self._multilabel = labels, True
        elif y.shape[1] != len(self.classes_):
            raise ValueError(
                f"y has {y.shape[1]} labels, but {type(self).__name__} was fitted with {len(self.classes_)} "
                f"(classes_ {self.classes_!r})"
                + ("; warm_start can only be used where `y` has the same classes" if self.warm_start else "")
            )
        return _canonical(y, dtype)

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y) for up to ``max_iter`` epochs, each sample's loss weighted by
        ``sample_weight`` (n_samples,) if given: from scratch, or with ``warm_start=True``
        from the weights of the previous fit. ``y``: labels (n_samples,), or a multilabel
        indicator matrix (n_samples, n_labels). Returns self."""
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state.

        ``classes`` (every label that will ever appear) is required on the first call
        (unless the estimator was fitted before)."""
        if classes is None and not hasattr(self, "classes_"):
            raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._partial_fit(X, y, classes, sample_weight)

    def _log_proba(self, X):
        z = self._outputs(X)
        if self._multilabel:  # log σ(z) = −log(1 + e^{−z}), stable for either sign
            return -np.logaddexp(0.0, -z)
        z -= z.max(axis=1, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
        return z

    def predict(self, X):
        """The most probable class label per row; for multilabel targets, the indicator
        matrix (n_samples, n_labels) of the labels whose probability is above 0.5."""
        out = self._outputs(X)
        if self._multilabel:
            return (out > 0).astype(int)  # σ(z) > 0.5
        return self.classes_[np.argmax(out, axis=1)]

    def predict_log_proba(self, X):
        """Log of the class probabilities (log-softmax of the logits), (n_samples, n_classes);
        for multilabel targets, of each label's probability (log-sigmoid), (n_samples, n_labels)."""
        return self._log_proba(X)

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), (n_samples, n_classes), columns in
        the order of ``classes_``; for multilabel targets, each label's probability
        (sigmoid of its logit), (n_samples, n_labels), rows not summing to 1."""
        return np.exp(self._log_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (one or several outputs), trained by bricks.

    The network is ``Linear → activation (→ Dropout)`` per hidden layer, then a
    linear output layer; it is trained on the squared error (``bk.MSELoss``). ``y``
    may be 1-D (predictions are then 1-D) or 2-D (n_samples, n_outputs). Targets are
    not rescaled: standardise them when their scale is far from 1.

    Parameters and attributes: as `MLPClassifier` (without ``classes_``; with
    ``early_stopping`` the validation score is R²; with ``warm_start=True`` a new fit
    must have as many outputs as the previous one).
    """

    _is_classifier = False

    @property
    def _loss_scale(self):
        # bricks' MSELoss sums over outputs and averages over samples; scikit-learn's
        # squared_error is half the mean over samples and outputs
        return 1.0 / (2.0 * self.n_outputs_)

    @property
    def _grad_scale(self):
        # scikit-learn's output delta is (p − t) / N whatever the number of outputs; the
        # gradient of our MSELoss is 2 (p − t) / N
        return 2.0

    @staticmethod
    def _make_loss(dtype):
        return MSELoss(dtype=dtype)

    def _validate_fit_data(self, X, y, dtype, reset, classes=None, warm=False):
        X, y = validate_data(
            self, X, y, accept_sparse=_SPARSE, dtype=dtype, reset=reset, multi_output=True, y_numeric=True
        )
        X = self._dense(X)
        y = np.asarray(y)
        y_1d = y.ndim == 1
        y2 = _canonical(y.reshape(-1, 1) if y_1d else y, dtype)
        if reset:
            self._y_1d = y_1d
            self.n_outputs_ = y2.shape[1]
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} output(s), but {type(self).__name__} was fitted with {self.n_outputs_}"
            )
        return X, y2, y2.shape[1]

    def fit(self, X, y, sample_weight=None):
        """Train on (X, y) for up to ``max_iter`` epochs, each sample's loss weighted by
        ``sample_weight`` (n_samples,) if given: from scratch, or with ``warm_start=True``
        from the weights of the previous fit. Returns self."""
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimizer state."""
        return self._partial_fit(X, y, None, sample_weight)

    def predict(self, X):
        """Predictions, (n_samples,) when fitted on 1-D y, else (n_samples, n_outputs)."""
        out = self._outputs(X)
        return out.ravel() if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
