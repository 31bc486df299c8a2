"""LayerNorm and BatchNorm beyond the registry-driven suites: BatchNorm's running statistics
(buffers) through training and eval modes, fit/predict/evaluate, weight sharing, saving,
pickling, PyTorch state dicts and ONNX; and PyTorch itself as an oracle when installed."""

import copy
import pickle

import numpy as np
import pytest

import bricks as bk
import reference as R

F32, F64 = np.float32, np.float64


def stats(blk):
    return {k: np.array(v) for k, v in blk.buffers.items()}


def bn_model(dtype=F32, seed=0):
    bk.manual_seed(seed)
    return bk.Sequential(
        bk.Linear(4, 6, dtype=dtype),
        bk.BatchNorm(6, dtype=dtype),
        bk.ReLU(dtype=dtype),
        bk.Linear(6, 5, dtype=dtype),
        bk.LayerNorm(5, dtype=dtype),
        bk.Linear(5, 3, dtype=dtype),
    )


def data(rng, n=40, d=4, dtype=F32):
    X = rng.normal(1.0, 2.0, (n, d)).astype(dtype)
    return X, rng.integers(0, 3, n)


# -- buffers ----------------------------------------------------------------------------------
def test_buffers_are_a_read_only_mapping_of_writable_views():
    bn = bk.BatchNorm(3, dtype=F64)
    assert list(bn.buffers) == ["running_mean", "running_var", "num_batches_tracked"]
    assert [(v.shape, v.dtype) for v in bn.buffers.values()] == [((3,), F64), ((3,), F64), ((), np.int64)]
    np.testing.assert_array_equal(bn.buffers["running_mean"], 0.0)
    np.testing.assert_array_equal(bn.buffers["running_var"], 1.0)
    assert bn.buffers["num_batches_tracked"] == 0
    with pytest.raises(TypeError):
        bn.buffers["running_mean"] = np.ones(3)
    bn.buffers["running_mean"][...] = [1.0, 2.0, 3.0]  # a view: the block changes
    bn.buffers["num_batches_tracked"][...] = 7
    np.testing.assert_array_equal(bn.buffers["running_mean"], [1.0, 2.0, 3.0])
    assert bn.buffers["num_batches_tracked"] == 7
    assert list(bn.params) == ["weight", "bias"] and bn.num_params() == 6  # buffers are no parameters
    for blk in (bk.LayerNorm(3), bk.Linear(2, 2), bk.ReLU(), bk.Dropout(0.1)):
        assert dict(blk.buffers) == {}


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_running_statistics_follow_pytorch_update(dtype, rng):
    bn = bk.BatchNorm(5, momentum=0.3, dtype=dtype)
    rm, rv = np.zeros(5), np.ones(5)
    for k in range(1, 5):
        x = rng.normal(k, 1.0 + k, (7 + k, 5)).astype(dtype)
        y = bn.forward(x)
        rm, rv = R.batch_norm_running(rm, rv, x.astype(F64), 0.3)
        tol = dict(rtol=1e-6, atol=1e-6) if dtype is F32 else dict(rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(bn.buffers["running_mean"], rm, **tol)
        np.testing.assert_allclose(bn.buffers["running_var"], rv, **tol)
        assert bn.buffers["num_batches_tracked"] == k
        y_ref = R.batch_norm(x.astype(F64), np.ones(5), np.zeros(5), None, None, True)[0]
        np.testing.assert_allclose(y, y_ref, **tol)  # training output: the batch's statistics
    bn.eval()
    x = rng.normal(size=(1, 5)).astype(dtype)  # one row is fine in eval mode
    before = stats(bn)
    y = bn.forward(x)
    np.testing.assert_allclose(y, (x - before["running_mean"]) / np.sqrt(before["running_var"] + 1e-5), rtol=1e-5)
    for k, v in stats(bn).items():
        np.testing.assert_array_equal(v, before[k])  # eval leaves the statistics alone


def test_momentum_zero_and_one():
    x = np.array([[1.0, 4.0], [3.0, 8.0]])
    still = bk.BatchNorm(2, momentum=0.0, dtype=F64)
    still.forward(x)
    np.testing.assert_array_equal(still.buffers["running_mean"], [0, 0])
    np.testing.assert_array_equal(still.buffers["running_var"], [1, 1])
    last = bk.BatchNorm(2, momentum=1.0, dtype=F64)
    last.forward(x)
    np.testing.assert_array_equal(last.buffers["running_mean"], [2, 6])
    np.testing.assert_array_equal(last.buffers["running_var"], [2, 8])  # unbiased: N - 1 = 1


def test_a_batch_of_one_in_training_mode_is_a_clear_error():
    bn = bk.BatchNorm(3)
    with pytest.raises(ValueError, match=r"BatchNorm\(3\): expected more than 1 value per feature when training"):
        bn.forward(np.ones((1, 3), F32))
    assert bn.buffers["num_batches_tracked"] == 0 and not bn.buffers["running_mean"].any()
    with pytest.raises(bk.StateError):  # no cache was left behind
        bn.backward(np.ones((1, 3), F32))
    assert bn.eval().forward(np.ones((1, 3), F32)).shape == (1, 3)
    model = bk.Sequential(bk.Linear(3, 2), bk.BatchNorm(2))
    with pytest.raises(ValueError, match=r"BatchNorm\(2\).*more than 1 value"):
        model.forward(np.ones((1, 3), F32))
    assert model.predict(np.ones((1, 3), F32)).shape == (1, 2)  # eval mode


def test_bad_running_statistics_are_refused_in_eval_mode():
    bn = bk.BatchNorm(2).eval()
    bn.buffers["running_var"][1] = -1.0
    with pytest.raises(ValueError, match=r"BatchNorm\(2\): .*running_var\[1\] = -1.*expected finite statistics"):
        bn.forward(np.ones((2, 2), F32))
    bn.buffers["running_var"][1] = 1.0
    bn.buffers["running_mean"][0] = np.nan
    with pytest.raises(ValueError, match="running_mean"):
        bn.forward(np.ones((2, 2), F32))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_gradcheck_in_a_model_in_both_modes(training, rng):
    model = bn_model(F64, seed=2).train(training)
    model[1].buffers["running_var"][...] = rng.uniform(0.5, 2.0, 6)
    x = rng.normal(size=(4, 4))
    before = copy.deepcopy(model.buffers)
    assert bk.gradcheck(model, x)
    J = bk.jacobian(model, x, wrt="1.weight")
    assert J.shape == (12, 6) and np.abs(J).max() > 0
    for k, v in model.buffers.items():  # the checks' many forwards left the statistics as they were
        np.testing.assert_array_equal(v, before[k])
    if training:  # yet a forward does move them
        model.forward(x)
        assert model[1].buffers["num_batches_tracked"] == 1


def test_optimizers_never_see_buffers(rng):
    bn = bk.BatchNorm(4, dtype=F64)
    opt = bk.SGD([bn], lr=0.5, momentum=0.9, weight_decay=0.1)
    assert len(opt._core.get_state()) == 2  # weight and bias only
    x = rng.normal(size=(6, 4))
    bn.forward(x)
    after_forward = stats(bn)
    bn.backward(rng.normal(size=(6, 4)))
    opt.step()
    for k, v in stats(bn).items():
        np.testing.assert_array_equal(v, after_forward[k])
    adam = bk.Adam([bn], weight_decay=0.01)
    adam.step()
    for k, v in stats(bn).items():
        np.testing.assert_array_equal(v, after_forward[k])


def test_weight_shared_twins_share_the_statistics(rng):
    bn = bk.BatchNorm(3, dtype=F64)
    x = bk.Input(3, dtype=F64)
    model = bk.Model(inputs=x, outputs=bn(bn(x)), share_weights=True)
    X = rng.normal(size=(5, 3))
    model.forward(X)
    assert bn.buffers["num_batches_tracked"] == 2  # one update per use, as a torch module called twice
    h = R.batch_norm(X, np.ones(3), np.zeros(3), None, None, True)[0]
    rm, rv = R.batch_norm_running(np.zeros(3), np.ones(3), X, 0.1)
    rm, rv = R.batch_norm_running(rm, rv, h, 0.1)
    np.testing.assert_allclose(bn.buffers["running_mean"], rm, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bn.buffers["running_var"], rv, rtol=1e-12)
    assert list(model.buffers) == [f"{model.nodes[0].name}.{k}" for k in bn.buffers]


# -- modes in fit, predict, evaluate --------------------------------------------------------
def test_fit_trains_and_predict_evaluate_do_not_touch_the_statistics(rng):
    X, y = data(rng, 48)
    model = bn_model()
    model.fit(X, y, loss=bk.CrossEntropyLoss(), optimizer=bk.SGD(model, lr=0.05), epochs=3, batch_size=8, verbose=0)
    assert model[1].buffers["num_batches_tracked"] == 3 * 6
    assert model[1].training  # fit leaves the model in training mode
    before = copy.deepcopy(model.buffers)
    p1 = model.predict(X)
    model.evaluate(X, y)
    p2 = model.predict(X[:1])  # a single sample predicts: eval mode
    for k, v in model.buffers.items():
        np.testing.assert_array_equal(v, before[k])
    # one row takes the small-M product, 48 the GEMM (another summation order): ulps apart
    np.testing.assert_allclose(p2, p1[:1], rtol=1e-5, atol=1e-6)
    assert model[1].training  # predict and evaluate put the mode back
    # predict is the running statistics' output (a forward in eval mode), not the batch's
    np.testing.assert_array_equal(model.eval().forward(X), p1)
    assert not np.allclose(model.train().forward(X), p1)


def test_fit_with_a_last_batch_of_one_names_the_block(rng):
    X, y = data(rng, 17)
    model = bn_model()
    with pytest.raises(ValueError, match=r"BatchNorm\(6\): expected more than 1 value"):
        model.fit(X, y, loss=bk.CrossEntropyLoss(), optimizer=bk.SGD(model, lr=0.05), batch_size=8, verbose=0)


def test_validation_runs_in_eval_mode(rng):
    X, y = data(rng, 40)
    model = bn_model()
    model.fit(
        X,
        y,
        loss=bk.CrossEntropyLoss(),
        optimizer=bk.SGD(model, lr=0.05),
        batch_size=10,
        validation_split=0.25,
        verbose=0,
    )
    assert model[1].buffers["num_batches_tracked"] == 3  # 30 training rows; validation adds nothing


def test_same_seed_gives_the_same_bits(rng):
    X, y = data(rng, 32)

    def run():
        model = bn_model(seed=5)
        model.fit(X, y, loss=bk.CrossEntropyLoss(), optimizer=bk.Adam(model), epochs=2, batch_size=8, seed=1, verbose=0)
        return {k: v.tobytes() for k, v in {**model.params, **model.buffers}.items()}

    assert run() == run()


# -- save, load, pickle -------------------------------------------------------------------------
def trained(rng, dtype=F32):
    X, y = data(rng, 32, dtype=dtype)
    model = bn_model(dtype)
    model.fit(X, y, loss=bk.CrossEntropyLoss(dtype=dtype), optimizer=bk.SGD(model, lr=0.1), batch_size=8, verbose=0)
    return model, X


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_save_and_load_carry_the_buffers(tmp_path, rng, dtype):
    model, X = trained(rng, dtype)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        assert f["buffer/1.num_batches_tracked"].shape == () and f["buffer/1.num_batches_tracked"] == 4
        assert f["buffer/1.running_var"].dtype == dtype
    back = bk.load(tmp_path / "m.npz")
    assert set(back.buffers) == {"1.running_mean", "1.running_var", "1.num_batches_tracked"}
    for k, v in model.buffers.items():
        assert back.buffers[k].tobytes() == v.tobytes() and back.buffers[k].dtype == v.dtype
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        np.testing.assert_array_equal(clone.predict(X), model.predict(X))
        for k, v in model.buffers.items():
            np.testing.assert_array_equal(clone.buffers[k], v)


BAD_BUFFERS = [
    ("1.running_var", lambda a: a * -1.0, "negative value"),
    ("1.running_mean", lambda a: np.where(np.arange(a.size) == 2, np.nan, a).astype(a.dtype), "non-finite"),
    ("1.num_batches_tracked", lambda a: np.array(-3), "negative value"),
    ("1.num_batches_tracked", lambda a: np.array(4.0), r"is float64 \(\), expected int64 \(\)"),
    ("1.running_mean", lambda a: a[:-1], r"is float32 \(5,\), expected float32 \(6,\)"),
]


@pytest.mark.parametrize("key, spoil, message", BAD_BUFFERS, ids=[f"{k}-{m}" for k, _, m in BAD_BUFFERS])
def test_load_checks_the_buffers(tmp_path, rng, key, spoil, message):
    model, _ = trained(rng)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        files = {k: f[k] for k in f.files}
    files[f"buffer/{key}"] = spoil(files[f"buffer/{key}"])
    np.savez(tmp_path / "bad.npz", **files)
    with pytest.raises(ValueError, match=f"buffer '{key}'.*{message}"):
        bk.load(tmp_path / "bad.npz")
    del files[f"buffer/{key}"]
    np.savez(tmp_path / "missing.npz", **files)
    with pytest.raises(ValueError, match=f"missing.*buffer/{key}"):
        bk.load(tmp_path / "missing.npz")


def test_block_pickles_carry_and_check_the_buffers(rng):
    bn = bk.BatchNorm(3, dtype=F64)
    bn.forward(rng.normal(size=(4, 3)))
    for clone in (copy.deepcopy(bn), pickle.loads(pickle.dumps(bn))):
        for k, v in bn.buffers.items():
            np.testing.assert_array_equal(clone.buffers[k], v)
        clone.buffers["running_mean"][0] = 9.0  # a copy, not the same memory
        assert bn.buffers["running_mean"][0] != 9.0
    fn, (spec, params, buffers) = bn.__reduce_ex__(2)
    for k, bad, msg in (
        ("running_var", -np.ones(3), "negative"),
        ("running_mean", np.full(3, np.inf), "NaN or infinite"),
        ("num_batches_tracked", np.array(1.0), r"float64 \(\), expected int64 \(\)"),
    ):
        with pytest.raises(ValueError, match=f"buffer '{k}'.*{msg}"):
            fn(spec, params, {**buffers, k: bad})
    with pytest.raises(ValueError, match="expected buffers"):
        fn(spec, params)


# -- PyTorch names (no torch needed) ----------------------------------------------------------
def test_state_dict_names_and_round_trip(rng):
    model, X = trained(rng)
    sd = model.state_dict()
    assert list(sd)[2:7] == ["1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert list(sd)[9:11] == ["4.weight", "4.bias"]
    assert sd["1.num_batches_tracked"].dtype == np.int64 and sd["1.num_batches_tracked"].shape == ()
    other = bn_model(seed=9)
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.predict(X), model.predict(X))
    assert other[1].buffers["num_batches_tracked"] == 4
    for key, bad, exc, msg in (
        ("1.running_var", -np.ones(6, F32), ValueError, "negative"),
        ("1.num_batches_tracked", np.array(4.0), TypeError, "integer count"),
        ("1.num_batches_tracked", np.array(-1), ValueError, "negative"),
        ("1.running_mean", np.ones(5, F32), ValueError, "shape mismatch"),
    ):
        fresh = bn_model(seed=9)
        with pytest.raises(exc, match=msg):
            fresh.load_state_dict({**sd, key: bad})
        assert fresh[1].buffers["num_batches_tracked"] == 0  # nothing was copied


# -- ONNX ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_onnx_export_matches_predict(tmp_path, rng, dtype):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model, X = trained(rng, dtype)
    bk.manual_seed(3)
    plain = bk.Sequential(bk.Linear(4, 5, dtype=dtype), bk.LayerNorm(5, elementwise_affine=False, dtype=dtype))
    for m, ops in (
        (model, ["Gemm", "BatchNormalization", "Relu", "Gemm", "LayerNormalization", "Gemm"]),
        (plain, ["Gemm", "LayerNormalization"]),
    ):
        proto = m.to_onnx(tmp_path / "m.onnx")
        assert [n.op_type for n in proto.graph.node] == ops
        sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        for n in (1, 5, 32):
            got = sess.run(None, {"input": X[:n]})[0]
            # ONNX Runtime's LayerNormalization takes E[x²] - E[x]² in float64: ~1e-12, not 1e-15
            np.testing.assert_allclose(got, m.predict(X[:n]), rtol=0, atol=1e-5 if dtype is F32 else 1e-10)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    np.testing.assert_array_equal(inits["1.scale"], np.ones(5))
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.to_onnx(None).graph.initializer}
    for k in ("1.running_mean", "1.running_var"):
        np.testing.assert_array_equal(inits[k], model.buffers[k])
    with pytest.raises(ValueError, match=r"LayerNorm\(5\) exports as LayerNormalization, which needs opset >= 17"):
        m.to_onnx(tmp_path / "old.onnx", opset=16)
    assert not (tmp_path / "old.onnx").exists()
    bn_only = bk.Sequential(bk.Linear(4, 6, dtype=dtype), bk.BatchNorm(6, dtype=dtype))
    bn_only.to_onnx(tmp_path / "bn13.onnx", opset=13)  # BatchNorm exports at the oldest opset too
    sess = ort.InferenceSession(str(tmp_path / "bn13.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": X})[0], bn_only.predict(X), atol=1e-5)


# -- PyTorch as the oracle ------------------------------------------------------------------------
def torch_case(torch, blk, x, dy, training):
    """The torch module with blk's parameters and buffers: (y, dx, grads, buffers after)."""
    nn = torch.nn
    dt = torch.float64 if blk.dtype == F64 else torch.float32
    if isinstance(blk, bk.BatchNorm):
        cfg = blk.config()
        mod = nn.BatchNorm1d(blk.features, eps=cfg["eps"], momentum=cfg["momentum"], dtype=dt)
    else:
        cfg = blk.config()
        mod = nn.LayerNorm(blk.features, eps=cfg["eps"], elementwise_affine=cfg["elementwise_affine"], dtype=dt)
    mod.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in {**blk.params, **blk.buffers}.items()})
    mod.train(training)
    xt = torch.from_numpy(np.array(x)).requires_grad_(True)
    y = mod(xt)
    y.backward(torch.from_numpy(np.array(dy)))
    grads = {k: p.grad.numpy() for k, p in mod.named_parameters()}
    return y.detach().numpy(), xt.grad.numpy(), grads, {k: v.numpy() for k, v in mod.named_buffers()}


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    "make, training",
    [
        (lambda dt: bk.LayerNorm(6, dtype=dt), True),
        (lambda dt: bk.LayerNorm(6, eps=1e-3, elementwise_affine=False, dtype=dt), True),
        (lambda dt: bk.BatchNorm(6, dtype=dt), True),
        (lambda dt: bk.BatchNorm(6, eps=1e-3, momentum=0.25, dtype=dt), False),
    ],
    ids=["LayerNorm", "LayerNorm-no-affine", "BatchNorm-train", "BatchNorm-eval"],
)
def test_same_as_pytorch(make, training, dtype, rng):
    torch = pytest.importorskip("torch")
    blk = make(dtype).train(training)
    for v in blk.params.values():
        v[...] = rng.normal(1.0, 0.5, v.shape)
    if blk.buffers:
        blk.buffers["running_mean"][...] = rng.normal(size=6)
        blk.buffers["running_var"][...] = rng.uniform(0.5, 2.0, 6)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype is F32 else dict(rtol=1e-12, atol=1e-12)
    for step in range(4):  # several forwards: the running statistics keep agreeing
        x = rng.normal(step, 1.0 + step, (9, 6)).astype(dtype)
        dy = rng.normal(size=(9, 6)).astype(dtype)
        y_t, dx_t, g_t, b_t = torch_case(torch, blk, x, dy, training)
        blk.zero_grad()
        y = blk.forward(x)
        dx = blk.backward(dy)
        np.testing.assert_allclose(y, y_t, **tol)
        np.testing.assert_allclose(dx, dx_t, **tol)
        assert set(g_t) == set(blk.grads)
        for k, g in g_t.items():
            np.testing.assert_allclose(blk.grads[k], g, **tol)
        assert set(b_t) == set(blk.buffers)
        for k, v in b_t.items():
            assert blk.buffers[k].dtype == v.dtype and blk.buffers[k].shape == v.shape
            np.testing.assert_allclose(blk.buffers[k], v, **tol)


def test_state_dict_moves_both_ways_with_pytorch(rng):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model, X = trained(rng)
    tm = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 5), nn.LayerNorm(5), nn.Linear(5, 3)
    ).eval()
    sd = model.state_dict()
    assert list(sd) == list(tm.state_dict())
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    with torch.no_grad():
        np.testing.assert_allclose(tm(torch.from_numpy(X)).numpy(), model.predict(X), rtol=1e-5, atol=1e-5)
    # and back: torch trains a few steps (its statistics move), bricks takes its state dict
    tm.train()
    opt = torch.optim.SGD(tm.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        tm(torch.from_numpy(X)).square().mean().backward()
        opt.step()
    tm.eval()
    back = bn_model(seed=7)
    bk.from_state_dict(back, tm.state_dict())
    assert back[1].buffers["num_batches_tracked"] == tm[1].num_batches_tracked.item() == 4 + 3
    with torch.no_grad():
        np.testing.assert_allclose(back.predict(X), tm(torch.from_numpy(X)).numpy(), rtol=1e-5, atol=1e-5)


def test_a_chain_starting_with_a_norm_knows_its_width(tmp_path, rng):
    model = bk.Sequential(bk.BatchNorm(3), bk.ReLU(), bk.LayerNorm(3))
    assert model.built and model.input_width == 3
    model.save(tmp_path / "m.npz")
    X = rng.normal(size=(4, 3)).astype(F32)
    np.testing.assert_array_equal(bk.load(tmp_path / "m.npz").predict(X), model.predict(X))
    with pytest.raises(ValueError, match=r"block 1 \(LayerNorm\(4\)\) after a width of 3"):
        bk.Sequential(bk.LayerNorm(3), bk.LayerNorm(4))
