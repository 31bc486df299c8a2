"""bricks.sklearn, habits from scikit-learn (issue 15): ``warm_start`` and multilabel
targets, written as a scikit-learn user writes them and checked against scikit-learn's
own ``MLPClassifier`` / ``MLPRegressor`` on the same data."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import make_classification, make_multilabel_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from bricks.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

no_convergence_warnings = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def multilabel():
    X, Y = make_multilabel_classification(n_samples=400, n_features=10, n_classes=4, random_state=0)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, Y, test_size=0.25, random_state=0)


def binary_log_loss(Y, P):
    """scikit-learn's multilabel loss: the binary cross-entropy summed over labels, mean over samples."""
    P = np.clip(P, 1e-12, 1 - 1e-12)
    return float(-np.mean(np.sum(Y * np.log(P) + (1 - Y) * np.log(1 - P), axis=1)))


# -- multilabel ------------------------------------------------------------------------------
@no_convergence_warnings
def test_multilabel_indicator_targets_as_scikit_learn_fits_them(multilabel):
    X_train, X_test, Y_train, Y_test = multilabel
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0).fit(X_train, Y_train)
    ref = SkMLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0).fit(X_train, Y_train)

    np.testing.assert_array_equal(clf.classes_, ref.classes_)
    assert clf.out_activation_ == ref.out_activation_ == "logistic"
    assert clf.n_outputs_ == ref.n_outputs_ == Y_train.shape[1]
    assert [c.shape for c in clf.coefs_] == [c.shape for c in ref.coefs_]

    pred = clf.predict(X_test)
    assert pred.shape == ref.predict(X_test).shape == Y_test.shape
    assert pred.dtype.kind == ref.predict(X_test).dtype.kind == "i"
    assert set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(X_test)
    assert proba.shape == ref.predict_proba(X_test).shape == Y_test.shape
    assert ((proba > 0) & (proba < 1)).all()
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    np.testing.assert_allclose(clf.predict_log_proba(X_test), np.log(proba), rtol=1e-6, atol=1e-12)

    # score is the subset accuracy (every label of a sample right), as scikit-learn's
    assert clf.score(X_test, Y_test) == accuracy_score(Y_test, pred)
    assert clf.score(X_test, Y_test) < np.mean(pred == Y_test)  # stricter than per-label accuracy
    # it learns as well as scikit-learn's network of the same shape
    assert clf.score(X_test, Y_test) >= ref.score(X_test, Y_test) - 0.1
    chance = np.mean([np.all(np.random.default_rng(i).integers(0, 2, Y_test.shape) == Y_test, 1) for i in range(5)])
    assert clf.score(X_test, Y_test) > chance + 0.2


@no_convergence_warnings
def test_multilabel_loss_is_scikit_learns_binary_log_loss(multilabel):
    X, _, Y, _ = multilabel
    # full batches: the first epoch's loss is the loss at the starting weights, which a warm
    # start takes from the previous fit, whose probabilities we can compute
    clf = MLPClassifier(hidden_layer_sizes=(8,), batch_size=len(X), max_iter=3, alpha=0.0, random_state=0)
    clf.set_params(warm_start=True).fit(X, Y)
    P = clf.predict_proba(X)
    clf.fit(X, Y)
    assert clf.loss_curve_[3] == pytest.approx(binary_log_loss(Y, P), rel=1e-5)


def test_multilabel_works_in_cross_validation_and_pickles(multilabel):
    X, _, Y, _ = multilabel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0), X, Y, cv=3)
        clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0, early_stopping=True).fit(X, Y)
    assert scores.shape == (3,) and ((scores > 0) & (scores <= 1)).all()
    assert all(0 <= s <= 1 for s in clf.validation_scores_)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_multilabel_partial_fit_and_target_mismatches(multilabel):
    X, _, Y, _ = multilabel
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    for _ in range(3):
        clf.partial_fit(X, Y, classes=np.arange(Y.shape[1]))
    assert clf.predict(X).shape == Y.shape and len(clf.loss_curve_) == 3
    with pytest.raises(ValueError, match="y has 3 labels, but MLPClassifier was fitted with 4"):
        clf.partial_fit(X, Y[:, :3])
    with pytest.raises(ValueError, match="y is a vector of labels, but MLPClassifier was fitted on multilabel"):
        clf.partial_fit(X, Y[:, 0])
    with pytest.raises(ValueError, match=r"classes must be their indices array\(\[0, 1, 2, 3\]\)"):
        MLPClassifier().partial_fit(X, Y, classes=["a", "b", "c", "d"])


# -- warm_start --------------------------------------------------------------------------
def three_classes(n=200):
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, n_classes=3, random_state=1)
    return StandardScaler().fit_transform(X), y


def full_batch_classifier(**kw):
    return MLPClassifier(hidden_layer_sizes=(16,), batch_size=10_000, max_iter=5, alpha=0.0, random_state=0, **kw)


@no_convergence_warnings
def test_warm_start_continues_from_the_previous_weights():
    X, y = three_classes()
    clf = full_batch_classifier(warm_start=True).fit(X, y)
    first_curve, P = list(clf.loss_curve_), clf.predict_proba(X)
    clf.fit(X, y)
    # the curve grows, and the second fit's first loss is the cross-entropy of the first
    # fit's final weights: it started from them
    assert len(clf.loss_curve_) == 10 and clf.loss_curve_[:5] == first_curve
    assert clf.loss_curve_[5] == pytest.approx(-np.mean(np.log(P[np.arange(len(y)), y])), rel=1e-5)
    assert clf.loss_curve_[5] < first_curve[0]

    fresh = full_batch_classifier().fit(X, y)  # warm_start=False: every fit starts over
    fresh.fit(X, y)
    assert fresh.loss_curve_ == first_curve


@no_convergence_warnings
def test_warm_start_counts_as_scikit_learn_does():
    X, y = three_classes(200)
    ours = full_batch_classifier(warm_start=True)
    ref = SkMLPClassifier(hidden_layer_sizes=(16,), batch_size=200, max_iter=5, random_state=0, warm_start=True)
    for _ in range(2):
        ours.fit(X, y)
        ref.fit(X, y)
        assert (len(ours.loss_curve_), ours.n_iter_, ours.t_) == (len(ref.loss_curve_), ref.n_iter_, ref.t_)
    assert ours.best_loss_ == min(ours.loss_curve_)


def test_warm_start_carries_the_stopping_rule_on_as_scikit_learn_does():
    # tol so large that no epoch improves: the first fit stops after 1 + n_iter_no_change + 1
    # epochs; warm, the count goes on, so the next fit stops after its first epoch
    X, y = three_classes(200)
    kw = dict(hidden_layer_sizes=(16,), tol=100.0, n_iter_no_change=2, random_state=0, warm_start=True)
    ours, ref = MLPClassifier(**kw), SkMLPClassifier(**kw)
    for _ in range(2):
        ours.fit(X, y)
        ref.fit(X, y)
        assert ours.n_iter_ == ref.n_iter_
    assert (ours.n_iter_, len(ours.loss_curve_)) == (1, 5)


@no_convergence_warnings
def test_warm_start_regressor_continues():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    y = (y - y.mean()) / y.std()
    reg = MLPRegressor(hidden_layer_sizes=(16,), batch_size=200, max_iter=5, alpha=0.0, random_state=0)
    reg.set_params(warm_start=True).fit(X, y)
    pred = reg.predict(X)
    reg.fit(X, y)
    ref = SkMLPRegressor(hidden_layer_sizes=(16,), batch_size=200, max_iter=5, random_state=0, warm_start=True)
    ref.fit(X, y).fit(X, y)
    assert len(reg.loss_curve_) == len(ref.loss_curve_) == 10
    # scikit-learn's squared_error at the weights the first fit left
    assert reg.loss_curve_[5] == pytest.approx(0.5 * np.mean((pred - y) ** 2), rel=1e-5)
    with pytest.raises(ValueError, match="y has 2 output"):
        reg.fit(X, np.c_[y, y])


@no_convergence_warnings
def test_warm_start_refuses_other_classes_or_another_network():
    X, y = three_classes(120)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        clf.fit(X, np.where(y == 2, 1, y))
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must stay \(8,\) \(got \(4,\)\).*warm_start=False"):
        clf.set_params(hidden_layer_sizes=(4,)).fit(X, y)
    clf.set_params(warm_start=False).fit(X, y)  # starts over: any network
    assert [c.shape for c in clf.coefs_] == [(X.shape[1], 4), (4, 3)]
    with pytest.raises(ValueError, match="warm_start must be True or False"):
        MLPClassifier(warm_start="yes").fit(X, y)
