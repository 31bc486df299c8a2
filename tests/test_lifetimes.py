"""The crash-free rules, each case in a fresh process (a crash there fails one test,
not the run):
1. whatever a model or block keeps from a call stays alive as long as it is used:
   no freed memory is ever read;
2. every native entry point takes the owning mutexes (a block used directly while its
   model trains elsewhere waits for it);
3. fit in a non-main thread survives interpreter exit and Ctrl-C;
plus arrays that are not aligned for their dtype (copied, never loaded misaligned) and
loss values beyond float32's range (kept in double, as the model's loss is)."""

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import bricks as bk
from children import wait_ready

PRELUDE = """
import gc, os, signal, sys, threading, time
import numpy as np
import bricks as bk
rng = np.random.default_rng(0)
"""


def run(code, timeout=120, **kw):
    r = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, **kw
    )
    assert r.returncode >= 0, f"killed by {signal.Signals(-r.returncode).name}:\n{r.stderr[-3000:]}"
    return r


def ok(code, **kw):
    r = run(code, **kw)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


# -- rule 1: lifetimes -------------------------------------------------------------------------
FREED = {
    "predict": "m.predict(X)",
    "evaluate": "m.compile(bk.MSELoss()); m.evaluate(X, np.zeros((300, 10), np.float32))",
    "train_step": "m.compile(bk.MSELoss(), bk.SGD(m, lr=0.01)); m.train_step(X, np.zeros((300, 10), np.float32))",
    "fit": "m.compile(bk.MSELoss(), bk.SGD(m, lr=0.01)); m.fit(X, np.zeros((300, 10), np.float32), verbose=0)",
}


@pytest.mark.parametrize("call", FREED)
def test_backward_after_a_call_that_kept_nothing_is_a_state_error(call):
    out = ok(f"""
        m = bk.Sequential(bk.Linear(1000, 10, seed=0))
        X = rng.normal(size=(300, 1000)).astype(np.float32)
        {FREED[call]}
        del X; gc.collect()
        big = [np.full((300, 1000), 7e3, np.float32) for _ in range(4)]  # reuse the freed memory
        try:
            m.backward(np.ones((44, 10), np.float32))
        except bk.StateError as e:
            print("StateError:", e)
        try:
            m.backward()
        except bk.StateError as e:
            print("StateError:", e)
    """)
    assert out.count("StateError: Model: backward called before forward: call forward(X)") == 2, out


def test_native_graph_holds_what_its_last_forward_viewed():
    # below the Python checks: the executor itself must not read freed inputs
    out = ok("""
        m = bk.Sequential(bk.Linear(1000, 10, seed=0))
        m.compile(bk.MSELoss(), bk.SGD(m, lr=0.01))
        X = rng.normal(size=(128, 1000)).astype(np.float32)
        Xc = X.copy()
        m.train_step(X, np.zeros((128, 10), np.float32))   # a temporary target
        del X; gc.collect()
        junk = [np.full((128, 1000), 1e30, np.float32) for _ in range(8)]
        m.zero_grad()
        m._graph.backward([], 1.0, False)
        dW = m[0].grads["weight"]
        # the same backward on a model that never lost its arrays
        r = bk.Sequential(bk.Linear(1000, 10, seed=0))
        r.compile(bk.MSELoss(), bk.SGD(r, lr=0.01))
        r.train_step(Xc, np.zeros((128, 10), np.float32))
        r.zero_grad(); r._graph.backward([], 1.0, False)
        print(np.abs(dW).max(), np.array_equal(dW, r[0].grads["weight"]))
    """)
    assert out.split()[-1] == "True", out


def test_block_keeps_its_own_copy():
    out = ok("""
        lin = bk.Linear(50, 4, seed=0)
        X = rng.normal(size=(30, 50)).astype(np.float32)
        want = X.copy()
        lin.forward(X); del X; gc.collect()
        junk = [np.full((30, 50), 1e30, np.float32) for _ in range(8)]
        lin.backward(np.ones((30, 4), np.float32))
        print(np.allclose(lin.grads["weight"], np.ones((30, 4)).T @ want, rtol=1e-5))
    """)
    assert out.split()[-1] == "True", out


# -- rule 2: one lock per block, taken by every caller ----------------------------------------------
def test_block_used_directly_while_its_model_trains():
    out = ok(
        """
        lin = bk.Linear(64, 64, seed=0)
        m = bk.Sequential(lin, bk.ReLU(), bk.Linear(64, 3, seed=1))
        m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.01))
        X = rng.normal(size=(4096, 64)).astype(np.float32); y = rng.integers(0, 3, 4096)
        errors = []
        def train():
            try:
                m.fit(X, y, epochs=3, batch_size=8, verbose=0)
            except Exception as e:
                errors.append(e)
        x = rng.normal(size=(16, 64)).astype(np.float32)
        for _ in range(20):
            t = threading.Thread(target=train); t.start()
            while t.is_alive():
                y1 = lin.forward(x)
                assert np.isfinite(y1).all()
                try:  # the model's forward may have come in between: refused, never wrong
                    dx = lin.backward(np.ones_like(y1))
                    assert dx.shape == x.shape
                except bk.StateError as e:
                    assert "forward" in str(e)
                lin.zero_grad(); lin.train(True)
                opt = bk.SGD([lin], lr=0.0); opt.step()
            t.join()
        print("errors", len(errors))
    """,
        timeout=600,
    )
    assert out.split()[-1] == "0", out


# -- rule 3: threads, exit and signals ----------------------------------------------------------------
FIT_IN_THREAD = """
m = bk.Sequential(bk.Linear(256, 256, seed=0), bk.ReLU(), bk.Linear(256, 10, seed=1))
m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.01))
X = rng.normal(size=(20000, 256)).astype(np.float32); y = rng.integers(0, 10, 20000)
started = threading.Event()
def train():
    started.set()
    m.fit(X, y, epochs=1000, batch_size=32, verbose=0)
"""


def test_interpreter_exits_while_a_daemon_thread_is_in_fit():
    r = run(
        FIT_IN_THREAD
        + textwrap.dedent("""
        t = threading.Thread(target=train, daemon=True); t.start()
        started.wait(); time.sleep(0.5)
        print("exiting", flush=True)
    """)
    )
    assert r.returncode == 0 and "exiting" in r.stdout, r.stderr[-3000:]
    assert "terminate called" not in r.stderr


def test_ctrl_c_while_main_joins_a_training_thread():
    p = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PRELUDE
            + FIT_IN_THREAD
            + textwrap.dedent("""
        t = threading.Thread(target=train, daemon=True); t.start()
        started.wait(); print("READY", flush=True)
        t.join()
    """),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(p)
        import time

        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    # Python ends an uncaught KeyboardInterrupt by re-raising SIGINT on itself: that, not SIGABRT
    assert p.returncode in (-signal.SIGINT, 1), f"ended by {p.returncode}: {err[-3000:]}"
    assert "KeyboardInterrupt" in err and "terminate called" not in err


def test_new_native_calls_after_exit_started_are_refused_not_aborted():
    # a daemon thread that keeps calling into bricks while the interpreter exits
    r = run("""
        lin = bk.Linear(512, 512, seed=0)
        x = np.ones((256, 512), np.float32)
        def spin():
            while True:
                try:
                    lin.forward(x)
                except KeyboardInterrupt:
                    pass
        for _ in range(2):
            threading.Thread(target=spin, daemon=True).start()
        time.sleep(0.3)
    """)
    assert r.returncode == 0 and "terminate called" not in r.stderr, r.stderr[-3000:]


# -- misaligned buffers and wide loss values ----------------------------------------------------------
def test_misaligned_arrays_are_copied():
    X = np.ndarray((4, 3), "f4", buffer=bytearray(49), offset=1)
    X[...] = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    assert X.ctypes.data % 4 != 0 and not X.flags.aligned
    A = np.array(X)  # an aligned copy with the same values
    for blk in (bk.Sigmoid(), bk.Linear(3, 2, seed=0), bk.Softmax()):
        np.testing.assert_array_equal(blk.forward(X), blk.forward(A))
    m = bk.Sequential(bk.Linear(3, 2, seed=0))
    np.testing.assert_array_equal(m.predict(X), m.predict(A))
    m.compile(bk.MSELoss(), bk.SGD(m, lr=0.1))
    T = np.ndarray((4, 2), "f4", buffer=bytearray(33), offset=1)
    T[...] = 1.0
    r = bk.Sequential(bk.Linear(3, 2, seed=0)).compile(bk.MSELoss(), None)
    r.compile(bk.MSELoss(), bk.SGD(r, lr=0.1))
    assert m.train_step(X, T) == r.train_step(A, np.array(T))
    np.testing.assert_array_equal(m.forward(X), r.forward(A))
    dy = np.ndarray((4, 2), "f4", buffer=bytearray(33), offset=1)
    dy[...] = 0.5
    np.testing.assert_array_equal(m.backward(dy), r.backward(np.array(dy)))


def test_loss_value_beyond_float32_range_is_the_models():
    x = np.full((2, 2), 1e20, np.float32)
    t = np.full((2, 2), -1e20, np.float32)
    loss = bk.MSELoss().forward(x, t)
    assert loss == pytest.approx(8e40, rel=1e-6)
    m = bk.Model(inp := bk.Input(2), inp)
    tgt = bk.Input(2, name="target")
    m = bk.Model([inp, tgt], [inp], loss=bk.MSELoss()(inp, tgt))
    assert m.compute_loss(x, t) == pytest.approx(loss, rel=1e-12)
