"""Per-block tests over the registry: NumPy parity, Jacobians, parameters, seeds, SGD."""

import numpy as np
import pytest

import bricks as bk
import reference as R
from bricks.check import GradcheckError
from registry import SPECS, by_id, exported_blocks

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


def spec_params(small=False):
    return [
        pytest.param(s, shape, id=f"{s.id}-{shape[0]}x{shape[1]}")
        for s in SPECS
        for shape in (s.small_shapes if small else s.shapes)
    ]


def cotangent(spec, rng, y, dtype):
    """A random upstream gradient: dL (a float exact in dtype) for losses, else dy like y."""
    if spec.is_loss:
        return float(dtype(rng.uniform(0.5, 2.0)))
    return rng.normal(size=y.shape).astype(dtype)


def run(spec, blk, xs, dy):
    """forward then backward: (y, input grads as a tuple, copies of the parameter grads)."""
    spec.setup(blk)
    y = blk.forward(*xs)
    g = blk.backward(dy)
    return y, (g if isinstance(g, tuple) else (g,)), {k: v.copy() for k, v in blk.grads.items()}


def assert_close(got, want, dtype, what=""):
    # float32 sums (GEMM, row sums) err in proportion to the largest entry, not to each one
    tol = dict(TOL[dtype])
    tol["atol"] *= max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(np.asarray(got, np.float64), want, err_msg=what, **tol)


# -- the registry covers everything -------------------------------------------------------
def test_every_block_has_a_spec():
    missing = exported_blocks() - {s.cls for s in SPECS}
    assert not missing, f"blocks without a registry spec: {sorted(c.__name__ for c in missing)}"
    assert len(exported_blocks()) >= 12  # the lecture's 8 blocks and 4 losses at least


# -- NumPy parity ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("spec, shape", spec_params())
def test_parity_with_numpy(spec, shape, dtype, rng):
    blk = spec.build(shape[1], dtype)
    xs = spec.inputs(rng, shape, dtype)
    y_ref, vjp = spec.reference(blk, xs, shape)
    spec.setup(blk)
    y = blk.forward(*xs)
    dy = cotangent(spec, rng, np.asarray(y), dtype)
    g = blk.backward(dy)
    g = g if isinstance(g, tuple) else (g,)
    gx_ref, gp_ref = vjp(np.asarray(dy, np.float64))

    if spec.is_loss:
        assert isinstance(y, float)
    else:
        assert y.dtype == dtype and y.shape == y_ref.shape
    assert_close(y, y_ref, dtype, "forward")
    assert len(g) == spec.n_inputs
    for i, (gi, ri) in enumerate(zip(g, gx_ref)):
        if ri is None:
            assert gi is None, f"input {i} (integer labels) must get no gradient"
            continue
        assert gi.dtype == dtype and gi.shape == xs[i].shape
        assert_close(gi, ri, dtype, f"gradient of input {i}")
    assert set(blk.grads) == set(gp_ref)
    for k, v in blk.grads.items():
        assert v.dtype == dtype and v.shape == gp_ref[k].shape
        assert_close(v, gp_ref[k], dtype, f"gradient of parameter {k}")


# -- Jacobians ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, shape", spec_params(small=True))
def test_gradcheck_every_input_and_parameter(spec, shape, rng):
    blk = spec.build(shape[1], np.float64)
    xs = spec.inputs(rng, shape)
    assert bk.gradcheck(blk, *xs, setup=lambda: spec.setup(blk)) is True


def test_gradcheck_can_fail(rng):
    class OffBy1Percent(bk.Tanh):
        def backward(self, dy):
            return 1.01 * super().backward(dy)

    with pytest.raises(GradcheckError, match="input 0"):
        bk.gradcheck(OffBy1Percent(dtype=np.float64), rng.normal(size=(2, 3)))


def test_dropout_gradcheck_needs_the_same_mask(rng):
    x = rng.normal(size=(3, 4))
    blk = bk.Dropout(0.5, dtype=np.float64, seed=1)
    assert bk.gradcheck(blk, x, setup=lambda: blk._core.reseed(5))
    assert bk.gradcheck(blk.eval(), x)
    with pytest.raises(GradcheckError):  # a new mask on every forward: no derivative
        bk.gradcheck(blk.train(), x)


def fd_jacobian(f, x, eps=1e-6):
    """Central differences of f (array -> array or float) at x: (out size, x size)."""
    cols = []
    for j in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp.flat[j] += eps
        xm.flat[j] -= eps
        cols.append((np.ravel(f(xp)) - np.ravel(f(xm))) / (2 * eps))
    return np.array(cols).T


JACOBIAN_CASES = [
    ("Softmax", 0),
    ("LogSoftmax", 0),
    ("Linear", 0),
    ("Linear", "weight"),
    ("Linear", "bias"),
    ("Hadamard", 1),
    ("Add[3]", 2),
    ("Concat[3]", 1),
    ("Concat[5]", 4),
    ("Identity", 0),
    ("BCELoss", 0),
    ("CrossEntropyLoss[rows not summing to 1]", 0),
    ("CrossEntropyLoss[rows not summing to 1]", 1),
    ("LayerNorm", 0),
    ("LayerNorm", "weight"),
    ("LayerNorm", "bias"),
    ("LayerNorm[no affine]", 0),
    ("BatchNorm[train]", 0),
    ("BatchNorm[train]", "weight"),
    ("BatchNorm[eval]", 0),
    ("BatchNorm[eval]", "bias"),
]


@pytest.mark.parametrize("spec_id, wrt", JACOBIAN_CASES, ids=[f"{s}-{w}" for s, w in JACOBIAN_CASES])
def test_jacobian_matches_numpy_reference(spec_id, wrt, rng):
    """bk.jacobian from backward == central differences of the NumPy forward == its VJPs."""
    spec, shape = by_id(spec_id), (3, 4)
    blk = spec.build(shape[1])
    xs = spec.inputs(rng, shape)
    J = bk.jacobian(blk, *xs, wrt=wrt, numeric=False, setup=lambda: spec.setup(blk))
    ctx = spec.context(blk, shape)

    def f(v):  # the reference forward as a function of `wrt` alone
        args = [v if i == wrt else x for i, x in enumerate(xs)]
        return spec.ref(*args, **({**ctx, wrt: v} if isinstance(wrt, str) else ctx))[0]

    at = ctx[wrt] if isinstance(wrt, str) else xs[wrt]
    np.testing.assert_allclose(J, fd_jacobian(f, at), rtol=1e-7, atol=1e-8)
    y, vjp = spec.ref(*xs, **ctx)
    rows = []
    for k in range(np.size(y)):
        e = np.zeros(np.shape(y))
        e.flat[k] = 1.0
        gx, gp = vjp(e if np.ndim(y) else 1.0)
        rows.append(np.ravel(gp[wrt] if isinstance(wrt, str) else gx[wrt]))
    np.testing.assert_allclose(J, np.array(rows), rtol=1e-12, atol=1e-14)
    assert J.shape == (np.size(y), at.size) and np.abs(J).max() > 0


# -- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", [s for s in SPECS if s.cls is bk.Linear], ids=lambda s: s.id)
def test_parameter_gradients_accumulate_and_zero_grad_clears(spec, rng):
    blk, shape = spec.build(4), (5, 4)
    xs = spec.inputs(rng, shape)
    dy = rng.normal(size=(5, blk.out_features))
    _, g1, p1 = run(spec, blk, xs, dy)
    g2 = blk.backward(dy)  # again after one forward: same input grads, accumulates once more
    np.testing.assert_array_equal(g2, g1[0])
    for k, v in blk.grads.items():
        np.testing.assert_allclose(v, 2 * p1[k], rtol=1e-14)
        assert np.abs(p1[k]).max() > 0
    blk.zero_grad()
    for v in blk.grads.values():
        assert not v.any()
    _, _, p3 = run(spec, blk, xs, dy)
    for k in p1:
        np.testing.assert_allclose(p3[k], p1[k], rtol=1e-14)


def test_linear_parameter_shapes_and_writable_views(rng):
    blk = bk.Linear(3, 2, dtype=np.float64, seed=0)
    w, b = blk.params["weight"], blk.params["bias"]
    assert w.shape == (2, 3) and b.shape == (2,) and blk.num_params() == 8
    assert blk.grads["weight"].shape == (2, 3) and blk.grads["bias"].shape == (2,)
    assert list(bk.Linear(3, 2, bias=False).params) == ["weight"]
    W, B = rng.normal(size=(2, 3)), rng.normal(size=2)
    w[...] = W
    blk.params["bias"][:] = B  # a fresh view of the same memory
    x = rng.normal(size=(4, 3))
    np.testing.assert_allclose(blk.forward(x), x @ W.T + B, rtol=1e-13)
    np.testing.assert_array_equal(blk.params["weight"], W)


@pytest.mark.parametrize(
    "spec", [s for s in SPECS if s.n_inputs >= 2 and not s.domains[1].labels] + [by_id("Linear")], ids=lambda s: s.id
)
def test_changing_inputs_after_forward_does_not_change_gradients(spec, rng):
    blk, shape = spec.build(4), (3, 4)
    xs = spec.inputs(rng, shape)
    dy = cotangent(spec, rng, np.zeros((3, spec.out_width(4))), np.float64)
    _, g1, p1 = run(spec, blk, xs, dy)
    blk.zero_grad()
    spec.setup(blk)
    blk.forward(*xs)
    for x in xs:
        x[...] = 0.25
    g2 = blk.backward(dy)
    for a, b in zip(g1, g2 if isinstance(g2, tuple) else (g2,)):
        np.testing.assert_array_equal(a, b)
    for k, v in blk.grads.items():
        np.testing.assert_array_equal(v, p1[k])


# -- losses ----------------------------------------------------------------------------------
def test_cross_entropy_int_labels_get_no_gradient(rng):
    x = rng.normal(size=(4, 3))
    for labels in (np.array([0, 2, 1, 2]), np.array([0, 2, 1, 2], np.int32)):
        ce = bk.CrossEntropyLoss(dtype=np.float64)
        ce.forward(x, labels)
        dx, dt = ce.backward()
        assert dt is None
        np.testing.assert_allclose(dx, R.cross_entropy_loss(x, labels)[1](1.0)[0][0], rtol=1e-12)


def test_cross_entropy_rows_not_summing_to_one_are_exact(rng):
    x, t = rng.normal(size=(3, 4)), rng.uniform(0, 3, (3, 4))
    ce = bk.CrossEntropyLoss(dtype=np.float64)
    ce.forward(x, t)
    dx, dt = ce.backward(1.0)
    f = lambda v: bk.CrossEntropyLoss(dtype=np.float64).forward(v, t)  # noqa: E731
    g = lambda v: bk.CrossEntropyLoss(dtype=np.float64).forward(x, v)  # noqa: E731
    np.testing.assert_allclose(dx.ravel(), fd_jacobian(f, x)[0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(dt.ravel(), fd_jacobian(g, t)[0], rtol=1e-7, atol=1e-9)
    # not (softmax - t) / N, which is only right when rows sum to 1
    assert not np.allclose(dx, (np.exp(R._log_softmax(x)) - t) / 3)


BIG = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], np.float32)


def test_extreme_logits_stay_finite_in_float32():
    sm = bk.Softmax().forward(BIG)
    np.testing.assert_allclose(sm, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]], rtol=1e-6, atol=0)
    ls = bk.LogSoftmax()
    np.testing.assert_allclose(
        ls.forward(BIG), [[0, -2e4, -1e4], [-np.log(3)] * 3, [-np.log(2), -np.log(2), -2e4 - np.log(2)]], atol=1e-3
    )  # finite and right; precision: the next test
    assert np.isfinite(ls.backward(np.ones_like(BIG))).all()
    sg = bk.Sigmoid()
    y = sg.forward(BIG)
    assert (y[BIG < 0] == 0).all()  # σ(-1e4) = 0 exactly
    np.testing.assert_allclose(y, (BIG > 0) + 0.5 * (BIG == 0), rtol=2e-7, atol=0)  # ~2 ulp
    np.testing.assert_allclose(sg.backward(np.ones_like(BIG)), 0.25 * (BIG == 0), atol=1e-7)
    np.testing.assert_array_equal(bk.Tanh().forward(BIG), np.sign(BIG))

    ce = bk.CrossEntropyLoss()
    assert ce.forward(BIG, np.array([0, 1, 2])) == pytest.approx((0 + np.log(3) + 2e4 + np.log(2)) / 3)
    assert all(np.isfinite(g).all() for g in ce.backward() if g is not None)
    L = ce.forward(BIG, np.eye(3, dtype=np.float32))
    assert np.isfinite(L) and all(np.isfinite(g).all() for g in ce.backward())

    bl, t = bk.BCEWithLogitsLoss(), np.float32([[0, 1, 1], [1, 0, 1], [0, 0, 1]])
    want = (np.maximum(BIG, 0) - BIG * t + np.log1p(np.exp(-np.abs(BIG.astype(np.float64))))).sum() / 3
    assert bl.forward(BIG, t) == pytest.approx(want, rel=1e-6)
    dx, dt = bl.backward()
    np.testing.assert_allclose(dx, ((BIG > 0) + 0.5 * (BIG == 0) - t) / 3, atol=1e-7)
    np.testing.assert_allclose(dt, -BIG / 3, rtol=1e-6)


@pytest.mark.parametrize("shift", [1e2, 1e4, -1e4])
@pytest.mark.parametrize("spec_id", ["LogSoftmax", "CrossEntropyLoss[labels]"])
def test_log_softmax_keeps_float32_precision_at_large_logits(spec_id, shift, rng):
    """A stable log-sum-exp, (x - max) - log Σ e^(x - max), loses nothing to the shift."""
    spec, shape = by_id(spec_id), (4, 5)
    blk = spec.build(shape[1], np.float32)
    xs = spec.inputs(rng, shape, np.float32)
    xs[0] += np.float32(shift)
    y_ref, vjp = spec.reference(blk, xs, shape)  # from the same rounded float32 logits
    dy = cotangent(spec, rng, np.zeros(shape), np.float32)
    y, g, _ = run(spec, blk, xs, dy)
    np.testing.assert_allclose(y, y_ref, rtol=2e-6, err_msg="forward")
    assert_close(g[0], vjp(np.asarray(dy, np.float64))[0][0], np.float32, "gradient")


def test_bce_loss_at_zero_and_one_is_clamped_not_infinite():
    bce = bk.BCELoss()
    p, t = np.float32([[0.0, 1.0]]), np.float32([[1.0, 0.0]])
    assert bce.forward(p, t) == pytest.approx(200.0)  # each log clamped at -100
    dp, dt = bce.backward()
    assert np.isfinite(dp).all() and dp[0, 0] < 0 < dp[0, 1]
    np.testing.assert_allclose(dt, [[100.0, -100.0]], rtol=1e-6)


# -- golden values (pinned numbers, no second library needed) -----------------------------
def test_golden_values():
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(bk.Softmax().forward(x), [[0.09003057, 0.24472847, 0.66524096]], rtol=1e-6)
    np.testing.assert_allclose(
        bk.LogSoftmax(dtype=np.float64).forward(x),
        [[-2.40760596444438, -1.40760596444438, -0.40760596444438]],
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        bk.Sigmoid(dtype=np.float64).forward(np.array([[0.0, 1.0, -2.0]])),
        [[0.5, 0.7310585786300049, 0.11920292202211755]],
        rtol=1e-14,
    )
    np.testing.assert_allclose(bk.Tanh(dtype=np.float64).forward(np.array([[1.0]])), [[0.7615941559557649]], rtol=1e-14)
    assert bk.CrossEntropyLoss(dtype=np.float64).forward(np.zeros((2, 3)), np.array([0, 2])) == pytest.approx(
        1.0986122886681098, rel=1e-14
    )  # log 3
    assert bk.BCELoss(dtype=np.float64).forward(np.full((2, 3), 0.5), np.ones((2, 3))) == pytest.approx(
        3 * 0.6931471805599453, rel=1e-14
    )  # sum over features, mean over rows
    assert bk.MSELoss().forward(np.array([[1.0, 2.0]]), np.zeros((1, 2))) == 5.0  # not 2.5


def test_golden_xor_hidden_layer():
    lin = bk.Linear(2, 2, dtype=np.float64, seed=0)
    lin.params["weight"][...] = [[-1, 1], [1, -1]]
    lin.params["bias"][...] = [-4, -4]
    xor = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(lin.forward(xor), [[-4, -4], [-3, -5], [-5, -3], [-4, -4]])
    lin.forward(np.array([[1.0, 0.0]]))
    dy = np.array([[1.0, 2.0]])
    lin.backward(dy)
    dx = lin.backward(dy)
    np.testing.assert_array_equal(dx, [[1.0, -1.0]])  # dy W
    np.testing.assert_array_equal(lin.grads["weight"], [[2, 0], [4, 0]])  # 2 dyᵀ x
    np.testing.assert_array_equal(lin.grads["bias"], [2, 4])


# -- seeds and dropout ---------------------------------------------------------------------------
def dropout_mask(blk, shape=(8, 16)):
    return blk.forward(np.ones(shape, blk.dtype))


def test_same_seed_gives_identical_weights_and_masks():
    for init in ("glorot_uniform", "he_uniform", "he_normal", "torch"):
        a, b = bk.Linear(5, 7, init=init, seed=3), bk.Linear(5, 7, init=init, seed=3)
        for k in a.params:
            assert a.params[k].tobytes() == b.params[k].tobytes()
        assert not np.array_equal(a.params["weight"], bk.Linear(5, 7, init=init, seed=4).params["weight"])
    d1, d2 = bk.Dropout(0.5, seed=3), bk.Dropout(0.5, seed=3)
    for _ in range(2):  # the stream goes on identically
        assert dropout_mask(d1).tobytes() == dropout_mask(d2).tobytes()
    assert not np.array_equal(dropout_mask(bk.Dropout(0.5, seed=3)), dropout_mask(bk.Dropout(0.5, seed=4)))


def test_manual_seed_reproduces_unseeded_blocks():
    def draw(seed):
        bk.manual_seed(seed)
        lin, drop = bk.Linear(6, 4), bk.Dropout(0.3)
        return lin.params["weight"].tobytes(), dropout_mask(drop).tobytes()

    first = draw(11)
    assert draw(11) == first
    other = draw(12)
    assert other[0] != first[0] and other[1] != first[1]
    bk.manual_seed(11)
    assert bk.Linear(6, 4).params["weight"].tobytes() != bk.Linear(6, 4).params["weight"].tobytes()


@pytest.mark.parametrize(
    "init, bound, std",
    [
        ("glorot_uniform", np.sqrt(6 / 500), np.sqrt(2 / 500)),
        ("he_uniform", np.sqrt(6 / 200), np.sqrt(2 / 200)),
        ("he_normal", None, np.sqrt(2 / 200)),
        ("torch", 1 / np.sqrt(200), 1 / np.sqrt(600)),
    ],
)
def test_init_distributions(init, bound, std):
    lin = bk.Linear(200, 300, init=init, dtype=np.float64, seed=7)
    w, b = lin.params["weight"], lin.params["bias"]
    assert abs(w.mean()) < 4 * std / np.sqrt(w.size)
    assert w.std() == pytest.approx(std, rel=0.02)
    if bound is not None:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    if init == "torch":
        assert np.abs(b).max() <= bound and b.std() > 0
    else:
        assert not b.any()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inverted_dropout_statistics(p, dtype, rng):
    blk = bk.Dropout(p, dtype=dtype, seed=42)
    x = rng.normal(size=(300, 400)).astype(dtype)
    m = dropout_mask(blk, x.shape)
    keep = m != 0
    assert set(np.unique(m)) == {0, dtype(1 / (1 - p))}
    assert keep.mean() == pytest.approx(1 - p, abs=5 * np.sqrt(p * (1 - p) / m.size))
    assert m.mean() == pytest.approx(1.0, abs=5 * np.sqrt(p / (1 - p) / m.size))
    assert not np.array_equal(m, dropout_mask(blk, x.shape))  # a new mask per forward
    blk._core.reseed(9)
    m = dropout_mask(blk, x.shape)
    blk._core.reseed(9)
    y = blk.forward(x)
    np.testing.assert_array_equal(y, x * m)
    dy = rng.normal(size=x.shape).astype(dtype)
    np.testing.assert_array_equal(blk.backward(dy), dy * m)  # the same mask gates the gradient
    blk.eval()
    np.testing.assert_array_equal(blk.forward(x), x)
    np.testing.assert_array_equal(blk.backward(dy), dy)
    np.testing.assert_array_equal(bk.Dropout(0.0, dtype=dtype).forward(x), x)  # p = 0 in training


# -- SGD -------------------------------------------------------------------------------------------
def numpy_sgd(params, grads, state, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """torch.optim.SGD.step, written out."""
    for k in params:
        g = grads[k] + weight_decay * params[k]
        if momentum:
            if k not in state:
                state[k] = g.copy()
            else:
                state[k] = momentum * state[k] + (1 - dampening) * g
            g = g + momentum * state[k] if nesterov else state[k]
        params[k] = params[k] - lr * g


@pytest.mark.parametrize(
    "hyper",
    [
        dict(),
        dict(weight_decay=0.1),
        dict(momentum=0.9),
        dict(momentum=0.9, nesterov=True, weight_decay=0.01),
        dict(momentum=0.5, dampening=0.3),
    ],
    ids=["plain", "wd", "momentum", "nesterov+wd", "dampening"],
)
def test_sgd_matches_torch_semantics(hyper, rng):
    lin, mse = bk.Linear(4, 3, init="torch", dtype=np.float64, seed=1), bk.MSELoss(dtype=np.float64)
    opt = bk.SGD([lin], lr=0.1, **hyper)
    params = {k: v.copy() for k, v in lin.params.items()}
    state = {}
    for _ in range(5):
        x, t = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
        opt.zero_grad()
        mse.forward(lin.forward(x), t)
        lin.backward(mse.backward()[0])
        opt.step()
        y, vjp = R.linear(x, **params)
        _, lvjp = R.mse_loss(y, t)
        numpy_sgd(params, vjp(lvjp(1.0)[0][0])[1], state, 0.1, **hyper)
        for k in params:
            np.testing.assert_allclose(lin.params[k], params[k], rtol=1e-12, atol=1e-14)
    assert not np.allclose(params["weight"], bk.Linear(4, 3, init="torch", dtype=np.float64, seed=1).params["weight"])
