"""The pooled matrix product (bricks' own threads taking panels of one product, each a
single-threaded OpenBLAS call; docs/content/architecture.md, Threads): the same bits at
every thread count above 1 (the cut does not depend on it), the one-thread product to
rounding (OpenBLAS's edge kernels may round a panel's last columns differently from the
whole call's), NumPy in float64 as an independent reference; every transposition, both
float dtypes, sizes around the panel edges; several Python threads at once; the
threading knob and its errors. No timings here: the speed is bench/train_speed.py --busy."""

import multiprocessing
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import bricks as bk
from bricks import _core


@pytest.fixture(autouse=True)
def _restore():
    mode, n = bk.get_threading(), bk.get_num_threads()
    yield
    bk.set_threading(mode)
    bk.set_num_threads(n)


def _operands(rng, ta, tb, m, n, k, dtype):
    a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(dtype)
    b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(dtype)
    c = rng.uniform(-1, 1, (m, n)).astype(dtype)
    return a, b, c


def _gemm(threads, ta, tb, a, b, c, alpha, beta):  # in the current threading mode
    bk.set_num_threads(threads)
    return _core._gemm(ta, tb, a, b, c, alpha, beta)


# around the 128-column minimum and the 16-column strips; cut along N, along M; the
# smallest pooled product (64 x 512 x 128 = 2**22 multiply-adds)
SHAPES = [
    (96, 255, 173),
    (96, 256, 173),
    (96, 257, 173),
    (96, 383, 173),
    (80, 1000, 61),
    (1000, 100, 64),
    (64, 512, 128),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta,tb", [(False, False), (False, True), (True, False), (True, True)])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_pooled_product_has_the_same_bits_at_every_thread_count(rng, dtype, ta, tb, shape):
    m, n, k = shape
    a, b, c = _operands(rng, ta, tb, m, n, k, dtype)
    one = _gemm(1, ta, tb, a, b, c, 0.75, 0.5)
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    want = 0.75 * (opa.astype(np.float64) @ opb.astype(np.float64)) + 0.5 * c
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(one, want, rtol=0, atol=tol * np.sqrt(k))
    two = _gemm(2, ta, tb, a, b, c, 0.75, 0.5)
    assert two.dtype == dtype
    np.testing.assert_allclose(two, want, rtol=0, atol=tol * np.sqrt(k))
    if shape == (96, 255, 173):  # one panel: not cut, one call as at one thread
        assert two.tobytes() == one.tobytes()
    for threads, mode in ((2, "pool"), (3, "pool"), (4, "pool"), (2, "auto"), (3, "auto")):
        bk.set_threading(mode)
        split = _core._gemm_split(m, n, k, threads)
        assert split == _core._gemm_split(m, n, k, 2) and (split[2] >= 2) == (shape != (96, 255, 173)), split
        got = _gemm(threads, ta, tb, a, b, c, 0.75, 0.5)
        assert got.tobytes() == two.tobytes(), f"{threads} threads, {mode}, split {split}"
    bk.set_threading("openblas")  # OpenBLAS's own split: to rounding
    np.testing.assert_allclose(_gemm(2, ta, tb, a, b, c, 0.75, 0.5), want, rtol=0, atol=tol * np.sqrt(k))


def test_beta_zero_ignores_what_c_held(rng):
    a, b, _ = _operands(rng, False, True, 128, 512, 96, np.float32)
    c = np.full((128, 512), np.nan, np.float32)
    got = _gemm(2, False, True, a, b, c, 1.0, 0.0)
    assert np.isfinite(got).all()
    assert got.tobytes() == _gemm(1, False, True, a, b, c, 1.0, 0.0).tobytes()


def test_linear_forward_and_backward_match_at_every_thread_count(rng):
    """The three products a Linear makes (x W^T, dy^T x, dy W), at the large network's
    shapes: the same bits at 2-4 threads, the one-thread values to rounding."""
    x = rng.standard_normal((256, 784), dtype=np.float32)
    lin = bk.Linear(784, 2048, seed=3)
    dy = rng.standard_normal((256, 2048), dtype=np.float32)
    runs = []
    for threads in (1, 2, 3, 4):
        bk.set_num_threads(threads)
        lin.zero_grad()
        y = lin.forward(x)
        dx = lin.backward(dy)
        runs.append((y, dx, lin.grads["weight"].copy()))
    for r in runs[2:]:
        assert all(a.tobytes() == b.tobytes() for a, b in zip(r, runs[1]))
    for a, b in zip(runs[1], runs[0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_threads_report_the_users_choice_in_either_mode():
    assert bk.get_threading() in ("auto", "pool", "openblas")
    for mode in ("auto", "pool", "openblas"):
        bk.set_threading(mode)
        bk.set_num_threads(3)
        assert bk.get_threading() == mode and bk.get_num_threads() == 3


@pytest.mark.parametrize(
    "bad,exc,msg",
    [
        ("static", ValueError, r"set_threading: mode must be 'auto', 'pool' or 'openblas', got 'static'"),
        (2, ValueError, r"set_threading: mode must be 'auto', 'pool' or 'openblas', got 2"),
        (None, ValueError, r"set_threading: mode must be 'auto', 'pool' or 'openblas', got None"),
    ],
)
def test_set_threading_refuses_other_modes(bad, exc, msg):
    before = bk.get_threading()
    with pytest.raises(exc, match=msg):
        bk.set_threading(bad)
    assert bk.get_threading() == before


def test_the_private_gemm_checks_its_arguments():
    f32 = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match=r"expected op\(A\) \(M, K\), op\(B\) \(K, N\) and C \(M, N\)"):
        _core._gemm(False, False, f32, np.ones((3, 4), np.float32), f32, 1.0, 0.0)
    with pytest.raises(TypeError, match="float32 or float64"):
        _core._gemm(False, False, f32.astype(np.int32), f32, f32, 1.0, 0.0)


def test_several_python_threads_at_once_get_the_one_thread_bits(rng):
    """Models and raw products in four Python threads at 2 pool threads: the pool serves
    one product at a time, the others run their panels alone; every result has the bits
    of the same work done alone, and the workers did take panels."""
    a, b, c = _operands(rng, False, True, 128, 768, 256, np.float32)
    X = rng.standard_normal((128, 300), dtype=np.float32)
    y = rng.integers(0, 10, 128)

    def model():
        bk.manual_seed(5)
        m = bk.Sequential(bk.Linear(300, 512), bk.ReLU(), bk.Linear(512, 10))
        m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.01, momentum=0.9))
        return m

    bk.set_threading("pool")  # always the pool: "auto" may step back on a loaded machine
    bk.set_num_threads(2)
    want_c = _core._gemm(False, True, a, b, c, 1.0, 1.0).tobytes()
    ref = model()
    for _ in range(5):
        ref.train_step(X, y)
    want_w = ref.state_dict()["0.weight"].tobytes()

    _core._gemm_pool_stats(True)
    bad = []

    def products():
        for _ in range(40):
            if _core._gemm(False, True, a, b, c, 1.0, 1.0).tobytes() != want_c:
                bad.append("gemm")

    def training():
        m = model()
        for _ in range(5):
            m.train_step(X, y)
        if m.state_dict()["0.weight"].tobytes() != want_w:
            bad.append("train")

    ts = [threading.Thread(target=f) for f in (products, products, training, training)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad
    stats = _core._gemm_pool_stats(True)
    assert stats["jobs"] + stats["serial_jobs"] >= 80 and stats["worker_panels"] > 0, stats


def _child(q):
    a = np.ones((128, 512), np.float32)
    q.put(
        float(
            _core._gemm(
                False, False, a, np.ones((512, 512), np.float32), np.zeros((128, 512), np.float32), 1.0, 0.0
            ).sum()
        )
    )


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
def test_a_forked_child_multiplies_with_a_pool_of_its_own():
    """The workers do not survive a fork: the child starts its own instead of waiting
    for threads it does not have."""
    bk.set_num_threads(2)
    a = np.ones((128, 512), np.float32)
    _core._gemm(False, False, a, np.ones((512, 512), np.float32), np.zeros((128, 512), np.float32), 1.0, 0.0)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert q.get(timeout=5) == 128 * 512 * 512


def test_auto_times_both_ways_of_a_shape_and_keeps_the_bits(rng):
    """ "auto" runs a new shape on the pool first, then on the calling thread alone (to
    time both), then the faster: the same panels every time, so the same bits."""
    a, b, c = _operands(rng, True, False, 136, 520, 200, np.float64)  # a shape no other test uses
    bk.set_threading("pool")
    want = _gemm(2, True, False, a, b, c, 1.0, 1.0).tobytes()
    bk.set_threading("auto")
    _core._gemm_pool_stats(True)
    outs = [_gemm(2, True, False, a, b, c, 1.0, 1.0).tobytes() for _ in range(12)]
    stats = _core._gemm_pool_stats(True)
    assert all(o == want for o in outs)
    assert stats["serial_jobs"] == 0 and stats["jobs"] >= 1 and stats["alone_jobs"] >= 1, stats
    assert stats["jobs"] + stats["alone_jobs"] == 12, stats


@pytest.mark.parametrize("env,want", [(None, "pool"), ("auto", "auto"), ("openblas", "openblas"), ("pool", "pool")])
def test_the_default_mode_and_bricks_threading(env, want):
    """ "pool" unless BRICKS_THREADING says otherwise (read before the first product)."""
    e = {k: v for k, v in os.environ.items() if k != "BRICKS_THREADING"}
    if env:
        e["BRICKS_THREADING"] = env
    code = "import bricks as bk; bk.set_num_threads(3); print(bk.get_threading(), bk.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == [want, "3"]
