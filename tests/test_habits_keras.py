"""Habits users bring from Keras and scikit-learn (issue 15): compile with string names,
model(X) as predict, random_state= and make_* names in the datasets, a CSVLogger.

Written as a user would write the code: the string spellings must do what the objects
they stand for do."""

import csv
import warnings

import numpy as np
import pytest

import bricks as bk
from bricks import datasets
from bricks.callbacks import CSVLogger, LambdaCallback


def blobs3(n=240, seed=0):
    X, y = datasets.make_blobs(n, centers=3, random_state=seed)
    return (X - X.mean(0)) / X.std(0), y


def mlp(out=3, *tail, seed=0):
    return bk.Sequential(bk.Linear(2, 16, seed=seed), bk.ReLU(), bk.Linear(16, out, seed=seed + 1), *tail)


# -- compile(loss="...", optimizer="...", metrics=[...]) ------------------------------------------
def test_compile_with_names_trains_like_the_objects_it_names():
    X, y = blobs3()
    model = mlp()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    assert isinstance(model.loss_block, bk.CrossEntropyLoss)
    assert isinstance(model.optimizer, bk.Adam)
    assert model.optimizer.lr == pytest.approx(1e-3)  # Keras's default
    history = model.fit(X, y, epochs=20, batch_size=16, seed=0, verbose=0)

    same = mlp()
    same.compile(bk.CrossEntropyLoss(), bk.Adam(same, lr=1e-3, eps=1e-7), metrics=["accuracy"])
    expected = same.fit(X, y, epochs=20, batch_size=16, seed=0, verbose=0)
    assert history.history.keys() == expected.history.keys()
    for key in expected.history:
        np.testing.assert_allclose(history.history[key], expected.history[key], rtol=1e-6)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(X, y)["accuracy"] > 0.8


@pytest.mark.parametrize(
    "name, cls, lr",
    [("sgd", bk.SGD, 0.01), ("adam", bk.Adam, 1e-3), ("adamw", bk.AdamW, 1e-3), ("Adam", bk.Adam, 1e-3)],
)
def test_optimizer_names_are_built_on_the_model_with_keras_defaults(name, cls, lr):
    model = mlp()
    model.compile("cross_entropy", name)
    assert type(model.optimizer) is cls and model.optimizer.lr == pytest.approx(lr)
    before = {k: v.copy() for k, v in model.params.items()}
    X, y = blobs3(64)
    model.train_step(X, y)  # the optimizer updates this model's weights
    assert any(not np.array_equal(before[k], v) for k, v in model.params.items())


def test_adamw_takes_keras_weight_decay():
    model = mlp()
    model.compile("mse", "adamw")
    assert model.optimizer.defaults["weight_decay"] == pytest.approx(0.004)


@pytest.mark.parametrize(
    "name, cls, outputs",
    [
        ("cross_entropy", bk.CrossEntropyLoss, 3),
        ("categorical_crossentropy", bk.CrossEntropyLoss, 3),
        ("sparse_categorical_crossentropy", bk.CrossEntropyLoss, 3),
        ("CrossEntropyLoss", bk.CrossEntropyLoss, 3),
        ("mse", bk.MSELoss, 2),
        ("mean_squared_error", bk.MSELoss, 2),
        ("bce_with_logits", bk.BCEWithLogitsLoss, 1),
        ("binary_crossentropy", bk.BCEWithLogitsLoss, 1),  # no final Sigmoid: the outputs are logits
        ("bce", bk.BCEWithLogitsLoss, 1),
    ],
)
def test_loss_names(name, cls, outputs):
    model = mlp(outputs)
    model.compile(loss=name, optimizer="sgd")
    assert type(model.loss_block) is cls


@pytest.mark.parametrize("name", ["binary_crossentropy", "bce"])
def test_binary_crossentropy_after_a_sigmoid_takes_probabilities(name):
    X, y = datasets.make_moons(200, noise=0.1, random_state=0)
    model = mlp(1, bk.Sigmoid())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no double-sigmoid warning: BCELoss takes probabilities
        model.compile(loss=name, optimizer="adam", metrics=["accuracy"])
    assert type(model.loss_block) is bk.BCELoss
    model.fit(X, y.reshape(-1, 1).astype(np.float32), epochs=3, verbose=0, seed=0)
    p = model(X)
    assert p.shape == (200, 1) and ((p >= 0) & (p <= 1)).all()


def test_categorical_crossentropy_takes_one_hot_targets():
    X, y = blobs3()
    onehot = np.eye(3, dtype=np.float32)[y]
    a, b = mlp(), mlp()
    a.compile(loss="categorical_crossentropy", optimizer="sgd")
    b.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    ha = a.fit(X, onehot, epochs=2, verbose=0, seed=0)
    hb = b.fit(X, y, epochs=2, verbose=0, seed=0)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)


def test_a_final_softmax_with_a_cross_entropy_name_warns_naming_it():
    model = mlp(3, bk.Softmax())
    with pytest.warns(
        UserWarning, match=r"'categorical_crossentropy' is bricks' CrossEntropyLoss.*logits.*Softmax"
    ) as w:
        model.compile(loss="categorical_crossentropy", optimizer="adam")
    assert w[0].filename == __file__  # the warning points at the user's line
    X, y = blobs3(30)
    with pytest.warns(UserWarning, match=r"'cross_entropy' is bricks' CrossEntropyLoss") as w:
        mlp(3, bk.Softmax()).fit(X, y, loss="cross_entropy", optimizer="sgd", verbose=0)
    assert w[0].filename == __file__


def test_fit_takes_names_too():
    X, y = blobs3()
    model = mlp()
    model.fit(X, y, loss="sparse_categorical_crossentropy", optimizer="adam", epochs=1, verbose=0)
    assert isinstance(model.optimizer, bk.Adam) and isinstance(model.loss_block, bk.CrossEntropyLoss)
    again = model.optimizer
    model.fit(X, y, optimizer="sgd", epochs=1, verbose=0)  # a new optimizer, the same loss
    assert isinstance(model.optimizer, bk.SGD) and model.optimizer is not again


def test_a_graph_model_compiles_with_names():
    x = bk.Input(2)
    model = bk.Model(x, bk.Linear(8, 3, seed=0)(bk.ReLU()(bk.Linear(2, 8, seed=1)(x))))
    model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy"])
    X, y = blobs3()
    history = model.fit(X, y, epochs=3, verbose=0, seed=0)
    assert "accuracy" in history.history and isinstance(model.optimizer, bk.Adam)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(loss="categorical_cross_entropy"), ValueError, r"unknown loss .*did you mean 'categorical_crossentropy'"),
        (dict(loss="hinge"), ValueError, r"unknown loss 'hinge'; known: \[.*'cross_entropy'.*'mse'"),
        (dict(loss="mse", optimizer="adan"), ValueError, r"unknown optimizer 'adan' \(did you mean 'adam'\?\)"),
        (dict(loss="mse", optimizer="rmsprop"), ValueError, r"known: \['adam', 'adamw', 'sgd'\]"),
        (dict(loss=3), TypeError, r"loss must be a bricks loss block"),
    ],
)
def test_unknown_names_list_the_known_ones(kwargs, exc, match):
    model = mlp()
    with pytest.raises(exc, match=match):
        model.compile(**kwargs)
    assert model.compiled_loss is None and model.optimizer is None  # left as it was


def test_keras_argument_order_is_caught():
    model = mlp()
    with pytest.raises(TypeError, match=r"swapped.*compile\(loss='categorical_crossentropy', optimizer='adam'\)"):
        model.compile("adam", "categorical_crossentropy")


# -- model(X) on arrays is predict, on nodes it builds a graph --------------------------------------
def test_calling_a_model_on_arrays_predicts():
    X, y = blobs3()
    model = bk.Sequential(bk.Linear(2, 16, seed=0), bk.ReLU(), bk.Dropout(0.5), bk.Linear(16, 3, seed=1))
    model.compile("cross_entropy", "adam")
    model.fit(X, y, epochs=1, verbose=0, seed=0)
    out = model(X)
    np.testing.assert_array_equal(out, model.predict(X))  # eval mode: Dropout off
    np.testing.assert_array_equal(model(X.tolist()), out)  # lists too
    np.testing.assert_allclose(model(X[:5]), out[:5], rtol=1e-5, atol=1e-6)  # a smaller batch


def test_calling_an_unbuilt_sequential_on_arrays_builds_it():
    model = bk.Sequential(bk.ReLU())
    X = np.arange(6, dtype=np.float32).reshape(3, 2) - 2
    np.testing.assert_array_equal(model(X), np.maximum(X, 0))


def test_calling_a_two_input_model_on_arrays():
    a, b = bk.Input(2), bk.Input(3)
    model = bk.Model([a, b], bk.Concat()(a, b))
    A, B = np.ones((4, 2), np.float32), np.zeros((4, 3), np.float32)
    np.testing.assert_array_equal(model(A, B), model.predict([A, B]))
    np.testing.assert_array_equal(model(A, B), np.hstack([A, B]))


def test_calling_a_model_on_nodes_still_builds_a_graph():
    enc = mlp()
    x = bk.Input(2)
    y = enc(x)
    assert isinstance(y, bk.Node)
    outer = bk.Model(x, bk.Softmax()(y))
    X, _ = blobs3(10)
    np.testing.assert_allclose(outer(X).sum(1), 1, rtol=1e-5)
    with pytest.raises(TypeError, match=r"nodes or arrays \(not both\)"):
        enc(x, X)
    with pytest.raises(TypeError, match=r"name= names the nodes"):
        enc(X, name="enc")


# -- scikit-learn names in the datasets ---------------------------------------------------------
@pytest.mark.parametrize(
    "fn, kw",
    [
        (datasets.xor, dict(n_repeats=3, noise=0.1)),
        (datasets.two_moons, dict(n_samples=50)),
        (datasets.spirals, dict(n_samples=60)),
        (datasets.blobs, dict(n_samples=60)),
        (datasets.make_moons, dict(n_samples=50, noise=0.1)),
        (datasets.make_blobs, dict(n_samples=60)),
    ],
)
def test_random_state_is_seed(fn, kw):
    X, y = fn(**kw, random_state=5)
    Xs, ys = fn(**kw, seed=5) if "seed" in fn.__code__.co_varnames else fn(**kw, random_state=5)
    np.testing.assert_array_equal(X, Xs)
    np.testing.assert_array_equal(y, ys)
    X6, _ = fn(**kw, random_state=6)
    assert not np.array_equal(X, X6)


def test_seed_and_random_state_together_are_an_error():
    with pytest.raises(TypeError, match=r"both seed=1 and random_state=2.*pass one of them"):
        datasets.two_moons(seed=1, random_state=2)
    X, y = datasets.iris()
    with pytest.raises(TypeError, match=r"train_test_split: got both seed"):
        datasets.train_test_split(X, y, seed=0, random_state=0)


def test_train_test_split_takes_random_state():
    X, y = datasets.iris()
    a = datasets.train_test_split(X, y, test_size=0.3, random_state=42)
    b = datasets.train_test_split(X, y, test_size=0.3, seed=42)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_make_moons_draws_scikit_learns_moons():
    sk = pytest.importorskip("sklearn.datasets")
    X, y = datasets.make_moons(101)  # scikit-learn's default noise: none
    Xs, ys = sk.make_moons(101)
    assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape == Xs.shape
    for k in (0, 1):  # the same points per class (in another order: both shuffle)
        mine = np.array(sorted(map(tuple, X[y == k])))
        theirs = np.array(sorted(map(tuple, Xs[ys == k])))
        np.testing.assert_allclose(mine, theirs, atol=1e-6)


def test_make_blobs_matches_scikit_learn_with_given_centres():
    sk = pytest.importorskip("sklearn.datasets")
    centres = [[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]]
    X, y = datasets.make_blobs(31, centers=centres, cluster_std=0.0, random_state=0)
    Xs, ys = sk.make_blobs(31, centers=centres, cluster_std=0.0, random_state=0)
    np.testing.assert_array_equal(np.bincount(y), np.bincount(ys))
    np.testing.assert_allclose(X, np.asarray(centres)[y])
    X, y = datasets.make_blobs(random_state=0)  # scikit-learn's defaults: 100 points, 3 centres, 2-D
    assert X.shape == (100, 2) and set(y.tolist()) == {0, 1, 2}


# -- CSVLogger ---------------------------------------------------------------------------------
def fit_logged(path, epochs=4, **logger):
    X, y = blobs3()
    model = mlp()
    model.compile("cross_entropy", "adam", metrics=["accuracy"])
    return model.fit(
        X, y, epochs=epochs, validation_split=0.25, verbose=0, seed=0, callbacks=[CSVLogger(path, **logger)]
    )


def test_csv_logger_writes_every_epoch_and_key(tmp_path):
    path = tmp_path / "log.csv"
    history = fit_logged(path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", *sorted(history.history)]
    assert [int(r["epoch"]) for r in rows] == history.epoch
    for key, values in history.history.items():
        np.testing.assert_allclose([float(r[key]) for r in rows], values)


def test_csv_logger_reads_back_with_pandas_and_a_separator(tmp_path):
    pd = pytest.importorskip("pandas")
    history = fit_logged(str(tmp_path / "log.csv"), separator=";")
    frame = pd.read_csv(tmp_path / "log.csv", sep=";")
    assert list(frame.columns) == ["epoch", *sorted(history.history)]
    np.testing.assert_allclose(frame["val_loss"], history.history["val_loss"])


def test_csv_logger_overwrites_or_appends(tmp_path):
    path = tmp_path / "log.csv"
    fit_logged(path, epochs=2)
    fit_logged(path, epochs=3)
    assert len(path.read_text().splitlines()) == 1 + 3  # append=False: a fresh file
    fit_logged(path, epochs=2, append=True)
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 3 + 2 and lines.count(lines[0]) == 1  # one header
    assert [line.split(",")[0] for line in lines[1:]] == ["0", "1", "2", "0", "1"]


def test_csv_logger_append_to_other_columns_is_an_error(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,1.0\n")
    with pytest.raises(ValueError, match=r"has the columns \['epoch', 'loss'\], this training logs \['epoch', 'acc"):
        fit_logged(path, append=True)


def test_csv_logger_keeps_finished_epochs_when_training_fails(tmp_path):
    path = tmp_path / "log.csv"
    X, y = blobs3()
    model = mlp()

    def boom(epoch, logs):
        if epoch == 2:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        model.fit(
            X, y, loss="cross_entropy", optimizer="sgd", epochs=5, verbose=0,
            callbacks=[CSVLogger(path), LambdaCallback(boom)],
        )  # fmt: skip
    with open(path, newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["0", "1", "2"]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(filename=3), TypeError, r"filename must be a str or a path, got int"),
        (dict(filename="a.csv", separator=", "), ValueError, r"one-character str .* got ', '"),
        (dict(filename="a.csv", append="yes"), TypeError, r"append"),
    ],
)
def test_csv_logger_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CSVLogger(**kwargs)
