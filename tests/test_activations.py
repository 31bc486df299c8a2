"""LeakyReLU, ELU, GELU and Softplus: PyTorch's semantics and defaults (torch as an oracle
when it is installed, for outputs and gradients in float32 and float64), their edge cases,
constructor validation, and save/load. Parity with the NumPy reference, Jacobians and
fuzzing come from their specs in registry.py."""

import math
import pickle

import numpy as np
import pytest

import bricks as bk
import reference as R

F32, F64 = np.float32, np.float64

# (bricks block factory, torch functional call, description) for every configuration checked
CONFIGS = [
    ("LeakyReLU()", lambda dt: bk.LeakyReLU(dtype=dt), lambda F, t: F.leaky_relu(t)),
    ("LeakyReLU(0.2)", lambda dt: bk.LeakyReLU(0.2, dtype=dt), lambda F, t: F.leaky_relu(t, 0.2)),
    ("LeakyReLU(-0.5)", lambda dt: bk.LeakyReLU(-0.5, dtype=dt), lambda F, t: F.leaky_relu(t, -0.5)),
    ("LeakyReLU(0)", lambda dt: bk.LeakyReLU(0.0, dtype=dt), lambda F, t: F.leaky_relu(t, 0.0)),
    ("ELU()", lambda dt: bk.ELU(dtype=dt), lambda F, t: F.elu(t)),
    ("ELU(0.3)", lambda dt: bk.ELU(0.3, dtype=dt), lambda F, t: F.elu(t, 0.3)),
    ("ELU(2.5)", lambda dt: bk.ELU(alpha=2.5, dtype=dt), lambda F, t: F.elu(t, 2.5)),
    ("GELU()", lambda dt: bk.GELU(dtype=dt), lambda F, t: F.gelu(t)),
    ("GELU(tanh)", lambda dt: bk.GELU("tanh", dtype=dt), lambda F, t: F.gelu(t, approximate="tanh")),
    ("Softplus()", lambda dt: bk.Softplus(dtype=dt), lambda F, t: F.softplus(t)),
    ("Softplus(0.7, 5)", lambda dt: bk.Softplus(0.7, 5.0, dtype=dt), lambda F, t: F.softplus(t, 0.7, 5.0)),
    ("Softplus(3, 2)", lambda dt: bk.Softplus(beta=3.0, threshold=2.0, dtype=dt), lambda F, t: F.softplus(t, 3.0, 2.0)),
    ("Softplus(1, -1)", lambda dt: bk.Softplus(1.0, -1.0, dtype=dt), lambda F, t: F.softplus(t, 1.0, -1.0)),
]
CONFIG_IDS = [c[0] for c in CONFIGS]


def points(dtype):
    """Ordinary values, the kinks and signed zeros, tiny and large values, and values on and
    next to Softplus's thresholds (as the dtype rounds beta x)."""
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 1e-30, -1e-30, 1e-3, -1e-3, 1.0, -1.0, 5.0, -5.0, 10.0, -10.0, 20.0, 20.5, -30.0, 80.0]
    special += [-80.0, 1e3, -1e3, 5.0 / 0.7, 2.0 / 3.0, -1.0]
    x = np.concatenate([rng.normal(0, 3, 200), rng.uniform(-40, 40, 200), special]).astype(dtype)
    th = np.array([5.0 / 0.7, 2.0 / 3.0], dtype)  # on the thresholds of Softplus(0.7, 5), (3, 2)
    x = np.concatenate([x, th, np.nextafter(th, np.inf), np.nextafter(th, -np.inf)])
    return x.reshape(2, -1)


def close(got, want, dtype, x, what):
    """|got - want| <= rtol |want| + atol max(1, |x|), elementwise (the libraries round
    differently, e.g. PyTorch's float32 GELU computes 1 + erf(x / sqrt 2) in float32)."""
    rtol, atol = (2e-6, 1e-6) if dtype == F32 else (1e-13, 1e-14)
    got, want = np.asarray(got, F64), np.asarray(want, F64)
    bad = np.abs(got - want) > rtol * np.abs(want) + atol * np.maximum(1.0, np.abs(np.asarray(x, F64)))
    assert not bad.any(), f"{what}: at x = {np.asarray(x)[bad][:5]} got {got[bad][:5]}, torch {want[bad][:5]}"


# -- against PyTorch ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("name, make, torch_fn", CONFIGS, ids=CONFIG_IDS)
def test_outputs_and_gradients_match_torch(name, make, torch_fn, dtype):
    torch = pytest.importorskip("torch")
    x = points(dtype)
    dy = np.random.default_rng(1).normal(size=x.shape).astype(dtype)
    t = torch.tensor(x, requires_grad=True)
    yt = torch_fn(torch.nn.functional, t)
    yt.backward(torch.from_numpy(dy))
    blk = make(dtype)
    y, dx = blk.forward(x), blk.backward(dy)
    assert y.dtype == dx.dtype == dtype
    close(y, yt.detach().numpy(), dtype, x, f"{name} forward")
    close(dx, t.grad.numpy(), dtype, x, f"{name} backward")
    # the piecewise ones take the same branch everywhere: bit for bit, signed zeros included
    if name.startswith(("LeakyReLU", "Softplus")):
        lin = (x * np.asarray(getattr(blk, "beta", 1.0), dtype) > getattr(blk, "threshold", np.inf)) | (
            name.startswith("LeakyReLU")
        )
        want = yt.detach().numpy()
        np.testing.assert_array_equal(y[lin], want[lin])
        np.testing.assert_array_equal(np.signbit(y[lin]), np.signbit(want[lin]))
        np.testing.assert_array_equal(dx[lin], t.grad.numpy()[lin])


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_torch_defaults_and_the_gradient_at_zero(dtype):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    assert bk.LeakyReLU().negative_slope == nn.LeakyReLU().negative_slope == 0.01
    assert bk.ELU().alpha == nn.ELU().alpha == 1.0
    assert bk.GELU().approximate == nn.GELU().approximate == "none"
    assert (bk.Softplus().beta, bk.Softplus().threshold) == (nn.Softplus().beta, nn.Softplus().threshold)
    x = np.array([[0.0, -0.0]], dtype)
    for blk, fn in (
        (bk.LeakyReLU(0.3, dtype=dtype), lambda t: torch.nn.functional.leaky_relu(t, 0.3)),
        (bk.ELU(0.4, dtype=dtype), lambda t: torch.nn.functional.elu(t, 0.4)),
    ):
        t = torch.tensor(x, requires_grad=True)
        fn(t).sum().backward()
        blk.forward(x)
        g = blk.backward(np.ones_like(x))
        np.testing.assert_array_equal(g, t.grad.numpy())
        assert (g == dtype(0.3 if isinstance(blk, bk.LeakyReLU) else 0.4)).all()  # the x <= 0 side


# -- edge cases without torch -------------------------------------------------------------------------
def test_gradient_at_zero_is_the_left_side():
    x = np.zeros((1, 3))
    assert (bk.LeakyReLU(0.2, dtype=F64).forward(x) == 0).all()
    leaky = bk.LeakyReLU(0.2, dtype=F64)
    leaky.forward(x)
    assert (leaky.backward(np.ones((1, 3))) == 0.2).all()
    elu = bk.ELU(0.5, dtype=F64)
    elu.forward(x)
    assert (elu.backward(np.ones((1, 3))) == 0.5).all()


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_softplus_threshold_is_linear_with_gradient_one(dtype):
    sp = bk.Softplus(beta=2.0, threshold=3.0, dtype=dtype)
    x = np.array([[1.5, np.nextafter(dtype(1.5), dtype(2)), 2.0, 100.0, 3e30]], dtype)
    y = sp.forward(x)
    dy = np.array([[2.0, 3.0, 4.0, 5.0, 6.0]], dtype)
    dx = sp.backward(dy)
    np.testing.assert_array_equal(y[0, 1:], x[0, 1:])  # 2x > 3: the identity
    np.testing.assert_array_equal(dx[0, 1:], dy[0, 1:])  # gradient 1 there
    assert y[0, 0] == pytest.approx(math.log1p(math.exp(3.0)) / 2, rel=1e-6)  # 2x = 3: not above it
    assert dx[0, 0] == pytest.approx(2.0 / (1 + math.exp(-3.0)), rel=1e-6)
    # a threshold beyond any float: the smooth branch everywhere, without overflow
    far = bk.Softplus(1.0, 1e30, dtype=dtype)
    y = far.forward(np.array([[100.0, 1e3, -1e3]], dtype))
    assert np.isfinite(y).all() and y[0, 0] == pytest.approx(100.0) and y[0, 2] == 0.0


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_tails_are_finite_and_keep_their_digits(dtype):
    big = 3e38 if dtype == F32 else 1e300
    x = np.array([[-big, -1e4, -50.0, -10.0, 10.0, 50.0, 1e4, big]], dtype)
    for blk in (bk.ELU(dtype=dtype), bk.GELU(dtype=dtype), bk.GELU("tanh", dtype=dtype), bk.Softplus(dtype=dtype)):
        y = blk.forward(x)
        dx = blk.backward(np.ones_like(x))
        assert np.isfinite(y).all() and np.isfinite(dx).all(), blk.config()
    # x Phi(x) at -10 is 7.6e-23: float32 keeps it (PyTorch's float32 formula gives 0)
    y = bk.GELU(dtype=dtype).forward(np.array([[-10.0]], dtype))
    assert y[0, 0] == pytest.approx(-10 * 0.5 * math.erfc(10 / math.sqrt(2)), rel=1e-6)
    y = bk.GELU("tanh", dtype=dtype).forward(np.array([[-10.0]], dtype))
    want = R.gelu(np.array([[-10.0]]), "tanh")[0]  # the float64 formula: cancels to ~0 ...
    assert y[0, 0] < 0 and abs(y[0, 0] - want[0, 0]) < 1e-15  # ... bricks keeps the digits


@pytest.mark.parametrize("block", [bk.LeakyReLU, bk.ELU, bk.GELU, bk.Softplus])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused(block, bad):
    x = np.zeros((2, 5), np.float32)
    x[1, 3] = bad
    with pytest.raises(ValueError, match="finite"):
        block().forward(x)


@pytest.mark.parametrize("block", [bk.LeakyReLU, bk.ELU, bk.GELU, bk.Softplus])
def test_bad_input_shapes_and_empty_batches(block):
    with pytest.raises(ValueError, match="empty batch"):
        block().forward(np.zeros((0, 3), np.float32))
    with pytest.raises(TypeError, match="input"):
        block().forward(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(TypeError):
        block().forward("not an array")
    blk = block()
    with pytest.raises(bk.StateError):
        blk.backward(np.ones((1, 1), np.float32))
    blk.forward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected dy of shape \(2, 3\)"):
        blk.backward(np.ones((3, 2), np.float32))


# -- constructor arguments -----------------------------------------------------------------------------
BAD_ARGS = [
    (lambda: bk.LeakyReLU(float("nan")), ValueError, "LeakyReLU: negative_slope must be a finite number, got nan"),
    (lambda: bk.LeakyReLU(np.inf), ValueError, "negative_slope must be a finite number, got inf"),
    (lambda: bk.LeakyReLU("0.1"), TypeError, "negative_slope must be a number, got str"),
    (lambda: bk.LeakyReLU(True), TypeError, "negative_slope must be a number, got bool"),
    (lambda: bk.LeakyReLU(1e300, dtype=F32), ValueError, "negative_slope must be a finite number in float32"),
    (lambda: bk.ELU(-np.inf), ValueError, "ELU: alpha must be a finite number, got -inf"),
    (lambda: bk.ELU(None), TypeError, "ELU: alpha must be a number, got NoneType"),
    (lambda: bk.GELU("exact"), ValueError, "GELU: approximate must be 'none' or 'tanh', got 'exact'"),
    (lambda: bk.GELU(None), ValueError, "approximate must be 'none' or 'tanh', got None"),
    (lambda: bk.GELU(approximate="TANH"), ValueError, "got 'TANH'"),
    (lambda: bk.Softplus(0), ValueError, "Softplus: beta must be a finite number > 0, got 0.0"),
    (lambda: bk.Softplus(-1.0), ValueError, "beta must be a finite number > 0, got -1.0"),
    (lambda: bk.Softplus(np.inf), ValueError, "beta must be a finite number > 0, got inf"),
    (lambda: bk.Softplus(1e-50, dtype=F32), ValueError, "beta must be a finite number > 0 in float32"),
    (lambda: bk.Softplus(threshold=np.nan), ValueError, "Softplus: threshold must be a finite number, got nan"),
    (lambda: bk.Softplus(threshold="20"), TypeError, "threshold must be a number, got str"),
    (lambda: bk.ELU(dtype=np.int32), TypeError, "ELU"),
]


@pytest.mark.parametrize("make, exc, message", BAD_ARGS, ids=[m for _, _, m in BAD_ARGS])
def test_bad_constructor_arguments(make, exc, message):
    with pytest.raises(exc, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_numpy_numbers_are_taken():
    assert bk.LeakyReLU(np.float32(0.25)).negative_slope == 0.25
    assert bk.ELU(np.int64(2)).alpha == 2.0
    assert bk.GELU(np.str_("tanh")).approximate == "tanh"
    assert bk.Softplus(np.float64(2), np.int32(5)).config()["threshold"] == 5.0


# -- save, load, pickle ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_save_load_and_pickle_keep_the_configuration(tmp_path, rng, dtype):
    bk.manual_seed(4)
    d = dict(dtype=dtype)
    model = bk.Sequential(
        bk.Linear(5, 8, max_norm=2.5, **d),
        bk.LeakyReLU(-0.3, **d),
        bk.Linear(8, 8, **d),
        bk.ELU(0.7, **d),
        bk.Linear(8, 8, **d),
        bk.GELU("tanh", **d),
        bk.Linear(8, 8, **d),
        bk.GELU(**d),
        bk.Linear(8, 3, **d),
        bk.Softplus(0.5, 4.0, **d),
    )
    X = rng.normal(0, 3, (11, 5)).astype(dtype)
    want = model.predict(X)
    model.save(tmp_path / "m.bricks")
    for back in (bk.load(tmp_path / "m.bricks"), pickle.loads(pickle.dumps(model))):
        assert [b.config() for b in back] == [b.config() for b in model]
        np.testing.assert_array_equal(back.predict(X), want)
    cfg = [b.config() for b in model]
    assert cfg[1] == {"negative_slope": -0.3, "dtype": np.dtype(dtype).name}
    assert cfg[5]["approximate"] == "tanh" and cfg[9]["beta"] == 0.5 and cfg[9]["threshold"] == 4.0
    assert cfg[0]["max_norm"] == 2.5 and "max_norm" not in cfg[2]
