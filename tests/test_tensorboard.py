"""bk.callbacks.TensorBoard (issue 15): the Keras habit
``fit(..., callbacks=[TensorBoard(log_dir=...)])`` then ``tensorboard --logdir``, with
no TensorFlow. The files are read back with TensorBoard's own reader, which checks the
record framing and CRCs, and compared with what fit returned."""

import os
import zlib

import numpy as np
import pytest

import bricks as bk
from bricks import datasets
from bricks.callbacks import LambdaCallback, ReduceLROnPlateau, TensorBoard, crc32c, masked_crc32c

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
event_file_loader = pytest.importorskip("tensorboard.backend.event_processing.event_file_loader")


def blobs3(n=200, seed=0):
    X, y = datasets.make_blobs(n, centers=3, random_state=seed)
    return (X - X.mean(0)) / X.std(0), y


def classifier(seed=0):
    model = bk.Sequential(bk.Linear(2, 16, seed=seed), bk.ReLU(), bk.Linear(16, 3, seed=seed + 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def scalars(run_dir):
    """{tag: [(step, value), ...]} as TensorBoard reads the run."""
    acc = event_accumulator.EventAccumulator(str(run_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def f32(values):
    return [float(np.float32(v)) for v in values]


# -- what a Keras user writes ---------------------------------------------------------------------
def test_fit_writes_keras_tags_that_tensorboard_reads_as_the_history(tmp_path):
    X, y = blobs3()
    model = classifier()
    history = model.fit(X, y, epochs=3, validation_split=0.2, verbose=0, callbacks=[TensorBoard(log_dir=tmp_path)])

    train, val = scalars(tmp_path / "train"), scalars(tmp_path / "validation")
    assert sorted(train) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    assert sorted(val) == ["epoch_accuracy", "epoch_loss"]  # val_loss is epoch_loss of the validation run
    epochs = list(range(3))
    for name in ("loss", "accuracy"):
        assert [s for s, _ in train["epoch_" + name]] == epochs
        assert [v for _, v in train["epoch_" + name]] == f32(history.history[name])
        assert [s for s, _ in val["epoch_" + name]] == epochs
        assert [v for _, v in val["epoch_" + name]] == f32(history.history["val_" + name])
    assert [v for _, v in train["epoch_learning_rate"]] == f32([model.optimizer.lr] * 3)


def test_files_are_named_and_begin_as_tensorflow_writes_them(tmp_path):
    X, y = blobs3()
    classifier().fit(X, y, epochs=2, verbose=0, callbacks=[TensorBoard(log_dir=str(tmp_path))])
    assert sorted(os.listdir(tmp_path)) == ["train"]  # no validation data: no validation run
    (name,) = os.listdir(tmp_path / "train")
    assert name.startswith("events.out.tfevents.") and name.endswith(".v2")
    events = list(event_file_loader.EventFileLoader(str(tmp_path / "train" / name)).Load())
    assert events[0].file_version == "brain.Event:2"
    assert [e.step for e in events[1:]] == [0, 1]
    assert all(e.wall_time > 0 for e in events)


def test_learning_rate_is_the_rate_each_epoch_trained_with(tmp_path):
    X, y = blobs3()
    model = classifier()
    history = model.fit(
        X,
        y,
        epochs=6,
        validation_split=0.2,
        verbose=0,
        callbacks=[ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0), TensorBoard(tmp_path)],
    )
    lrs = [v for _, v in scalars(tmp_path / "train")["epoch_learning_rate"]]
    assert lrs == f32(history.history["lr"])
    assert lrs[-1] < lrs[0]  # the plateau did cut it
    assert "epoch_lr" not in scalars(tmp_path / "train")


def test_metrics_get_their_names_as_tags(tmp_path):
    X, y = blobs3()
    model = bk.Sequential(bk.Linear(2, 8, seed=0), bk.ReLU(), bk.Linear(8, 1, seed=1))
    model.compile(loss="mse", optimizer="sgd", metrics=["mae"])
    t = y.astype(np.float32).reshape(-1, 1)
    history = model.fit(X, t, epochs=2, validation_data=(X, t), verbose=0, callbacks=[TensorBoard(tmp_path)])
    train, val = scalars(tmp_path / "train"), scalars(tmp_path / "validation")
    for key in history.history:
        run, name = (val, key[4:]) if key.startswith("val_") else (train, key)
        assert [v for _, v in run["epoch_" + name]] == f32(history.history[key])


def test_files_hold_every_finished_epoch_while_training_runs(tmp_path):
    X, y = blobs3()
    seen = []

    def look(epoch, logs):  # what `tensorboard --logdir` would find now
        seen.append([s for s, _ in scalars(tmp_path / "train")["epoch_loss"]])

    classifier().fit(X, y, epochs=3, verbose=0, callbacks=[TensorBoard(tmp_path), LambdaCallback(look)])
    assert seen == [[0], [0, 1], [0, 1, 2]]


@pytest.mark.parametrize("update_freq, every", [("batch", 1), (2, 2)])
def test_update_freq_writes_batch_scalars(tmp_path, update_freq, every):
    X, y = blobs3()
    history = classifier().fit(
        X, y, epochs=2, batch_size=32, verbose=0, callbacks=[TensorBoard(tmp_path, update_freq=update_freq)]
    )
    per_epoch = -(-len(X) // 32)
    train = scalars(tmp_path / "train")
    steps = [s for s, _ in train["batch_loss"]]
    assert steps == list(range(every, 2 * per_epoch + 1, every))
    assert [s for s, _ in train["batch_accuracy"]] == steps
    # the value after an epoch's last batch is the epoch's running mean: its logged loss
    at = dict(train["batch_loss"])
    for epoch, loss in enumerate(history.history["loss"]):
        if (epoch + 1) * per_epoch % every == 0:
            assert at[(epoch + 1) * per_epoch] == pytest.approx(loss, rel=1e-6)


def test_batch_updates_do_not_change_what_is_learned(tmp_path):
    X, y = blobs3()
    plain = classifier().fit(X, y, epochs=3, batch_size=16, seed=1, verbose=0)
    logged = classifier().fit(
        X, y, epochs=3, batch_size=16, seed=1, verbose=0, callbacks=[TensorBoard(tmp_path, update_freq="batch")]
    )
    np.testing.assert_allclose(logged.history["loss"], plain.history["loss"], rtol=1e-6)


def test_a_callback_of_ones_own_sees_every_batch():
    class Batches(bk.callbacks.Callback):  # as a Keras user writes one
        def on_train_begin(self, logs=None):
            self.seen = []

        def on_train_batch_end(self, batch, logs=None):
            self.seen.append((batch, dict(logs)))

    X, y = blobs3()
    spy = Batches()
    history = classifier().fit(X, y, epochs=2, batch_size=50, verbose=0, callbacks=[spy])
    assert [b for b, _ in spy.seen] == [0, 1, 2, 3] * 2  # the batch's index in its epoch
    assert all(set(logs) == {"loss", "accuracy"} for _, logs in spy.seen)
    assert [logs["loss"] for b, logs in spy.seen if b == 3] == history.history["loss"]


def test_each_fit_writes_its_own_file(tmp_path):
    X, y = blobs3()
    model, board = classifier(), TensorBoard(tmp_path)
    model.fit(X, y, epochs=1, verbose=0, callbacks=[board])
    model.fit(X, y, epochs=1, verbose=0, callbacks=[board])
    assert len(os.listdir(tmp_path / "train")) == 2


def test_bad_arguments_say_what_is_expected():
    with pytest.raises(ValueError, match=r"update_freq must be 'epoch', 'batch' or a positive int.*'epochs'"):
        TensorBoard("logs", update_freq="epochs")
    with pytest.raises(ValueError, match="update_freq must be 'epoch', 'batch' or a positive int"):
        TensorBoard("logs", update_freq=0)
    with pytest.raises(TypeError, match="update_freq must be .* got float"):
        TensorBoard("logs", update_freq=1.5)
    with pytest.raises(TypeError, match="log_dir must be a str or a path, got int"):
        TensorBoard(3)


# -- the record checksums ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, crc",
    [  # the check value of CRC-32C, and the vectors of RFC 3720 (iSCSI), appendix B.4
        (b"123456789", 0xE3069283),
        (b"", 0),
        (bytes(32), 0x8A9136AA),
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
    ],
)
def test_crc32c_known_vectors(data, crc):
    assert crc32c(data) == crc


def test_crc32c_is_not_zlibs_crc32_and_masking_matches_tensorboards():
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as tb_masked

    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 8, 100, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert masked_crc32c(data) == tb_masked(data)
    assert crc32c(b"123456789") != zlib.crc32(b"123456789")
