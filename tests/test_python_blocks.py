"""Blocks written in Python (a bk.Block subclass with NumPy forward/backward) inside
native models: standalone, in Sequential and functional graphs, trained by the native
optimizers, checked by gradcheck, saved and loaded by class name, their mistakes
refused with the block and the node named, and safe with threads, exit and Ctrl-C.

The references are independent: NumPy formulas written here, and the native blocks
(a Python PyLinear against bk.Linear with the same weights)."""

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import bricks as bk
import bricks.block as B
from bricks.check import GradcheckError
from children import wait_ready

F64, F32 = np.float64, np.float32


# -- the blocks under test (module level: registered once, picklable) -----------------------------
class PyScale(bk.Block):
    """y = x ⊙ gamma + beta, one gamma and beta per feature."""

    def __init__(self, features, dtype=None, seed=0):
        super().__init__(dtype=dtype)
        rng = np.random.default_rng(seed)
        self.add_param("gamma", rng.normal(1.0, 0.1, features))
        self.add_param("beta", rng.normal(0.0, 0.1, features))

    def forward(self, x):
        self.x = x
        return x * self.params["gamma"] + self.params["beta"]

    def backward(self, dy):
        self.grads["gamma"] += (dy * self.x).sum(0)
        self.grads["beta"] += dy.sum(0)
        return dy * self.params["gamma"]


class PyLinear(bk.Block):
    """bk.Linear's formulas in NumPy: y = x Wᵀ + b."""

    def __init__(self, n_in, n_out, *, dtype=None, seed=0):
        super().__init__(dtype=dtype)
        rng = np.random.default_rng(seed)
        self.add_param("weight", rng.uniform(-0.5, 0.5, (n_out, n_in)))
        self.add_param("bias", rng.uniform(-0.5, 0.5, n_out))
        self.n_out = n_out

    def out_features(self, n_in):
        if n_in != self.params["weight"].shape[1]:
            raise ValueError(f"PyLinear: expected inputs of width {self.params['weight'].shape[1]}, got {n_in}")
        return self.n_out

    def forward(self, x):
        self.x = x
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, dy):
        self.grads["weight"] += dy.T @ self.x
        self.grads["bias"] += dy.sum(0)
        return dy @ self.params["weight"]


class PyGatedSum(bk.Block):
    """Two inputs of widths p and q: y = [a ⊙ w, b] (width p + q); no n_inputs given:
    counted from forward's arguments."""

    def __init__(self, width, dtype=None):
        super().__init__(dtype=dtype)
        self.add_param("w", np.linspace(0.5, 1.5, width))

    def out_features(self, p, q):
        return p + q

    def forward(self, a, b):
        self.a = a
        return np.concatenate([a * self.params["w"], b], axis=1)

    def backward(self, dy):
        p = self.a.shape[1]
        self.grads["w"] += (dy[:, :p] * self.a).sum(0)
        return dy[:, :p] * self.params["w"], dy[:, p:]  # a strided view: copied as it is


class PySquare(bk.Block):
    """y = x², no parameters, no __init__ of its own."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, dy):
        return 2 * self.x * dy


class Poison(bk.Block):
    """Identity, but NaN in rows whose first feature is above 1e3 (the guard's test)."""

    def forward(self, x):
        y = x.copy()
        y[x[:, 0] > 1e3] = np.nan
        return y

    def backward(self, dy):
        return dy.copy()


class Mistake(bk.Block):
    """Each kind of mistake a Python block can make, chosen by `kind`."""

    def __init__(self, kind, dtype=None):
        super().__init__(dtype=dtype)
        self.kind = kind

    def forward(self, x):
        if self.kind == "shape":
            return x[:, :1].copy()
        if self.kind == "dtype":
            return x.astype(np.float32 if x.dtype == F64 else F64)
        if self.kind == "type":
            return x.tolist()
        if self.kind == "raise forward":
            raise KeyError("lost")
        return x.copy()

    def backward(self, dy):
        if self.kind == "count":
            return dy, dy
        if self.kind == "grad shape":
            return dy[:1].copy()
        if self.kind == "raise backward":
            raise ZeroDivisionError("oops")
        return dy.copy()


class Reentrant(bk.Block):
    """Calls its own model from inside forward: refused, never a deadlock."""

    model = None

    def forward(self, x):
        return self.model.predict(x)

    def backward(self, dy):
        return dy


class TrainingFlag(bk.Block):
    """Reads self.training inside forward (the block's lock is held there)."""

    def forward(self, x):
        return x * (2.0 if self.training else 3.0)

    def backward(self, dy):
        return dy * (2.0 if self.training else 3.0)


class WithHook(PyScale):
    """PyScale with an ONNX converter of its own: Mul then Add."""

    @staticmethod
    def onnx_converter(h, blk, xs, y, init):
        mid = y + "_scaled"
        return [h.make_node("Mul", [xs[0], init("gamma")], [mid]), h.make_node("Add", [mid, init("beta")], [y])]


# -- NumPy references --------------------------------------------------------------------------
def scale_ref(x, g, b):
    return x * g + b


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def regression(rng, n=64, d=3, k=2, dtype=F64):
    X = rng.normal(size=(n, d)).astype(dtype)
    T = (X @ rng.normal(size=(d, k)) + 0.3).astype(dtype)
    return X, T


# -- standalone ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64])
def test_standalone_matches_the_numpy_formulas(rng, dtype):
    s = PyScale(4, dtype=dtype, seed=3)
    x = rng.normal(size=(5, 4))
    y = s.forward(x)  # float64 in, converted to the block's dtype as for native blocks
    g, b = np.asarray(s.params["gamma"]), np.asarray(s.params["beta"])
    assert y.dtype == dtype and y.shape == (5, 4)
    np.testing.assert_allclose(y, scale_ref(x.astype(dtype), g, b), rtol=1e-6)
    dy = rng.normal(size=(5, 4)).astype(dtype)
    dx = s.backward(dy)
    np.testing.assert_allclose(dx, dy * g, rtol=1e-6)
    np.testing.assert_allclose(s.grads["gamma"], (dy * x.astype(dtype)).sum(0), rtol=1e-5)
    s.backward(dy)  # accumulates
    np.testing.assert_allclose(s.grads["beta"], 2 * dy.sum(0), rtol=1e-5)
    s.zero_grad()
    assert not s.grads["gamma"].any() and not s.grads["beta"].any()


def test_standalone_gradcheck_and_jacobian(rng):
    x = rng.normal(size=(3, 4))
    assert bk.gradcheck(PyScale(4, dtype=F64), x)
    assert bk.gradcheck(PyLinear(4, 2, dtype=F64), x)
    assert bk.gradcheck(PyGatedSum(4, dtype=F64), x, rng.normal(size=(3, 2)))
    assert bk.gradcheck(PySquare(dtype=F64), x)
    J = bk.jacobian(PySquare(dtype=F64), x[:1])
    np.testing.assert_allclose(J, np.diag(2 * x[0]), rtol=1e-12)


def test_gradcheck_finds_a_wrong_backward(rng):
    class HalfWrong(PySquare):
        def backward(self, dy):
            return self.x * dy  # forgot the 2

    with pytest.raises(GradcheckError, match="input 0"):
        bk.gradcheck(HalfWrong(dtype=F64), rng.normal(size=(2, 3)))


def test_standalone_rejects_bad_input_like_native_blocks(rng):
    s = PyScale(3, dtype=F64)
    with pytest.raises(ValueError, match="PyScale: input 0 must be finite, got nan"):
        s.forward(np.array([[1.0, np.nan, 0.0]]))
    with pytest.raises(ValueError, match="empty batch"):
        s.forward(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="forward takes 1 input"):
        s.forward(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(bk.StateError, match="PyScale: backward called before forward"):
        PyScale(3).backward(np.zeros((2, 3), F32))
    s.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected dy of shape \(2, 3\)"):
        s.backward(np.ones((2, 4)))


def test_arity_and_out_features(rng):
    assert PyGatedSum.n_inputs == 2 and PyScale.n_inputs == 1 and PySquare.n_inputs == 1
    a, b = bk.Input(4), bk.Input(2)
    assert PyGatedSum(4)(a, b).features == 6
    assert PyLinear(4, 7)(a).features == 7
    with pytest.raises(ValueError, match="PyLinear: expected inputs of width 5, got 4"):
        PyLinear(5, 7)(a)  # the user's own check, raised as itself when the graph is wired
    assert PySquare()(a).features == 4  # the default: the first input's width


# -- inside models ---------------------------------------------------------------------------------
def test_in_sequential_matches_numpy(rng):
    lin = bk.Linear(3, 4, dtype=F64, seed=0)
    s = PyScale(4, dtype=F64, seed=1)
    m = bk.Sequential(lin, s, bk.Tanh(dtype=F64))
    X = rng.normal(size=(6, 3))
    W, b = lin.params["weight"], lin.params["bias"]
    want = np.tanh(scale_ref(X @ W.T + b, s.params["gamma"], s.params["beta"]))
    np.testing.assert_allclose(m.predict(X), want, rtol=1e-12)
    assert list(m.params) == ["0.weight", "0.bias", "1.gamma", "1.beta"]


def test_in_a_functional_graph_with_two_inputs_and_a_gradcheck_of_the_whole_model(rng):
    a, b = bk.Input(3, dtype=F64, name="a"), bk.Input(2, dtype=F64, name="b")
    h = bk.Linear(3, 4, dtype=F64, seed=0)(a)
    g = PyGatedSum(4, dtype=F64)(h, b)
    y = PyLinear(6, 2, dtype=F64, seed=2)(bk.Tanh(dtype=F64)(g))
    m = bk.Model(inputs=[a, b], outputs=y)
    A, Bv = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    assert m.predict([A, Bv]).shape == (5, 2)
    assert bk.gradcheck(m, A, Bv)  # every input and every parameter, native and Python
    for wrt in list(m.params):
        J, Jn = bk.jacobian(m, A, Bv, wrt=wrt), bk.jacobian(m, A, Bv, wrt=wrt, numeric=True)
        np.testing.assert_allclose(J, Jn, atol=1e-7)


def test_random_shapes_match_the_numpy_formulas(rng):
    """A small fuzz: random batch sizes and widths through a graph of Python and native
    blocks, outputs and input gradients against NumPy written here."""
    for _ in range(20):
        n, p, q = (int(v) for v in rng.integers(1, 7, 3))
        a, b = bk.Input(p, dtype=F64), bk.Input(q, dtype=F64)
        s, g = PyScale(p, dtype=F64, seed=int(rng.integers(100))), PyGatedSum(p, dtype=F64)
        m = bk.Model(inputs=[a, b], outputs=PySquare(dtype=F64)(g(s(a), b)))
        A, Bv, dY = rng.normal(size=(n, p)), rng.normal(size=(n, q)), rng.normal(size=(n, p + q))
        gam, bet, w = s.params["gamma"], s.params["beta"], g.params["w"]
        h = np.concatenate([(A * gam + bet) * w, Bv], axis=1)
        np.testing.assert_allclose(m.forward(A, Bv), h**2, rtol=1e-12)
        dA, dB = m.backward(dY)
        dh = 2 * h * dY
        np.testing.assert_allclose(dA, dh[:, :p] * w * gam, rtol=1e-12)
        np.testing.assert_allclose(dB, dh[:, p:], rtol=1e-12)


def test_a_graph_whose_python_block_was_deleted_says_so(rng):
    import gc

    m = bk.Sequential(PyScale(3, dtype=F64))
    m.predict(np.ones((1, 3)))  # builds the executor
    g = m.executor
    del m
    gc.collect()
    with pytest.raises(bk.StateError, match=r"PyScale \(node '0'\): its Python object was deleted"):
        g.forward([rng.normal(size=(2, 3))], False, True)


def test_train_step_is_sgd_on_the_numpy_gradient(rng):
    s = PyScale(3, dtype=F64, seed=4)
    m = bk.Sequential(s).compile(bk.MSELoss(dtype=F64), bk.SGD([s], lr=0.1))
    X, T = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    g0, b0 = s.params["gamma"].copy(), s.params["beta"].copy()
    m.train_step(X, T)
    dy = 2 * (scale_ref(X, g0, b0) - T) / len(T)  # MSELoss's gradient (averaged over the rows)
    np.testing.assert_allclose(s.params["gamma"], g0 - 0.1 * (dy * X).sum(0), rtol=1e-12)
    np.testing.assert_allclose(s.params["beta"], b0 - 0.1 * dy.sum(0), rtol=1e-12)


def _pair(seed=0):
    """The same model twice: its last layer a PyLinear, or a native Linear with its weights."""
    py = PyLinear(4, 2, dtype=F64, seed=seed)
    nat = bk.Linear(4, 2, dtype=F64)
    nat.params["weight"][...] = py.params["weight"]
    nat.params["bias"][...] = py.params["bias"]
    models = []
    for last in (py, nat):
        first = bk.Linear(3, 4, dtype=F64, seed=7)
        models.append(bk.Sequential(first, bk.Tanh(dtype=F64), last))
    return models


OPTIMIZERS = {
    "SGD momentum": lambda m: bk.SGD(m, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "Adam": lambda m: bk.Adam(m, lr=0.01),
    "AdamW clipped": lambda m: bk.AdamW(m, lr=0.01, weight_decay=0.1, clip_norm=0.05),
}


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_fit_trains_it_exactly_like_the_native_block(rng, opt):
    X, T = regression(rng)
    py, nat = _pair()
    for m in (py, nat):
        m.compile(bk.MSELoss(dtype=F64), OPTIMIZERS[opt](m))
    h_py = py.fit(X, T, epochs=5, batch_size=16, seed=1, verbose=0)
    h_nat = nat.fit(X, T, epochs=5, batch_size=16, seed=1, verbose=0)
    assert h_py.history["loss"][-1] < h_py.history["loss"][0]
    np.testing.assert_allclose(h_py.history["loss"], h_nat.history["loss"], rtol=1e-10)
    for (k, a), b in zip(py.params.items(), nat.params.values()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13, err_msg=k)
    assert py.optimizer._core.steps == 20


def test_zero_grad_clip_and_grad_norm_see_its_parameters(rng):
    py, nat = _pair()
    X, T = regression(rng, n=8)
    for m in (py, nat):
        m.compile(bk.MSELoss(dtype=F64), bk.SGD(m, lr=0.1))
        m.compute_loss(X, T)
        m.backward()
    np.testing.assert_allclose(py.optimizer._core.grad_norm(), nat.optimizer._core.grad_norm(), rtol=1e-12)
    py.zero_grad()
    assert all(not g.any() for g in py.grads.values())


def test_the_nonfinite_guard_sees_its_output(rng):
    X, T = regression(rng, n=32)
    X[20, 0] = 1e4  # batch 2 of 4: Poison makes its rows NaN
    m = bk.Sequential(Poison(dtype=F64), bk.Linear(3, 2, dtype=F64, seed=0))
    m.compile(bk.MSELoss(dtype=F64), bk.SGD(m, lr=0.01))
    before = {k: v.copy() for k, v in m.params.items()}
    with pytest.raises(bk.NonFiniteError, match="batch 2"):
        m.fit(X, T, epochs=1, batch_size=8, shuffle=False, verbose=0)
    h = m.fit(X, T, epochs=1, batch_size=8, shuffle=False, verbose=0, on_nonfinite="skip")
    assert h.history["skipped_batches"] == [1.0]
    assert all(np.isfinite(v).all() for v in m.params.values())
    assert any(not np.array_equal(before[k], v) for k, v in m.params.items())


def test_training_flag_is_readable_inside_forward(rng):
    t = TrainingFlag(dtype=F64)
    m = bk.Sequential(t)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(m.forward(x), 2 * x)
    m.eval()
    np.testing.assert_array_equal(m.predict(x), 3 * x)


def test_weight_sharing_is_refused_clearly():
    s = PyScale(3)
    x = bk.Input(3)
    with pytest.raises(ValueError, match="PyScale: a Python block cannot share its weights"):
        bk.Model(inputs=x, outputs=s(s(x)), share_weights=True)


def test_calling_its_own_model_from_forward_is_refused_not_a_deadlock(rng):
    r = Reentrant(dtype=F64)
    m = bk.Sequential(bk.Linear(3, 3, dtype=F64), r)
    Reentrant.model = m
    try:
        with pytest.raises(bk.StateError, match="inside a Python block's forward"):
            m.predict(rng.normal(size=(2, 3)))
    finally:
        Reentrant.model = None


# -- mistakes, named ---------------------------------------------------------------------------------
def _in_model(kind, dtype=F64):
    x = bk.Input(3, dtype=dtype, name="x")
    h = bk.Linear(3, 3, dtype=dtype, seed=0)(x)
    y = Mistake(kind, dtype=dtype)(h)
    y.name = "the_mistake"
    return bk.Model(inputs=x, outputs=y)


MISTAKES = {
    "shape": (ValueError, r"forward returned shape \(4, 1\), expected \(4, 3\)"),
    "dtype": (TypeError, r"forward returned dtype float32, expected float64"),
    "type": (TypeError, r"forward returned a list, expected a float64 NumPy array"),
    "count": (ValueError, r"backward returned 2 gradient\(s\), expected 1"),
    "grad shape": (ValueError, r"backward returned for input 0 shape \(1, 3\), expected \(4, 3\)"),
}


@pytest.mark.parametrize("kind", MISTAKES)
def test_each_mistake_names_the_block_and_the_node(rng, kind):
    err, msg = MISTAKES[kind]
    m = _in_model(kind)
    X = rng.normal(size=(4, 3))
    with pytest.raises(err, match=r"^Mistake \(node 'the_mistake'\): " + msg):
        m.forward(X)
        m.backward(np.ones((4, 3)))
    blk = Mistake(kind, dtype=F64)
    with pytest.raises(err, match=r"^Mistake: " + msg):  # standalone: no node
        blk.forward(X)
        blk.backward(np.ones((4, 3)))


@pytest.mark.parametrize("where", ["forward", "backward"])
def test_an_exception_in_the_users_code_is_reraised_as_itself_with_the_node(rng, where):
    m = _in_model(f"raise {where}")
    cls = KeyError if where == "forward" else ZeroDivisionError
    with pytest.raises(cls) as e:
        m.compile(bk.MSELoss(dtype=F64), bk.SGD(m, lr=0.1))
        m.fit(rng.normal(size=(8, 3)), rng.normal(size=(8, 3)), verbose=0)
    assert type(e.value) is cls
    assert f"in Mistake (node 'the_mistake').{where}" in "".join(getattr(e.value, "__notes__", [str(e.value)]))
    assert "lost" in str(e.value) or "oops" in str(e.value)


def test_bad_constructors_and_parameters_are_refused():
    class NoSuper(bk.Block):
        def __init__(self):
            pass

        def forward(self, x):
            return x

        def backward(self, dy):
            return dy

    with pytest.raises(TypeError, match=r"NoSuper: __init__ must call super\(\).__init__"):
        NoSuper()

    class NoBackward(bk.Block):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="NoBackward: a block written in Python must define backward"):
        NoBackward()
    with pytest.raises(TypeError, match="dtype"):
        PySquare(dtype=np.int32)

    class BadParams(bk.Block):
        def __init__(self, value, name="w"):
            super().__init__(dtype=F64)
            self.add_param(name, value)

        forward, backward = PySquare._py_forward, PySquare._py_backward

    for value, name, err, msg in [
        (np.zeros((2, 2, 2)), "w", ValueError, r"1-D or 2-D array, got shape \(2, 2, 2\)"),
        (np.zeros(0), "w", ValueError, "non-empty"),
        ([1.0, np.nan], "w", ValueError, "NaN"),
        ("abc", "w", TypeError, "array of numbers"),
        (np.ones(2), "a.b", ValueError, "without '.'"),
        (np.ones(2), "", ValueError, "non-empty str"),
    ]:
        with pytest.raises(err, match=msg):
            BadParams(value, name)
    s = PyScale(2)
    with pytest.raises(bk.StateError, match=r"PyScale: add_param\('late'\) outside __init__"):
        s.add_param("late", np.ones(2))
    with pytest.raises(KeyError, match="no parameter 'nope'"):
        s.grads["nope"] = np.ones(2)
    with pytest.raises(ValueError, match=r"gradient 'gamma' has shape \(2,\), got \(3,\)"):
        s.grads["gamma"] = np.ones(3)

    class BadWidth(PySquare):
        def out_features(self, n):
            return 0

    with pytest.raises(ValueError, match="BadWidth: out_features returned 0, expected a positive int"):
        BadWidth()(bk.Input(3))


# -- save, load, pickle, registry ------------------------------------------------------------------
def test_save_and_load_give_bit_identical_predictions(rng, tmp_path):
    x, b = bk.Input(3, dtype=F64, name="x"), bk.Input(2, dtype=F64, name="b")
    y = PyLinear(5, 2, dtype=F64, seed=5)(PyGatedSum(3, dtype=F64)(bk.Linear(3, 3, dtype=F64)(x), b))
    graph = bk.Model(inputs=[x, b], outputs=y)
    seq = bk.Sequential(bk.Linear(3, 4, dtype=F64), PyScale(4, dtype=F64, seed=2), PySquare(dtype=F64))
    seq.compile(bk.MSELoss(dtype=F64), bk.Adam(seq, lr=0.01))
    X, Bv = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    seq.fit(X, rng.normal(size=(5, 4)), epochs=2, verbose=0)  # optimizer state saved too
    for m, data in ((graph, [X, Bv]), (seq, X)):
        m.save(tmp_path / "m.npz")
        back = bk.load(tmp_path / "m.npz")
        assert [type(k) for k in back.blocks] == [type(k) for k in m.blocks]
        np.testing.assert_array_equal(back.predict(data), m.predict(data))
        for k, v in m.params.items():
            np.testing.assert_array_equal(back.params[k], v)
        again = pickle.loads(pickle.dumps(m))
        np.testing.assert_array_equal(again.predict(data), m.predict(data))
    blk = pickle.loads(pickle.dumps(PyScale(3, dtype=F64, seed=9)))
    assert type(blk) is PyScale and blk.dtype == F64
    np.testing.assert_array_equal(blk.params["gamma"], PyScale(3, seed=9, dtype=F64).params["gamma"])
    assert PyScale(3, seed=9).spec() == {"class": "PyScale", "config": {"features": 3, "seed": 9}}


def test_loading_an_unregistered_class_names_it(tmp_path, monkeypatch):
    bk.Sequential(bk.Linear(3, 3), PyScale(3)).save(tmp_path / "m.npz")
    monkeypatch.setattr(B, "_USER", {k: v for k, v in B._USER.items() if k != "PyScale"})
    with pytest.raises(ValueError, match="unknown block class 'PyScale'.*defined.*before loading"):
        bk.load(tmp_path / "m.npz")
    with pytest.raises(B.UnknownBlockError, match="unknown block class 'PyScale'"):
        B.block_class("PyScale")


def test_a_file_whose_parameters_disagree_with_the_class_is_refused(tmp_path):
    import json
    import zipfile

    bk.Sequential(PyScale(3)).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    arch = json.loads(str(arrays["__bricks__"]))
    arch["blocks"][0]["config"]["features"] = 4  # the constructor now makes (4,) parameters
    arrays["__bricks__"] = np.array(json.dumps(arch))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="builds the parameters"):
        bk.load(tmp_path / "bad.npz")
    assert zipfile.is_zipfile(tmp_path / "m.npz")


def test_registration_never_shadows_a_bricks_block():
    class Linear(PyLinear):  # a class of yours named like a bricks block
        pass

    assert B.block_class("Linear") is bk.Linear
    key = Linear._block_key
    assert key.endswith("<locals>.Linear") and B.user_blocks()[key] is Linear
    assert Linear(2, 2).spec()["class"] == key
    assert B.user_blocks()["PyScale"] is PyScale and "PyScale" not in B.registry()


def test_a_config_that_is_not_json_is_refused_on_save(tmp_path):
    s = PyScale(np.int64(3))  # NumPy ints are no JSON
    with pytest.raises(
        TypeError, match="PyScale: cannot save constructor argument 'features'=.*int64.*not JSON-able.*config"
    ):
        bk.Sequential(s).save(tmp_path / "m.npz")
    assert not os.path.exists(tmp_path / "m.npz")


def test_a_constructor_without_dtype_loads_and_is_checked(tmp_path):
    class Fixed64(bk.Block):
        def __init__(self, k):
            super().__init__(dtype=F64)
            self.add_param("w", np.full(k, 2.0))

        def forward(self, x):
            return x * self.params["w"]

        def backward(self, dy):
            return dy * self.params["w"]

    m = bk.Sequential(Fixed64(3))
    m.save(tmp_path / "m.npz")
    back = bk.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict(np.ones((2, 3))), np.full((2, 3), 2.0))
    with pytest.raises(ValueError, match="Fixed64 was built as float64, the file holds float32"):
        B.from_spec({"class": Fixed64._block_key, "config": {"k": 3, "dtype": "float32"}})


def test_python_overrides_over_a_native_core_stay_plain_overrides(rng):
    class Doubled(bk.Block):  # wraps a native ReLU's core: its forward is an ordinary override
        def __init__(self):
            super().__init__(bk._core.ReLU("float64"))

        def forward(self, x):
            return 2 * bk.Block.forward(self, x)

        def backward(self, dy):
            return 2 * bk.Block.backward(self, dy)

    x = rng.normal(size=(3, 4))
    d = Doubled()
    np.testing.assert_array_equal(d.forward(x), 2 * np.maximum(x, 0))
    np.testing.assert_array_equal(d.backward(np.ones((3, 4))), 2.0 * (x > 0))


def test_super_init_with_a_positional_dtype_is_refused():
    class Positional(PySquare):
        def __init__(self):
            super().__init__(F64)

    with pytest.raises(TypeError, match=r"Positional: Block.__init__ takes dtype= by keyword"):
        Positional()


def test_pytorch_state_dict_names_its_parameters_by_chain_index(rng):
    m = bk.Sequential(bk.Linear(3, 4, dtype=F64), bk.ReLU(dtype=F64), PyLinear(4, 2, dtype=F64, seed=3))
    sd = m.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # nn.Sequential's names
    assert sd["2.weight"].shape == (2, 4) and sd["2.bias"].shape == (2,)
    twin = bk.Sequential(bk.Linear(3, 4, dtype=F64), bk.ReLU(dtype=F64), PyLinear(4, 2, dtype=F64, seed=8))
    bk.from_state_dict(twin, sd)
    X = rng.normal(size=(3, 3))
    np.testing.assert_array_equal(twin.predict(X), m.predict(X))


# -- ONNX ----------------------------------------------------------------------------------------
def test_onnx_export_error_names_the_class_and_the_hook_exports(rng, tmp_path):
    onnx_export = pytest.importorskip("bricks.onnx_export")
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    m = bk.Sequential(bk.Linear(3, 4, seed=0), PyScale(4, seed=1))
    with pytest.raises(ValueError, match=r"cannot export node '1' \(PyScale, PyScale\).*onnx_converter"):
        onnx_export.to_onnx(m, tmp_path / "m.onnx")
    m = bk.Sequential(bk.Linear(3, 4, seed=0), WithHook(4, seed=1), bk.Tanh())
    onnx_export.to_onnx(m, tmp_path / "m.onnx")
    X = rng.normal(size=(5, 3)).astype(F32)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(got, m.predict(X), rtol=1e-5, atol=1e-6)


# -- threads, exit, Ctrl-C ---------------------------------------------------------------------------
def test_two_threads_predict_concurrently(rng):
    m = bk.Sequential(bk.Linear(8, 16, seed=0), PyScale(16, seed=1), bk.Tanh(), PyLinear(16, 3, dtype=F32))
    Xs = [rng.normal(size=(64, 8)).astype(F32) for _ in range(2)]
    want = [m.predict(X) for X in Xs]
    bad = []

    def work(i):
        for _ in range(100):
            if not np.array_equal(m.predict(Xs[i]), want[i]):
                bad.append(i)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad


PRELUDE = """
import sys, threading, time, signal
import numpy as np
import bricks as bk
sys.path.insert(0, {here!r})
from test_python_blocks import PyScale, PyLinear
rng = np.random.default_rng(0)
m = bk.Sequential(bk.Linear(64, 64, seed=0), PyScale(64), bk.ReLU(), PyLinear(64, 10, dtype=np.float32))
m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.01))
X = rng.normal(size=(20000, 64)).astype(np.float32); y = rng.integers(0, 10, 20000)
started = threading.Event()
def train():
    started.set()
    m.fit(X, y, epochs=1000, batch_size=32, verbose=0)
"""
HERE = os.path.dirname(os.path.abspath(__file__))


def _script(body):
    return PRELUDE.format(here=HERE) + textwrap.dedent(body)


def test_interpreter_exits_while_a_daemon_thread_fits_a_model_with_a_python_block():
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            _script("""
        t = threading.Thread(target=train, daemon=True); t.start()
        started.wait(); time.sleep(0.5)
        print("exiting", flush=True)
        """),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "exiting" in r.stdout, r.stderr[-3000:]
    assert "terminate called" not in r.stderr and "Fatal" not in r.stderr


def test_ctrl_c_during_fit_of_a_model_with_a_python_block():
    p = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _script("""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("READY", flush=True)
        try:
            train()
        except KeyboardInterrupt:
            ok = all(np.isfinite(v).all() for v in m.params.values())
            print("INTERRUPTED", ok, m.predict(X[:4]).shape, flush=True)
        """),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(p)
        import time

        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, f"ended by {p.returncode}: {err[-3000:]}"
    assert "INTERRUPTED True (4, 10)" in out, out + err[-3000:]
