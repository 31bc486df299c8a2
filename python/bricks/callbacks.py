"""Callbacks for ``Model.fit``: early stopping, checkpoints, learning-rate schedules and
reduction on a plateau, a CSV log, TensorBoard event files, callables."""

from __future__ import annotations

import csv
import itertools
import math
import os
import socket
import struct
import time

import numpy as np

from . import _checks
from .optim import Schedule


def weights_of(model) -> dict:
    """Copies of the model's parameters, to put back later with ``put_weights``."""
    return {k: np.array(a) for k, a in model.params.items()}


def put_weights(model, weights: dict) -> None:
    """Write ``weights_of``'s copies back into the model's parameters (in place)."""
    for k, a in model.params.items():
        a[...] = weights[k]


class Callback:
    """Hooks called by ``fit``; ``self.model`` is set before training starts.
    Setting ``model.stop_training = True`` ends training after the current epoch."""

    model = None

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        """After each training batch (``batch``: its 0-based index in the epoch; ``logs``:
        the epoch's running ``loss`` and ``accuracy`` so far, as Keras gives them). fit
        runs one batch per native call only when a callback overrides this hook."""

    def on_train_end(self, logs=None):
        pass


class LambdaCallback(Callback):
    """Wraps a callable ``fn(epoch, logs)`` called at the end of every epoch."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("LambdaCallback: fn must be callable")
        self.fn = fn

    def on_epoch_end(self, epoch, logs=None):
        self.fn(epoch, logs)


def _monitor_mode(monitor, mode, who="callback"):
    mode = _checks.choice(mode, who, "mode", ("auto", "min", "max"))
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return mode


class _Monitor(Callback):
    def __init__(self, monitor, mode, min_delta=0.0):
        who = type(self).__name__
        self.monitor, self.mode = monitor, _monitor_mode(monitor, mode, who)
        self.min_delta = abs(_checks.number(min_delta, who, "min_delta"))
        self.best = math.inf if self.mode == "min" else -math.inf

    def _value(self, logs):
        if self.monitor not in (logs or {}):
            raise KeyError(f"{type(self).__name__}: metric {self.monitor!r} is not logged; have {sorted(logs or {})}")
        return logs[self.monitor]

    def _improved(self, v):
        return v < self.best - self.min_delta if self.mode == "min" else v > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    with ``restore_best_weights`` the model ends with the weights of its best epoch."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto", restore_best_weights=True):
        super().__init__(monitor, mode, min_delta)
        self.patience = _checks.non_negative_int(patience, "EarlyStopping", "patience")
        self.restore = bool(restore_best_weights)
        self.wait, self.best_weights, self.stopped_epoch, self.best_epoch = 0, None, None, None

    def on_train_begin(self, logs=None):
        self.wait, self.best_weights = 0, None
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        v = self._value(logs)
        if self._improved(v):
            self.best, self.wait, self.best_epoch = v, 0, epoch
            if self.restore:
                self.best_weights = weights_of(self.model)
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True
                self.stopped_epoch = epoch

    def on_train_end(self, logs=None):
        if self.restore and self.best_weights is not None:
            put_weights(self.model, self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model to ``path`` after an epoch (only on improvement of ``monitor``
    with ``save_best_only``). ``path`` may contain ``{epoch}``. Saving is atomic."""

    def __init__(self, path, monitor="val_loss", save_best_only=True, mode="auto"):
        super().__init__(monitor, mode)
        self.path, self.save_best_only = str(path), bool(save_best_only)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            v = self._value(logs)
            if not self._improved(v):
                return
            self.best = v
        self.model.save(self.path.format(epoch=epoch + 1))


class LearningRateScheduler(Callback):
    """Set the optimizer's lr at the start of each epoch: ``schedule(epoch, lr)`` is a
    ``bricks.optim`` schedule (given the initial lr) or any callable of (epoch, current lr)."""

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError("LearningRateScheduler: schedule must be callable")
        self.schedule = schedule
        self.base_lr = None

    def on_train_begin(self, logs=None):
        self.base_lr = self.model.optimizer.lr

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        opt.lr = self.schedule(epoch, self.base_lr if isinstance(self.schedule, Schedule) else opt.lr)


class ReduceLROnPlateau(_Monitor):
    """Multiply the optimizer's lr by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (Keras's callback; PyTorch's scheduler of the same name with
    ``threshold_mode="rel"``).

    An epoch improves on the best value when it is below ``best − min_delta``
    (``mode="min"``; above ``best + min_delta`` for "max"; "auto" is "max" for a metric
    with "acc" in its name), or with ``threshold_mode="rel"`` below ``best · (1 −
    min_delta)`` (above ``best · (1 + min_delta)``). After a reduction, ``cooldown``
    epochs pass before the count of epochs without improvement starts again; lr never
    goes below ``min_lr``. fit logs the lr each epoch trained with as ``history["lr"]``.
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        verbose=0,
        threshold_mode="abs",
    ):
        who = "ReduceLROnPlateau"
        if not isinstance(monitor, str):
            raise TypeError(f"{who}: monitor must be a str, got {type(monitor).__name__}")
        super().__init__(monitor, mode, min_delta)
        self.factor = _checks.number(factor, who, "factor", low=0, high=1, low_open=True, high_open=True)
        self.patience = _checks.non_negative_int(patience, who, "patience")
        self.cooldown = _checks.non_negative_int(cooldown, who, "cooldown")
        self.min_lr = _checks.non_negative_float(min_lr, who, "min_lr")
        self.verbose = _checks.integer(verbose, who, "verbose", low=0, high=2)
        self.threshold_mode = _checks.choice(threshold_mode, who, "threshold_mode", ("abs", "rel"))
        self.wait, self.cooldown_counter = 0, 0

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter = 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def _improved(self, v):
        if self.threshold_mode == "abs" or math.isinf(self.best):
            return super()._improved(v)
        # PyTorch's rel mode, as it writes it (for a negative best too)
        return v < self.best * (1 - self.min_delta) if self.mode == "min" else v > self.best * (1 + self.min_delta)

    def on_epoch_end(self, epoch, logs=None):
        v = self._value(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(v):
            self.best, self.wait = v, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                opt = self.model.optimizer
                old = float(opt.lr)
                if old > self.min_lr:
                    opt.lr = max(old * self.factor, self.min_lr)
                    if self.verbose:
                        print(f"epoch {epoch + 1}: ReduceLROnPlateau: lr {old:.4g} -> {opt.lr:.4g}", flush=True)
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Write each epoch's logs to a CSV file (Keras's ``CSVLogger``).

    Columns: ``epoch`` (0-based, as Keras writes it), then every key fit logs, sorted
    (``accuracy``, ``loss``, ``lr``, ``val_loss``...); one row per epoch. ``separator``
    is a one-character str. With ``append=False`` the file is emptied when training
    starts; with ``append=True`` rows go after what it holds (the header is written
    only when the file is empty, and must name the same columns). Each row is
    written, flushed and the file closed at the end of its epoch, so the file holds
    every finished epoch even when training stops on an error. A key missing from
    an epoch's logs is written as ``NA``.

    Example: ``model.fit(X, y, epochs=5, callbacks=[bk.callbacks.CSVLogger("log.csv")])``, then
    ``pandas.read_csv("log.csv")``.
    """

    def __init__(self, filename, separator=",", append=False):
        who = "CSVLogger"
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"{who}: filename must be a str or a path, got {type(filename).__name__}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"{who}: separator must be a one-character str such as ',' or ';', got {separator!r}")
        self.filename, self.separator = os.fspath(filename), separator
        self.append = _checks.boolean(append, who, "append")
        self.keys = None

    def _header_on_disk(self):
        """The file's header row, or None when it is missing or empty."""
        try:
            with open(self.filename, newline="") as f:
                return next(csv.reader(f, delimiter=self.separator), None)
        except FileNotFoundError:
            return None

    def on_train_begin(self, logs=None):
        self.keys = None
        if not self.append:
            open(self.filename, "w").close()  # empty it now: a bad path fails before training

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        header = None
        if self.keys is None:
            self.keys = sorted(logs)
            on_disk = self._header_on_disk()
            if on_disk is None:
                header = ["epoch", *self.keys]
            elif on_disk != ["epoch", *self.keys]:
                raise ValueError(
                    f"CSVLogger: {self.filename!r} has the columns {on_disk}, this training logs "
                    f"{['epoch', *self.keys]}; append to a file of the same columns or use append=False"
                )
        row = [epoch, *(logs.get(k, "NA") for k in self.keys)]
        with open(self.filename, "a", newline="") as f:
            w = csv.writer(f, delimiter=self.separator)
            if header is not None:
                w.writerow(header)
            w.writerow(row)
            f.flush()


# -- TensorBoard ---------------------------------------------------------------------------------
def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1  # Castagnoli polynomial, reflected
        table.append(c)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord files check their records:
    ``crc32c(b"123456789") == 0xE3069283``. Pure Python: TensorBoard writes a few
    small records per epoch."""
    c = 0xFFFFFFFF
    for b in bytes(data):
        c = _CRC32C_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The CRC-32C of ``data`` rotated right by 15 bits plus 0xA282EAD8 (mod 2³²), as
    TFRecord stores it (a CRC of data holding CRCs is then not trivially related)."""
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1  # int64 as protobuf writes it (two's complement)
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, *, file_version: str | None = None, scalars=()) -> bytes:
    """A ``tensorflow.Event`` protobuf: wall_time (1, double), step (2, int64), then
    file_version (3, string) or summary (5): ``Summary.value`` (1) entries of tag (1,
    string) and simple_value (2, float)."""
    out = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(int(step))
    if file_version is not None:
        out += _field(3, file_version.encode())
    if scalars:
        values = b"".join(
            _field(1, _field(1, tag.encode()) + b"\x15" + struct.pack("<f", float(v))) for tag, v in scalars
        )
        out += _field(5, values)
    return out


class _EventFile:
    """One TensorBoard event file: TFRecord records (length as uint64, masked CRC-32C of
    those 8 bytes, the data, masked CRC-32C of the data), the first one the file version."""

    _uid = itertools.count()

    def __init__(self, directory: str):
        os.makedirs(directory, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(self._uid)}.v2"
        self.path = os.path.join(directory, name)
        self.file = open(self.path, "wb")
        self.write(_event(time.time(), 0, file_version="brain.Event:2"))
        self.flush()

    def write(self, data: bytes) -> None:
        head = struct.pack("<Q", len(data))
        self.file.write(head + struct.pack("<I", masked_crc32c(head)) + data + struct.pack("<I", masked_crc32c(data)))

    def scalars(self, step: int, scalars) -> None:
        if scalars:
            self.write(_event(time.time(), step, scalars=scalars))

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class TensorBoard(Callback):
    """Write the training curves as TensorBoard event files (Keras's ``TensorBoard``
    callback, without TensorFlow: the files are written here, nothing is imported).

    Example:
        >>> model.fit(X, y, epochs=20, validation_split=0.2,
        ...           callbacks=[bk.callbacks.TensorBoard(log_dir="logs")])

    Then ``tensorboard --logdir logs`` (``pip install tensorboard``) shows the curves,
    during training too: the files are flushed at the end of every epoch and closed
    when training ends.

    As Keras writes them: the training scalars go to ``log_dir/train``, the validation
    ones to ``log_dir/validation``, each epoch at step ``epoch`` (0-based) under the tag
    ``"epoch_" + name``: ``epoch_loss``, ``epoch_accuracy``, the metrics' names, and
    ``epoch_learning_rate`` (the optimizer's lr; the rate fit logs as ``"lr"`` when
    there is one). The validation logs lose their ``val_`` prefix (``val_loss`` is
    ``epoch_loss`` in ``validation``), so TensorBoard draws both runs on one chart.
    Each fit writes a new file in each directory (``events.out.tfevents.<time>.<host>
    .<pid>.<n>.v2``); values are stored as float32, as TensorBoard stores scalars.

    Args:
        log_dir: the directory (a str or a path), made if missing.
        update_freq: ``"epoch"`` (the default) writes once per epoch; ``"batch"`` also
            writes the running epoch averages after every batch (``batch_loss``,
            ``batch_accuracy``; step: the number of batches trained so far in this
            fit) and an int ``N`` does so every ``N`` batches. Writing per batch makes
            fit run one batch per native call, which is slower for small batches.
    """

    def __init__(self, log_dir="logs", update_freq="epoch"):
        who = "TensorBoard"
        if not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(f"{who}: log_dir must be a str or a path, got {type(log_dir).__name__}")
        self.log_dir = os.fspath(log_dir)
        what = "'epoch', 'batch' or a positive int (write every N batches)"
        if _checks.is_int(update_freq):
            update_freq = _checks.integer(update_freq, who, "update_freq", low=1, what=what)
        elif not isinstance(update_freq, str):
            raise TypeError(f"{who}: update_freq must be {what}, got {type(update_freq).__name__}")
        elif update_freq not in ("epoch", "batch"):
            raise ValueError(f"{who}: update_freq must be {what}, got {update_freq!r}")
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._train = self._val = None
        self._batches = 0

    def _writer(self, which):
        attr = "_train" if which == "train" else "_val"
        if getattr(self, attr) is None:
            setattr(self, attr, _EventFile(os.path.join(self.log_dir, which)))
        return getattr(self, attr)

    def on_train_begin(self, logs=None):
        self.on_train_end()  # a fit stopped by an error left its files open
        self._batches = 0
        self._writer("train")  # a bad log_dir fails before training

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.update_freq == "epoch" or self._batches % self.update_freq:
            return
        self._writer("train").scalars(self._batches, [("batch_" + k, v) for k, v in (logs or {}).items()])

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = [("epoch_" + k, v) for k, v in logs.items() if not k.startswith("val_") and k != "lr"]
        lr = logs.get("lr", getattr(getattr(self.model, "optimizer", None), "lr", None))
        if lr is not None:
            train.append(("epoch_learning_rate", lr))
        val = [("epoch_" + k[len("val_") :], v) for k, v in logs.items() if k.startswith("val_")]
        for which, scalars in (("train", train), ("validation", val)):
            if scalars:
                w = self._writer(which)
                w.scalars(epoch, scalars)
                w.flush()

    def on_train_end(self, logs=None):
        for attr in ("_train", "_val"):
            w = getattr(self, attr)
            if w is not None:
                w.close()
                setattr(self, attr, None)
