"""One accuracy: each loss declares its rule (Loss.accuracy_rule) and fit's native
counters, evaluate, bk.metrics.accuracy(..., loss=), predict_proba and the estimators
all apply it, on logits and on probabilities alike."""

import numpy as np
import pytest

import bricks as bk

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 5)).astype(np.float32)


def _model(loss, out, head=()):
    m = bk.Sequential(bk.Linear(5, 8, seed=1), bk.Tanh(), bk.Linear(8, out, seed=2), *head)
    return m.compile(loss, bk.SGD(m, lr=0.0))  # lr 0: the weights fit counts with are evaluate's


CASES = {
    "cross-entropy on logits": (lambda: _model(bk.CrossEntropyLoss(), 3), RNG.integers(0, 3, 200)),
    "BCE with logits": (
        lambda: _model(bk.BCEWithLogitsLoss(), 2),
        (RNG.uniform(size=(200, 2)) > 0.5).astype(np.float32),
    ),
    "BCE on probabilities": (
        lambda: _model(bk.BCELoss(), 1, (bk.Sigmoid(),)),
        (RNG.uniform(size=(200, 1)) > 0.5).astype(np.float32),
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_fit_evaluate_and_metrics_agree(case):
    make, y = CASES[case]
    m = make()
    logged = m.fit(X, y, epochs=1, batch_size=32, shuffle=False, verbose=0).history["accuracy"][0]
    evaluated = m.evaluate(X, y)["accuracy"]
    measured = bk.metrics.accuracy(y, m.predict(X), loss=m.loss_block)
    assert logged == evaluated == measured
    assert 0.0 < measured < 1.0  # a real mix of right and wrong


def test_logits_are_thresholded_at_zero_not_one_half():
    m, y = CASES["BCE with logits"][0](), CASES["BCE with logits"][1]
    logits = m.predict(X)
    rule = bk.metrics.accuracy(y, logits, loss=m.loss_block)
    assert rule == np.mean(((logits > 0) == (y > 0.5)).all(1))
    # and the probabilities predict_proba gives, read at 0.5, say the same
    assert rule == np.mean(((m.predict_proba(X) > 0.5) == (y > 0.5)).all(1))


def test_losses_declare_what_they_imply():
    assert (
        bk.CrossEntropyLoss.target_kind,
        bk.CrossEntropyLoss.probability_map,
        bk.CrossEntropyLoss.accuracy_rule,
    ) == ("labels", "softmax", "argmax")
    assert (
        bk.BCEWithLogitsLoss.target_kind,
        bk.BCEWithLogitsLoss.probability_map,
        bk.BCEWithLogitsLoss.accuracy_rule,
    ) == ("probabilities", "sigmoid", 0.0)
    assert (bk.BCELoss.target_kind, bk.BCELoss.probability_map, bk.BCELoss.accuracy_rule) == (
        "probabilities",
        "identity",
        0.5,
    )
    assert (bk.MSELoss.target_kind, bk.MSELoss.probability_map, bk.MSELoss.accuracy_rule) == ("values", None, None)
    with pytest.raises(ValueError, match="no accuracy"):
        bk.MSELoss().correct(np.zeros((2, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="not a classification loss"):
        bk.MSELoss().probabilities(np.zeros((2, 1)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_score_is_the_same_accuracy():
    pytest.importorskip("sklearn")
    from bricks.sklearn import MLPClassifier

    y = RNG.integers(0, 3, 200)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)
    model = clf.model_
    assert clf.score(X, y) == bk.metrics.accuracy(y, model.predict(X), loss=model.loss_block)
