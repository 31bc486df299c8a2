"""fit / evaluate / predict, optimizers, callbacks, metrics, save and load."""

import os
import subprocess
import sys

import numpy as np
import pytest

import bricks as bk
from bricks import metrics
from bricks.callbacks import EarlyStopping, LearningRateScheduler, ModelCheckpoint


def blobs(n=300, seed=0):
    return bk.datasets.blobs(n_samples=n, centers=3, n_features=4, seed=seed)


def mlp(seed=0, dropout=0.2, dtype=None):
    bk.manual_seed(seed)
    return bk.Sequential(
        bk.Linear(4, 16, dtype=dtype),
        bk.ReLU(dtype=dtype),
        bk.Dropout(dropout, dtype=dtype),
        bk.Linear(16, 3, dtype=dtype),
    )


def train(seed=0, epochs=3, **kw):
    X, y = blobs()
    m = mlp(seed)
    h = m.fit(
        X,
        y,
        loss=bk.CrossEntropyLoss(),
        optimizer=bk.SGD(m, lr=0.1, momentum=0.9),
        epochs=epochs,
        batch_size=32,
        seed=seed,
        verbose=0,
        **kw,
    )
    return m, h


def test_same_seed_same_weights_bit_for_bit():
    a, ha = train(seed=5)
    b, hb = train(seed=5)
    c, _ = train(seed=6)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert ha.history == hb.history
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)


def test_fit_learns_and_reports_history():
    m, h = train(epochs=10, validation_split=0.2)
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(h.epoch) == 10 and h.history["loss"][-1] < h.history["loss"][0]
    assert h.history["val_accuracy"][-1] > 0.9
    X, y = blobs()
    res = m.evaluate(X, y)
    assert res["accuracy"] > 0.9 and res["loss"] < 0.5
    p = m.predict_proba(X)
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-5)
    assert metrics.accuracy(y, m.predict(X)) == pytest.approx(res["accuracy"])


def test_fit_loss_equals_mean_of_batch_losses():
    X, y = blobs(100)
    m = mlp(dropout=0.0)
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.0))
    h = m.fit(X, y, epochs=1, batch_size=100, shuffle=False, verbose=0)
    assert h.history["loss"][0] == pytest.approx(m.evaluate(X, y)["loss"], rel=1e-6)


def test_predict_is_eval_mode_and_batched():
    X, _ = blobs(50)
    m = mlp(dropout=0.5)
    m.train()
    a = m.predict(X, batch_size=7)
    # equal up to summation order: small batches take the direct small-matrix path
    np.testing.assert_allclose(a, m.predict(X, batch_size=50), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a, m.predict(X, batch_size=7))
    assert m[2].training  # mode restored


def test_predict_in_one_batch_returns_an_array_of_its_own():
    # predict's one-batch result is the binding's copy, not a view of the model's buffers:
    # the next predict must not change it, nor writing to it change the model
    X, _ = blobs(40)
    m = mlp(dropout=0.0)
    a = m.predict(X)
    kept = a.copy()
    b = m.predict(X[::-1].copy())
    assert not np.shares_memory(a, b)
    np.testing.assert_array_equal(a, kept)
    a[:] = 0
    np.testing.assert_array_equal(m.predict(X), kept)


def test_one_hot_labels_and_probability_targets():
    X, y = blobs(90)
    m = mlp(dropout=0.0)
    h = m.fit(X, np.eye(3)[y], loss=bk.CrossEntropyLoss(), optimizer=bk.SGD(m, lr=0.1), epochs=2, verbose=0)
    assert "accuracy" in h.history
    m2 = mlp(dropout=0.0)
    m2.compile(bk.CrossEntropyLoss(), bk.SGD(m2, lr=0.1), labels=False)
    h2 = m2.fit(X, np.full((90, 3), 1 / 3), epochs=1, verbose=0)
    assert np.isfinite(h2.history["loss"][0])
    with pytest.raises(ValueError, match="one-hot"):
        m.fit(X, np.full((90, 3), 0.5), epochs=1, verbose=0)


def test_early_stopping_restores_best_weights():
    X, y = blobs()
    m = mlp()
    seen = []

    def record(epoch, logs):
        seen.append((logs["val_loss"], {k: np.array(v) for k, v in m.params.items()}))

    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    # a learning rate far too high makes the validation loss worsen: stopping must happen
    m.fit(
        X,
        y,
        loss=bk.CrossEntropyLoss(),
        optimizer=bk.SGD(m, lr=3.0),
        epochs=50,
        validation_split=0.3,
        callbacks=[record, es],
        verbose=0,
        seed=0,
    )
    assert len(seen) < 50 and es.stopped_epoch is not None
    best = min(range(len(seen)), key=lambda i: seen[i][0])
    for k, v in m.params.items():
        np.testing.assert_array_equal(v, seen[best][1][k])


def test_checkpoint_and_lr_schedule(tmp_path):
    X, y = blobs()
    m = mlp()
    lrs = []
    path = tmp_path / "best.npz"
    m.fit(
        X,
        y,
        loss=bk.CrossEntropyLoss(),
        optimizer=bk.SGD(m, lr=0.1),
        epochs=4,
        validation_split=0.2,
        verbose=0,
        callbacks=[
            LearningRateScheduler(bk.optim.StepLR(2, 0.5)),
            lambda e, logs: lrs.append(m.optimizer.lr),
            ModelCheckpoint(path),
        ],
    )
    assert lrs == [0.1, 0.1, 0.05, 0.05]
    assert path.exists()
    assert bk.load(path).evaluate(X, y)["loss"] > 0
    cos = bk.optim.CosineAnnealingLR(10)
    assert cos(0, 1.0) == 1.0 and cos(10, 1.0) == pytest.approx(0.0) and cos(5, 1.0) == pytest.approx(0.5)
    assert bk.optim.ExponentialLR(0.5)(3, 1.0) == 0.125
    assert bk.optim.LambdaLR(lambda e: 1 / (e + 1))(3, 2.0) == 0.5


def numpy_adam(w, grads, lr, b1, b2, eps, wd, decoupled):
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, 1):
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return w


@pytest.mark.parametrize("cls,decoupled", [(bk.Adam, False), (bk.AdamW, True)])
def test_adam_matches_reference(cls, decoupled, rng):
    lin = bk.Linear(3, 2, dtype=np.float64)
    w0 = lin.params["weight"].copy()
    grads = [rng.normal(size=w0.shape) for _ in range(5)]
    opt = cls([lin], lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
    for g in grads:
        lin.grads["weight"][...] = g
        lin.grads["bias"][...] = 0
        opt.step()
    ref = numpy_adam(w0, grads, 0.01, 0.8, 0.99, 1e-6, 0.1, decoupled)
    np.testing.assert_allclose(lin.params["weight"], ref, rtol=1e-12, atol=1e-14)


def test_against_torch_optimizers_when_installed(rng):
    torch = pytest.importorskip("torch")
    for ours, theirs, kw in [
        (bk.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        (bk.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
        (bk.AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    ]:
        lin = bk.Linear(4, 3, dtype=np.float64)
        tw = torch.tensor(lin.params["weight"].copy(), requires_grad=True)
        o1, o2 = ours([lin], **kw), theirs([tw], **kw)
        for _ in range(4):
            g = rng.normal(size=(3, 4))
            lin.grads["weight"][...] = g
            tw.grad = torch.tensor(g)
            o1.step()
            o2.step()
        np.testing.assert_allclose(lin.params["weight"], tw.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_clip_norm(rng):
    lin = bk.Linear(3, 2, dtype=np.float64)
    w0 = lin.params["weight"].copy()
    g = rng.normal(size=w0.shape) * 10
    lin.grads["weight"][...] = g
    lin.grads["bias"][...] = 0
    bk.SGD([lin], lr=1.0, clip_norm=1.0).step()
    step = w0 - lin.params["weight"]
    assert np.linalg.norm(step) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(step / np.linalg.norm(step), g / np.linalg.norm(g), rtol=1e-10)


def test_save_load_round_trip_continues_identically(tmp_path):
    X, y = blobs()
    m, _ = train(epochs=2)
    m.save(tmp_path / "m.npz")
    m2 = bk.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(m.predict(X), m2.predict(X))
    assert type(m2.optimizer) is bk.SGD and m2.optimizer.lr == m.optimizer.lr
    m.fit(X, y, epochs=1, seed=3, verbose=0)
    m2.fit(X, y, epochs=1, seed=3, verbose=0)
    for k in m.params:  # momentum buffers came back too
        np.testing.assert_array_equal(m.params[k], m2.params[k])
    z = np.load(tmp_path / "m.npz", allow_pickle=False)  # plain NumPy reads it
    assert "param/0.weight" in z.files


def test_save_load_graph_float64_and_adam(tmp_path, rng):
    x = bk.Input(4, dtype=np.float64)
    h = bk.ReLU(dtype=np.float64)(bk.Linear(4, 8, dtype=np.float64)(x))
    g = bk.Softmax(dtype=np.float64)(bk.Linear(4, 8, dtype=np.float64)(x))
    y = bk.Linear(8, 2, dtype=np.float64)(bk.Hadamard(dtype=np.float64)(h, g))
    m = bk.Model(inputs=x, outputs=y)
    X, t = rng.normal(size=(20, 4)), rng.normal(size=(20, 2))
    m.fit(X, t, loss=bk.MSELoss(dtype=np.float64), optimizer=bk.Adam(m, lr=0.01), epochs=2, verbose=0)
    m.save(tmp_path / "g.npz")
    m2 = bk.load(tmp_path / "g.npz")
    assert m2.dtype == np.float64 and type(m2.optimizer) is bk.Adam
    np.testing.assert_array_equal(m.predict(X), m2.predict(X))
    m.fit(X, t, epochs=1, shuffle=False, verbose=0)
    m2.fit(X, t, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_array_equal(m.predict(X), m2.predict(X))


def test_load_rejects_bad_files(tmp_path):
    m, _ = train(epochs=1)
    good = tmp_path / "m.npz"
    m.save(good)
    data = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        bk.load(tmp_path / "trunc.npz")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not a bricks model"):
        bk.load(tmp_path / "foreign.npz")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a readable bricks model"):
        bk.load(tmp_path / "array.npy")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError):
        bk.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        bk.load(tmp_path / "missing.npz")


def test_save_is_atomic(tmp_path):
    """A process killed in the middle of a save leaves the previous file intact."""
    m, _ = train(epochs=1)
    path = tmp_path / "ckpt.npz"
    m.save(path)
    before = path.read_bytes()
    script = f"""
import os, numpy as np, bricks as bk
m = bk.load({str(path)!r})
real = np.savez
def dying(f, **arrays):
    real(f, **arrays)
    f.flush()
    os._exit(9)          # die after writing, before the rename
np.savez = dying
m.save({str(path)!r})
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert r.returncode == 9, r.stderr
    assert path.read_bytes() == before
    assert np.array_equal(bk.load(path).predict(np.ones((2, 4))), m.predict(np.ones((2, 4))))
    leftovers = [p for p in os.listdir(tmp_path) if p != "ckpt.npz"]
    assert all(p.startswith(".bricks-") for p in leftovers)


def test_nonfinite_loss_stops_with_last_finite_weights():
    X, y = blobs(64)
    m = mlp(dropout=0.0)
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=1e30))
    with pytest.raises(bk.NonFiniteError, match="batch"):
        m.fit(X * 1e10, y, epochs=5, batch_size=8, verbose=0)
    assert all(np.isfinite(v).all() for v in m.params.values())
    h = m.fit(X * 1e10, y, epochs=1, batch_size=8, verbose=0, on_nonfinite="skip")
    assert h.history["skipped_batches"][0] >= 1
    assert all(np.isfinite(v).all() for v in m.params.values())


def test_fit_argument_errors():
    X, y = blobs(30)
    m = mlp()
    with pytest.raises(ValueError, match="loss and an optimizer"):
        m.fit(X, y, verbose=0)
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
    for kw, msg in [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"validation_split": 1.5}, "validation_split"),
        ({"on_nonfinite": "x"}, "on_nonfinite"),
    ]:
        with pytest.raises(ValueError, match=msg):
            m.fit(X, y, verbose=0, **kw)
    with pytest.raises(ValueError, match="lengths"):
        m.fit(X, y[:10], verbose=0)
    with pytest.raises(ValueError, match="out of range"):
        m.fit(X, y + 5, verbose=0)


def test_metrics():
    y = np.array([0, 1, 2, 2])
    s = np.array([[0.9, 0.1, 0], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0, 0.1, 0.9]])
    assert metrics.accuracy(y, s) == 0.75
    assert metrics.top_k_accuracy(y, s, k=2) == 1.0
    np.testing.assert_array_equal(metrics.confusion_matrix(y, s.argmax(1)), [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    assert metrics.mse([1, 2], [1, 4]) == 2.0 and metrics.mae([1, 2], [1, 4]) == 1.0
    with pytest.raises(ValueError):
        metrics.top_k_accuracy(y, s, k=4)


def test_progress_output(capsys, monkeypatch):
    X, y = blobs(64)
    m = mlp()
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
    m.fit(X, y, epochs=2, verbose=0)
    assert capsys.readouterr().err == ""
    m.fit(X, y, epochs=2)  # the default, "auto": not a terminal here, so silent
    assert capsys.readouterr().err == ""
    m.fit(X, y, epochs=2, verbose=1)  # asked for, off a terminal: a line per epoch
    assert len(capsys.readouterr().err.splitlines()) == 2
    with pytest.raises(ValueError, match="verbose must be 0, 1, 2 or 'auto', got 3"):
        m.fit(X, y, verbose=3)
    m.fit(X, y, epochs=2, verbose=2, validation_split=0.25)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[1].startswith("epoch 2/2") and "samples/s" in err[1] and "val_accuracy" in err[1]
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    m.fit(X, y, epochs=1, verbose=1)
    out = capsys.readouterr().err
    assert "epoch 1/1" in out and "loss" in out and "sample/s" in out.replace("samples/s", "sample/s")


def test_softmax_output_with_cross_entropy_warns_and_predict_proba_is_not_doubled():
    X, y = blobs(60)
    m = bk.Sequential(bk.Linear(4, 3, seed=0), bk.Softmax())
    p = m.predict(X)
    with pytest.warns(UserWarning, match="CrossEntropyLoss takes logits but the model ends in Softmax"):
        m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
    np.testing.assert_array_equal(m.predict_proba(X), p)
    with pytest.warns(UserWarning, match="BCEWithLogitsLoss takes logits but the model ends in Sigmoid"):
        bk.Sequential(bk.Linear(4, 1), bk.Sigmoid()).compile(bk.BCEWithLogitsLoss())


def test_one_feature_columns_and_lists_of_rows_are_taken_as_keras_does():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)).astype(np.float32)
    t = X @ np.array([1.0, -2.0, 0.5], np.float32)  # (N,) regression target
    a, b = (bk.Sequential(bk.Linear(3, 1, seed=0)) for _ in range(2))
    ha = a.fit(X, t, loss=bk.MSELoss(), optimizer=bk.SGD(a, lr=0.05), epochs=3, shuffle=False, verbose=0)
    hb = b.fit(X, t[:, None], loss=bk.MSELoss(), optimizer=bk.SGD(b, lr=0.05), epochs=3, shuffle=False, verbose=0)
    assert ha.history == hb.history
    np.testing.assert_array_equal(a.predict(X.tolist()), a.predict(X))  # a list of rows is one array
    assert a.evaluate(X, t)["loss"] == a.evaluate(X, t[:, None])["loss"]
    one = bk.Sequential(bk.Linear(1, 2, seed=0))
    np.testing.assert_array_equal(one.predict(X[:, 0]), one.predict(X[:, :1]))  # (N,) for 1 feature


def test_small_api_fixes_from_the_audit():
    X, y = blobs(60)
    m = mlp(dropout=0.0)
    opt = bk.SGD(m, lr=0.1, momentum=0.9)
    m.compile(bk.CrossEntropyLoss(), opt)
    opt.lr, opt.clip_norm = 0.5, 2.0
    assert repr(opt) == "SGD(lr=0.5, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False, clip_norm=2.0)"
    a, b = mlp(dropout=0.0), mlp(dropout=0.0)  # train_step takes one-hot rows as fit does
    for k in (a, b):
        k.compile(bk.CrossEntropyLoss(), bk.SGD(k, lr=0.5))
    assert a.train_step(X, np.eye(3)[y]) == b.train_step(X, y)
    for u, v in zip(a.params.values(), b.params.values()):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="empty parameter list"):
        bk.SGD([bk.ReLU()])
    assert bk.Linear(4, np.int64(3)).out_features == 3 and bk.Dropout(np.float64(0.25)).p == 0.25
    h = m.fit(X, y, epochs=3, verbose=0, on_nonfinite="skip")
    assert h.history["skipped_batches"] == [0.0, 0.0, 0.0]  # one entry per epoch
    assert "(None,)" in m.summary() and "Input (labels)" in m.summary()


def test_early_stopping_on_val_loss_without_validation_says_so_before_training():
    X, y = blobs(60)
    m = mlp(dropout=0.0)
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
    before = {k: np.array(v) for k, v in m.params.items()}
    with pytest.raises(ValueError, match="monitors 'val_loss' but there is no validation data"):
        m.fit(X, y, epochs=3, verbose=0, callbacks=[bk.callbacks.EarlyStopping()])
    for k, v in m.params.items():
        np.testing.assert_array_equal(v, before[k])  # nothing trained
    lin = bk.Linear(2, 2)
    with pytest.raises(TypeError):
        lin.params["weight"] = np.zeros((2, 2), np.float32)  # would not reach the block
    lin.params["weight"][...] = 1.0
    assert (lin.params["weight"] == 1.0).all()


def test_pickle_and_deepcopy_of_models_and_blocks():
    import copy
    import pickle

    X, y = blobs(90)
    m = mlp(dropout=0.0)
    m.fit(X, y, loss=bk.CrossEntropyLoss(), optimizer=bk.Adam(m, lr=0.01), epochs=2, verbose=0, seed=0)
    for twin in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        np.testing.assert_array_equal(twin.predict(X), m.predict(X))
        assert all(a is not b for a, b in zip(twin.params.values(), m.params.values()))
        twin.fit(X, y, epochs=1, verbose=0, seed=3)  # the optimizer state came along
    m.fit(X, y, epochs=1, verbose=0, seed=3)
    for a, b in zip(twin.params.values(), m.params.values()):
        np.testing.assert_array_equal(a, b)
    lin = bk.Linear(3, 2, seed=5, dtype=np.float64)
    copy_ = copy.deepcopy(lin)
    assert copy_.dtype == np.float64 and copy_.params["weight"] is not lin.params["weight"]
    np.testing.assert_array_equal(copy_.params["weight"], lin.params["weight"])
