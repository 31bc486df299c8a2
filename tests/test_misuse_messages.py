"""Misuse found by a user audit: each case either works (bool targets) or fails with a
message that says what was expected and what came, instead of NumPy's, pybind11's or
the allocator's raw error.
"""

import json
import re
import warnings

import numpy as np
import pytest

import bricks as bk
from bricks import blocks as bk_blocks
from bricks.check import GradcheckError, NondeterministicError

F32, F64 = np.float32, np.float64
RNG = np.random.default_rng(3)
X = RNG.normal(size=(24, 4)).astype(F32)
Y01 = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(np.int64)  # binary labels, 0/1
FIT = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)


def binary(loss=bk.BCEWithLogitsLoss, out=1, seed=1):
    blocks = [bk.Linear(4, out, seed=seed)] + ([bk.Sigmoid()] if loss is bk.BCELoss else [])
    m = bk.Sequential(*blocks)
    return m.compile(loss(), bk.SGD(m, lr=0.1))


def classifier():
    m = bk.Sequential(bk.Linear(4, 3, seed=2))
    return m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))


def weights(m):
    return [np.array(v) for v in m.params.values()]


# -- 1. bool targets read as 0/1 -------------------------------------------------------------------
@pytest.mark.parametrize("loss", [bk.BCEWithLogitsLoss, bk.BCELoss, bk.MSELoss])
def test_loss_block_takes_bool_targets_as_0_1(loss):
    p = RNG.uniform(0.1, 0.9, (6, 2))
    t = RNG.uniform(size=(6, 2)) > 0.5
    a, b = loss(dtype=F64), loss(dtype=F64)
    assert a.forward(p, t) == b.forward(p, t.astype(F64))
    for ga, gb in zip(a.backward(), b.backward()):
        np.testing.assert_array_equal(ga, gb)


@pytest.mark.parametrize("loss", [bk.BCEWithLogitsLoss, bk.BCELoss])
def test_fit_and_evaluate_take_bool_labels_as_0_1(loss):
    m_bool, m_int = binary(loss), binary(loss)
    h_bool = m_bool.fit(X, Y01.astype(bool), **FIT)
    h_int = m_int.fit(X, Y01, **FIT)
    assert h_bool.history == h_int.history
    for p, q in zip(weights(m_bool), weights(m_int)):
        np.testing.assert_array_equal(p, q)
    assert m_bool.evaluate(X, Y01.astype(bool)) == m_int.evaluate(X, Y01)
    val = m_bool.fit(X, Y01.astype(bool), validation_data=(X, Y01.astype(bool)), **FIT)
    assert "val_accuracy" in val.history


def test_train_step_takes_bool_targets():
    m_bool, m_int = binary(), binary()
    assert m_bool.train_step(X, Y01[:, None].astype(bool)) == m_int.train_step(X, Y01[:, None])


def test_bool_data_and_bool_class_labels_stay_errors():
    with pytest.raises(TypeError, match="'input'.*real numeric.*bool"):
        binary().fit(X > 0, Y01, **FIT)
    with pytest.raises(TypeError, match=r"'target'.*integers.*bool.*astype\(int\).*BCEWithLogitsLoss"):
        classifier().fit(X, Y01.astype(bool), **FIT)


# -- 2. ragged lists -----------------------------------------------------------------------------
def test_ragged_rows_are_named_in_block_forward():
    with pytest.raises(
        ValueError,
        match=r"Linear\(2, 1\): input 0 rows have different lengths: "
        r"row 1 has 1 value but row 0 has 2 values",
    ):
        bk.Linear(2, 1).forward([[1, 2], [3]])
    with pytest.raises(ValueError, match="row 2 has a single number but row 0 has 2 values"):
        bk.ReLU().forward([[1, 2], [3, 4], 5])
    with pytest.raises(ValueError, match=r"element \[1\]\[1\] has 3 values but element \[1\]\[0\] has 2"):
        bk.ReLU().forward([[[1, 2], [3, 4]], [[1, 2], [3, 4, 5]]])
    with pytest.raises(ValueError, match="MSELoss: input 1 rows have different lengths: row 1 has 3"):
        bk.MSELoss().forward(np.ones((2, 2)), [[1, 2], [3, 4, 5]])


def test_ragged_rows_are_named_in_fit_evaluate_and_predict():
    rows = X[:3].tolist()
    rows[2] = rows[2][:3]
    with pytest.raises(
        ValueError, match="'input': data rows have different lengths: row 2 has 3 values but row 0 has 4 values"
    ):
        binary().fit(rows, Y01[:3], **FIT)
    with pytest.raises(ValueError, match="row 2 has 3 values but row 0 has 4"):
        binary().evaluate(rows, Y01[:3])
    with pytest.raises(ValueError, match="row 2 has 3 values but row 0 has 4"):
        binary().predict(rows)
    one = bk.Sequential(bk.Linear(1, 1, seed=0)).compile(bk.MSELoss(), None)
    with pytest.raises(ValueError, match="row 1 has 2 values but row 0 has 1"):  # one-feature input
        one.predict([[1.0], [2.0, 3.0]])


# -- 3. binary cross-entropy with labels of more classes --------------------------------------------
@pytest.mark.parametrize("loss", [bk.BCEWithLogitsLoss, bk.BCELoss])
@pytest.mark.parametrize("out", [1, 3])
def test_bce_with_three_class_labels_suggests_cross_entropy(loss, out):
    y3 = np.arange(24) % 3
    m = binary(loss, out)
    before = weights(m)
    for call in (lambda: m.fit(X, y3, **FIT), lambda: m.evaluate(X, y3)):
        with pytest.raises(
            ValueError,
            match=rf"'target': {loss.__name__} takes targets in \[0, 1\].*"
            r"values 0, 1, 2 \(2 at row 2.*CrossEntropyLoss",
        ):
            call()
    for p, q in zip(before, weights(m)):  # refused before any training
        np.testing.assert_array_equal(p, q)


def test_bce_block_with_integer_labels_and_minus_one_labels():
    with pytest.raises(
        ValueError,
        match=r"BCEWithLogitsLoss: .*values 0, 1, 2 \(2 at row 2, column 0\)"
        r".*CrossEntropyLoss",
    ):
        bk.BCEWithLogitsLoss().forward(np.zeros((3, 1)), np.array([[0], [1], [2]]))
    with pytest.raises(ValueError, match=r"values -1, 1 .*\(y > 0\)"):
        binary().fit(X, 2 * Y01 - 1, **FIT)
    assert bk.BCELoss().forward(np.full((2, 1), 0.5), np.array([[0], [1]])) > 0  # 0/1 ints still fine


# -- 4. uint64 labels above int64 -------------------------------------------------------------------
def test_uint64_label_above_int64_names_value_row_and_range():
    y = Y01.astype(np.uint64)
    y[5] = 2**64 - 1
    with pytest.raises(
        ValueError,
        match=r"'target': class label 18446744073709551615 at row 5 is out of "
        r"range \[0, 3\)",
    ):
        classifier().fit(X, y, **FIT)
    with pytest.raises(
        ValueError,
        match=r"CrossEntropyLoss: class label 18446744073709551615 at row 5 "
        r"is out of range \[0, 9223372036854775807\] \(int64\)",
    ):
        bk.CrossEntropyLoss().forward(np.zeros((24, 3)), y)


# -- 5. Linear sizes --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, name, value",
    [
        ((2**63, 1), "in_features", 2**63),
        ((1, 2**40), "out_features", 2**40),
        ((0, 1), "in_features", 0),
        ((3, -2), "out_features", -2),
    ],
)
def test_linear_sizes_are_validated_in_python(args, name, value):
    with pytest.raises(
        ValueError,
        match=rf"Linear: {name} must be a positive int of at most 2147483647.*"
        rf"got {value}$",
    ):
        bk.Linear(*args)


def test_linear_size_types():
    with pytest.raises(TypeError, match="Linear: out_features must be an int, got float"):
        bk.Linear(2, 3.0)
    assert bk.Linear(np.int64(2), np.uint8(3)).params["weight"].shape == (3, 2)


# -- 6. parameters beyond memory ----------------------------------------------------------------------
def test_huge_linear_is_a_memory_error_naming_shape_and_size():
    with pytest.raises(
        MemoryError,
        match=r"^Linear\(1000000, 1000000\): weight of 1000000 x 1000000 "
        r"float32 needs 4\.0 TB \(8\.0 TB for all parameters with "
        r"their gradients\)",
    ):
        bk.Linear(10**6, 10**6)


def test_memory_error_states_the_machines_memory(monkeypatch):
    monkeypatch.setattr(bk_blocks, "_physical_memory", lambda: 10**9)
    with pytest.raises(
        MemoryError,
        match=r"^Linear\(20000, 10000\): weight of 10000 x 20000 float64 needs "
        r"1\.6 GB \(3\.2 GB .*\); this machine has 1\.0 GB of memory$",
    ):
        bk.Linear(20000, 10000, dtype=F64)


def test_native_allocation_failure_is_reraised_with_the_shape(monkeypatch):
    # skip the up-front check: the core's allocation itself fails (far beyond any address space)
    monkeypatch.setattr(bk_blocks, "_check_memory", lambda *a: None)
    with pytest.raises(
        MemoryError,
        match=r"^Linear\(2147483647, 1048576\): weight of 1048576 x 2147483647 "
        r"float64 needs 18\.0 PB",
    ):
        bk.Linear(2**31 - 1, 2**20, dtype=F64)


def test_loading_a_file_that_claims_a_huge_architecture_is_refused_before_allocating(tmp_path):
    # the weights the file holds are checked against the architecture first (io.py); an
    # honest file that big would reach the constructor's MemoryError above
    path = tmp_path / "m.npz"
    binary().save(path)
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    arch = json.loads(str(files["__bricks__"]))
    arch["blocks"][0]["config"].update(in_features=10**6, out_features=10**6)
    files["__bricks__"] = np.array(json.dumps(arch))
    np.savez(path, **files)
    with pytest.raises(
        ValueError, match=re.escape("parameter '0.weight' is float32 (1, 4), expected float32 (1000000, 1000000)")
    ):
        bk.load(path)


# -- 7. gradcheck through Dropout ---------------------------------------------------------------------
def dropout_model():
    return bk.Sequential(
        bk.Linear(4, 3, dtype=F64, seed=0), bk.Dropout(0.5, dtype=F64, seed=1), bk.Linear(3, 2, dtype=F64, seed=2)
    )


def test_gradcheck_says_the_dropout_mask_changes():
    m, x = dropout_model(), RNG.normal(size=(3, 4))
    with pytest.raises(
        NondeterministicError,
        match=r"not deterministic.*Dropout\(0\.5\) \(node '1'\) is in training "
        r"mode, where the Dropout mask changes between evaluations.*eval.*"
        r"reseed",
    ):
        bk.gradcheck(m, x)
    with pytest.raises(ValueError, match="mask changes between evaluations"):  # also a ValueError
        bk.jacobian(m, x, numeric=True)
    d = bk.Dropout(0.3, dtype=F64, seed=4)
    with pytest.raises(GradcheckError, match=r"^Dropout\(0\.3\): forward is not deterministic"):
        bk.gradcheck(d, x)


def test_gradcheck_passes_with_a_fixed_mask_or_in_eval_mode():
    m, x = dropout_model(), RNG.normal(size=(3, 4))
    assert bk.gradcheck(m, x, setup=lambda: m[1].reseed(0))
    d = bk.Dropout(0.3, dtype=F64, seed=4)
    assert bk.gradcheck(d, x, setup=lambda: d.reseed(7))
    assert bk.gradcheck(m.eval(), x)


def test_dropout_reseed_restarts_the_mask_stream():
    x = np.ones((4, 16))
    d = bk.Dropout(0.5, seed=9)
    d.forward(x)
    d.reseed(123)
    np.testing.assert_array_equal(d.forward(x), bk.Dropout(0.5, seed=123).forward(x))
    with pytest.raises(TypeError, match="Dropout.reseed: seed must be an int, got float"):
        d.reseed(1.5)


# -- 8. the reduction of the losses over features ------------------------------------------------------
@pytest.mark.parametrize("loss", [bk.MSELoss, bk.BCELoss, bk.BCEWithLogitsLoss])
def test_loss_docstrings_state_the_reduction_and_it_holds(loss):
    doc = " ".join(loss.__doc__.split())
    assert "summed over the D features, averaged over the N samples" in doc
    assert f"D times PyTorch's default ``{loss.__name__}()``" in doc
    p = RNG.uniform(0.1, 0.9, (5, 3))
    t = RNG.uniform(size=(5, 3))
    per_elem = {
        bk.MSELoss: (p - t) ** 2,
        bk.BCELoss: -(t * np.log(p) + (1 - t) * np.log(1 - p)),
        bk.BCEWithLogitsLoss: np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))),
    }[loss]
    np.testing.assert_allclose(loss(dtype=F64).forward(p, t), 3 * per_elem.mean(), rtol=1e-12)


def test_compile_of_a_multi_output_bce_model_does_not_warn():
    m = bk.Sequential(bk.Linear(4, 3, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.compile(bk.BCEWithLogitsLoss(), bk.SGD(m, lr=0.1))


def test_gradcheck_names_other_randomness_too():
    class Noisy:
        """A Python block whose forward draws noise."""

        dtype, params, grads = F64, {}, {}
        rng = np.random.default_rng(0)

        def forward(self, x):
            return x + self.rng.normal(size=np.shape(x))

        def backward(self, dy):
            return dy

        def zero_grad(self):
            pass

    with pytest.raises(NondeterministicError, match="draws new random numbers on every forward.*setup="):
        bk.gradcheck(Noisy(), RNG.normal(size=(2, 3)))


def test_input_width_beyond_the_kernels_is_a_clear_error():
    for bad in (2**63, 2**31, 0, -3):
        with pytest.raises(
            ValueError,
            match=rf"Input: features must be a positive int of at most 2147483647 \(the matrix kernels' 32-bit "
            rf"sizes\), got {bad}",
        ):
            bk.Input(bad)


def test_out_of_memory_in_forward_names_the_block_and_size():
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import resource
        import numpy as np
        import bricks as bk
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        m = bk.Sequential(bk.Linear(2, 100000, seed=0))
        try:
            m.predict(np.ones((20000, 2), np.float32), batch_size=20000)
        except MemoryError as e:
            print("model:", e)
        print("then:", m.predict(np.ones((2, 2), np.float32)).shape)
        try:
            bk.Linear(2, 100000, seed=0).forward(np.ones((20000, 2), np.float32))
        except MemoryError as e:
            print("block:", e)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (
        "model: Model: the activations of Linear(2, 100000) for a batch of 20000: cannot allocate "
        "(20000, 100000) float32 (8.0 GB); use a smaller batch_size"
    ) in r.stdout
    assert "then: (2, 100000)" in r.stdout  # the model still works
    assert "block: Linear(2, 100000): the output: cannot allocate (20000, 100000) float32 (8.0 GB)" in r.stdout
