"""bricks.sklearn: MLPClassifier / MLPRegressor against scikit-learn itself.

scikit-learn's own conformance suite (check_estimator) runs on both estimators, in
float32 (the default) and float64. The checks expected to fail in float32, and
why, are in EXPECTED_FAILED_FLOAT32 below; in float64 nothing is expected to fail.
"""

import copy
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

# scikit-learn's array-API check (run with NumPy arrays) needs this before scipy loads;
# if scipy was imported earlier without it, that one check reports itself skipped.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import bricks as bk  # noqa: E402
from bricks.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

no_convergence_warnings = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

EXPECTED_FAILED_FLOAT32 = {
    "check_methods_subset_invariance": (
        "float32 arithmetic: OpenBLAS's sgemm uses different kernels (so a different "
        "summation order) for batches of a few rows than for larger ones, so a row's "
        "outputs can differ by about one float32 ulp (up to ~5e-7) between predicting it "
        "alone and within a batch; the check's tolerance (atol = rtol = 1e-7) is below "
        "float32 resolution. The same check passes with dtype='float64'."
    ),
}
_SW_EQUIVALENCE = (
    "float32 arithmetic: weighting a sample by k and repeating it k times sum the same "
    "terms in a different order, so after 200 Adam steps the outputs differ by about "
    "1e-6 relative, above the check's rtol of 1e-7. The check passes with "
    "dtype='float64'; test_sample_weight_equivalence_float32 checks float32 at its resolution."
)
EXPECTED_FAILED_FLOAT32.update(
    check_sample_weight_equivalence_on_dense_data=_SW_EQUIVALENCE,
    check_sample_weight_equivalence_on_sparse_data=_SW_EQUIVALENCE,
)


def expected_failed_checks(est):
    return EXPECTED_FAILED_FLOAT32 if np.dtype(est.dtype) == np.float32 else {}


@no_convergence_warnings
@parametrize_with_checks(
    [MLPClassifier(), MLPRegressor(), MLPClassifier(dtype="float64"), MLPRegressor(dtype="float64")],
    expected_failed_checks=expected_failed_checks,
    xfail_strict=False,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# -- data --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    X, y = bk.datasets.digits()
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def iris():
    return bk.datasets.iris()


def smooth_regression(n=400, seed=0, two_outputs=False):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-2, 2, size=(n, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 2]
    if two_outputs:
        y = np.column_stack([y, X[:, 0] * X[:, 1]])
    return X, y


def params_equal(a, b):
    pa, pb = a.model_.params, b.model_.params
    return pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k]) for k in pa)


# -- learning ----------------------------------------------------------------------------
@no_convergence_warnings
def test_digits_accuracy(digits):
    Xtr, Xte, ytr, yte = digits
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, random_state=0).fit(Xtr, ytr)
    assert clf.score(Xte, yte) > 0.9
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    assert clf.n_features_in_ == 64 and clf.n_iter_ == len(clf.loss_curve_) >= 1
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 5
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert [c.shape for c in clf.coefs_] == [(64, 64), (64, 10)]
    assert [b.shape for b in clf.intercepts_] == [(64,), (10,)]
    p = clf.predict_proba(Xte)
    assert p.shape == (len(Xte), 10) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(Xte), np.log(p), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(Xte), p.argmax(1))


@pytest.mark.parametrize("two_outputs", [False, True])
def test_regression_r2(two_outputs):
    X, y = smooth_regression(two_outputs=two_outputs)
    Xte, yte = smooth_regression(200, seed=1, two_outputs=two_outputs)
    reg = MLPRegressor(
        hidden_layer_sizes=(64, 64), learning_rate_init=0.01, batch_size=32, max_iter=200, random_state=0
    ).fit(X, y)
    assert reg.n_iter_ < 200  # stopped by the tol / n_iter_no_change convergence test
    assert reg.score(Xte, yte) > 0.9
    pred = reg.predict(Xte)
    assert pred.shape == yte.shape and pred.dtype == np.float64
    # loss_curve_ is in scikit-learn's scale: half the squared error, averaged over samples
    # and outputs (bricks' MSELoss sums over outputs and is twice as large)
    half_mse = 0.5 * np.mean((reg.predict(X) - y) ** 2)
    assert 0.5 * half_mse < reg.loss_curve_[-1] < 2 * half_mse


def test_column_vector_target_gives_2d_predictions():
    X, y = smooth_regression(100)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        p1 = reg.fit(X, y).predict(X)
    with pytest.warns(ConvergenceWarning):
        p2 = reg.fit(X, y[:, None]).predict(X)
    assert p1.shape == (100,) and p2.shape == (100, 1)
    np.testing.assert_array_equal(p1, p2[:, 0])


@no_convergence_warnings
@pytest.mark.parametrize("labels", [["cat", "dog"], ["b", "a", "c"], [-7, 3, 10]])
def test_labels_of_any_type(labels):
    X, y = bk.datasets.blobs(n_samples=150, centers=len(labels), n_features=2, seed=0)
    ylab = np.array(labels, dtype=object if isinstance(labels[0], str) else None)[y]
    clf = MLPClassifier(
        hidden_layer_sizes=(16,), learning_rate_init=0.01, batch_size=32, max_iter=100, random_state=0
    ).fit(X, ylab)
    np.testing.assert_array_equal(clf.classes_, sorted(labels))
    pred = clf.predict(X)
    assert set(pred) <= set(labels)
    assert (pred == ylab).mean() > 0.9
    assert clf.predict_proba(X).shape == (150, len(labels))
    # probabilities are ordered like classes_: far better than uniform on the true labels
    assert log_loss(ylab, clf.predict_proba(X), labels=clf.classes_) < 0.5 * np.log(len(labels))


def test_targets_it_cannot_fit_are_errors():
    X = np.random.RandomState(0).rand(20, 3)
    with pytest.raises(ValueError, match="one class"):
        MLPClassifier().fit(X, np.zeros(20))
    with pytest.raises(ValueError, match="one class"):
        MLPClassifier().partial_fit(X, np.zeros(20), classes=[0.0])
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(X, np.linspace(0, 1, 20))
    with pytest.raises(ValueError, match="supports binary, multiclass and multilabel-indicator targets, got 'multic"):
        MLPClassifier().fit(X, np.c_[np.arange(20) % 3, np.arange(20) % 2])  # multiclass-multioutput


@pytest.mark.parametrize(
    "param, value",
    [
        ("activation", "softplus"),
        ("solver", "lbfgs"),
        ("hidden_layer_sizes", (10, 0)),
        ("alpha", -1.0),
        ("batch_size", 0),
        ("max_iter", 0),
        ("dropout", 1.0),
        ("dtype", "int32"),
        ("validation_fraction", 1.0),
        ("learning_rate_init", 0.0),
        ("momentum", 2.0),
    ],
)
def test_invalid_parameters_fail_in_fit_not_init(param, value):
    X, y = bk.datasets.blobs(n_samples=30, centers=2, n_features=2, seed=0)
    clf = MLPClassifier(**{param: value})  # stored unmodified, no error yet
    assert clf.get_params()[param] == value
    with pytest.raises(ValueError, match=param):
        clf.fit(X, y)


@no_convergence_warnings
@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_solvers_and_activations_learn(iris, solver, activation):
    X, y = iris
    X = StandardScaler().fit_transform(X)
    lr = 0.05 if solver == "sgd" else 0.01
    clf = MLPClassifier(
        hidden_layer_sizes=(16,),
        activation=activation,
        solver=solver,
        learning_rate_init=lr,
        max_iter=100,
        random_state=0,
    ).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


@no_convergence_warnings
def test_alpha_is_an_l2_penalty(iris):
    X, y = iris
    norms = []
    for alpha in (0.0, 10.0):
        clf = MLPClassifier(
            hidden_layer_sizes=(16,), alpha=alpha, learning_rate_init=0.01, batch_size=16, max_iter=100, random_state=0
        ).fit(X, y)
        norms.append(sum(float((w**2).sum()) for w in clf.coefs_))
    assert norms[1] < 0.5 * norms[0]


@no_convergence_warnings
def test_early_stopping_keeps_the_best_epoch(digits):
    Xtr, Xte, ytr, yte = digits
    clf = MLPClassifier(
        hidden_layer_sizes=(32,),
        early_stopping=True,
        n_iter_no_change=3,
        tol=0.0,
        validation_fraction=0.2,
        learning_rate_init=0.01,
        max_iter=200,
        random_state=0,
    ).fit(Xtr, ytr)
    scores = clf.validation_scores_
    assert clf.n_iter_ < 200 and len(scores) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.best_validation_score_ == max(scores) and clf.best_loss_ is None
    # scikit-learn's rule: an epoch not above the best + tol counts, a better one resets;
    # training stops once the count exceeds n_iter_no_change
    count, top, stop = 0, -np.inf, None
    for i, v in enumerate(scores):
        count = count + 1 if v < top + 0.0 else 0
        top = max(top, v)
        if count > 3:
            stop = i + 1
            break
    assert clf.n_iter_ == stop
    # the weights are those of the best epoch: its validation accuracy is reproduced
    _, Xval, _, yval = train_test_split(Xtr, ytr, test_size=0.2, stratify=ytr, random_state=_validation_seed(clf))
    assert clf.score(Xval, yval) == pytest.approx(max(scores))
    assert clf.score(Xte, yte) > 0.9


def _validation_seed(clf):
    """The seed fit drew for the validation split: after the weight seeds (one per Linear)."""
    rng = np.random.RandomState(clf.random_state)
    for _ in clf.coefs_:
        rng.randint(np.iinfo(np.int32).max)
    return int(rng.randint(np.iinfo(np.int32).max))


# -- reproducibility, pickling, partial_fit ------------------------------------------------
@no_convergence_warnings
def test_random_state_reproduces_bit_for_bit(iris):
    X, y = iris
    kw = dict(hidden_layer_sizes=(16,), dropout=0.2, max_iter=20)
    a = MLPClassifier(random_state=3, **kw).fit(X, y)
    b = MLPClassifier(random_state=3, **kw).fit(X, y)
    c = MLPClassifier(random_state=4, **kw).fit(X, y)
    assert params_equal(a, b) and a.loss_curve_ == b.loss_curve_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not params_equal(a, c)
    # refitting the same estimator, or a clone (unfitted, same parameters), gives the same network
    np.testing.assert_array_equal(a.fit(X, y).predict_proba(X), b.predict_proba(X))
    twin = clone(a)
    assert not hasattr(twin, "classes_") and twin.get_params() == a.get_params()
    np.testing.assert_array_equal(twin.fit(X, y).predict_proba(X), b.predict_proba(X))
    # a RandomState instance is consumed, as in scikit-learn: each fit draws new seeds
    d = MLPClassifier(random_state=np.random.RandomState(0), **kw)
    first = d.fit(X, y).predict_proba(X)
    assert not np.array_equal(first, d.fit(X, y).predict_proba(X))
    e1 = MLPClassifier(random_state=np.random.RandomState(5), **kw).fit(X, y)
    e2 = MLPClassifier(random_state=np.random.RandomState(5), **kw).fit(X, y)
    assert params_equal(e1, e2)


@no_convergence_warnings
def test_pickle_round_trip(digits):
    Xtr, Xte, ytr, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=10, random_state=0).fit(Xtr, ytr)
    blob = pickle.dumps(clf)
    assert b"_model_npz" in blob
    back = pickle.loads(blob)
    assert type(back) is MLPClassifier and back.get_params() == clf.get_params()
    np.testing.assert_array_equal(back.predict_proba(Xte), clf.predict_proba(Xte))
    np.testing.assert_array_equal(back.predict(Xte), clf.predict(Xte))
    assert back.loss_curve_ == clf.loss_curve_ and back.n_iter_ == clf.n_iter_
    # the optimizer state and the seed stream travel too: training continues identically
    back.partial_fit(Xtr, ytr)
    clf.partial_fit(Xtr, ytr)
    assert params_equal(back, clf) and back.loss_curve_ == clf.loss_curve_
    deep = copy.deepcopy(clf)
    assert deep.model_ is not clf.model_ and params_equal(deep, clf)
    # unfitted estimators pickle as plain parameters
    assert pickle.loads(pickle.dumps(MLPRegressor(alpha=0.5))).alpha == 0.5


@no_convergence_warnings
def test_regressor_pickle_round_trip():
    X, y = smooth_regression(100, two_outputs=True)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, dtype="float64", random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(back.predict(X), reg.predict(X))
    assert back.model_.dtype == np.float64


def test_partial_fit_classifier(digits):
    Xtr, Xte, ytr, yte = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(Xtr, ytr)
    batches = np.array_split(np.arange(len(Xtr)), 5)
    for epoch in range(8):
        for i, idx in enumerate(batches):
            clf.partial_fit(Xtr[idx], ytr[idx], classes=np.arange(10) if epoch == i == 0 else None)
    assert clf.n_iter_ == 40 and len(clf.loss_curve_) == 40 and clf.t_ == 8 * len(Xtr)
    assert clf.score(Xte, yte) > 0.9
    # a first batch may lack some classes: classes= declares them all
    fresh = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    fresh.partial_fit(Xtr[ytr < 5], ytr[ytr < 5], classes=np.arange(10))
    assert fresh.predict_proba(Xte).shape == (len(Xte), 10)
    with pytest.raises(ValueError, match="not the same"):
        fresh.partial_fit(Xtr, ytr, classes=np.arange(11))
    with pytest.raises(ValueError, match="not in classes_"):
        fresh.partial_fit(Xtr[:5], np.full(5, 12))
    with pytest.raises(ValueError, match="features"):
        fresh.partial_fit(Xtr[:, :10], ytr)


def test_partial_fit_regressor_and_after_fit():
    X, y = smooth_regression(300)
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
    for _ in range(60):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 60 and reg.score(X, y) > 0.8
    assert reg.loss_curve_[-1] < reg.loss_curve_[0] / 4
    with pytest.raises(ValueError, match="output"):
        reg.partial_fit(X, np.column_stack([y, y]))
    # partial_fit after fit continues from the fitted weights
    with pytest.warns(ConvergenceWarning):
        fitted = MLPRegressor(hidden_layer_sizes=(32,), max_iter=3, random_state=0).fit(X, y)
    before = fitted.coefs_[0].copy()
    fitted.partial_fit(X, y)
    assert fitted.n_iter_ == 4 and not np.array_equal(before, fitted.coefs_[0])


def test_unfitted_estimator_raises():
    X = np.zeros((3, 2))
    for est in (MLPClassifier(), MLPRegressor()):
        with pytest.raises(NotFittedError):
            est.predict(X)
        with pytest.raises(NotFittedError):
            est.coefs_


# -- scikit-learn's tools ----------------------------------------------------------------------
@no_convergence_warnings
def test_pipeline_with_scaler(digits):
    Xtr, Xte, ytr, yte = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=30, random_state=0))
    pipe.fit(Xtr * 16.0, ytr)
    assert pipe.score(Xte * 16.0, yte) > 0.9
    assert pipe.predict_proba(Xte[:3] * 16.0).shape == (3, 10)
    pipe.set_params(mlpclassifier__hidden_layer_sizes=(8,))
    assert pipe.fit(Xtr, ytr)[-1].coefs_[0].shape == (64, 8)


@no_convergence_warnings
def test_cross_val_score(iris):
    X, y = iris
    est = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01, random_state=0)
    )
    scores = cross_val_score(est, X, y, cv=5)
    assert scores.shape == (5,) and scores.mean() > 0.9
    reg_scores = cross_val_score(
        MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=100, random_state=0),
        *smooth_regression(300),
        cv=3,
    )
    assert reg_scores.mean() > 0.8


@no_convergence_warnings
def test_grid_search_two_processes(digits):
    Xtr, Xte, ytr, yte = digits
    grid = {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1e-2]}
    gs = GridSearchCV(MLPClassifier(max_iter=15, learning_rate_init=0.01, random_state=0), grid, cv=3, n_jobs=2)
    gs.fit(Xtr, ytr)
    assert len(gs.cv_results_["params"]) == 4
    assert np.all(np.isfinite(gs.cv_results_["mean_test_score"]))
    assert gs.best_score_ == max(gs.cv_results_["mean_test_score"]) > 0.85
    assert gs.best_params_["hidden_layer_sizes"] in grid["hidden_layer_sizes"]
    assert gs.score(Xte, yte) > 0.85
    # the workers' scores are those of the same fits done here (reproducible across processes)
    cfg = gs.cv_results_["params"][0]
    local = cross_val_score(MLPClassifier(max_iter=15, learning_rate_init=0.01, random_state=0, **cfg), Xtr, ytr, cv=3)
    assert local.mean() == pytest.approx(gs.cv_results_["mean_test_score"][0], abs=1e-12)


def test_arrays_that_went_through_pickle(iris):
    """Unpickled arrays carry a non-canonical dtype object (what joblib workers receive)."""
    X, y = pickle.loads(pickle.dumps(iris[0].astype(np.float32))), iris[1]
    assert X.dtype is not np.dtype(np.float32)
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    assert clf.predict(X).shape == (150,)
    yr = pickle.loads(pickle.dumps(X[:, 0].copy()))
    with pytest.warns(ConvergenceWarning):
        MLPRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X[:, 1:], yr)


@no_convergence_warnings
def test_sparse_and_dataframe_inputs(iris):
    sp = pytest.importorskip("scipy.sparse")
    X, y = iris
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, y)
    dense = clf.predict_proba(X)
    np.testing.assert_array_equal(
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
        .fit(sp.csr_matrix(X), y)
        .predict_proba(sp.csr_matrix(X)),
        dense,
    )
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(X, columns=list(bk.datasets.IRIS_FEATURE_NAMES))
    clf.fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, bk.datasets.IRIS_FEATURE_NAMES)
    np.testing.assert_array_equal(clf.predict_proba(df), dense)


def test_import_bricks_does_not_import_sklearn():
    code = "import sys, bricks; assert 'sklearn' not in sys.modules, 'sklearn imported'; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "ok", out.stderr  # (editable rebuild logs)


def test_sgd_step_and_convergence_rule_match_scikit_learn():
    """One full-batch SGD step from the same weights moves them as scikit-learn's does
    (regressor with several outputs: our MSE's gradient is twice theirs, the step is
    not), and the training-loss stopping rule is scikit-learn's."""
    from sklearn.neural_network import MLPRegressor as SkReg

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5))
    Y = X @ rng.normal(size=(5, 3))
    kw = dict(
        hidden_layer_sizes=(),
        solver="sgd",
        learning_rate_init=0.1,
        momentum=0.0,
        alpha=0.01,
        batch_size=64,
        max_iter=1,
        shuffle=False,
        random_state=0,
    )
    import warnings as w

    with w.catch_warnings():
        w.simplefilter("ignore", ConvergenceWarning)
        sk = SkReg(**kw).fit(X, Y)
        ours = MLPRegressor(dtype="float64", **kw)
        ours.partial_fit(X, Y)  # builds the network
        W0 = sk.coefs_[0]
        sk0 = SkReg(**kw)
        sk0.partial_fit(X, Y)
    # start both from the same weights and take one step each
    sk0.coefs_[0][...] = W0
    sk0.intercepts_[0][...] = 0.0
    lin = ours.model_[0]
    lin.params["weight"][...] = W0.T
    lin.params["bias"][...] = 0.0
    ours._model.optimizer._core.steps = 0
    sk0.partial_fit(X, Y)
    ours.partial_fit(X, Y)
    np.testing.assert_allclose(lin.params["weight"].T, sk0.coefs_[0], rtol=1e-10, atol=1e-12)
    assert ours.loss_ == ours.loss_curve_[-1] and ours.best_loss_ == min(ours.loss_curve_)
    assert ours.out_activation_ == "identity"


# -- sample_weight ---------------------------------------------------------------------------
@no_convergence_warnings
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_sample_weight_equivalence_float32(Est):
    """scikit-learn's check at float32 resolution: weight 0 is dropping a sample and an
    integer weight repeating it (full batch)."""
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    sw = rng.randint(0, 5, size=15)
    rep = Est(random_state=0, max_iter=50).fit(X.repeat(sw, axis=0), y.repeat(sw))
    wtd = Est(random_state=0, max_iter=50).fit(X, y, sample_weight=sw)
    out = (lambda e: e.predict_proba(X)) if Est is MLPClassifier else (lambda e: e.predict(X))
    np.testing.assert_allclose(out(wtd), out(rep), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(wtd.loss_curve_, rep.loss_curve_, rtol=2e-5)
    # and the weights did matter
    plain = Est(random_state=0, max_iter=50).fit(X, y)
    assert not np.allclose(out(plain), out(wtd), rtol=1e-3)


@no_convergence_warnings
def test_sample_weight_zero_samples_do_not_count_in_minibatches(digits):
    Xtr, Xte, ytr, yte = digits
    w = np.ones(len(ytr))
    w[::5] = 0
    garbage = ytr.copy()
    garbage[::5] = (ytr[::5] + 3) % 10
    kw = dict(hidden_layer_sizes=(16,), max_iter=5, batch_size=32, random_state=0, dtype="float64")
    a = MLPClassifier(**kw).fit(Xtr, ytr, sample_weight=w)
    b = MLPClassifier(**kw).fit(Xtr, garbage, sample_weight=w)
    np.testing.assert_array_equal(a.predict_proba(Xte), b.predict_proba(Xte))
    # score weighs too (scikit-learn's ClassifierMixin.score)
    wt = np.where(yte == 0, 10.0, 1.0)
    pred = a.predict(Xte)
    assert a.score(Xte, yte, sample_weight=wt) == pytest.approx(np.average(pred == yte, weights=wt))


@no_convergence_warnings
def test_sample_weight_partial_fit_and_early_stopping(digits):
    Xtr, Xte, ytr, yte = digits
    w = np.where(ytr < 5, 2.0, 0.5)
    clf = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, dtype="float64")
    for _ in range(3):
        clf.partial_fit(Xtr, ytr, sample_weight=w, classes=np.arange(10))
    ref = MLPClassifier(hidden_layer_sizes=(16,), random_state=0, dtype="float64")
    for _ in range(3):
        ref.partial_fit(Xtr, ytr, classes=np.arange(10))
    assert clf.n_iter_ == 3 and not np.allclose(clf.loss_curve_, ref.loss_curve_)
    es = MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True, max_iter=30, random_state=0)
    es.fit(Xtr, ytr, sample_weight=w)
    assert len(es.validation_scores_) == es.n_iter_ and 0.5 < es.best_validation_score_ <= 1
    reg = MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=20, random_state=0)
    Xr, yr = smooth_regression()
    reg.fit(Xr, yr, sample_weight=np.linspace(0.1, 2, len(yr)))
    assert len(reg.validation_scores_) == reg.n_iter_
    with pytest.raises(ValueError, match="zero"):
        MLPRegressor().fit(Xr, yr, sample_weight=np.zeros(len(yr)))
    with pytest.raises(ValueError, match="sample_weight"):
        MLPRegressor().fit(Xr, yr, sample_weight=np.ones(3))
