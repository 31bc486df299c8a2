"""The recipes of docs/content/cluster.md under 2 ranks (the venv's own mpiexec, with a
timeout): the warmup schedule of the learning-rate rule, which rank 0's callback sets
and every rank follows; a schedule changed within an epoch, which the checksum catches;
and local SGD with periodic weight averaging through bricks.distributed.allreduce_."""

import textwrap

import numpy as np
import pytest

from mpi_jobs import COMMON, need_mpi
from mpi_jobs import run as run_job

need_mpi()

PRELUDE = COMMON + textwrap.dedent(
    """
    from bricks.callbacks import Callback, LearningRateScheduler
    from bricks.optim import LambdaLR

    def data(n=512, d=6, c=3):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, d)).astype(np.float32)
        return X, X[:, :c].argmax(1).astype(np.int64)

    def net(lr=0.05):
        bk.manual_seed(R)  # each rank its own initial weights: fit broadcasts rank 0's
        m = bk.Sequential(bk.Linear(6, 16), bk.ReLU(), bk.Linear(16, 3))
        m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=lr, momentum=0.9))
        return m
    """
)


def run(tmp_path, body, **kw):
    """Run PRELUDE + body as an MPI job (2 ranks unless n=)."""
    return run_job(tmp_path, PRELUDE + textwrap.dedent(body), **kw)


def test_warmup_schedule_is_rank_0s_and_every_rank_follows(tmp_path):
    # linear scaling + warmup as the page writes it: lr from base to K * base over 3 epochs
    _, res = run(
        tmp_path,
        """
        X, y = data()
        base, warmup = 0.05, 3
        m = net(base)
        h = m.fit(
            X, y, epochs=5, batch_size=K * 32, seed=0, verbose=0, distributed=True,
            callbacks=[LearningRateScheduler(LambdaLR(lambda e: min(K, 1 + (K - 1) * e / warmup)))],
        )
        dump(lr=h.history["lr"], opt_lr=m.optimizer.lr, w=weights(m), loss=h.history["loss"])
        """,
    )
    base, K = 0.05, 2
    want = [base * min(K, 1 + (K - 1) * e / 3) for e in range(5)]
    for r in res:
        assert np.allclose(r["lr"], want, rtol=1e-12), r["lr"]
        assert r["opt_lr"] == pytest.approx(K * base)  # the last epoch's rate, on rank 1 too
        assert r["loss"][-1] < r["loss"][0]
    for k in res[0]["w"]:
        assert res[0]["w"][k] == res[1]["w"][k], k  # replicas identical


def test_a_rate_changed_within_an_epoch_on_rank_0_is_caught(tmp_path):
    # batch callbacks are rank 0's: a per-batch lr change makes the replicas differ
    p, res = run(
        tmp_path,
        """
        class PerBatch(Callback):
            def on_train_batch_end(self, batch, logs=None):
                self.model.optimizer.lr = 0.01 * (batch + 1)

        X, y = data()
        m = net()
        try:
            m.fit(X, y, epochs=1, batch_size=8, seed=0, verbose=0, distributed=True, callbacks=[PerBatch()])
            dump(error=None)
        except dist.DistributedError as e:
            dump(error=str(e))
        """,
    )
    for r in res:
        assert r["error"] is not None and "the replicas differ" in r["error"], r


def test_local_sgd_with_periodic_averaging(tmp_path):
    # each rank steps on its half of every batch; every k steps the weights become the
    # mean over the ranks (the page's loop): equal replicas right after, different between
    _, res = run(
        tmp_path,
        """
        X, y = data()
        m = net()
        dist.broadcast_(m)
        params = list(m.params.values())
        flat = np.empty(sum(p.size for p in params), np.float32)
        B, k = 32, 4
        lo, hi = R * B // K, (R + 1) * B // K
        before = None
        for i in range(len(X) // B):
            m.train_step(X[i * B + lo : i * B + hi], y[i * B + lo : i * B + hi])
            if (i + 1) % k == 0:
                before = [p.copy() for p in params]
                flat[:] = np.concatenate([p.ravel() for p in params])
                dist.allreduce_(flat)
                j = 0
                for p in params:
                    p[...] = flat[j : j + p.size].reshape(p.shape)
                    j += p.size
        dump(w=weights(m), before=[b.tolist() for b in before])
        """,
    )
    a, b = res
    for k in a["w"]:
        assert a["w"][k] == b["w"][k], k  # averaged: the same weights
    # the average is the mean of the two ranks' weights just before it
    for (k, w), x, z in zip(a["w"].items(), a["before"], b["before"]):
        assert np.allclose(w, (np.asarray(x) + np.asarray(z)) / 2, atol=1e-6), k
        assert not np.array_equal(x, z), k  # between averagings the replicas drift
