"""Max-norm on Linear weights (Srivastava et al. 2014): after every optimizer step each row
w of W (one unit's incoming weights) with ||w||_2 > c becomes w c / ||w||_2, and rows within
c stay as they are. Applied natively by the optimizer, so fit's native loop, train_step and
a bare optimizer.step() all do it; saved and loaded with the model."""

import numpy as np
import pytest

import bricks as bk

F32, F64 = np.float32, np.float64
OPTIMIZERS = {
    "SGD": lambda m, lr: bk.SGD(m, lr=lr, momentum=0.9),
    "Adam": lambda m, lr: bk.Adam(m, lr=lr),
    "AdamW": lambda m, lr: bk.AdamW(m, lr=lr),
}


def row_norms(lin):
    return np.linalg.norm(np.asarray(lin.params["weight"], F64), axis=1)


def slack(c, dtype):
    """The float64 norm of the stored values may differ from the native sum's by rounding."""
    return c * (4 * np.finfo(F64).eps)


def constrained(c, dtype, hidden=32, seed=0):
    bk.manual_seed(seed)
    d = dict(dtype=dtype)
    return bk.Sequential(
        bk.Linear(10, hidden, max_norm=c, **d),
        bk.ReLU(**d),
        bk.Dropout(0.2, **d),
        bk.Linear(hidden, 3, max_norm=c, **d),
    )


def data(dtype, n=64):
    rng = np.random.default_rng(0)
    return rng.normal(0, 3, (n, 10)).astype(dtype), rng.integers(0, 3, n)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("how", ["fit", "train_step", "step"])
def test_every_row_within_the_bound_after_large_steps(how, opt, dtype):
    c = 0.5
    model = constrained(c, dtype)
    X, y = data(dtype)
    optimizer = OPTIMIZERS[opt](model, 5.0)  # a large learning rate: rows leave the ball every step
    model.compile(bk.CrossEntropyLoss(dtype=dtype), optimizer)
    if how == "fit":
        model.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)
    elif how == "train_step":
        for i in range(0, 64, 16):
            model.train_step(X[i : i + 16], y[i : i + 16])
    else:
        for i in range(0, 64, 16):
            model.zero_grad()
            model.compute_loss(X[i : i + 16], y[i : i + 16])
            model.backward()
            optimizer.step()
    for lin in (model[0], model[3]):
        n = row_norms(lin)
        assert (n <= c + slack(c, dtype)).all(), n.max()
        assert n.max() > 0.9 * c  # the steps did push them out: the bound was acting


def test_the_same_training_without_the_bound_leaves_it(rng):
    model = constrained(0.5, F64)
    bk.manual_seed(0)
    d = dict(dtype=F64)
    free = bk.Sequential(bk.Linear(10, 32, **d), bk.ReLU(**d), bk.Dropout(0.2, **d), bk.Linear(32, 3, **d))
    X, y = data(F64)
    for m in (model, free):
        m.compile(bk.CrossEntropyLoss(dtype=F64), bk.SGD(m, lr=5.0, momentum=0.9))
        m.fit(X, y, epochs=2, batch_size=16, verbose=0, seed=0)
    assert row_norms(free[0]).max() > 0.5  # so the test above can fail
    assert row_norms(model[0]).max() <= 0.5 + slack(0.5, F64)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_rows_above_are_scaled_onto_the_bound_and_rows_within_untouched(dtype):
    c = 1.0
    lin = bk.Linear(4, 5, max_norm=c, dtype=dtype, seed=0)
    W = np.array(
        [[3.0, 4.0, 0.0, 0.0], [0.1, -0.2, 0.3, 0.4], [1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5], [-7, 1e-3, 2, 9]],
        dtype,
    )
    lin.params["weight"][...] = W
    lin.params["bias"][...] = 10.0  # biases are not constrained
    opt = bk.SGD(lin, lr=0.0)  # no update: only the constraint acts
    opt.step()
    got = np.asarray(lin.params["weight"])
    norms = np.linalg.norm(W.astype(F64), axis=1)
    above = norms > c
    np.testing.assert_array_equal(got[~above], W[~above])  # bit for bit
    want = (W.astype(F64) * (c / norms)[:, None])[above]  # Keras MaxNorm / Srivastava: w c / ||w||
    np.testing.assert_allclose(got[above], want, rtol=4 * np.finfo(dtype).eps, atol=0)
    assert (row_norms(lin)[above] <= c + slack(c, dtype)).all()
    assert (lin.params["bias"] == 10.0).all()
    np.testing.assert_array_equal(got[3], W[3])  # norm exactly 1 = c: within


def test_each_step_is_update_then_constraint_like_numpy(rng):
    """SGD with momentum and the constraint, step by step, against NumPy."""
    c, lr, mu = 0.8, 0.7, 0.9
    lin = bk.Linear(6, 4, bias=False, max_norm=c, dtype=F64, seed=3)
    opt = bk.SGD(lin, lr=lr, momentum=mu)
    W, buf = np.array(lin.params["weight"]), None
    for step in range(5):
        x, dy = rng.normal(size=(7, 6)), rng.normal(size=(7, 4))
        lin.zero_grad()
        lin.forward(x)
        lin.backward(dy)
        g = dy.T @ x
        buf = g if buf is None else mu * buf + g
        W = W - lr * buf
        n = np.linalg.norm(W, axis=1, keepdims=True)
        W = np.where(n > c, W * (c / n), W)
        opt.step()
        np.testing.assert_allclose(lin.params["weight"], W, rtol=1e-13, atol=1e-15)


def test_saved_and_loaded_and_applied_after_loading(tmp_path):
    model = constrained(0.3, F32)
    X, y = data(F32)
    model.compile(bk.CrossEntropyLoss(), bk.Adam(model, lr=1.0))
    model.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=0)
    model.save(tmp_path / "m.bricks")
    back = bk.load(tmp_path / "m.bricks")
    assert back[0].max_norm == back[3].max_norm == 0.3
    assert back[0].config()["max_norm"] == 0.3
    back.fit(X, y, epochs=1, batch_size=16, verbose=0, seed=1)
    assert (row_norms(back[0]) <= 0.3 + slack(0.3, F32)).all()
    assert bk.Linear(3, 2).max_norm is None and "max_norm" not in bk.Linear(3, 2).config()


def test_shared_weights_are_constrained_once(rng):
    x = bk.Input(4, dtype=F64)
    lin = bk.Linear(4, 4, max_norm=0.2, dtype=F64, seed=0)
    model = bk.Model(x, lin(bk.Tanh(dtype=F64)(lin(x))), share_weights=True)
    model.compile(bk.MSELoss(dtype=F64), bk.SGD(model, lr=3.0))
    X = rng.normal(size=(8, 4))
    model.train_step(X, X)
    assert (row_norms(lin) <= 0.2 + slack(0.2, F64)).all() and row_norms(lin).max() > 0.19


def test_huge_float64_rows_are_scaled_not_zeroed():
    lin = bk.Linear(3, 2, max_norm=2.0, dtype=F64, seed=0)
    lin.params["weight"][...] = [[3e200, -4e200, 0.0], [1.0, 0.0, 0.0]]  # squares overflow float64
    bk.SGD(lin, lr=0.0).step()
    np.testing.assert_allclose(lin.params["weight"][0], [1.2, -1.6, 0.0], rtol=1e-15)
    np.testing.assert_array_equal(lin.params["weight"][1], [1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "bad, exc, message",
    [
        (0, ValueError, "Linear: max_norm must be a finite number > 0, got 0.0"),
        (-1.0, ValueError, "max_norm must be a finite number > 0, got -1.0"),
        (np.inf, ValueError, "max_norm must be a finite number > 0, got inf"),
        (np.nan, ValueError, "max_norm must be a finite number > 0, got nan"),
        ("1", TypeError, "max_norm must be a number, got str"),
        (True, TypeError, "max_norm must be a number, got bool"),
        (1e300, ValueError, "max_norm must be a finite number > 0 in float32"),
    ],
)
def test_bad_max_norm(bad, exc, message):
    with pytest.raises(exc, match=message):
        bk.Linear(3, 2, max_norm=bad)
