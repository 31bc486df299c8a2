"""Inference (issue 14): the small-M product kernel against float64 NumPy and against
the OpenBLAS path, its fused bias and activation, predict's inference forward (the
graph fuses Linear + ReLU/Sigmoid/Tanh) and predict(out=). test_isa.py runs this file
again once per instruction-set path (BRICKS_ISA=baseline|avx2|avx512).

Tolerance: each output is one dot product of length K summed in another order than
OpenBLAS's (and than NumPy's), so |got - exact| <= K eps (|X| |W|^T + |b|) elementwise,
eps of the dtype; sigmoid and tanh add their own 4 ulp (test_kernels.py) on top of a
1-Lipschitz map of that error.
"""

import numpy as np
import pytest

import bricks as bk
from bricks import _core

ACTS = {
    "none": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
}
LIMIT = _core.small_m_limit()
# K and N off every vector width and tile (tails), and one large enough to be split
# over two threads (M N K >= 2^17 multiply-adds)
SHAPES = [(37, 19), (64, 8), (600, 300)]


@pytest.fixture(autouse=True)
def _restore():
    threads, limit = bk.get_num_threads(), _core.small_m_limit()
    yield
    bk.set_num_threads(threads)
    _core.set_small_m_limit(limit)


def bound(X, W, b, dt):
    eps = np.finfo(dt).eps
    K = X.shape[1]
    return K * eps * (np.abs(X).astype(np.float64) @ np.abs(W).T.astype(np.float64) + np.abs(b)) + 8 * eps


def data(M, K, N, dt, seed=0):
    rng = np.random.default_rng(seed + 1000 * M + K)
    return (
        rng.standard_normal((M, K)).astype(dt),
        rng.standard_normal((N, K)).astype(dt),
        rng.standard_normal(N).astype(dt),
    )


def ulps(got, want):
    """The largest |got - want| in ulp of want."""
    want = np.asarray(want)
    return float(np.max(np.abs(got.astype(np.float64) - want) / np.spacing(np.abs(want).astype(want.dtype))))


def test_the_limit_is_above_one_row():
    assert LIMIT >= 8


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("K, N", SHAPES)
def test_small_m_kernel_matches_float64_and_blas(K, N, act, dt, threads):
    bk.set_num_threads(threads)
    for M in range(1, LIMIT + 2):  # the kernel's every row count, and the first BLAS one
        X, W, b = data(M, K, N, dt)
        exact = X.astype(np.float64) @ W.T.astype(np.float64) + b
        tol = bound(X, W, b, dt)
        y = _core._linear_forward(X, W, b, act)
        assert y.dtype == dt and y.shape == (M, N)
        assert np.all(np.abs(y - ACTS[act](exact)) <= tol), (M, np.abs(y - ACTS[act](exact)).max())
        _core.set_small_m_limit(0)  # the OpenBLAS path, same epilogue
        z = _core._linear_forward(X, W, b, act)
        _core.set_small_m_limit(LIMIT)
        assert np.all(np.abs(y - z) <= 2 * tol)
        if act == "relu":  # exact zeros where the pre-activation is negative
            assert np.all(y[exact < -tol] == 0)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_no_bias_and_activation_of_the_unfused_kernels(dt):
    X, W, _ = data(3, 70, 33, dt)
    z = _core._linear_forward(X, W, None, "none")
    assert np.all(np.abs(z - X.astype(np.float64) @ W.T) <= bound(X, W, 0, dt))
    # the fused epilogue runs the kernels the activation blocks run, on shorter spans
    # (a vector body here may be a scalar tail there): within their 4 ulp, ReLU exact
    for act, block in (("sigmoid", bk.Sigmoid), ("tanh", bk.Tanh), ("relu", bk.ReLU)):
        y = _core._linear_forward(X, W, None, act)
        assert ulps(y, block(dtype=dt).forward(z)) <= (0 if act == "relu" else 4)


def test_one_thread_and_two_agree_exactly():
    X, W, b = data(2, 600, 300, np.float32)
    bk.set_num_threads(1)
    one = _core._linear_forward(X, W, b, "tanh")
    bk.set_num_threads(2)
    for _ in range(20):  # chunks taken by either thread in any order: same sums
        assert np.array_equal(_core._linear_forward(X, W, b, "tanh"), one)


def test_kernel_refuses_bad_arguments():
    X, W, b = data(2, 5, 3, np.float32)
    with pytest.raises(ValueError, match="act must be"):
        _core._linear_forward(X, W, b, "gelu")
    with pytest.raises(ValueError, match=r"x \(M, K\)"):
        _core._linear_forward(X, W[:, :4].copy(), b, "none")
    with pytest.raises(ValueError, match="small_m_limit"):
        _core.set_small_m_limit(-1)


def mlp(dt, act=bk.ReLU, seed=3):
    bk.manual_seed(seed)
    return bk.Sequential(
        [
            bk.Linear(40, 64, dtype=dt),
            act(),
            bk.Linear(64, 48, dtype=dt),
            bk.Tanh(),
            bk.Linear(48, 7, dtype=dt),
            bk.Sigmoid(),
        ]
    )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("act", [bk.ReLU, bk.Sigmoid, bk.Tanh])
def test_fused_predict_equals_the_unfused_forward(act, dt, threads):
    bk.set_num_threads(threads)
    m = mlp(dt, act)
    X = np.random.default_rng(5).standard_normal((LIMIT + 40, 40)).astype(dt)
    m.eval()
    for n in (1, 2, LIMIT, LIMIT + 1, LIMIT + 40):  # both product paths, fused and not
        ref = m.forward(X[:n])  # every block run by itself, caches kept
        # the same products; activations over other spans (within their 4 ulp, which
        # the next layer may carry on): a few ulp of the output's scale
        tol = 64 * np.finfo(dt).eps
        np.testing.assert_allclose(m.predict(X[:n]), ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(m.predict(X[:n], batch_size=3), ref, rtol=tol, atol=tol)


def test_predict_against_numpy_reference():
    m = mlp(np.float64)
    X = np.random.default_rng(6).standard_normal((5, 40))
    p = {k: v for k, v in m.params.items()}
    keys = sorted(p)
    ws = [p[k] for k in keys if k.endswith("weight")]
    bs = [p[k] for k in keys if k.endswith("bias")]
    h = np.maximum(X @ ws[0].T + bs[0], 0)
    h = np.tanh(h @ ws[1].T + bs[1])
    want = 1 / (1 + np.exp(-(h @ ws[2].T + bs[2])))
    np.testing.assert_allclose(m.predict(X), want, rtol=1e-12, atol=1e-14)


def test_linear_with_two_consumers_or_an_output_is_not_fused():
    x = bk.Input(6)
    lin = bk.Linear(6, 5)
    h = lin(x)
    a = bk.ReLU()(h)
    b = bk.Sigmoid()(h)
    two = bk.Model(inputs=x, outputs=bk.Add()(a, b))
    both = bk.Model(inputs=x, outputs=[h, a])
    X = np.random.default_rng(7).standard_normal((3, 6)).astype(np.float32)
    np.testing.assert_allclose(two.predict(X), two.forward(X), rtol=1e-6, atol=1e-6)
    got, want = both.predict(X), both.forward(X)
    assert np.array_equal(got[0], want[0])  # the output Linear's own value, written
    np.testing.assert_array_equal(got[1], want[1])


def test_predict_is_eval_mode_and_gives_the_mode_back():
    bk.manual_seed(1)
    m = bk.Sequential([bk.Linear(8, 32), bk.ReLU(), bk.Dropout(0.5), bk.Linear(32, 3)])
    X = np.random.default_rng(8).standard_normal((4, 8)).astype(np.float32)
    m.train()
    p = m.predict(X)
    assert all(b.training for b in m.blocks)
    m.eval()
    np.testing.assert_allclose(p, m.forward(X), rtol=1e-6, atol=1e-6)


def test_backward_after_predict_is_refused():
    m = mlp(np.float32)
    X = np.ones((2, 40), np.float32)
    m.forward(X)
    m.predict(X)
    with pytest.raises(bk.StateError if hasattr(bk, "StateError") else Exception, match="forward"):
        m.backward(np.ones((2, 7), np.float32))


def test_predict_out_writes_in_place_and_returns_it():
    m = mlp(np.float32)
    X = np.random.default_rng(9).standard_normal((50, 40)).astype(np.float32)
    for rows, bs in ((1, 256), (50, 256), (50, 16)):
        out = np.full((rows, 7), np.nan, np.float32)
        assert m.predict(X[:rows], out=out, batch_size=bs) is out
        assert np.array_equal(out, m.predict(X[:rows], batch_size=bs))
    out = np.empty((3, 7), np.float32)
    assert m.predict(X[:3].tolist(), out=out) is out  # the converting path too
    assert np.array_equal(out, m.predict(X[:3]))


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.empty((4, 6), np.float32), r"shape \(4, 7\), got float32 array of shape \(4, 6\)"),
        (np.empty((4, 7), np.float64), r"float32 array of shape \(4, 7\), got float64"),
        (np.empty((7, 4), np.float32).T, "not C-contiguous"),
        ("readonly", "read-only"),
        ([[0.0] * 7] * 4, "must be a NumPy array, got list"),
    ],
)
def test_predict_out_errors(bad, match):
    m = mlp(np.float32)
    X = np.ones((4, 40), np.float32)
    if isinstance(bad, str):
        bad = np.empty((4, 7), np.float32)
        bad.flags.writeable = False
    with pytest.raises((ValueError, TypeError), match=match):
        m.predict(X, out=bad)
    with pytest.raises((ValueError, TypeError), match=match):
        m.predict(X, out=bad, batch_size=2)


def test_predict_out_aliasing_the_input_and_many_outputs_are_refused():
    bk.manual_seed(2)
    m = bk.Sequential([bk.Linear(7, 7)])
    X = np.ones((3, 7), np.float32)
    with pytest.raises(ValueError, match="shares memory with the input"):
        m.predict(X, out=X)
    x = bk.Input(3)
    two = bk.Model(inputs=x, outputs=[bk.Linear(3, 2)(x), bk.Linear(3, 2)(x)])
    with pytest.raises(ValueError, match="one output, this one has 2"):
        two.predict(np.ones((1, 3), np.float32), out=np.empty((1, 2), np.float32))


def test_predict_bad_input_still_clear_on_the_fast_path():
    m = mlp(np.float32)
    with pytest.raises(ValueError, match=r"shape \(N, 40\)"):
        m.predict(np.ones((1, 39), np.float32))
    bad = np.ones((2, 40), np.float32)
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        m.predict(bad)
    with pytest.raises(ValueError, match="empty"):
        m.predict(np.ones((0, 40), np.float32))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("K, N", SHAPES)
def test_small_m_input_gradient_matches_float64_and_blas(K, N, dt, threads):
    # Linear's backward dx = dy W: for a batch up to the limit a kernel that reads W once,
    # beyond it GEMM; both within the bound of a sum of N products, and the kernel's
    # bits the same at 1 and 2 threads (each dx element summed over W's rows in order)
    bk.set_num_threads(threads)
    lin = bk.Linear(K, N, seed=3, dtype=dt)
    W = lin.params["weight"]
    for M in range(1, LIMIT + 2):
        X, _, _ = data(M, K, N, dt)
        dy = data(M, N, K, dt, seed=1)[0]
        lin.forward(X)
        dx = lin.backward(dy)
        exact = dy.astype(np.float64) @ W.astype(np.float64)
        tol = (
            N * np.finfo(dt).eps * (np.abs(dy).astype(np.float64) @ np.abs(W).astype(np.float64)) + 8 * np.finfo(dt).eps
        )
        assert np.all(np.abs(dx - exact) <= tol), (M, np.abs(dx - exact).max())
        if M <= LIMIT and threads == 2:
            bk.set_num_threads(1)
            lin.forward(X)
            assert np.array_equal(lin.backward(dy), dx), M
            bk.set_num_threads(2)
        lin.zero_grad()
