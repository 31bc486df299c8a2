"""The native transcendental kernels (through the blocks that use them) against float64
NumPy references, on the instruction-set path this process runs. test_isa.py runs this
file again once per path the CPU has (BRICKS_ISA=baseline|avx2|avx512).

The bounds, in units in the last place (ulp) of the float32 result, are what every
path must meet; they are documented in docs/content/blocks/index.md:
- sigmoid, tanh, exp: 4 ulp of the correctly rounded value;
- softmax: 4 ulp + one per 2 columns (the float32 sum, in any order), of the value computed from
  the float32 shifted logits x - max (the shift itself is exact or rounds once);
- log-softmax: 4 ulp of max(|y|, 1) (the result cancels near 0);
- ELU, GELU (both forms), Softplus: 1 ulp (computed in float64, rounded once); Softplus
  given the float32 product beta x, which PyTorch rounds alike.
Saturation is exact: sigmoid and tanh give exactly ±1 (and sigmoid exactly 0 once
exp underflows) for |x| >= 17, on every path, in the vector body and the tail.
"""

import os

import numpy as np
import pytest

import bricks as bk
import reference as R

LENGTHS = range(1, 68)  # every vector body / tail / mask split for 4, 8 and 16 lanes
SATURATED = (17.0, 17.5, 20.0, 30.0, 88.0, 100.0, 1e3, 1e4, 3e38)
F32_ULP = {"sigmoid": 4, "tanh": 4, "exp": 4}


def ulps(got, ref):
    """|got - ref| in ulp of the float32 rounding of ref (denormal ulp at 0)."""
    sp = np.spacing(np.abs(ref.astype(np.float32))).astype(np.float64)
    return np.abs(got.astype(np.float64) - ref) / sp


def test_forced_path_is_the_one_in_use():
    info = bk.cpu_info()
    assert info["isa"] in info["isa_available"] and "baseline" in info["isa_available"]
    want = os.environ.get("BRICKS_ISA", "").strip().lower()
    if want and want != "auto":
        assert info["isa"] == want


@pytest.mark.parametrize("n", LENGTHS)
def test_sigmoid_tanh_within_bound_on_every_length(n):
    rng = np.random.default_rng(n)
    x = np.concatenate([rng.normal(0, 4, n), rng.uniform(-110, 110, n)]).astype(np.float32)
    for row in (x[:n], x[n:]):
        x64 = row.astype(np.float64)[None, :]
        assert ulps(bk.Sigmoid().forward(row[None, :]), R.sigmoid(x64)[0]).max() <= F32_ULP["sigmoid"]
        assert ulps(bk.Tanh().forward(row[None, :]), np.tanh(x64)).max() <= F32_ULP["tanh"]


@pytest.mark.parametrize("n", LENGTHS)
def test_saturation_is_exact_in_body_and_tail(n):
    for v in SATURATED:
        pos, neg = np.full((1, n), v, np.float32), np.full((1, n), -v, np.float32)
        assert (bk.Sigmoid().forward(pos) == 1.0).all(), v
        assert (bk.Tanh().forward(pos) == 1.0).all(), v
        assert (bk.Tanh().forward(neg) == -1.0).all(), v
        s = bk.Sigmoid().forward(neg)
        if v >= 104:  # exp underflows below the smallest denormal
            assert (s == 0.0).all(), v
        else:  # sigmoid(-v) = exp(-v) / (1 + exp(-v)) with the denominator exactly 1
            assert ulps(s, np.exp(-np.float64(v)) * np.ones((1, n))).max() <= F32_ULP["exp"]
    # one saturated element among ordinary ones: the same answer wherever it sits
    for j in range(n):
        row = np.zeros((1, n), np.float32)
        row[0, j] = 20.0
        assert bk.Sigmoid().forward(row)[0, j] == 1.0


def test_float64_saturation():
    x = np.array([[37.0, 40.0, 750.0, 1e4, 1e300] * 7])
    assert (bk.Sigmoid(dtype=np.float64).forward(x) == 1.0).all()
    assert (bk.Tanh(dtype=np.float64).forward(x) == 1.0).all()
    assert (bk.Tanh(dtype=np.float64).forward(-x) == -1.0).all()
    assert (bk.Sigmoid(dtype=np.float64).forward(-x[:, 2:5]) == 0.0).all()


def test_signed_zeros_and_denormals():
    x = np.array([[0.0, -0.0, 1e-40, -1e-40, 1.4e-45, -1.4e-45, 1e-38, -1e-38] * 5], np.float32)
    t = bk.Tanh().forward(x)
    assert np.array_equal(t, x) and np.array_equal(np.signbit(t), np.signbit(x))  # tanh(x) = x here
    assert (bk.Sigmoid().forward(x) == 0.5).all()
    # denormal results: sigmoid(-90) = 8.2e-40 keeps its digits (no flush to zero)
    d = np.full((1, 19), -90.0, np.float32)
    assert ulps(bk.Sigmoid().forward(d), np.exp(np.full((1, 19), -90.0))).max() <= F32_ULP["exp"]
    # a denormal probability: BCE's log takes it as it is (log(1e-40) = -92.1, not clamped)
    p = np.full((1, 21), 1e-40, np.float32)
    loss = bk.BCELoss().forward(p, np.ones_like(p))
    assert loss == pytest.approx(21 * -np.log(np.float64(np.float32(1e-40))), rel=1e-6)


def _softmax_ref(x32):
    d = (x32 - x32.max(1, keepdims=True)).astype(np.float64)  # the kernel's float32 shift
    e = np.exp(d)
    return e / e.sum(1, keepdims=True), d - np.log(e.sum(1, keepdims=True))


@pytest.mark.parametrize("n", LENGTHS)
def test_softmax_log_softmax_within_bound(n):
    rng = np.random.default_rng(100 + n)
    x = np.concatenate([rng.normal(0, 3, (4, n)), rng.normal(0, 30, (4, n))]).astype(np.float32)
    sm, ls = _softmax_ref(x)
    assert ulps(bk.Softmax().forward(x), sm).max() <= 4 + n / 2
    err = np.abs(bk.LogSoftmax().forward(x) - ls) / (np.spacing(np.float32(1)) * np.maximum(np.abs(ls), 1))
    assert err.max() <= 4


@pytest.mark.parametrize("n", LENGTHS)
def test_softmax_exact_cases(n):
    even = bk.Softmax().forward(np.zeros((2, n), np.float32))
    assert (even == np.float32(1) / np.float32(n)).all()  # a true division, no reciprocal estimate
    for j in range(n):
        x = np.zeros((1, n), np.float32)
        x[0, j] = 1e4
        hot = np.zeros((1, n), np.float32)
        hot[0, j] = 1.0
        assert np.array_equal(bk.Softmax().forward(x), hot)
        assert np.array_equal(bk.LogSoftmax().forward(x), np.where(hot == 1, 0.0, -1e4).astype(np.float32))


def test_losses_at_saturation_match_float64():
    # BCE of sigmoid(1e4) = 1 against 0: log(1 - 1) clamps at -100 (PyTorch's rule)
    p = bk.Sigmoid().forward(np.full((1, 9), 1e4, np.float32))
    assert bk.BCELoss().forward(p, np.zeros_like(p)) == pytest.approx(900.0)
    # a Linear -> Sigmoid -> BCELoss model far in saturation (logits of +-150 and +-20):
    # float32 probabilities are exactly 0 or 1 there and the loss is PyTorch's clamped one
    rng = np.random.default_rng(3)
    z = rng.choice([-150.0, -20.0, 20.0, 150.0], (64, 1))
    t = (rng.uniform(size=(64, 1)) > 0.5).astype(np.float32)
    lin = bk.Linear(1, 1, seed=0)
    lin.params["weight"][...] = 1.0
    lin.params["bias"][...] = 0.0
    x = bk.Input(1)
    m = bk.Model(x, bk.Sigmoid()(lin(x)))
    m.compile(bk.BCELoss())
    p = R.sigmoid(z)[0].astype(np.float32)  # correctly rounded: 0, exp(-20), 1
    got = m.predict(z.astype(np.float32))
    saturated = np.abs(z) > 100
    np.testing.assert_array_equal(got[saturated], p[saturated])
    assert ulps(got, R.sigmoid(z)[0]).max() <= F32_ULP["sigmoid"]
    want = R.bce_loss(p.astype(np.float64), t.astype(np.float64))[0]
    assert m.evaluate(z.astype(np.float32), t)["loss"] == pytest.approx(want, rel=1e-6)
    # BCEWithLogits and cross-entropy at logits of +-1e4
    x = np.array([[1e4, -1e4, 0.0, 17.0, -17.0] * 3], np.float32)
    t = np.array([[0.0, 1.0, 1.0, 0.0, 1.0] * 3], np.float32)
    want = R.bce_with_logits_loss(x.astype(np.float64), t.astype(np.float64))[0]
    assert bk.BCEWithLogitsLoss().forward(x, t) == pytest.approx(want, rel=1e-6)
    logits = np.array([[1e4, 0, -1e4], [0, 0, 0], [-17, 17, 0]], np.float32)
    labels = np.array([1, 2, 0])
    want = R.cross_entropy_loss(logits.astype(np.float64), labels)[0]
    assert bk.CrossEntropyLoss().forward(logits, labels) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("block", [bk.Sigmoid, bk.Tanh, bk.Softmax, bk.LogSoftmax])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_refused_before_the_kernels(block, bad):
    for n in (1, 8, 17):
        for j in (0, n - 1):
            x = np.zeros((2, n), np.float32)
            x[1, j] = bad
            with pytest.raises(ValueError, match="finite"):
                block().forward(x)


def test_backward_formulas_use_the_path_outputs():
    rng = np.random.default_rng(9)
    x = rng.normal(0, 3, (5, 37)).astype(np.float32)
    dy = rng.normal(0, 1, x.shape).astype(np.float32)
    for blk, ref in (
        (bk.Sigmoid(), R.sigmoid),
        (bk.Tanh(), R.tanh),
        (bk.Softmax(), R.softmax),
        (bk.LogSoftmax(), R.log_softmax),
    ):
        blk.forward(x)
        want = ref(x.astype(np.float64))[1](dy.astype(np.float64))[0][0]
        np.testing.assert_allclose(blk.backward(dy), want, rtol=2e-5, atol=2e-6)
    ce = bk.CrossEntropyLoss()
    labels = rng.integers(0, 37, 5)
    ce.forward(x, labels)
    want = R.cross_entropy_loss(x.astype(np.float64), labels)[1](1.0)[0][0]
    np.testing.assert_allclose(ce.backward()[0], want, rtol=2e-5, atol=1e-7)


def test_training_guard_and_optimizers_on_this_path():
    # the overflow-prone model of test_faults, shortened: finite weights, same loss as float64
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1e3, (128, 4)).astype(np.float32)
    y = (rng.uniform(size=(128, 1)) > 0.5).astype(np.float32)
    m = bk.Sequential(bk.Linear(4, 1, seed=1), bk.Sigmoid())
    m.compile(bk.BCELoss(), bk.Adam(m, lr=0.1))
    m.fit(X, y, epochs=2, batch_size=32, verbose=0, seed=0)
    assert all(np.isfinite(v).all() for v in m.blocks[0].params.values())
    # an infinite gradient is caught by the guard: raise leaves the weights untouched
    r = bk.Sequential(bk.Linear(4, 1, seed=1))
    r.compile(bk.MSELoss(), bk.SGD(r, lr=0.1))
    before = r.blocks[0].params["weight"].copy()
    with pytest.raises(bk.NonFiniteError, match="non-finite gradient"):
        r.fit(np.full((4, 4), 3e38, np.float32), np.zeros((4, 1), np.float32), epochs=1, batch_size=4, verbose=0)
    np.testing.assert_array_equal(r.blocks[0].params["weight"], before)


# -- ELU, GELU, Softplus -------------------------------------------------------------------------
def _softplus_ref(x32, beta, threshold):
    """Softplus of the float32 product beta x (as the kernel and PyTorch round it), in float64."""
    z = (x32 * np.float32(beta)).astype(np.float64)
    sp = (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))) / float(np.float32(beta))
    return np.where(z > np.float32(threshold), x32.astype(np.float64), sp)


def _gelu_tanh_ref(x):
    """0.5 x (1 + tanh u) written as x sigmoid(2u): the float64 formula without cancellation."""
    k = np.sqrt(2.0 / np.pi)
    return x * R._sigmoid(2.0 * k * (x + 0.044715 * x**3))


NEW_KERNELS = [
    ("ELU", lambda: bk.ELU(), lambda x: R.elu(x)[0]),
    ("ELU(0.3)", lambda: bk.ELU(0.3), lambda x: R.elu(x, float(np.float32(0.3)))[0]),
    ("GELU", lambda: bk.GELU(), lambda x: R.gelu(x)[0]),
    ("GELU(tanh)", lambda: bk.GELU("tanh"), _gelu_tanh_ref),
    ("Softplus", lambda: bk.Softplus(), lambda x: _softplus_ref(x.astype(np.float32), 1.0, 20.0)),
    ("Softplus(0.7, 5)", lambda: bk.Softplus(0.7, 5.0), lambda x: _softplus_ref(x.astype(np.float32), 0.7, 5.0)),
]


@pytest.mark.parametrize("name, make, ref", NEW_KERNELS, ids=[k[0] for k in NEW_KERNELS])
def test_new_activations_within_one_ulp_on_every_length(name, make, ref):
    blk = make()
    for n in LENGTHS:
        rng = np.random.default_rng(200 + n)
        x = np.concatenate([rng.normal(0, 3, n), rng.uniform(-110, 110, n), rng.uniform(-12, 12, n)])
        for row in x.astype(np.float32).reshape(3, n):
            got = blk.forward(row[None, :])
            assert ulps(got, ref(row.astype(np.float64)[None, :])).max() <= 1, (name, n)


@pytest.mark.parametrize("name, make, ref", NEW_KERNELS, ids=[k[0] for k in NEW_KERNELS])
def test_new_activation_backward_on_this_path(name, make, ref):
    """dx from the path's kernels against the float64 reference (float32 and float64 blocks)."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.normal(0, 3, (3, 37)), rng.uniform(-30, 30, (2, 37))])
    dy = rng.normal(size=x.shape)
    blk32, blk64 = make(), type(make())(**{**make().config(), "dtype": np.float64})
    r = {"ELU": R.elu, "GELU": R.gelu, "Softplus": R.softplus}[type(blk32).__name__]
    kw = {k: v for k, v in blk64.config().items() if k != "dtype"}
    want = r(x, **kw)[1](dy)[0][0]
    blk64.forward(x)
    np.testing.assert_allclose(blk64.backward(dy), want, rtol=1e-13, atol=1e-13)  # the reference cancels
    x32, dy32 = x.astype(np.float32), dy.astype(np.float32)
    want32 = r(x32.astype(np.float64), **{**kw, **({"alpha": float(np.float32(kw["alpha"]))} if "alpha" in kw else {})})
    blk32.forward(x32)
    np.testing.assert_allclose(blk32.backward(dy32), want32[1](dy32.astype(np.float64))[0][0], rtol=2e-6, atol=1e-7)


def test_new_activations_exact_cases():
    x = np.array([[0.0, -0.0, 1e-40, -1e-40, 30.0, 100.0, -200.0, 1e30, -1e30] * 3], np.float32)
    # ELU: the identity for x > 0, -alpha once exp underflows, 0 at +-0 (as +0: the
    # fast-math kernels do not keep the sign of zero there)
    y = bk.ELU().forward(x)
    pos = x > 0
    np.testing.assert_array_equal(y[pos], x[pos])
    assert (y[x <= -200] == -1.0).all() and (y[x == 0] == 0).all()
    # GELU: x for large x, 0 (or a denormal of x's sign) far left, 0 at 0
    for blk in (bk.GELU(), bk.GELU("tanh")):
        y = blk.forward(x)
        assert (y[x >= 30] == x[x >= 30]).all() and (y[x == 0] == 0).all()
        assert (np.abs(y[x <= -200]) == 0).all()
    # Softplus: exactly x past the threshold, log(2) at 0, exp(x) in the far left tail
    y = bk.Softplus().forward(x)
    assert (y[x > 20] == x[x > 20]).all() and (y[x == 0] == np.float32(np.log(2))).all()
    assert (y[x <= -200] == 0).all()
