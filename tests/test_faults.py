"""Faults during training: non-finite numbers, overflow-prone inputs, threads, Ctrl-C.

(a) fit stops on a non-finite loss/gradient with a NonFiniteError naming the epoch and the
    batch and leaves the weights of the last finite step (or skips the batch on request);
    logits of ±1e4 and sigmoid(-1e4) train without leaving the finite numbers.
(b) two models trained in two threads at once end bit-identical to the same models trained
    one after the other, and native training lets other Python threads run (GIL released).
(c) SIGINT during a long fit returns control within a second (measured from outside) and
    leaves a model equal to one trained for exactly the steps that completed.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import bricks as bk
from children import wait_ready

F32, F64 = np.float32, np.float64


def params(m):
    return [np.array(v) for v in m.params.values()]


def assert_params_equal(a, b, what):
    for k, (p, q) in enumerate(zip(a, b)):
        np.testing.assert_array_equal(p, q, err_msg=f"{what}: parameter {k}")


def finite(m):
    return all(np.isfinite(v).all() for v in m.params.values())


# -- (a) non-finite numbers ----------------------------------------------------------------------------
def doubling():
    """w ← w − 1.5 · 2w = −2w on every step: |w| doubles until float32 overflows (6 rows, 3 batches/epoch)."""
    m = bk.Sequential(bk.Linear(1, 1, bias=False, seed=0))
    m[0].params["weight"][...] = 1.0
    return m.compile(bk.MSELoss(), bk.SGD(m, lr=1.5)), np.ones((6, 1), F32), np.zeros((6, 1), F32)


def first_bad_step(m, X, T, batch_size):
    """Replay fit(shuffle=False) one train_step at a time: (step, weights before it) of the first
    step whose loss, gradient or update is not finite."""
    for step in range(10_000):
        lo = step * batch_size % len(X)
        before = params(m)
        loss = m.train_step(X[lo : lo + batch_size], T[lo : lo + batch_size])
        if not (np.isfinite(loss) and finite(m) and all(np.isfinite(g).all() for g in m.grads.values())):
            return step, before
    raise AssertionError("never diverged")


def test_nonfinite_names_epoch_and_batch_and_keeps_the_last_finite_weights():
    m, X, T = doubling()
    with np.errstate(over="ignore", invalid="ignore"):
        step, want = first_bad_step(doubling()[0], X, T, 2)  # a twin, one train_step at a time
    epoch, batch = divmod(step, 3)
    assert epoch >= 2, "the scenario must fail in a later epoch, so that the epoch number matters"
    with pytest.raises(bk.NonFiniteError) as e:
        m.fit(X, T, epochs=1000, batch_size=2, shuffle=False, verbose=0)
    assert_params_equal(params(m), want, "the weights are not those of the last finite step")
    assert np.isfinite(m.predict(X)).all()
    msg = str(e.value)
    # 0- or 1-based numbering are both fine; the numbers must be the right ones
    assert re.search(rf"\bbatch {batch}\b|\bbatch {batch + 1}\b", msg), (
        f"the batch ({batch}, 0-based) is not named: {msg}"
    )
    assert re.search(rf"\bepoch {epoch}\b|\bepoch {epoch + 1}\b", msg), (
        f"the epoch ({epoch}, 0-based) is not named: {msg}"
    )


def bad_batch_data(n=32, bad=slice(8, 16)):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(F32)
    T = rng.normal(size=(n, 2)).astype(F32)
    T[bad] = 3e38  # finite targets whose squared error overflows: batch 1 has a non-finite loss
    return X, T


def regressor():
    m = bk.Sequential(bk.Linear(4, 8, seed=1), bk.Tanh(), bk.Linear(8, 2, seed=2))
    return m.compile(bk.MSELoss(), bk.SGD(m, lr=0.01, momentum=0.9))


def test_nonfinite_loss_raises_at_the_bad_batch_with_the_weights_before_it():
    X, T = bad_batch_data()
    m, twin = regressor(), regressor()
    with pytest.raises(bk.NonFiniteError, match=r"non-finite (loss|gradient)") as e:
        m.fit(X, T, epochs=3, batch_size=8, shuffle=False, verbose=0)
    assert re.search(r"\bbatch [12]\b", str(e.value)), str(e.value)
    twin.fit(X[:8], T[:8], epochs=1, batch_size=8, shuffle=False, verbose=0)  # batch 0 only
    assert_params_equal(params(m), params(twin), "weights after the failed fit")
    h = m.fit(X[:8], T[:8], epochs=1, batch_size=8, shuffle=False, verbose=0)  # and training goes on
    assert np.isfinite(h.history["loss"][0]) and finite(m)


def test_skip_drops_exactly_the_bad_batches():
    X, T = bad_batch_data()
    m, twin = regressor(), regressor()
    h = m.fit(X, T, epochs=2, batch_size=8, shuffle=False, verbose=0, on_nonfinite="skip")
    keep = np.r_[0:8, 16:32]  # the same batches without the bad one
    h2 = twin.fit(X[keep], T[keep], epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert h.history["skipped_batches"] == [1.0, 1.0]
    assert h.history["loss"] == h2.history["loss"]
    assert_params_equal(params(m), params(twin), "skip must train on the other batches only")


BIG = 1e4


def overflow_case(kind):
    """(model, X, targets): a model whose logits (or sigmoid input) reach ±1e4 on the data."""
    rng = np.random.default_rng(1)
    X = rng.choice([-1.0, 1.0], size=(64, 4)).astype(F32)
    if kind == "ce":
        m = bk.Sequential(bk.Linear(4, 3, seed=3))
        y, loss = rng.integers(0, 3, 64), bk.CrossEntropyLoss()
    elif kind == "bce-logits":
        m = bk.Sequential(bk.Linear(4, 2, seed=3))
        y, loss = rng.integers(0, 2, (64, 2)).astype(F32), bk.BCEWithLogitsLoss()
    else:  # sigmoid(-1e4) into BCELoss
        m = bk.Sequential(bk.Linear(4, 2, seed=3), bk.Sigmoid())
        y, loss = rng.integers(0, 2, (64, 2)).astype(F32), bk.BCELoss()
    w = m[0].params["weight"]
    w[...] = BIG / 4 * np.sign(w + (w == 0))  # |logit| = 1e4 for every ±1 input row
    if "bias" in m[0].params:
        m[0].params["bias"][...] = 0
    return m.compile(loss, bk.SGD(m, lr=1e-3)), X, y


def reference_loss(kind, z, y):
    z = z.astype(F64)
    if kind == "ce":
        ls = z - z.max(1, keepdims=True)
        ls -= np.log(np.exp(ls).sum(1, keepdims=True))
        return -ls[np.arange(len(y)), y].mean()
    if kind == "bce-logits":
        return (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).sum() / len(z)
    p = np.exp(-np.logaddexp(0, -z))
    lp, lq = (np.maximum(np.log(np.maximum(v, 1e-300)), -100) for v in (p, 1 - p))
    return -(y * lp + (1 - y) * lq).sum() / len(z)


@pytest.mark.parametrize("kind", ["ce", "bce-logits", "sigmoid-bce"])
def test_overflow_prone_inputs_stay_finite_in_training(kind):
    m, X, y = overflow_case(kind)
    logits = m[0].forward(X)
    assert np.abs(logits).max() == pytest.approx(BIG)
    want = reference_loss(kind, logits, y)
    assert np.isfinite(want) and want > 10  # these logits are confidently wrong for many rows
    assert m.evaluate(X, y)["loss"] == pytest.approx(want, rel=1e-5)
    h = m.fit(X, y, epochs=3, batch_size=16, shuffle=False, verbose=0)  # on_nonfinite="raise"
    assert all(np.isfinite(v) for v in h.history["loss"]) and finite(m)
    assert "skipped_batches" not in h.history
    assert np.isfinite(m.predict(X)).all()


# -- (b) threads ---------------------------------------------------------------------------------------
def thread_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 32)).astype(F32)
    return X, (X[:, :3].sum(1) > 0).astype(np.int64) + (X[:, 3] > 1)


def thread_model(seed):
    m = bk.Sequential(
        bk.Linear(32, 64, seed=seed), bk.ReLU(), bk.Dropout(0.2, seed=seed + 1), bk.Linear(64, 3, seed=seed + 2)
    )
    return m.compile(bk.CrossEntropyLoss(), bk.Adam(m, lr=1e-3))


def train(m, seed, X, y, out):
    out[seed] = m.fit(X, y, epochs=3, batch_size=32, seed=seed, verbose=0).history


def test_two_threads_give_the_results_of_two_sequential_runs():
    X, y = thread_data()
    alone, hist_alone = {}, {}
    for seed in (1, 2):
        alone[seed] = thread_model(seed)
        train(alone[seed], seed, X, y, hist_alone)
    for _ in range(3):  # races show up only sometimes: try a few times
        models, hist = {s: thread_model(s) for s in (1, 2)}, {}
        threads = [threading.Thread(target=train, args=(models[s], s, X, y, hist)) for s in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in (1, 2):
            assert hist[s] == hist_alone[s], f"model {s}: training history differs when run in a thread"
            assert_params_equal(params(models[s]), params(alone[s]), f"model {s} trained in a thread")


def spin(seconds):
    """Iterations of a pure-Python loop in `seconds` (progress of this thread)."""
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        k += 1
    return k


def test_native_training_releases_the_gil():
    X, y = thread_data()
    X = np.tile(X, (4, 1))
    y = np.tile(y, 4)
    m = thread_model(1)
    base = spin(0.5)
    t = threading.Thread(target=m.fit, args=(X, y), kwargs=dict(epochs=50, batch_size=64, verbose=0))
    t.start()
    time.sleep(0.05)
    during = spin(0.5)
    still_training = t.is_alive()
    m.stop_training = True  # ends fit after the current epoch
    t.join()
    assert still_training, "fit finished too early to measure; make it longer"
    # with the GIL held during each ~0.1 s native call, this thread would get ~5 % of its speed
    assert during > 0.25 * base, f"this thread ran at {during / base:.0%} of its speed while fit trained"


# -- (c) Ctrl-C ------------------------------------------------------------------------------------------
CTRL_C = textwrap.dedent("""
    import json, signal, sys, time
    # Ctrl-C as a terminal delivers it: a parent started in the background may have
    # left SIGINT ignored, which Python would inherit.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import bricks as bk
    rows, width, layers, batch = map(int, sys.argv[1:])
    bk.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 256)).astype(np.float32)
    y = rng.integers(0, 10, rows)
    def model():
        blocks, k = [], 256
        for i in range(layers):
            blocks += [bk.Linear(k, width, seed=i), bk.ReLU()]
            k = width
        m = bk.Sequential(*blocks, bk.Linear(k, 10, seed=99))
        return m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.01, momentum=0.9))
    m = model()
    print("READY", flush=True)
    t0 = time.perf_counter()
    try:
        m.fit(X, y, epochs=1000, batch_size=batch, seed=7, verbose=0)
        print("FINISHED", flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
    res = {"fit_seconds": time.perf_counter() - t0, "steps": m.optimizer._core.steps}
    res["finite"] = all(bool(np.isfinite(v).all()) for v in m.params.values())
    p = m.predict(X[:100])
    res["predict_ok"] = p.shape == (100, 10) and bool(np.isfinite(p).all())
    # the same steps replayed one train_step at a time (fit's order: one permutation per epoch)
    twin, r, s = model(), np.random.default_rng(7), 0
    while s < res["steps"]:
        order = r.permutation(len(X))
        for lo in range(0, len(X), batch):
            if s == res["steps"]:
                break
            idx = order[lo:lo + batch]
            twin.train_step(X[idx], y[idx])
            s += 1
    res["equals_replay"] = all(np.array_equal(a, b) for a, b in zip(m.params.values(), twin.params.values()))
    h = m.fit(X[:256], y[:256], epochs=1, batch_size=64, verbose=0)
    res["fit_again_ok"] = bool(np.isfinite(h.history["loss"][0])) and all(
        bool(np.isfinite(v).all()) for v in m.params.values())
    print("RESULT " + json.dumps(res), flush=True)
""")


@pytest.mark.parametrize(
    "rows, width, layers, batch, wait, min_steps",
    [
        (20000, 512, 2, 64, 1.0, 1),  # minibatches of ~2 ms: fit returns to Python between chunks of batches
        # full-batch gradient descent: one step is ~2.5 s of native work, so the signal lands
        # inside the first step, which must be dropped whole (the replay of 0 steps is the initial model)
        (2048, 2048, 6, 2048, 0.5, 0),
    ],
    ids=["minibatch", "full batch"],
)
def test_ctrl_c_during_fit_returns_within_a_second_with_a_consistent_model(rows, width, layers, batch, wait, min_steps):
    p = subprocess.Popen(
        [sys.executable, "-c", CTRL_C, *map(str, (rows, width, layers, batch))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(p)
        time.sleep(wait)
        assert p.poll() is None, "fit ended before the signal"
        sent = time.perf_counter()
        os.kill(p.pid, signal.SIGINT)
        got = {}

        def read():
            got["line"] = p.stdout.readline().strip()
            got["t"] = time.perf_counter()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(10)
        assert "t" in got, "no answer 10 s after SIGINT: fit does not honour Ctrl-C"
        latency = got["t"] - sent
        assert got["line"] == "INTERRUPTED", f"{got['line']!r}; stderr: {p.stderr.read()[-2000:]}"
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    res = json.loads(next(line[7:] for line in out.splitlines() if line.startswith("RESULT ")))
    print(f"SIGINT -> KeyboardInterrupt in {latency * 1000:.0f} ms after {res['steps']} steps; {res}")
    assert latency < 1.0, f"Ctrl-C took {latency:.2f} s to return control (the issue asks for 1 s)"
    assert res["steps"] >= min_steps and res["finite"] and res["predict_ok"] and res["fit_again_ok"], res
    assert res["equals_replay"], f"the interrupted model is not the model after {res['steps']} whole steps"


CTRL_C_TWO_THREADS = textwrap.dedent("""
    import json, signal, sys, threading
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import bricks as bk
    bk.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4096, 64)).astype(np.float32)
    y = rng.integers(0, 10, len(X))

    def model(seed):
        m = bk.Sequential(bk.Linear(64, 128, seed=seed), bk.ReLU(), bk.Linear(128, 10, seed=seed + 1))
        return m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.01, momentum=0.9))

    worker, out = model(5), {}

    def train_worker():
        try:
            worker.fit(X, y, epochs=EPOCHS, batch_size=32, seed=3, verbose=0)
            out["worker"] = "finished"
        except BaseException as e:
            out["worker"] = repr(e)

    EPOCHS = int(sys.argv[1])
    t = threading.Thread(target=train_worker)
    t.start()
    main = model(1)
    print("READY", flush=True)
    try:
        main.fit(X, y, epochs=100000, batch_size=32, seed=7, verbose=0)
        out["main"] = "finished"
    except KeyboardInterrupt:
        out["main"] = "interrupted"
    out["worker_alive_after_interrupt"] = t.is_alive()
    t.join()
    alone = model(5)
    alone.fit(X, y, epochs=EPOCHS, batch_size=32, seed=3, verbose=0)
    out["worker_equals_alone"] = all(np.array_equal(a, b) for a, b in
                                     zip(worker.params.values(), alone.params.values()))
    print("RESULT " + json.dumps(out), flush=True)
""")


def test_ctrl_c_stops_the_main_threads_fit_only():
    """SIGINT stops the fit of the main thread; a fit running in another thread at that
    moment goes on undisturbed and ends with the weights of the same training alone."""
    p = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_TWO_THREADS, "1500"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_ready(p)
        time.sleep(0.5)
        os.kill(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    res = json.loads(next(line[7:] for line in out.splitlines() if line.startswith("RESULT ")))
    assert res["main"] == "interrupted", res
    assert res["worker"] == "finished", f"the other thread's fit did not finish normally: {res}"
    assert res["worker_alive_after_interrupt"], f"the worker ended before the signal: make EPOCHS larger {res}"
    assert res["worker_equals_alone"], res


def test_one_model_and_one_block_used_from_four_threads():
    """Calls on one model (or one block) from several threads are serialised natively:
    every predict and every forward returns what a single thread gets."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1797, 64)).astype(np.float32)
    m = bk.Sequential(bk.Linear(64, 32, seed=0), bk.ReLU(), bk.Linear(32, 10, seed=1))
    lin = bk.Linear(64, 8, seed=2)
    ref_m, ref_b = m.predict(X), lin.forward(X[:5])
    bad = []

    def run():
        for _ in range(20):
            if not np.array_equal(m.predict(X), ref_m):
                bad.append("predict")
            if not np.array_equal(lin.forward(X[:5]), ref_b):
                bad.append("block forward")

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad, f"{len(bad)} of 160 calls differ from the single-thread result: {sorted(set(bad))}"
