"""Training features: sample and class weights (losses, fit, evaluate), CrossEntropyLoss's
class weights against PyTorch, ReduceLROnPlateau, and metrics= in compile/fit/evaluate."""

import numpy as np
import pytest
from registry import SPECS

import bricks as bk

LOSS_SPECS = [s for s in SPECS if s.is_loss]


def weights_for(rng, n):
    w = rng.uniform(0.0, 3.0, n)
    w[::3] = 0.0  # zero weights too: those samples must not count at all
    return w


# -- the losses, natively ----------------------------------------------------------------------
@pytest.mark.parametrize("spec", LOSS_SPECS, ids=lambda s: s.id)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_loss_matches_numpy_reference(spec, dtype, rng):
    shape = (7, 4)
    blk = spec.build(shape[1], dtype)
    xs = spec.inputs(rng, shape, dtype)
    w = weights_for(rng, shape[0])
    blk.sample_weight = w
    y = blk.forward(*xs)
    g = blk.backward(0.7)
    ctx = spec.context(blk, shape)
    y_ref, vjp = spec.ref(*[x if x.dtype.kind == "i" else x.astype(np.float64) for x in xs], **ctx, sample_weight=w)
    gx_ref, _ = vjp(0.7)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(y, y_ref, **tol)
    for gi, ri in zip(g, gx_ref):
        assert (gi is None) == (ri is None)
        if ri is not None:
            np.testing.assert_allclose(gi, ri, **tol)
    # the weights stay for the next forwards until cleared; cleared, the loss is plain
    assert blk.forward(*xs) == y
    blk.sample_weight = None
    plain = spec.ref(*[x if x.dtype.kind == "i" else x.astype(np.float64) for x in xs], **ctx)[0]
    np.testing.assert_allclose(blk.forward(*xs), plain, **tol)
    assert blk.sample_weight is None


@pytest.mark.parametrize("spec", LOSS_SPECS, ids=lambda s: s.id)
def test_weighted_loss_full_jacobians(spec, rng):
    """float64 finite differences of every input, with sample weights set."""
    shape = (3, 4)
    blk = spec.build(shape[1])
    xs = spec.inputs(rng, shape)
    blk.sample_weight = np.array([0.5, 0.0, 2.5])
    assert bk.gradcheck(blk, *xs)
    for i, x in enumerate(xs):
        if x.dtype.kind == "f":
            J = bk.jacobian(blk, *xs, wrt=i)
            ctx = spec.context(blk, shape)
            J_ref = [
                vjp_row for vjp_row in np.ravel(spec.ref(*xs, **ctx, sample_weight=blk.sample_weight)[1](1.0)[0][i])
            ]
            np.testing.assert_allclose(J.ravel(), J_ref, rtol=1e-12, atol=1e-14)


def test_sample_weight_errors(rng):
    loss = bk.MSELoss(dtype="float64")
    x = rng.normal(size=(4, 2))
    with pytest.raises(ValueError, match="sample weights have 3 entries but the batch has 4 rows"):
        loss.sample_weight = np.ones(3)
        loss.forward(x, x)
    with pytest.raises(ValueError, match=r"sample_weight must be finite and >= 0, got -1.0 at index 1"):
        loss.sample_weight = [1.0, -1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"finite and >= 0, got nan"):
        loss.sample_weight = [1.0, np.nan, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"of shape \(N,\)"):
        loss.sample_weight = np.ones((4, 1))
    with pytest.raises(TypeError, match="1-D array of numbers"):
        loss.sample_weight = "abc"


# -- CrossEntropyLoss(weight=) against PyTorch --------------------------------------------------
@pytest.mark.parametrize("target", ["labels", "rows", "soft rows"])
def test_cross_entropy_class_weights_match_torch(target, rng):
    torch = pytest.importorskip("torch")
    n, c = 9, 4
    x = rng.normal(size=(n, c))
    w = np.array([0.5, 2.0, 0.0, 1.25])
    if target == "labels":
        t = rng.integers(0, c, n)
    elif target == "rows":
        t = np.eye(c)[rng.integers(0, c, n)]
    else:
        t = rng.uniform(0, 1, (n, c))
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t, requires_grad=t.dtype.kind == "f")
    ref = torch.nn.functional.cross_entropy(xt, tt, weight=torch.tensor(w))
    ref.backward()
    loss = bk.CrossEntropyLoss(weight=w, dtype="float64")
    got = loss.forward(x, t)
    gx, gt = loss.backward()
    np.testing.assert_allclose(got, ref.item(), rtol=1e-13)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    if target == "labels":
        assert gt is None
    else:
        np.testing.assert_allclose(gt, tt.grad.numpy(), rtol=1e-12, atol=1e-15)
    # float32 too
    l32 = bk.CrossEntropyLoss(weight=w)
    np.testing.assert_allclose(l32.forward(x.astype(np.float32), t), ref.item(), rtol=1e-5)


def test_cross_entropy_weight_is_checked_saved_and_copied(tmp_path):
    with pytest.raises(ValueError, match="weight must be finite and >= 0, got -1.0 at index 1"):
        bk.CrossEntropyLoss(weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="weight must have a weight above 0, got only zeros"):
        bk.CrossEntropyLoss(weight=[0, 0])
    with pytest.raises(TypeError, match="weight must be a 1-D array of numbers, got dict"):
        bk.CrossEntropyLoss(weight={0: 1.0})
    loss = bk.CrossEntropyLoss(weight=[1.0, 2.0, 3.0], dtype="float64")
    with pytest.raises(ValueError, match="weight has 3 class weights but the prediction has 4 classes"):
        loss.forward(np.zeros((2, 4)), np.array([0, 1]))
    assert loss.config() == {"weight": [1.0, 2.0, 3.0], "dtype": "float64"}
    model = bk.Sequential(bk.Linear(2, 3, dtype="float64"))
    model.compile(loss, bk.SGD(model, lr=0.1))
    model.save(tmp_path / "m.npz")
    back = bk.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.loss_block.weight, [1.0, 2.0, 3.0])
    X, y = np.random.default_rng(0).normal(size=(6, 2)), np.array([0, 1, 2, 2, 1, 0])
    assert back.evaluate(X, y) == model.evaluate(X, y)


# -- fit and evaluate ---------------------------------------------------------------------------
def blobs(n=60, c=3, seed=0):
    r = np.random.default_rng(seed)
    y = r.integers(0, c, n)
    X = r.normal(size=(n, 4)) + y[:, None]
    return X, y


def make(seed=0, out=3, loss=None, lr=0.1, dtype="float64"):
    model = bk.Sequential(
        bk.Linear(4, 8, dtype=dtype, seed=seed), bk.Tanh(dtype=dtype), bk.Linear(8, out, dtype=dtype, seed=seed + 1)
    )
    model.compile(loss or bk.CrossEntropyLoss(dtype=dtype), bk.SGD(model, lr=lr))
    return model


def params(model):
    return {k: np.array(v) for k, v in model.params.items()}


def test_zero_weight_is_dropping_and_integer_weight_is_repeating():
    """Full batch: weights 0 / k train as the data without / with k copies of a sample."""
    X, y = blobs()
    w = np.random.default_rng(1).integers(0, 4, len(y))
    weighted, repeated = make(), make()
    hw = weighted.fit(X, y, sample_weight=w, batch_size=len(y), epochs=5, shuffle=False, verbose=0)
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    hr = repeated.fit(Xr, yr, batch_size=len(yr), epochs=5, shuffle=False, verbose=0)
    np.testing.assert_allclose(hw.history["loss"], hr.history["loss"], rtol=1e-12)
    for k, v in params(weighted).items():
        np.testing.assert_allclose(v, params(repeated)[k], rtol=1e-10, atol=1e-12)
    # evaluate with the weights gives the repeated set's loss, too
    np.testing.assert_allclose(
        weighted.evaluate(X, y, sample_weight=w)["loss"], weighted.evaluate(Xr, yr)["loss"], rtol=1e-12
    )


def test_shuffled_minibatches_keep_each_sample_with_its_weight():
    """Weight-0 samples whose targets differ change nothing, bit for bit, however the
    batches are shuffled: the weights travel with their rows."""
    X, y = blobs(n=50)
    w = np.ones(len(y))
    w[::4] = 0.0
    y2 = y.copy()
    y2[::4] = (y[::4] + 1) % 3
    a, b = make(), make()
    a.fit(X, y, sample_weight=w, batch_size=8, epochs=3, seed=3, verbose=0)
    b.fit(X, y2, sample_weight=w, batch_size=8, epochs=3, seed=3, verbose=0)
    for k, v in params(a).items():
        np.testing.assert_array_equal(v, params(b)[k])
    c = make()  # and the weights did something: unweighted, the labels matter
    c.fit(X, y2, batch_size=8, epochs=3, seed=3, verbose=0)
    assert any(not np.array_equal(v, params(c)[k]) for k, v in params(a).items())


@pytest.mark.parametrize(
    "loss, y_of",
    [
        (lambda: bk.CrossEntropyLoss(dtype="float64"), lambda y: y),
        (lambda: bk.CrossEntropyLoss(dtype="float64"), lambda y: np.eye(3)[y]),  # one-hot rows: argmax
    ],
)
def test_class_weight_is_sample_weight_by_class(loss, y_of):
    X, y = blobs()
    cw = {0: 0.5, 2: 3.0}  # class 1 weighs 1
    a, b, c = make(loss=loss()), make(loss=loss()), make(loss=loss())
    a.fit(X, y_of(y), class_weight=cw, batch_size=16, epochs=2, seed=0, verbose=0)
    b.fit(X, y_of(y), sample_weight=np.array([0.5, 1.0, 3.0])[y], batch_size=16, epochs=2, seed=0, verbose=0)
    c.fit(X, y_of(y), class_weight=np.array([0.5, 1.0, 3.0]), batch_size=16, epochs=2, seed=0, verbose=0)
    for k, v in params(a).items():
        np.testing.assert_array_equal(v, params(b)[k])
        np.testing.assert_array_equal(v, params(c)[k])


def test_class_weight_binary_column_and_scale_invariance():
    X, y = blobs(c=2)
    t = y[:, None].astype(np.float64)
    a = make(out=1, loss=bk.BCEWithLogitsLoss(dtype="float64"))
    b = make(out=1, loss=bk.BCEWithLogitsLoss(dtype="float64"))
    a.fit(X, t, class_weight={0: 1.0, 1: 4.0}, batch_size=16, epochs=2, seed=0, verbose=0)
    # the weights' scale does not matter: they are made mean 1 over the data
    b.fit(X, t, sample_weight=np.where(y == 1, 40.0, 10.0), batch_size=16, epochs=2, seed=0, verbose=0)
    for k, v in params(a).items():
        np.testing.assert_allclose(v, params(b)[k], rtol=1e-13, atol=1e-15)


def test_weighted_loss_logged_is_the_weighted_mean():
    """The epoch's loss and val_loss are sum(w l) / sum(w) of the per-sample losses."""
    X, y = blobs()
    w = np.random.default_rng(2).uniform(0, 2, len(y))
    model = make(lr=0.0)  # lr 0: every batch sees the same model
    h = model.fit(X, y, sample_weight=w, validation_data=(X, y, w), batch_size=7, epochs=1, verbose=0)
    per_sample = np.array([model.evaluate(X[i : i + 1], y[i : i + 1])["loss"] for i in range(len(y))])
    expect = (w * per_sample).sum() / w.sum()
    np.testing.assert_allclose(h.history["loss"][0], expect, rtol=1e-12)
    np.testing.assert_allclose(h.history["val_loss"][0], expect, rtol=1e-12)
    np.testing.assert_allclose(model.evaluate(X, y, sample_weight=w, batch_size=5)["loss"], expect, rtol=1e-12)
    # accuracy is not weighted (Keras's metrics=)
    assert h.history["val_accuracy"][0] == model.evaluate(X, y)["accuracy"]


def test_validation_split_keeps_the_weights_of_the_held_out_samples():
    X, y = blobs()
    w = np.random.default_rng(4).uniform(0.5, 2, len(y))
    model = make(lr=0.0)
    h = model.fit(X, y, sample_weight=w, validation_split=0.25, epochs=1, verbose=0)
    cut = len(y) - 15
    np.testing.assert_allclose(
        h.history["val_loss"][0], model.evaluate(X[cut:], y[cut:], sample_weight=w[cut:])["loss"], rtol=1e-12
    )


def test_weight_errors_are_clear():
    X, y = blobs()
    model = make()
    n = len(y)
    with pytest.raises(ValueError, match=rf"fit: sample_weight must be of shape \({n},\), got shape \(3,\)"):
        model.fit(X, y, sample_weight=np.ones(3), verbose=0)
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0, got inf at index 0"):
        model.fit(X, y, sample_weight=np.r_[np.inf, np.ones(n - 1)], verbose=0)
    with pytest.raises(ValueError, match="fit: the sample weights are all zero"):
        model.fit(X, y, sample_weight=np.zeros(n), verbose=0)
    with pytest.raises(ValueError, match="class_weight.*classes must be an int in \\[0, 2\\], got 3"):
        model.fit(X, y, class_weight={3: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"class_weight must be of shape \(3,\)"):
        model.fit(X, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="all zero"):
        model.fit(X, y, class_weight={0: 0, 1: 0, 2: 0}, verbose=0)
    with pytest.raises(ValueError, match="evaluate: sample_weight must be of shape"):
        model.evaluate(X, y, sample_weight=np.ones(n + 1))
    reg = make(out=2, loss=bk.MSELoss(dtype="float64"))
    with pytest.raises(ValueError, match="class_weight needs class targets, but MSELoss's targets are values"):
        reg.fit(X, np.zeros((n, 2)), class_weight={0: 1.0}, verbose=0)
    multi = make(out=2, loss=bk.BCEWithLogitsLoss(dtype="float64"))
    with pytest.raises(ValueError, match="2 independent 0/1 targets per sample"):
        multi.fit(X, np.zeros((n, 2)), class_weight={0: 1.0}, verbose=0)
    # several losses: sample weights go to each, class weights are ambiguous
    x, t1, t2 = (bk.Input(k, dtype="float64") for k in (4, 2, 2))
    lin = bk.Linear(4, 2, dtype="float64")
    h = lin(x)
    two = bk.Model([x, t1, t2], h, loss=[bk.MSELoss(dtype="float64")(h, t1), bk.MSELoss(dtype="float64")(h, t2)])
    two.optimizer = bk.SGD(two, lr=0.01)
    with pytest.raises(ValueError, match="class_weight needs a model with one loss, this one has 2"):
        two.fit([X, np.zeros((n, 2)), np.ones((n, 2))], class_weight={0: 1.0}, verbose=0)
    two.fit([X, np.zeros((n, 2)), np.ones((n, 2))], sample_weight=np.ones(n), verbose=0)


def test_fit_leaves_the_losses_unweighted():
    X, y = blobs()
    model = make()
    model.fit(X, y, sample_weight=np.arange(len(y), dtype=float), verbose=0)
    assert model.loss_block.sample_weight is None
    a = model.evaluate(X, y)["loss"]
    per = [model.evaluate(X[i : i + 1], y[i : i + 1])["loss"] for i in range(len(y))]
    np.testing.assert_allclose(a, np.mean(per), rtol=1e-12)


# -- ReduceLROnPlateau ----------------------------------------------------------------------------
def drive(cb, values, lr=1.0, key="val_loss"):
    """Run the callback over given per-epoch values; the lr each epoch trained with."""
    model = make(lr=lr)
    cb.model = model
    cb.on_train_begin()
    lrs = []
    for epoch, v in enumerate(values):
        lrs.append(model.optimizer.lr)
        cb.on_epoch_end(epoch, {key: v})
    return lrs, model.optimizer.lr


def test_reduce_lr_on_plateau_by_hand():
    # flat losses, patience 2, cooldown 1 (Keras): reduce after 2 epochs without
    # improvement; in the cooldown epoch the count restarts, and counts that epoch
    lrs, last = drive(bk.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1), [1.0] * 7)
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25] and last == 0.125
    # improvements reset the count; min_lr is a floor; min_delta decides what improves
    cb = bk.callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.05, min_delta=0.1)
    lrs, last = drive(cb, [1.0, 0.8, 0.75, 0.5, 0.45, 0.44, 0.43])
    assert lrs == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.05, 0.05]) and last == pytest.approx(0.05)
    # "max" (auto for accuracy)
    lrs, _ = drive(
        bk.callbacks.ReduceLROnPlateau("val_accuracy", factor=0.5, patience=1), [0.5, 0.6, 0.6], key="val_accuracy"
    )
    assert lrs == [1.0, 1.0, 1.0] and cb.mode == "min"


@pytest.mark.parametrize("threshold_mode", ["abs", "rel"])
@pytest.mark.parametrize("mode", ["min", "max"])
def test_reduce_lr_on_plateau_matches_torch(threshold_mode, mode):
    """Without cooldown Keras's patience p is PyTorch's p - 1 (it reduces after more
    than `patience` bad epochs, Keras after `patience`)."""
    torch = pytest.importorskip("torch")
    vals = list(np.random.default_rng(0).choice([1.0, 0.99, 0.999, 0.98, 1.01], 40))
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=mode, factor=0.5, patience=2, threshold=1e-3, threshold_mode=threshold_mode, min_lr=1e-3
    )
    expect = []
    for v in vals:
        expect.append(opt.param_groups[0]["lr"])
        sched.step(v)
    cb = bk.callbacks.ReduceLROnPlateau(
        mode=mode, factor=0.5, patience=3, min_delta=1e-3, threshold_mode=threshold_mode, min_lr=1e-3
    )
    lrs, _ = drive(cb, vals)
    np.testing.assert_allclose(lrs, expect, rtol=1e-12)
    assert len(set(expect)) > 2  # the sequence did reduce, more than once


def test_reduce_lr_on_plateau_in_fit_with_early_stopping():
    X, y = blobs()
    model = make(lr=0.5)
    cbs = [
        bk.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0),  # never improves
        bk.callbacks.EarlyStopping(monitor="loss", patience=3, min_delta=10.0),
    ]
    h = model.fit(X, y, epochs=20, callbacks=cbs, verbose=0)
    assert h.history["lr"] == [0.5, 0.5, 0.25, 0.125]  # stopped after 1 + 3 epochs
    assert model.optimizer.lr == 0.0625


def test_reduce_lr_on_plateau_errors():
    X, y = blobs()
    model = make()
    with pytest.raises(
        ValueError,
        match=(
            r"fit: ReduceLROnPlateau monitors 'val_acc', which fit does not log; "
            r"it logs \['loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr'\]"
        ),
    ):
        model.fit(X, y, validation_split=0.2, callbacks=[bk.callbacks.ReduceLROnPlateau("val_acc")], verbose=0)
    with pytest.raises(ValueError, match="monitors 'val_loss' but there is no validation data"):
        model.fit(X, y, callbacks=[bk.callbacks.ReduceLROnPlateau()], verbose=0)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: factor must be a number in \(0, 1\), got 1.0"):
        bk.callbacks.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match="threshold_mode must be 'abs' or 'rel'"):
        bk.callbacks.ReduceLROnPlateau(threshold_mode="relative")
    with pytest.raises(ValueError, match="patience must be"):
        bk.callbacks.ReduceLROnPlateau(patience=-1)

    # a metric one's own callback adds to the logs is not refused at the start
    def add(epoch, logs):
        logs["mine"] = 1.0

    model.fit(X, y, callbacks=[add, bk.callbacks.ReduceLROnPlateau("mine")], epochs=2, verbose=0)


# -- metrics= ------------------------------------------------------------------------------------
def test_metrics_in_fit_are_the_metrics_of_the_predictions():
    X, y = blobs()
    Xv, yv = blobs(seed=1)
    model = make()
    model.compile(model.loss_block, model.optimizer, metrics=["top_k_accuracy"])

    def worst_margin(y_true, y_pred):
        return float(np.min(y_pred[np.arange(len(y_true)), y_true]))

    h = model.fit(X, y, validation_data=(Xv, yv), metrics=["acc", worst_margin], epochs=2, seed=0, verbose=0)
    assert list(h.history) == [
        "loss",
        "accuracy",
        "top_k_accuracy",
        "worst_margin",
        "val_loss",
        "val_accuracy",
        "val_top_k_accuracy",
        "val_worst_margin",
    ]
    # on the epoch's final weights, in eval mode; accuracy stays fit's native running count
    assert h.history["worst_margin"][-1] == worst_margin(y, model.predict(X))
    ref = make()
    ref_h = ref.fit(X, y, validation_data=(Xv, yv), epochs=2, seed=0, verbose=0)
    assert h.history["accuracy"] == ref_h.history["accuracy"] and h.history["loss"] == ref_h.history["loss"]
    assert h.history["val_worst_margin"][-1] == worst_margin(yv, model.predict(Xv))
    assert h.history["val_top_k_accuracy"][-1] == bk.metrics.top_k_accuracy(yv, model.predict(Xv), 3) == 1.0
    res = model.evaluate(Xv, yv, metrics=[worst_margin])
    assert set(res) == {"loss", "accuracy", "top_k_accuracy", "worst_margin"}
    assert res["accuracy"] == h.history["val_accuracy"][-1]


def test_metrics_for_regression():
    X, y = blobs()
    t = np.stack([y, -y], 1).astype(np.float64)
    model = make(out=2, loss=bk.MSELoss(dtype="float64"), lr=0.01)
    h = model.fit(X, t, metrics=["mae", "mse"], validation_data=(X, t), epochs=2, verbose=2)
    pred = model.predict(X)
    np.testing.assert_allclose(h.history["mae"][-1], bk.metrics.mae(t, pred), rtol=1e-12)
    np.testing.assert_allclose(h.history["val_mse"][-1], bk.metrics.mse(t, pred), rtol=1e-12)
    # MSELoss sums over the 2 outputs, mse averages over them
    np.testing.assert_allclose(h.history["val_loss"][-1], 2 * bk.metrics.mse(t, pred), rtol=1e-12)


def test_metric_errors():
    X, y = blobs()
    model = make()
    with pytest.raises(
        ValueError, match=r"fit: unknown metric 'f1'; known: \['accuracy', 'mae', 'mse', 'top_k_accuracy'\]"
    ):
        model.fit(X, y, metrics=["f1"], verbose=0)
    with pytest.raises(ValueError, match="confusion_matrix is not a number per epoch"):
        model.evaluate(X, y, metrics=[bk.metrics.confusion_matrix])
    with pytest.raises(TypeError, match="compile: each metric must be a name or a callable, got int"):
        model.compile(model.loss_block, metrics=[3])
    with pytest.raises(TypeError, match="metric 'bad' must return a number, got str"):

        def bad(y_true, y_pred):
            return "x"

        model.evaluate(X, y, metrics=[bad])
