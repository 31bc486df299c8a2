"""ONNX export, checked by the real onnx checker and run in the real ONNX Runtime."""

import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import bricks as bk  # noqa: E402
from bricks import onnx_export  # noqa: E402
from bricks.onnx_export import to_onnx  # noqa: E402

F32, F64 = np.float32, np.float64
TOL = {F32: 1e-5, F64: 1e-12}
BATCHES = (1, 3, 64)
ACTS = {bk.ReLU: "Relu", bk.Sigmoid: "Sigmoid", bk.Tanh: "Tanh", bk.Softmax: "Softmax", bk.LogSoftmax: "LogSoftmax"}


def session(path):
    return ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])


def run(path, feeds):
    return session(path).run(None, feeds)


def assert_parity(got, want, dtype):
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    err = float(np.max(np.abs(got.astype(F64) - want.astype(F64))))
    assert err <= TOL[dtype], f"ONNX Runtime differs from predict by {err:.3g}"
    return err


def data(rng, n, d, dtype):
    return (rng.normal(0.0, 2.0, (n, d))).astype(dtype)


# -- chains -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("act", list(ACTS), ids=[a.__name__ for a in ACTS])
def test_chain_each_activation_matches_onnxruntime(tmp_path, rng, act, dtype):
    bk.manual_seed(3)
    model = bk.Sequential(
        bk.Linear(6, 16, dtype=dtype, init="torch"),
        act(dtype=dtype),
        bk.Dropout(0.4, dtype=dtype),
        bk.Linear(16, 5, dtype=dtype, init="torch"),
        act(dtype=dtype),
    )
    path = tmp_path / "chain.onnx"
    proto = to_onnx(model, path)
    op = ACTS[act]
    assert [n.op_type for n in proto.graph.node] == ["Gemm", op, "Identity", "Gemm", op]
    for n in proto.graph.node:
        if n.op_type in ("Softmax", "LogSoftmax"):
            assert onnx.helper.get_attribute_value(n.attribute[0]) == 1  # axis = the row
        if n.op_type == "Gemm":
            assert {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} == {"transB": 1}
    sess = session(path)
    assert [i.name for i in sess.get_inputs()] == ["input"]
    assert sess.get_inputs()[0].shape == ["N", 6] and sess.get_outputs()[0].shape == ["N", 5]
    for n in BATCHES:
        X = data(rng, n, 6, dtype)
        assert_parity(sess.run(None, {"input": X})[0], model.predict(X), dtype)


# LeakyReLU, ELU, GELU, Softplus: ONNX ops where they exist for the dtype in ONNX Runtime,
# decompositions otherwise; (block factory, op types the float32 export at opset 17 uses)
NEW_ACTS = [
    (lambda d: bk.LeakyReLU(dtype=d), ["LeakyRelu"]),
    (lambda d: bk.LeakyReLU(-0.3, dtype=d), ["LeakyRelu"]),
    (lambda d: bk.ELU(dtype=d), ["Elu"]),
    (lambda d: bk.ELU(0.4, dtype=d), ["Elu"]),
    (lambda d: bk.GELU(dtype=d), ["Mul", "Erf", "Add", "Mul", "Mul"]),
    (lambda d: bk.GELU("tanh", dtype=d), ["Mul", "Mul", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"]),
    (lambda d: bk.Softplus(dtype=d), None),
    (lambda d: bk.Softplus(0.7, 2.5, dtype=d), None),
    (lambda d: bk.Softplus(3.0, -1.0, dtype=d), None),
]
NEW_IDS = [
    "LeakyReLU",
    "LeakyReLU(-0.3)",
    "ELU",
    "ELU(0.4)",
    "GELU",
    "GELU(tanh)",
    "Softplus",
    "Softplus(0.7,2.5)",
    "Softplus(3,-1)",
]


@pytest.mark.parametrize("opset", [13, 17, 20])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("make, ops", NEW_ACTS, ids=NEW_IDS)
def test_new_activations_match_onnxruntime(tmp_path, rng, make, ops, dtype, opset):
    bk.manual_seed(5)
    act = make(dtype)
    model = bk.Sequential(bk.Linear(6, 40, dtype=dtype, init="torch"), act, bk.Linear(40, 5, dtype=dtype), make(dtype))
    path = tmp_path / "act.onnx"
    proto = to_onnx(model, path, opset=opset)
    kinds = [n.op_type for n in proto.graph.node]
    assert kinds[0] == "Gemm" and kinds.count("Gemm") == 2
    first = kinds[1 : kinds.index("Gemm", 1)]
    if dtype == F32 and ops is not None:
        want = ["Gelu"] if opset >= 20 and isinstance(act, bk.GELU) else ops
        assert first == want
    if dtype == F64:  # ONNX Runtime runs none of these ONNX ops in float64: decompositions
        assert not {"LeakyRelu", "Elu", "Erf", "Gelu", "Softplus"} & set(kinds)
    sess = session(path)

    def parity(X):  # float32 sums err in proportion to the largest value
        want = model.predict(X)
        scale = max(1.0, float(np.abs(want).max()))
        assert_parity(sess.run(None, {"input": X})[0] / dtype(scale), want / dtype(scale), dtype)

    for n in BATCHES:
        parity(np.concatenate([data(rng, n, 6, dtype), 10 * data(rng, n, 6, dtype)]))
    # the thresholds and kinks exactly: inputs whose first-layer outputs land on them
    lin = model[0]
    lin.params["weight"][...] = 0.0
    lin.params["weight"][:, 0] = 1.0
    lin.params["bias"][...] = 0.0
    edges = [0.0, -0.0, 1e-30, -1e-30, 2.5 / 0.7, 1.0 / 3.0, -1 / 3.0, 30.0, -30.0, -10.0, 300.0, -300.0]
    X = np.zeros((len(edges), 6), dtype)
    X[:, 0] = edges
    to_onnx(model, path, opset=opset)  # the new weights
    sess = session(path)
    parity(X)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_initializers_are_the_weights_in_the_model_dtype(tmp_path, dtype):
    model = bk.Sequential(
        bk.Linear(3, 4, dtype=dtype, seed=1), bk.Tanh(dtype=dtype), bk.Linear(4, 2, bias=False, dtype=dtype, seed=2)
    )
    proto = to_onnx(model, tmp_path / "m.onnx")
    elem = onnx.TensorProto.FLOAT if dtype is F32 else onnx.TensorProto.DOUBLE
    inits = {t.name: t for t in proto.graph.initializer}
    assert sorted(inits) == sorted(model.params)  # "0.weight", "0.bias", "2.weight": no bias
    for k, v in model.params.items():
        assert inits[k].data_type == elem
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(inits[k]), v)  # bit for bit
    gemms = [n for n in proto.graph.node if n.op_type == "Gemm"]
    assert [len(n.input) for n in gemms] == [3, 2]  # the bias-free Linear has no C
    for v in list(proto.graph.input) + list(proto.graph.output):
        assert v.type.tensor_type.elem_type == elem
        assert v.type.tensor_type.shape.dim[0].dim_param == "N"
    loaded = onnx.load(os.fspath(tmp_path / "m.onnx"))
    onnx.checker.check_model(loaded, full_check=True)
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(dtype)
    assert_parity(run(tmp_path / "m.onnx", {"input": X})[0], model.predict(X), dtype)


def test_export_in_training_mode_is_inference_and_keeps_the_mode(tmp_path, rng):
    model = bk.Sequential(bk.Linear(4, 32, seed=0), bk.ReLU(), bk.Dropout(0.5, seed=1), bk.Linear(32, 2, seed=2))
    model.train()
    X = data(rng, 20, 4, F32)
    to_onnx(model, tmp_path / "m.onnx")
    assert model[2].training
    assert_parity(run(tmp_path / "m.onnx", {"input": X})[0], model.predict(X), F32)
    assert not np.allclose(model.forward(X), model.predict(X))  # dropout was live in training


def test_sequential_not_built_yet(tmp_path, rng):
    model = bk.Sequential(bk.Sigmoid(), bk.Linear(3, 4, seed=0), bk.LogSoftmax())
    to_onnx(model, tmp_path / "m.onnx")  # the width comes from the Linear after the sigmoid
    X = data(rng, 7, 3, F32)
    assert_parity(run(tmp_path / "m.onnx", {"input": X})[0], model.predict(X), F32)
    with pytest.raises(ValueError, match="input width"):
        to_onnx(bk.Sequential(bk.ReLU(), bk.Softmax()), tmp_path / "none.onnx")
    with pytest.raises(ValueError, match=r"block 2 \(Linear\(5, 2\)\) after a width of 4"):
        to_onnx(bk.Sequential(bk.ReLU(), bk.Linear(3, 4), bk.Linear(5, 2)), tmp_path / "bad.onnx")
    assert not (tmp_path / "none.onnx").exists() and not (tmp_path / "bad.onnx").exists()


def test_compiled_sequential_exports_only_the_prediction_path(tmp_path, rng):
    X, y = bk.datasets.blobs(n_samples=120, centers=3, n_features=4, seed=0)
    model = bk.Sequential(bk.Linear(4, 12, seed=0), bk.ReLU(), bk.Linear(12, 3, seed=1), bk.Softmax())
    with pytest.warns(UserWarning, match="applied twice"):  # CE takes logits: a misuse, still exportable
        model.fit(X, y, loss=bk.CrossEntropyLoss(), optimizer=bk.SGD(model, lr=0.1), epochs=2, verbose=0)
    proto = to_onnx(model, tmp_path / "m.onnx")
    assert [i.name for i in proto.graph.input] == ["input"]  # no label input, no loss node
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm", "Softmax"]
    Xf = X.astype(F32)
    out = run(tmp_path / "m.onnx", {"input": Xf})[0]
    assert_parity(out, model.predict(Xf), F32)
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-5)


# -- graphs -------------------------------------------------------------------------------
def gating(dtype, seed=0):
    """x fans out to a ReLU path and a Softmax gate; Hadamard; a Linear head; a label loss."""
    x = bk.Input(4, dtype=dtype, name="x")
    l1, l2 = bk.Linear(4, 8, dtype=dtype, seed=seed), bk.Linear(4, 8, dtype=dtype, seed=seed + 1)
    h = bk.ReLU(dtype=dtype)(l1(x))
    g = bk.Softmax(dtype=dtype)(l2(x))
    y = bk.Linear(8, 3, dtype=dtype, seed=seed + 2, init="torch")(bk.Hadamard(dtype=dtype)(h, g))
    return bk.Model(inputs=x, outputs=y).compile(bk.CrossEntropyLoss(dtype=dtype))


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_gating_graph_with_fan_out_and_hadamard(tmp_path, rng, dtype):
    model = gating(dtype)
    assert [n.name for n in model.inputs] == ["x", "target"]
    path = tmp_path / "gating.onnx"
    proto = to_onnx(model, path)
    assert [i.name for i in proto.graph.input] == ["x"]
    ops = [n.op_type for n in proto.graph.node]
    assert sorted(ops) == sorted(["Gemm", "Relu", "Gemm", "Softmax", "Mul", "Gemm"])
    assert sum("x" in n.input for n in proto.graph.node) == 2  # the fan-out
    sess = session(path)
    for n in BATCHES:
        X = data(rng, n, 4, dtype)
        assert_parity(sess.run(None, {"x": X})[0], model.predict(X), dtype)


def two_in_two_out(dtype):
    a, b = bk.Input(5, dtype=dtype, name="a"), bk.Input(3, dtype=dtype, name="b")
    t = bk.Input(2, dtype=dtype, name="t")  # a regression target: only the loss needs it
    h = bk.Tanh(dtype=dtype)(bk.Linear(5, 6, dtype=dtype, seed=1)(a))
    g = bk.Sigmoid(dtype=dtype)(bk.Linear(3, 6, dtype=dtype, seed=2)(b))
    m = bk.Hadamard(dtype=dtype)(h, g)
    y1 = bk.Linear(6, 2, dtype=dtype, seed=3, init="torch")(m)
    y2 = bk.LogSoftmax(dtype=dtype)(bk.Linear(6, 4, dtype=dtype, seed=4)(bk.Dropout(0.3, dtype=dtype)(h)))
    return bk.Model(inputs=[a, b, t], outputs=[y1, y2], loss=bk.MSELoss(dtype=dtype)(y1, t))


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_two_inputs_two_outputs(tmp_path, rng, dtype):
    model = two_in_two_out(dtype)
    path = tmp_path / "two.onnx"
    proto = to_onnx(model, path, input_names=["left", "right"], output_names=["reg", "logp"])
    assert [i.name for i in proto.graph.input] == ["left", "right"]  # "t" feeds only the loss
    assert [o.name for o in proto.graph.output] == ["reg", "logp"]
    assert [[d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in proto.graph.output] == [
        ["N", 2],
        ["N", 4],
    ]
    sess = session(path)
    for n in BATCHES:
        A, B = data(rng, n, 5, dtype), data(rng, n, 3, dtype)
        y1, y2 = model.predict([A, B])
        o1, o2 = sess.run(None, {"left": A, "right": B})
        assert_parity(o1, y1, dtype)
        assert_parity(o2, y2, dtype)
    # default names: the Input names and the output nodes' names
    proto = to_onnx(model, None)
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert [o.name for o in proto.graph.output] == [n.name for n in model.outputs]


def test_output_that_is_an_input_or_repeated(tmp_path, rng):
    x = bk.Input(3, name="x")
    y = bk.Sigmoid()(bk.Linear(3, 2, seed=0)(x))
    model = bk.Model(inputs=x, outputs=[y, x, y])
    proto = to_onnx(model, tmp_path / "m.onnx", output_names=["p", "echo", "p2"])
    onnx.checker.check_model(proto, full_check=True)
    X = data(rng, 4, 3, F32)
    p, echo, p2 = run(tmp_path / "m.onnx", {"x": X})
    ref = model.predict(X)
    assert_parity(p, ref[0], F32)
    np.testing.assert_array_equal(echo, X)
    np.testing.assert_array_equal(p2, p)


def test_shared_weights_are_one_initializer(tmp_path, rng):
    x = bk.Input(4, name="x")
    lin = bk.Linear(4, 4, seed=0)
    y = lin(bk.Tanh()(lin(x)))
    model = bk.Model(inputs=x, outputs=y, share_weights=True)
    proto = to_onnx(model, tmp_path / "m.onnx")
    assert len(proto.graph.initializer) == 2
    gemms = [n for n in proto.graph.node if n.op_type == "Gemm"]
    assert len(gemms) == 2 and gemms[0].input[1:] == gemms[1].input[1:]
    X = data(rng, 6, 4, F32)
    assert_parity(run(tmp_path / "m.onnx", {"x": X})[0], model.predict(X), F32)


# -- what cannot be exported ------------------------------------------------------------------
class PyReLU(bk.Block):
    """A block defined in Python (its own class): bricks cannot know its ONNX meaning."""

    def __init__(self):
        super().__init__(bk._core.ReLU("float32"))


def test_unsupported_content_raises(tmp_path):
    x = bk.Input(3, name="x")
    y = PyReLU()(bk.Linear(3, 2)(x))
    with pytest.raises(ValueError, match="cannot export node .*PyReLU.*no ONNX export"):
        to_onnx(bk.Model(inputs=x, outputs=y), tmp_path / "m.onnx")
    # a loss as an output
    x, t = bk.Input(3, name="x"), bk.Input(2, name="t")
    L = bk.MSELoss()(bk.Linear(3, 2)(x), t)
    with pytest.raises(ValueError, match="loss is training-only"):
        to_onnx(bk.Model(inputs=[x, t], outputs=L), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="no outputs"):
        to_onnx(bk.Model(inputs=[x, t], outputs=None, loss=L), tmp_path / "m.onnx")
    assert not os.listdir(tmp_path)  # nothing written, no temporary file left
    m = bk.Sequential(bk.Linear(3, 2))
    with pytest.raises(ValueError, match="opset"):
        to_onnx(m, tmp_path / "m.onnx", opset=11)
    with pytest.raises(ValueError, match="input_names has 2 name"):
        to_onnx(m, tmp_path / "m.onnx", input_names=["a", "b"])
    with pytest.raises(ValueError, match="distinct names"):
        to_onnx(m, tmp_path / "m.onnx", input_names=["z"], output_names=["z"])
    with pytest.raises(TypeError, match="Model or Sequential"):
        to_onnx(bk.Linear(3, 2), tmp_path / "m.onnx")
    assert not os.listdir(tmp_path)


def test_every_registered_block_but_the_losses_has_a_converter():
    """The converters are keyed by registered block name: a new block (not a loss) needs one."""
    from bricks.block import registry

    table = onnx_export._converters()
    assert set(table) <= set(registry()), "a converter for a name that is no registered block"
    inference = {name for name, cls in registry().items() if not issubclass(cls, bk.Loss)}
    assert inference == set(table), f"registered blocks without an ONNX converter: {sorted(inference - set(table))}"


@pytest.mark.parametrize("opset", [13, 17, onnx.defs.onnx_opset_version()])
def test_opsets(tmp_path, rng, opset):
    model = gating(F32)
    proto = to_onnx(model, tmp_path / "m.onnx", opset=opset)
    assert proto.opset_import[0].version == opset
    X = data(rng, 5, 4, F32)
    assert_parity(run(tmp_path / "m.onnx", {"x": X})[0], model.predict(X), F32)


# -- atomic write ------------------------------------------------------------------------------
def test_atomic_write_leaves_old_file_intact(tmp_path, monkeypatch, rng):
    path = tmp_path / "model.onnx"
    good = bk.Sequential(bk.Linear(3, 2, seed=0), bk.Softmax())
    to_onnx(good, path)
    before = path.read_bytes()
    # 1. an unsupported model: fails before writing
    x = bk.Input(3)
    with pytest.raises(ValueError):
        to_onnx(bk.Model(inputs=x, outputs=PyReLU()(x)), path)
    assert path.read_bytes() == before
    # 2. the disk fails mid-write (fsync raises): the old file stays, the temp file goes
    other = bk.Sequential(bk.Linear(3, 2, seed=7), bk.Tanh())

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx_export.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        to_onnx(other, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.onnx"]
    X = data(rng, 3, 3, F32)
    assert_parity(run(path, {"input": X})[0], good.predict(X), F32)
    # 3. a successful export replaces it
    to_onnx(other, path)
    assert path.read_bytes() != before
    assert_parity(run(path, {"input": X})[0], other.predict(X), F32)
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_import_bricks_does_not_import_onnx():
    code = (
        "import sys, bricks, bricks.onnx_export; "
        "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules, 'imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_one_node_listed_twice_as_an_output(tmp_path, rng):
    x = bk.Input(4, name="x")
    z = bk.Linear(4, 3, seed=0)(x)
    model = bk.Model(inputs=x, outputs=[z, z])
    proto = to_onnx(model, tmp_path / "m.onnx")
    names = [o.name for o in proto.graph.output]
    assert len(set(names)) == 2
    X = data(rng, 5, 4, F32)
    a, b = run(tmp_path / "m.onnx", {"x": X})
    assert_parity(a, model.predict(X)[0], F32)
    assert_parity(b, model.predict(X)[1], F32)
