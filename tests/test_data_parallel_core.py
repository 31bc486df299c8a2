"""The native data-parallel step without MPI: threads stand in for the ranks, with an
allreduce made of a barrier (the trainer calls it with the GIL; train_batches runs
without it), so the path fit(distributed=True) takes is checked wherever the tests run
(tests/test_distributed.py runs it under mpiexec)."""

import threading

import numpy as np
import pytest

import bricks as bk
from bricks import _core


class ThreadAllreduce:
    """An allreduce between k threads: every rank gets the same sum (summed in rank order)."""

    def __init__(self, k):
        self.barrier, self.parts = threading.Barrier(k, timeout=60), [None] * k

    def for_rank(self, r):
        def reduce(flat):
            self.parts[r] = flat.copy()
            self.barrier.wait()
            total = self.parts[0].copy()
            for p in self.parts[1:]:
                total += p
            self.barrier.wait()
            flat[...] = total

        return reduce


def _net(dtype):
    m = bk.Sequential(bk.Linear(5, 12, seed=1, dtype=dtype), bk.Tanh(), bk.Linear(12, 3, seed=2, dtype=dtype))
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1, momentum=0.9))
    return m


def _data(dtype, n=203):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5)).astype(dtype)
    return X, (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1)


def train_ranks(k, dtype, batch, guard="raise", poison=None):
    """k models trained as k ranks on one data set; returns the models and their stats."""
    X, y = _data(dtype)
    comm = ThreadAllreduce(k)
    models = [_net(dtype) for _ in range(k)]
    stats, errors = [None] * k, [None] * k
    order = np.random.default_rng(1).permutation(len(X)).astype(np.int64)

    def run(r):
        m = models[r]
        data = [X.copy(), y]
        if poison is not None and r == poison:
            data[0][order[5]] = np.inf  # one bad row, on one rank only: in its share (rows 4-7) of batch 0
        try:
            m.build_for([data[0]])
            m.executor.check_data([X, y])
            stats[r] = m.executor.train_batches(
                data, order, batch, 0, 10**6, m.optimizer._core, _core.Accuracy.argmax, 1, 0.0,
                _core.NonFinite.__members__[guard], False, None, allreduce=comm.for_rank(r), rank=r, ranks=k,
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001 - reported to the test
            errors[r] = e

    ts = [threading.Thread(target=run, args=(r,)) for r in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    return models, stats, errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,batch", [(2, 16), (3, 16), (2, 1), (4, 3)])
def test_ranks_make_one_process_update_and_stay_identical(dtype, k, batch):
    models, stats, errors = train_ranks(k, dtype, batch)
    assert errors == [None] * k
    X, y = _data(dtype)
    one = _net(dtype)
    order = np.random.default_rng(1).permutation(len(X)).astype(np.int64)
    one.build_for([X])
    one.executor.check_data([X, y])
    ref = one.executor.train_batches(
        [X, y], order, batch, 0, 10**6, one.optimizer._core, _core.Accuracy.argmax, 1, 0.0,
        _core.NonFinite.__members__["raise"], False, None,
    )  # fmt: skip
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for m, st in zip(models, stats):
        assert st.samples == ref.samples == len(X) and st.batches == ref.batches
        assert st.correct == ref.correct
        assert st.loss_sum == pytest.approx(ref.loss_sum, rel=tol)
        for key, w in one.params.items():
            assert np.array_equal(m.params[key], models[0].params[key])  # bitwise replicas
            np.testing.assert_allclose(m.params[key], w, rtol=tol * 10, atol=tol)


@pytest.mark.parametrize("guard", ["raise", "skip"])
def test_a_non_finite_share_on_one_rank_is_seen_by_every_rank(guard):
    # rank 1's share of batch 0 holds an inf: every rank raises alike, or skips the batch alike
    models, stats, errors = train_ranks(2, np.float64, 8, guard=guard, poison=1)
    if guard == "raise":
        assert all(isinstance(e, _core.NonFiniteError) and "batch 0" in str(e) for e in errors), errors
        for m in models:  # the weights are those before the batch
            for key, w in _net(np.float64).params.items():
                assert np.array_equal(m.params[key], w)
    else:
        assert errors == [None, None]
        assert stats[0].skipped == stats[1].skipped == 1
        for key in models[0].params:
            assert np.array_equal(models[0].params[key], models[1].params[key])


def test_bad_rank_arguments_are_refused():
    m = _net(np.float32)
    X, y = _data(np.float32)
    m.build_for([X])
    m.executor.check_data([X, y])
    order = np.arange(len(X), dtype=np.int64)
    args = (
        [X, y],
        order,
        8,
        0,
        1,
        m.optimizer._core,
        _core.Accuracy.none,
        -1,
        0.0,
        _core.NonFinite.__members__["raise"],
        False,
    )
    with pytest.raises(ValueError, match="rank 2 of 2"):
        m.executor.train_batches(*args, None, allreduce=lambda f: None, rank=2, ranks=2)
    with pytest.raises(TypeError, match="callable"):
        m.executor.train_batches(*args, None, allreduce=3, rank=0, ranks=2)

    def boom(flat):
        raise RuntimeError("the network went away")

    before = {k: v.copy() for k, v in m.params.items()}
    with pytest.raises(RuntimeError, match="went away"):
        m.executor.train_batches(*args, None, allreduce=boom, rank=0, ranks=2)
    for k, v in m.params.items():  # nothing was updated
        assert np.array_equal(v, before[k])
