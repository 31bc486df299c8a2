"""The training loop: ``Model.fit`` / ``evaluate`` / ``predict``.

Batches run natively: Python calls the core once per chunk of batches (about a
tenth of a second of work, so that the progress bar moves and Ctrl-C is honoured
within a second), never once per block.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time

import numpy as np

from . import _checks, _core, optim
from . import distributed as _dist
from . import metrics as _metrics
from ._arrays import as_array, as_float_matrix, as_labels, check_binary_targets, check_out, onehot_to_labels
from .blocks import Sigmoid, Softmax
from .callbacks import Callback, LambdaCallback, LearningRateScheduler, ReduceLROnPlateau
from .optim import check_optimizer


_LR_CALLBACKS = (ReduceLROnPlateau, LearningRateScheduler)  # with one, fit logs "lr"


def _interruptible() -> bool:
    """Whether Ctrl-C may be caught natively: in the main thread, with Python's
    default SIGINT handler (the core then stops at the next block, drops the batch
    in progress before its update, and raises KeyboardInterrupt)."""
    import signal
    import threading

    return (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )


class History(Callback):
    """Per-epoch logs: ``history.history["loss"]``, ``["val_accuracy"]``, ...; ``history.epoch``."""

    def __init__(self):
        self.history, self.epoch = {}, []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (IPython imported, its shell has a kernel)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython too old or half imported: not a notebook we know
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


class _Progress:
    """verbose="auto": a tqdm bar when stderr is a terminal or in a Jupyter notebook,
    else silent (logs stay clean); 1: the bar on a terminal or in a notebook (with
    tqdm), else a line per epoch; 2: a line per epoch; 0: silent. The bar is
    ``tqdm.auto``'s: a notebook widget in Jupyter, text on a terminal."""

    def __init__(self, verbose, epochs, n):
        self.tty = (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()) or _in_notebook()
        if verbose == "auto":
            verbose = 1 if self.tty else 0
        self.verbose, self.epochs, self.n, self.bar = verbose, epochs, n, None
        try:
            import tqdm.auto  # noqa: F401

            self.has_tqdm = True
        except ImportError:
            self.has_tqdm = False

    def start(self, epoch):
        self.t0 = time.perf_counter()
        if self.verbose == 1 and self.tty and self.has_tqdm:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=self.n,
                desc=f"epoch {epoch + 1}/{self.epochs}",
                unit="sample",
                unit_scale=True,
                leave=True,
                file=sys.stderr,
                dynamic_ncols=True,
            )

    def update(self, k, logs):
        if self.bar is not None:
            self.bar.update(k)
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def end(self, epoch, logs, samples):
        dt = time.perf_counter() - self.t0
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()})
            self.bar.close()
            self.bar = None
        elif self.verbose:
            parts = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            took = f"{dt:.2f}s" if dt >= 1 else f"{dt * 1000:.0f}ms"
            print(
                f"epoch {epoch + 1}/{self.epochs} - {took} - {samples / max(dt, 1e-9):,.0f} samples/s - {parts}",
                file=sys.stderr,
                flush=True,
            )


def _check_label_ranges(model, arrays):
    for node, a in zip(model.inputs, arrays):
        k = model.label_classes(node) if node.labels else None
        if k is None or a.size == 0:
            continue
        bad = np.flatnonzero((a < 0) | (a >= k))
        if bad.size:
            loss = next(type(n.block).__name__ for n in model.losses if n.inputs[1] is node)
            raise ValueError(
                f"{loss}: {node.name!r}: class label {a[bad[0]]} at row {bad[0]} is out "
                f"of range [0, {k}) (the prediction has {k} columns)"
            )


def _data_list(X, n_inputs):
    """X as a list of input arrays: a list or tuple means several inputs only when the
    model has several (a single-input model takes a list of rows as one array)."""
    if isinstance(X, (list, tuple)):
        if n_inputs != 1:
            return list(X)
        if len(X) == 1 and isinstance(X[0], np.ndarray) and X[0].ndim == 2:
            return list(X)  # [X]: the one input, listed
    return [X]


def _column(node, a):
    """(N,) data for a one-feature input is that column, as Keras and scikit-learn take it."""
    if not node.labels and node.features == 1 and not isinstance(a, (str, bytes)) and a is not None:
        a = as_array(a, f"{node.name!r}", "data")
        if a.ndim == 1:
            return a.reshape(-1, 1)
    return a


def _as_input_list(model, X, y, who="fit"):
    """The arrays for the model's inputs, converted once (no copy when they fit)."""
    xs = _data_list(X, len(model.inputs) - (y is not None))
    if y is not None:
        xs.append(y)
    if len(xs) != len(model.inputs):
        raise ValueError(
            f"{who}: the model has {len(model.inputs)} inputs ({[n.name for n in model.inputs]}), got {len(xs)} arrays"
        )
    out = []
    for node, a in zip(model.inputs, xs):
        who = f"{node.name!r}"
        loss = model.target_of(node)
        if not isinstance(a, (np.ndarray, str, bytes)) and a is not None:  # lists: once, named
            a = as_array(a, who, "class labels" if node.labels else "data")
        if loss is not None and loss.target_kind == "probabilities" and isinstance(a, np.ndarray):
            check_binary_targets(a, who, type(loss).__name__)
        a = _column(node, a)
        if node.labels:
            k = model.label_classes(node)
            out.append(as_labels(onehot_to_labels(a, who, k), who, "class labels", k))
        else:  # targets may be bool (True/False as 1/0), data must be numbers
            out.append(as_float_matrix(a, model.dtype, who, "data", bool_ok=loss is not None))
    return out


def _accuracy_mode(model):
    """The loss's accuracy rule (Loss.accuracy_rule) as fit's native counters take it:
    (mode, index of the target input, threshold)."""
    rule = getattr(model.loss_block, "accuracy_rule", None)
    labels_input = len(model.inputs) - 1
    if rule == "argmax" and model.inputs[-1].labels:  # probability-row targets: no accuracy
        return _core.Accuracy.argmax, labels_input, 0.0
    if rule is not None and rule != "argmax":
        return _core.Accuracy.threshold, labels_input, float(rule)
    return _core.Accuracy.none, -1, 0.0


def _class_of_samples(model, data, who):
    """The class of each sample (int64 (N,)) and the number of classes, from the one
    loss's targets, as Keras reads them: labels as they are, rows by argmax, one 0/1
    column rounded."""
    if len(model.losses) != 1:
        raise ValueError(
            f"{who}: class_weight needs a model with one loss, this one has {len(model.losses)}; "
            f"pass sample_weight instead"
        )
    node = model.losses[0].inputs[1]
    loss = model.losses[0].block
    if loss.target_kind == "values" or node not in model.inputs:
        raise ValueError(
            f"{who}: class_weight needs class targets, but {type(loss).__name__}'s targets are "
            f"values; pass sample_weight instead"
        )
    t = data[model.inputs.index(node)]
    if node.labels:
        return t.reshape(-1), model.label_classes(node)
    if t.shape[1] == 1:
        return (t[:, 0] > 0.5).astype(np.int64), 2
    if loss.target_kind == "probabilities":
        raise ValueError(
            f"{who}: class_weight needs one class per sample, but {type(loss).__name__} has "
            f"{t.shape[1]} independent 0/1 targets per sample; pass sample_weight instead"
        )
    return t.argmax(1).astype(np.int64), t.shape[1]


def _class_weight_table(class_weight, k, who):
    """class_weight (a dict {class: weight}, missing classes weighing 1, or an array
    (k,)) as a float64 array (k,)."""
    if isinstance(class_weight, dict):
        table = np.ones(k)
        for c, w in class_weight.items():
            c = _checks.integer(c, who, "class_weight's classes", low=0, high=k - 1)
            table[c] = _checks.number(w, who, f"class_weight[{c}]", low=0, finite=True)
        return table
    return _checks.weights(class_weight, who, "class_weight", n=k, all_zero_ok=True)


def _sample_weights(model, data, n, sample_weight, class_weight, who):
    """The per-sample weights the losses get (float64 (n,), scaled to mean 1) from
    sample_weight and class_weight (multiplied, as Keras does), or None for neither."""
    if sample_weight is None and class_weight is None:
        return None
    for blk in model.loss_blocks:
        if not getattr(blk._core, "supports_sample_weight", False):
            raise ValueError(f"{who}: {type(blk).__name__} does not take sample weights")
    w = (
        np.ones(n)
        if sample_weight is None
        else _checks.weights(sample_weight, who, "sample_weight", n=n, all_zero_ok=True)
    )
    if class_weight is not None:
        y, k = _class_of_samples(model, data, who)
        w = w * _class_weight_table(class_weight, k, who)[y]
    if not w.any():
        raise ValueError(f"{who}: the sample weights are all zero (with class_weight applied): nothing to learn from")
    # mean 1: a full batch's loss is then the weighted mean sum(w l) / sum(w), and
    # scaling every weight changes nothing (see training.md)
    return np.ascontiguousarray(w * (n / w.sum()))


def _metric_list(model, extra, who):
    """The metrics fit/evaluate log beyond loss and the native accuracy: compile's then
    the call's, as [(name, fn(y_true, y_pred))]."""
    names = list(getattr(model, "metrics", ()) or ())
    if extra is not None:
        if isinstance(extra, (str, bytes)) or callable(extra) or not hasattr(extra, "__iter__"):
            extra = [extra]
        names += list(extra)
    out, seen = [], set()
    for m in names:
        name, fn = _metrics.resolve(m, who, loss=model.loss_block)
        if name in seen:
            continue
        seen.add(name)
        out.append((name, fn))
    if out and len(model.losses) != 1:
        raise ValueError(f"{who}: metrics need a model with one loss, this one has {len(model.losses)}")
    if out:
        _metric_target(model)
    return out


def _reseed_dropout(model, seed):
    ss = np.random.SeedSequence(seed)
    for child, blk in zip(ss.spawn(len(model.blocks)), model.blocks):
        if hasattr(blk._core, "reseed"):
            blk._core.reseed(int(child.generate_state(1, np.uint64)[0]))


def fit(
    model,
    X,
    y=None,
    *,
    loss=None,
    optimizer=None,
    epochs=1,
    batch_size=32,
    shuffle=True,
    seed=None,
    validation_data=None,
    validation_split=0.0,
    callbacks=(),
    verbose="auto",
    on_nonfinite="raise",
    sample_weight=None,
    class_weight=None,
    metrics=None,
    distributed=False,
):
    settings = {k: v for k, v in locals().items() if k not in ("model", "X", "y", "distributed")}
    # without mpi4py, _Reducer raises an ImportError that says how to install it
    red = _dist._Reducer() if distributed else None
    with _coordinated(red, "fit"):  # one rank's bad argument or data stops every rank
        prep = _prepare(model, X, y, red, **settings)
    if red is None:
        return _train(model, red, *prep)
    _dist.broadcast_(model)
    try:
        return _train(model, red, *prep)
    except (_dist.DistributedError, _core.NonFiniteError):
        raise  # seen by every rank alike
    except BaseException as e:  # this rank alone: the others may wait in an allreduce
        if red.size > 1:
            _dist._abort(e, "in fit")
        raise


@contextlib.contextmanager
def _coordinated(red, who):
    if red is None:
        yield
        return
    try:
        yield
    except Exception as e:
        _dist._agree(e, who)
        raise
    _dist._agree(None, who)


def _prepare(
    model,
    X,
    y,
    red,
    *,
    loss,
    optimizer,
    epochs,
    batch_size,
    shuffle,
    seed,
    validation_data,
    validation_split,
    callbacks,
    verbose,
    on_nonfinite,
    sample_weight,
    class_weight,
    metrics,
):
    model.build_for([X])  # a Sequential without a Linear learns its input width from X
    if loss is not None:
        model.compile(loss, optimizer if optimizer is not None else model.optimizer)
    elif optimizer is not None:
        if isinstance(optimizer, str):  # a name, as compile takes it ("adam", ...)
            optimizer = optim.from_name(optimizer, model, "fit")
        model.optimizer = check_optimizer(optimizer, model, "fit")
    if model.optimizer is None or not model.losses:
        raise ValueError("fit: needs a loss and an optimizer (fit(..., loss=, optimizer=) or compile)")
    epochs = _checks.positive_int(epochs, "fit", "epochs")
    batch_size = _checks.positive_int(batch_size, "fit", "batch_size")
    validation_split = _checks.probability(validation_split, "fit", "validation_split")
    if not (
        verbose == "auto"
        if isinstance(verbose, str)
        else (isinstance(verbose, (int, np.integer)) and 0 <= verbose <= 2)
    ):
        raise ValueError(f"fit: verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    guards = _core.NonFinite.__members__  # by fit's names: ignore, raise, skip
    on_nonfinite = _checks.choice(on_nonfinite, "fit", "on_nonfinite", ("raise", "skip", "ignore"))
    seed = _checks.seed(seed, "fit", none=True, negative=False)
    if isinstance(callbacks, (Callback, str)) or not hasattr(callbacks, "__iter__"):
        raise TypeError(f"fit: callbacks must be a list of callbacks or callables, got {type(callbacks).__name__}")
    callbacks = list(callbacks)
    for c in callbacks:
        if not (isinstance(c, Callback) or callable(c)):
            raise TypeError(f"fit: each callback must be a Callback or a callable, got {type(c).__name__}")
    metric_fns = _metric_list(model, metrics, "fit")
    train_fns = [
        (k, f) for k, f in metric_fns if not (k == "accuracy" and _accuracy_mode(model)[0] != _core.Accuracy.none)
    ]
    data = _as_input_list(model, X, y)
    n = model.executor.check_data(data)
    if sample_weight is not None:
        sample_weight = _checks.weights(sample_weight, "fit", "sample_weight", n=n, all_zero_ok=True)
    val_weight = None
    if validation_split and validation_data is None:
        cut = n - int(round(n * validation_split))
        if cut <= 0 or cut == n:
            raise ValueError(f"fit: validation_split={validation_split} leaves an empty set of {n} samples")
        validation_data = [d[cut:] for d in data]
        data, n = [np.ascontiguousarray(d[:cut]) for d in data], cut
        if sample_weight is not None:  # the held-out samples keep their weights, as in Keras
            sample_weight, val_weight = sample_weight[:cut], sample_weight[cut:]
    if validation_data is not None:
        if (  # (x, y, sample_weight), as Keras takes it
            isinstance(validation_data, tuple)
            and len(validation_data) == max(3, len(model.inputs) + 1)
            and len(model.inputs) >= 2
        ):
            *validation_data, val_weight = validation_data
            validation_data = tuple(validation_data) if len(validation_data) == 2 else validation_data
        if isinstance(validation_data, (list, tuple)) and len(validation_data) != len(model.inputs):
            raise ValueError(
                f"fit (validation_data): the model has {len(model.inputs)} inputs "
                f"({[i.name for i in model.inputs]}), got {len(validation_data)} arrays"
                + (" (and sample weights may come last)" if len(model.inputs) >= 2 else "")
            )
        vx, vy = (
            validation_data
            if isinstance(validation_data, tuple) and len(validation_data) == 2
            else (validation_data[:-1], validation_data[-1])
        )
        val = _as_input_list(model, list(vx) if isinstance(vx, list) else vx, vy, "fit (validation_data)")
        nv = model.executor.check_data(val)
        val_weight = _sample_weights(model, val, nv, val_weight, None, "fit (validation_data)")
    else:
        val = None
    for arrays in (data, val or ()):  # bad labels fail before any training happens
        _check_label_ranges(model, arrays)
    weight = _sample_weights(model, data, n, sample_weight, class_weight, "fit")
    acc_mode, labels_input, thr = _accuracy_mode(model)
    logged = _log_names(acc_mode, metric_fns, on_nonfinite == "skip", val is not None)
    if any(isinstance(c, _LR_CALLBACKS) for c in callbacks):
        logged.append("lr")
    for i, c in enumerate(callbacks):  # a metric that will not be logged: say so now, not after an epoch
        mon = getattr(c, "monitor", None)
        if val is None and mon in ("val_loss", "val_accuracy"):
            raise ValueError(
                f"fit: {type(c).__name__} monitors {mon!r} but there is no validation data; "
                f"pass validation_data or validation_split, or monitor 'loss'"
            )
        # unless a callback of the user's before it might add it to the logs
        ours = all(
            type(b).__module__ == Callback.__module__ and not isinstance(b, LambdaCallback) for b in callbacks[:i]
        )
        if mon is not None and type(c).__module__ == Callback.__module__ and ours and mon not in logged:
            raise ValueError(f"fit: {type(c).__name__} monitors {mon!r}, which fit does not log; it logs {logged}")
    cbs = [History()] + [c if isinstance(c, Callback) else LambdaCallback(c) for c in callbacks]
    if red is not None:
        signature = (n, batch_size, epochs, bool(shuffle), seed, [d.shape for d in data], val is not None)
        first = red.bcast(signature)
        if signature != first:
            raise ValueError(
                f"every rank must call fit with the same data and settings: (samples, batch_size, epochs, "
                f"shuffle, seed, shapes, validation) are {signature} here, {first} on rank 0"
            )
        if seed is None:  # one shared order of the samples
            seed = red.bcast(int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1))
        if red.rank:  # callbacks, printing and checkpoints are rank 0's
            cbs, verbose = cbs[:1], 0
    guard = guards[on_nonfinite]
    return (
        data,
        n,
        val,
        weight,
        val_weight,
        cbs,
        seed,
        verbose,
        epochs,
        batch_size,
        shuffle,
        guard,
        acc_mode,
        labels_input,
        thr,
        train_fns,
        metric_fns,
        logged,
        on_nonfinite,
    )


def _train(
    model,
    red,
    data,
    n,
    val,
    weight,
    val_weight,
    cbs,
    seed,
    verbose,
    epochs,
    batch_size,
    shuffle,
    guard,
    acc_mode,
    labels_input,
    thr,
    train_fns,
    metric_fns,
    logged,
    on_nonfinite,
):
    for c in cbs:
        c.model = model
    rng = np.random.default_rng(seed)
    if seed is not None:  # each rank its own dropout masks
        _reseed_dropout(model, seed if red is None or red.rank == 0 else [seed, red.rank])
    progress = _Progress(verbose, epochs, n)
    model.stop_training = False
    model.train()
    for c in cbs:
        c.on_train_begin()
    nb = math.ceil(n / batch_size)
    interruptible = _interruptible()
    chunk = 1
    # callbacks that watch each batch (TensorBoard(update_freq="batch")): one batch per native call
    batch_cbs = [c for c in cbs if type(c).on_train_batch_end is not Callback.on_train_batch_end]
    if red is not None:  # a chunk fixed alike on every rank (rank 0 has the callbacks)
        chunk = 1 if red.bcast(bool(batch_cbs)) else _dist.CHECK_EVERY
        steps = checked = 0
        # one rank: no call out of the native loop per step (the sum over one rank is itself)
        reduce = {"allreduce": red, "rank": red.rank, "ranks": red.size} if red.size > 1 else {}
        _sync_decisions(model, red)
    for epoch in range(epochs):
        for c in cbs:
            c.on_epoch_begin(epoch)
        if red is not None:
            _sync_decisions(model, red)
        order = rng.permutation(n).astype(np.int64) if shuffle else np.arange(n, dtype=np.int64)
        progress.start(epoch)
        tot = _core.TrainStats()
        b = 0
        while b < nb:
            t0 = time.perf_counter()
            try:
                st = model.executor.train_batches(
                    data,
                    order,
                    batch_size,
                    b,
                    chunk,
                    model.optimizer._core,
                    acc_mode,
                    labels_input,
                    thr,
                    guard,
                    interruptible,
                    weight,
                    **(reduce if red is not None else {}),
                )
            except _core.NonFiniteError as e:
                raise _core.NonFiniteError(f"epoch {epoch} (0-based): {e}") from None
            dt = time.perf_counter() - t0
            b += chunk
            tot += st
            if red is not None:  # every rank makes the same collective calls
                steps += st.batches + st.skipped
                if steps - checked >= _dist.CHECK_EVERY or b >= nb:  # and at each epoch's end
                    if model.buffers:  # batch statistics are each rank's: rank 0's are kept
                        for a in model.buffers.values():
                            red.comm.Bcast(a, root=0)
                    _dist.check_replicas(model, f"after {steps} steps")
                    checked = steps
            elif st.batches and not batch_cbs:  # aim each native call at ~0.1 s of work
                chunk = max(1, min(nb, int(chunk * min(4.0, 0.1 / max(dt, 1e-6)))))
            progress.update(st.samples, _logs(tot, acc_mode))
            for c in batch_cbs:
                c.on_train_batch_end(b - 1, _logs(tot, acc_mode))
        logs = _logs(tot, acc_mode)
        if train_fns:  # on the epoch's final weights, in eval mode (see training.md)
            res = _evaluate(model, data, max(batch_size, 256), _core.Accuracy.none, -1, 0.0, None, train_fns, red)
            logs.update((k, v) for k, v in res.items() if k != "loss")
        if on_nonfinite == "skip":  # every epoch, so the list lines up with the epochs
            logs["skipped_batches"] = float(tot.skipped)
        if val is not None:
            res = _evaluate(model, val, max(batch_size, 256), acc_mode, labels_input, thr, val_weight, metric_fns, red)
            for k, v in res.items():
                logs["val_" + k] = v
        if "lr" in logged:  # the rate this epoch trained with, before a callback changes it
            logs["lr"] = float(model.optimizer.lr)
        model.train()
        progress.end(epoch, logs, tot.samples)
        for c in cbs:
            c.on_epoch_end(epoch, logs)
        if red is not None:  # rank 0's callbacks decided: stop? new lr?
            _sync_decisions(model, red)
        if model.stop_training:
            break
    for c in cbs:
        c.on_train_end()
    if red is not None:  # e.g. EarlyStopping put rank 0's best weights back
        _dist.broadcast_(model)
        _dist.check_replicas(model, "at the end of fit")
        cbs[0].history = red.bcast(cbs[0].history)
    return cbs[0]


def _sync_decisions(model, red):
    """Rank 0's callbacks decide (stop, learning rate, clipping); the others follow."""
    opt = model.optimizer
    stop, lr, clip = red.bcast((bool(model.stop_training), opt.lr, opt.clip_norm))
    model.stop_training = stop
    if red.rank:
        opt.lr, opt.clip_norm = lr, clip


def _logs(tot, acc_mode):
    logs = {"loss": tot.loss_sum / max(tot.samples, 1)}
    if acc_mode != _core.Accuracy.none:
        logs["accuracy"] = tot.correct / max(tot.samples, 1)
    return logs


def _log_names(acc_mode, metric_fns, skip, val):
    """The keys of fit's epoch logs, in order."""
    names = ["loss"] + (["accuracy"] if acc_mode != _core.Accuracy.none else [])
    names += [k for k, _ in metric_fns if k not in names]
    names += ["skipped_batches"] if skip else []
    return names + ["val_" + k for k in names if k != "skipped_batches"] * bool(val)


def _metric_target(model):
    """(index of the one loss's prediction among the outputs, index of its target input)."""
    pred, target = model.losses[0].inputs
    if pred not in model.outputs or target not in model.inputs:
        raise ValueError("metrics need the loss's prediction to be a model output and its target a model input")
    return model.outputs.index(pred), model.inputs.index(target)


def _evaluate(model, data, batch_size, acc_mode, labels_input, thr, weight=None, metric_fns=(), red=None):
    """Mean loss (weighted by ``weight``, of mean 1: then sum(w l) / sum(w)) and, with
    an accuracy mode, the fraction the loss's rule calls right (Loss.correct: the rule
    fit's native counters apply), and each metric on the whole set's predictions.
    Accuracy and metrics are not weighted (Keras's ``metrics=``). With ``red`` (data
    parallel), each rank evaluates its share of the rows and the sums are reduced."""
    model.eval()
    n = data[0].shape[0]
    if red is not None:
        lo, hi = red.share(n)
        data = [d[lo:hi] for d in data]
        weight = None if weight is None else weight[lo:hi]
    loss_sum, correct = 0.0, 0
    loss = model.loss_block
    metric_fns = [(k, f) for k, f in metric_fns if not (k == "accuracy" and acc_mode != _core.Accuracy.none)]
    if metric_fns:
        out_i, target_i = _metric_target(model)
        preds = []
    try:
        for lo in range(0, data[0].shape[0], batch_size):
            batch = [d[lo : lo + batch_size] for d in data]
            if weight is not None:
                model.executor.set_sample_weight(weight[lo : lo + batch_size])
            outs = model.executor.forward(batch, True, False)
            loss_sum += model.executor.loss * batch[0].shape[0]
            if acc_mode != _core.Accuracy.none:
                correct += int(loss.correct(outs[0], batch[labels_input]).sum())
            if metric_fns:
                preds.append(outs[out_i])
    finally:
        if weight is not None:
            model.executor.set_sample_weight(None)
    if red is not None:
        loss_sum, correct = red.sum([loss_sum, correct])
    res = {"loss": loss_sum / n}
    if acc_mode != _core.Accuracy.none:
        res["accuracy"] = correct / n
    if metric_fns:
        pred = np.concatenate(preds) if preds else None  # None: this rank's share was empty
        target = data[target_i]
        if red is not None:
            pred, target = red.gather_rows(pred), red.gather_rows(target)
        for k, f in metric_fns:
            res[k] = _metrics.value_of(k, f, target, pred)
    return res


def evaluate(model, X, y=None, *, batch_size=256, sample_weight=None, metrics=None) -> dict:
    """Mean loss (and accuracy for classifiers, and the compiled and given metrics)
    over a dataset, in eval mode; with ``sample_weight`` the loss is the weighted mean
    sum(w l) / sum(w) (accuracy and metrics are not weighted, as Keras's metrics=)."""
    batch_size = _checks.positive_int(batch_size, "evaluate", "batch_size")
    if not getattr(model, "losses", None):
        raise ValueError("evaluate: the model has no loss (compile it first)")
    metric_fns = _metric_list(model, metrics, "evaluate")
    data = _as_input_list(model, X, y, "evaluate")
    n = model.executor.check_data(data)
    _check_label_ranges(model, data)
    weight = _sample_weights(model, data, n, sample_weight, None, "evaluate")
    was = model.blocks[0].training if model.blocks else True
    try:
        return _evaluate(model, data, int(batch_size), *_accuracy_mode(model), weight, metric_fns)
    finally:
        model.train(was)


def predict(model, X, *, batch_size=256, out=None):
    """Outputs for X, batch by batch, in eval mode (Dropout off); written into ``out``
    (a model of one output) when given."""
    batch_size = _checks.positive_int(batch_size, "predict", "batch_size")
    if out is not None and len(model.outputs) != 1:
        raise ValueError(f"predict: out= takes a model of one output, this one has {len(model.outputs)}")
    model.build_for([X])
    if not model.outputs:
        raise ValueError(
            "predict: the model has no outputs, only losses; build it with "
            "Model(inputs=..., outputs=..., loss=...) to predict"
        )
    xs = _data_list(X, len(model.prediction_inputs))
    idx = model.select(xs, True)
    xs = [_column(model.inputs[i], a) for i, a in zip(idx, xs)]
    arrays = model.prepare(xs, idx)
    n = next(a.shape[0] for a in arrays if a is not None)
    if n == 0:
        raise ValueError("predict: empty batch (0 rows)")
    if out is not None:
        check_out(out, [a for a in arrays if a is not None], (n, model.outputs[0].features), model.dtype, "predict")
        # an inference forward runs in eval mode by itself and writes into out
        for lo in range(0, n, int(batch_size)):
            part = [None if a is None else a[lo : lo + batch_size] for a in arrays]
            model.executor.forward(part, False, False, True, [out[lo : lo + batch_size]])
        return out
    parts = [
        model.executor.forward([None if a is None else a[lo : lo + batch_size] for a in arrays], False, False, True)
        for lo in range(0, n, int(batch_size))
    ]
    # one chunk: its arrays are already the binding's fresh copies, so no second copy
    outs = [
        parts[0][k] if len(parts) == 1 else np.concatenate([p[k] for p in parts]) for k in range(len(model.outputs))
    ]
    return outs[0] if len(outs) == 1 else tuple(outs)


def predict_proba(model, X, *, batch_size=256):
    """Class probabilities: the outputs themselves when the model ends in Softmax/Sigmoid,
    otherwise the loss's ``probability_map`` of them (softmax of the logits for
    CrossEntropyLoss, sigmoid for BCEWithLogitsLoss, as they are for BCELoss)."""
    out = predict(model, X, batch_size=batch_size)
    loss = model.loss_block
    last = model.outputs[0].block
    if isinstance(last, (Softmax, Sigmoid)):  # already probabilities, whatever the loss
        return out
    if loss is not None and loss.probability_map is not None:
        return loss.probabilities(out)
    raise ValueError(
        "predict_proba: the model is not a classifier (compile it with "
        "CrossEntropyLoss or BCEWithLogitsLoss, or end it with Softmax/Sigmoid)"
    )
