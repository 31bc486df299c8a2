"""Habits users bring (issue 15): precision in one line, and optimizers that take what
``model.params`` gives. Written the way a user writes the code."""

import threading
import warnings

import numpy as np
import pytest

import bricks as bk


@pytest.fixture(autouse=True)
def _float32_after():
    yield
    bk.set_default_dtype(np.float32)  # a failing test must not leave float64 behind


def _data(n=6, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, 2))


# -- the default dtype ----------------------------------------------------------------------
def test_float64_gradcheck_of_a_sequential_with_one_line_of_set_up():
    bk.set_default_dtype(np.float64)
    model = bk.Sequential(bk.Linear(3, 5), bk.Tanh(), bk.Linear(5, 4), bk.ReLU(), bk.Linear(4, 2))
    X, _ = _data()
    assert model.dtype == np.float64
    assert all(b.dtype == np.float64 for b in model.blocks)
    assert bk.gradcheck(model, X + 0.01)


def test_the_context_manager_makes_a_functional_model_float64_and_restores_float32():
    with bk.default_dtype(np.float64):
        x = bk.Input(3)
        h = bk.Linear(3, 4)(x)
        out = bk.Linear(4, 2)(bk.ReLU()(h) + bk.Tanh()(h))
        model = bk.Model(x, out)
    assert x.dtype == np.float64 and model.dtype == np.float64
    assert bk.get_default_dtype() == np.float32
    assert bk.Linear(2, 2).dtype == np.float32 and bk.Input(2).dtype == np.float32
    X, _ = _data()
    assert bk.gradcheck(model, X)


def test_losses_and_fit_follow_the_default_dtype():
    with bk.default_dtype(np.float64):
        model = bk.Sequential(bk.Linear(3, 8), bk.GELU(), bk.Linear(8, 2))
        model.compile(bk.MSELoss(), bk.SGD(model, lr=0.05))
    X, Y = _data(32)
    before = model.evaluate(X, Y)["loss"]
    model.fit(X, Y, epochs=20, verbose=0)
    assert model.evaluate(X, Y)["loss"] < before
    assert model.predict(X).dtype == np.float64


def test_contexts_nest_and_restore_on_an_exception():
    with bk.default_dtype(np.float64):
        with bk.default_dtype(np.float32):
            assert bk.ReLU().dtype == np.float32
        assert bk.ReLU().dtype == np.float64
        with pytest.raises(ZeroDivisionError):
            with bk.default_dtype(np.float32):
                1 / 0
        assert bk.get_default_dtype() == np.float64
    assert bk.get_default_dtype() == np.float32


def test_an_explicit_dtype_wins_over_the_default():
    with bk.default_dtype(np.float64):
        assert bk.Linear(2, 3, dtype=np.float32).dtype == np.float32
        assert bk.Input(2, dtype="float32").dtype == np.float32


def test_set_default_dtype_accepts_strings_and_the_other_spellings():
    bk.set_default_dtype("float64")
    assert bk.Linear(2, 2).dtype == np.float64
    bk.set_default_dtype(np.dtype(np.float32))
    assert bk.Linear(2, 2).dtype == np.float32


@pytest.mark.parametrize("bad", [np.float16, np.int64, "double precision", 64])
def test_a_wrong_default_dtype_says_what_is_expected(bad):
    with pytest.raises(TypeError, match=r"set_default_dtype: dtype must be float32 or float64, got"):
        bk.set_default_dtype(bad)
    with pytest.raises(TypeError, match=r"default_dtype: dtype must be float32 or float64, got"):
        bk.default_dtype(bad)
    assert bk.get_default_dtype() == np.float32


def test_a_thread_building_blocks_sees_the_default_set_before_it_started():
    bk.set_default_dtype(np.float64)
    got = []
    t = threading.Thread(target=lambda: got.append(bk.Linear(2, 2).dtype))
    t.start()
    t.join()
    assert got == [np.float64]


# -- model.astype ------------------------------------------------------------------------------
def test_astype_gives_a_float64_copy_that_predicts_the_same():
    model = bk.Sequential(bk.Linear(3, 6), bk.BatchNorm(6), bk.Tanh(), bk.Linear(6, 2))
    model.compile(bk.MSELoss(), bk.Adam(model, lr=0.01), metrics=["mae"])
    X, Y = _data(32)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    model.fit(X32, Y32, epochs=3, verbose=0)
    model.eval()

    m64 = model.astype(np.float64)

    assert model.dtype == np.float32  # the original is left as it was
    assert m64.dtype == np.float64
    assert all(v.dtype == np.float64 for v in m64.params.values())
    assert all(v.dtype == np.float64 for v in m64.buffers.values() if v.dtype.kind == "f")
    for k, v in model.params.items():
        np.testing.assert_array_equal(m64.params[k], v.astype(np.float64))
    for k, v in model.buffers.items():
        np.testing.assert_array_equal(m64.buffers[k], v.astype(m64.buffers[k].dtype))
    np.testing.assert_allclose(m64.predict(X), model.predict(X32), rtol=1e-5, atol=1e-5)
    assert type(m64.compiled_loss[0]) is bk.MSELoss and m64.compiled_loss[0].dtype == np.float64
    assert type(m64.optimizer) is bk.Adam and m64.optimizer.lr == model.optimizer.lr
    assert m64.optimizer.state_dict()["steps"] == model.optimizer.state_dict()["steps"]
    assert m64.metrics == model.metrics
    assert bk.gradcheck(m64, X[:4])
    m64.train().fit(X, Y, epochs=1, verbose=0)  # trains on in float64 with the converted state


def test_astype_of_a_functional_model_and_back():
    x = bk.Input(3)
    h = bk.Linear(3, 4)(x)
    model = bk.Model(x, bk.Concat()(bk.ReLU()(h), h))
    m64 = model.astype(np.float64)
    back = m64.astype(np.float32)
    X, _ = _data()
    assert m64.dtype == np.float64 and back.dtype == np.float32
    np.testing.assert_array_equal(back.predict(X.astype(np.float32)), model.predict(X.astype(np.float32)))
    assert bk.gradcheck(m64, X + 0.01)


def test_astype_with_a_wrong_dtype_says_what_is_expected():
    model = bk.Sequential(bk.Linear(2, 2))
    with pytest.raises(TypeError, match="astype: dtype must be float32 or float64, got float16"):
        model.astype(np.float16)
    with pytest.raises(TypeError, match="astype: dtype must be float32 or float64, got None"):
        model.astype(None)


# -- optimizers take what model.params gives -------------------------------------------------
def _trains(make_opt):
    bk.manual_seed(0)
    model = bk.Sequential(bk.Linear(3, 8), bk.ReLU(), bk.Linear(8, 2))
    opt = make_opt(model)
    X, Y = _data(32)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    before = {k: v.copy() for k, v in model.params.items()}
    model.fit(X, Y, loss=bk.MSELoss(), optimizer=opt, epochs=2, verbose=0)
    return all(not np.array_equal(before[k], v) for k, v in model.params.items())


@pytest.mark.parametrize(
    "spelling",
    [
        lambda m: bk.SGD(m.params, lr=0.1),
        lambda m: bk.SGD(m.params.values(), lr=0.1),
        lambda m: bk.Adam(list(m.params.values()), lr=0.01),
        lambda m: bk.AdamW(m.params, lr=0.01),
        lambda m: bk.SGD(m.blocks, lr=0.1),
        lambda m: bk.SGD(m.parameters(), lr=0.1, momentum=0.9),
    ],
    ids=["params", "params.values()", "list(params.values())", "AdamW(params)", "blocks", "parameters()"],
)
def test_optimizers_take_what_model_params_returns(spelling):
    assert _trains(spelling)


def test_the_pytorch_spelling_params_call_works_with_its_deprecation_warning():
    def make(m):
        with pytest.warns(DeprecationWarning, match=r"write model.params \(no call\)"):
            return bk.SGD(m.params(), lr=0.1)

    assert _trains(make)


def test_params_of_a_nested_chain_are_all_found():
    inner = bk.Sequential(bk.Linear(4, 4), bk.Tanh())
    model = bk.Sequential(bk.Linear(3, 4), inner, bk.Linear(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_values = bk.SGD(model.params.values(), lr=0.1)
    assert len(by_values._param_blocks) == 3
    assert bk.SGD(model.params, lr=0.1).state_dict()["type"] == "SGD"


@pytest.mark.parametrize(
    "bad, got",
    [
        ("model", "got str 'model'"),
        (0.1, "got float 0.1"),
        (np.zeros((2, 2)), "got ndarray an array that is no model's parameter"),
        ([np.zeros(3)], "got ndarray an array that is no model's parameter"),
        ([bk.Linear(2, 2), "relu"], "got str 'relu'"),
    ],
)
def test_a_wrong_argument_shows_the_right_spelling(bad, got):
    with pytest.raises(
        TypeError, match=r"SGD: params must be a model, blocks or model.params; write SGD\(model, lr=...\)"
    ) as e:
        bk.SGD(bad, lr=0.1)
    assert got in str(e.value)


# -- an Input without dtype, and parameter-free blocks, take the dtype of what they meet -------
F64 = np.float64


def test_a_float64_graph_needs_dtype_only_on_the_blocks_with_parameters():
    x = bk.Input(3)
    h = bk.Linear(3, 5, dtype=F64)(x)
    h = bk.Tanh()(h) + bk.ReLU()(h)
    out = bk.Linear(5, 2, dtype=F64)(bk.Dropout(0.2)(bk.GELU()(h)))
    model = bk.Model(x, out).eval()
    assert x.dtype == F64 and model.dtype == F64
    assert all(b.dtype == F64 for b in model.blocks)
    X, _ = _data()
    assert bk.gradcheck(model, X + 0.01)


def test_parameter_free_blocks_before_the_first_linear_follow_it_too():
    x = bk.Input(3)
    h = bk.LeakyReLU(0.1)(x)
    h = bk.Concat()(h, bk.ELU()(x))
    out = bk.Linear(6, 2, dtype=F64)(bk.Softplus()(h))
    model = bk.Model(x, bk.LogSoftmax()(out))
    assert model.dtype == F64 and all(b.dtype == F64 for b in model.blocks)
    assert bk.gradcheck(model, _data()[0] + 0.01)


def test_a_sequential_of_float64_linears_and_plain_activations():
    model = bk.Sequential(
        bk.Linear(3, 4, dtype=F64), bk.Sigmoid(), bk.Identity(), bk.Linear(4, 2, dtype=F64), bk.Softmax()
    )
    assert model.dtype == F64 and [b.dtype for b in model.blocks] == [F64] * 5
    assert bk.gradcheck(model, _data()[0])


def test_a_rebuilt_dropout_keeps_its_seed():
    a = bk.Sequential(bk.Linear(3, 3, dtype=F64), bk.Dropout(0.5, seed=7))
    b = bk.Sequential(bk.Linear(3, 3, dtype=F64), bk.Dropout(0.5, seed=7, dtype=F64))
    assert a.blocks[1].dtype == F64
    X = np.ones((20, 3))
    masked = a.blocks[1].forward(X)
    assert 0 < np.count_nonzero(masked) < masked.size
    np.testing.assert_array_equal(masked, b.blocks[1].forward(X))


def test_an_explicit_dtype_stays_strict():
    with pytest.raises(TypeError, match=r"ReLU: its dtype float32 differs from node .*float64"):
        bk.ReLU(dtype=np.float32)(bk.Input(3, dtype=F64))
    with pytest.raises(TypeError, match=r"Linear\(3, 2\): its dtype float64 differs from node .*float32"):
        bk.Linear(3, 2, dtype=F64)(bk.Input(3, dtype=np.float32))
    with pytest.raises(TypeError, match=r"all blocks must share one dtype"):
        bk.Sequential(bk.Linear(3, 4, dtype=F64), bk.ReLU(dtype=np.float32))


def test_an_input_is_fixed_by_the_first_block_with_a_dtype_it_feeds():
    x = bk.Input(3)
    bk.Linear(3, 2)(x)  # float32: x is float32 from now on
    with pytest.raises(TypeError, match=r"Linear\(3, 2\): its dtype float64 differs from node .*float32"):
        bk.Linear(3, 2, dtype=F64)(x)


def test_a_block_already_used_in_one_dtype_is_not_rebuilt_for_another():
    relu = bk.ReLU()
    relu(bk.Input(2, dtype=np.float32))
    with pytest.raises(TypeError, match=r"ReLU: its dtype float32 differs .*float64 \(it is already used"):
        relu(bk.Input(2, dtype=F64))


def test_an_input_feeding_only_parameter_free_blocks_keeps_the_default():
    x = bk.Input(3)
    model = bk.Model(x, bk.ReLU()(x))
    assert model.dtype == np.float32
    with bk.default_dtype(F64):
        y = bk.Input(3)
        assert bk.Model(y, bk.Tanh()(y)).dtype == F64


def test_a_float32_gradcheck_points_to_the_one_line_fixes():
    model = bk.Sequential(bk.Linear(3, 2), bk.Tanh())
    X, _ = _data()
    with pytest.raises(TypeError, match=r"bk.default_dtype\(np.float64\).*model.astype\(np.float64\)"):
        bk.gradcheck(model, X)
    assert bk.gradcheck(model.astype(np.float64), X)


def test_a_loss_without_dtype_takes_the_model_s():
    model = bk.Sequential(bk.Linear(3, 8, dtype=F64), bk.ReLU(), bk.Linear(8, 3, dtype=F64))
    X = _data(30)[0]
    y = np.arange(30) % 3
    model.fit(X, y, loss=bk.CrossEntropyLoss(weight=[1.0, 2.0, 1.0]), optimizer=bk.SGD(model, lr=0.1), verbose=0)
    assert model.compiled_loss[0].dtype == F64
    with pytest.raises(TypeError, match=r"compile: MSELoss is float32 but the model is float64"):
        model.compile(bk.MSELoss(dtype=np.float32))
    x, target = bk.Input(3), bk.Input(1)
    pred = bk.Linear(3, 1, dtype=F64)(x)
    graph = bk.Model([x, target], pred, loss=bk.MSELoss()(pred, target))
    assert graph.dtype == F64 and target.dtype == F64
