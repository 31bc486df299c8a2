"""Blocks that join graphs (Add, Concat, Identity), `a + b` / `a * b` on nodes, and models
called on nodes like blocks (inlined: the same blocks, the same weights).

Per-block parity, Jacobians, fuzzing and bad input are the registry's (tests/registry.py);
here: arity, graphs built from them, and a model inside a model through training,
gradcheck, save/load, pickle, ONNX and PyTorch names."""

import pickle
import re

import numpy as np
import pytest

import bricks as bk
import reference as R

F32, F64 = np.float32, np.float64


# -- arity ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("cls", [bk.Add, bk.Concat])
def test_one_block_takes_any_n_in_turn(cls, n, rng):
    """The same instance, called with 2 then n then 2 arrays: each backward has the arity
    of the forward before it."""
    blk = cls(dtype=F64)
    ref = {bk.Add: R.add, bk.Concat: R.concat}[cls]
    for k in (2, n, 2):
        xs = [rng.normal(size=(4, 2 + j % 3 if cls is bk.Concat else 3)) for j in range(k)]
        y_ref, vjp = ref(*xs)
        y = blk.forward(*xs)
        np.testing.assert_array_equal(y, y_ref)  # copies and sums in input order: exact
        dy = rng.normal(size=y.shape)
        g = blk.backward(dy)
        assert isinstance(g, tuple) and len(g) == k and blk.n_inputs == k
        for gi, ri in zip(g, vjp(dy)[0]):
            np.testing.assert_array_equal(gi, ri)
        assert bk.gradcheck(blk, *xs)


@pytest.mark.parametrize("cls", [bk.Add, bk.Concat])
def test_fewer_than_two_inputs_are_refused(cls, rng):
    blk = cls()
    for args in ((), (rng.normal(size=(2, 3)),)):
        with pytest.raises(TypeError, match=rf"{cls.__name__}: forward takes 2 or more inputs, got {len(args)}"):
            blk.forward(*args)
    x = bk.Input(3)
    with pytest.raises(TypeError, match=rf"{cls.__name__}: call takes 2 or more inputs, got 1"):
        cls()(x)


def test_add_of_different_shapes_names_both(rng):
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    with pytest.raises(ValueError, match=r"Add: .*input 0 and input 2 got \(2, 3\) and \(2, 4\)"):
        bk.Add(dtype=F64).forward(a, a, b)
    x, z = bk.Input(3), bk.Input(4)
    with pytest.raises(ValueError, match=r"Add: .*\(N, 3\) and \(N, 4\)"):
        bk.Add()(x, z)
    with pytest.raises(ValueError, match=r"Concat: inputs have different batch sizes: 2 and 3"):
        bk.Concat(dtype=F64).forward(a, rng.normal(size=(3, 4)))


def test_concat_refuses_labels():
    x, y = bk.Input(3), bk.Input(1, labels=True)
    with pytest.raises(TypeError, match="Concat: input 1 must be float32, got int64"):
        bk.Concat()(x, y)


def test_bad_dtype_and_arguments_are_refused():
    with pytest.raises(TypeError, match="Add"):
        bk.Add(dtype=np.int32)
    with pytest.raises(TypeError, match="Concat"):
        bk.Concat(dtype="float16")
    with pytest.raises(TypeError):
        bk.Add(2)  # no positional arguments: the arity comes from each call


def test_join_blocks_are_not_chain_blocks():
    with pytest.raises(ValueError, match=r"Sequential: block 1 \(Add\) takes 2 inputs"):
        bk.Sequential(bk.Linear(3, 3), bk.Add())
    model = bk.Sequential(bk.Linear(3, 3), bk.Identity())  # Identity is one input
    assert model.forward(np.ones((1, 3), F32)).shape == (1, 3)


def test_the_arity_is_per_node_and_modes_reach_every_arity():
    add = bk.Add(dtype=F64)
    a, b, c = bk.Input(2, dtype=F64), bk.Input(2, dtype=F64), bk.Input(2, dtype=F64)
    y = add(a, b, c)
    add.forward(np.ones((1, 2)), np.ones((1, 2)))  # a standalone call with 2 meanwhile
    model = bk.Model(inputs=[a, b, c], outputs=y)  # still the 3-input node
    np.testing.assert_array_equal(model.forward(*[np.full((1, 2), v) for v in (1.0, 2.0, 4.0)]), [[7.0, 7.0]])
    add.eval()
    assert not add.training
    add.forward(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)))
    assert not add.training  # a new arity starts in the block's mode


# -- node operators ---------------------------------------------------------------------------
def test_plus_and_times_on_nodes_build_add_and_hadamard(rng):
    x, z = bk.Input(3, dtype=F64), bk.Input(3, dtype=F64)
    s, p = x + z, x * z
    assert isinstance(s.block, bk.Add) and isinstance(p.block, bk.Hadamard) and s.dtype == F64
    t = x + z + s  # two nested Adds (documented): (x + z) + s
    assert isinstance(t.block, bk.Add) and t.inputs[0].block is not s.block
    total = sum([x, z, p])  # sum() starts from 0
    model = bk.Model(inputs=[x, z], outputs=[s, p, t, total])
    X, Z = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    out = model.forward(X, Z)
    for got, want in zip(out, (X + Z, X * Z, 2 * (X + Z), X + Z + X * Z)):
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-15)
    assert bk.gradcheck(model, X, Z)


def test_operators_refuse_what_is_no_value():
    x, z = bk.Input(3, dtype=np.float32), bk.Input(3, dtype=F64)  # without dtype= x would take z's
    with pytest.raises(TypeError, match=r"cannot add nodes .*float32.*float64.*dtypes differ"):
        x + z
    with pytest.raises(TypeError, match=r"cannot multiply node .* and a float"):
        x * 2.0
    with pytest.raises(TypeError, match=r"cannot add node .* and a ndarray"):
        np.ones((1, 3)) + x
    with pytest.raises(TypeError, match=r"cannot add node .* and a int"):
        1 + x
    t = bk.Input(3)
    loss = bk.MSELoss()(x, t)
    with pytest.raises(TypeError, match="it is a loss"):
        x + loss
    labels = bk.Input(1, labels=True)
    with pytest.raises(TypeError, match="it is class labels"):
        labels * labels


# -- the residual MLP ------------------------------------------------------------------------
def residual(dtype=F64, seed=0):
    x = bk.Input(64, dtype=dtype)
    h = bk.Linear(64, 64, dtype=dtype, seed=seed)(x)
    y = bk.ReLU(dtype=dtype)(bk.Linear(64, 64, dtype=dtype, seed=seed + 1)(h) + h)
    return bk.Model(inputs=x, outputs=y)


def test_residual_mlp_matches_numpy_by_hand(rng):
    model = residual()
    (_, l1), (_, l2), *_ = model.named_blocks()
    W1, b1, W2, b2 = (np.array(v) for b in (l1, l2) for v in b.params.values())
    X = rng.normal(size=(5, 64))
    h = X @ W1.T + b1
    a = h @ W2.T + b2 + h
    np.testing.assert_allclose(model.forward(X), np.maximum(a, 0), rtol=1e-12, atol=1e-12)
    dY = rng.normal(size=(5, 64))
    model.zero_grad()
    dX = model.backward(dY)
    da = dY * (a > 0)
    dh = da @ W2 + da  # the skip: the Add hands da to both paths
    np.testing.assert_allclose(dX, dh @ W1, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(l2.grads["weight"], da.T @ h, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(l1.grads["weight"], dh.T @ X, rtol=1e-11, atol=1e-11)


def test_concat_graph_gradcheck_and_training(rng):
    bk.manual_seed(0)
    x = bk.Input(3, dtype=F64)
    a = bk.Tanh(dtype=F64)(bk.Linear(3, 4, dtype=F64)(x))
    b = bk.Sigmoid(dtype=F64)(bk.Linear(3, 2, dtype=F64)(x))
    y = bk.Linear(9, 1, dtype=F64)(bk.Concat(dtype=F64)(a, b, bk.Identity(dtype=F64)(x)))
    assert y.inputs[0].features == 4 + 2 + 3
    model = bk.Model(inputs=x, outputs=y)
    X = rng.normal(size=(6, 3))
    assert bk.gradcheck(model, X)
    T = np.sin(X.sum(1, keepdims=True))
    model.compile(bk.MSELoss(dtype=F64), bk.Adam(model, lr=0.02))
    before = model.evaluate(X, T)["loss"]
    model.fit(X, T, epochs=60, batch_size=6, verbose=0)
    assert model.evaluate(X, T)["loss"] < 0.5 * before


# -- models called on nodes ---------------------------------------------------------------------
def encoder(dtype=F64, seed=0):
    return bk.Sequential(bk.Linear(4, 6, dtype=dtype, seed=seed), bk.Tanh(dtype=dtype))


def test_a_sequential_inside_a_model_shares_its_blocks(rng):
    enc = encoder()
    head = bk.Linear(6, 2, dtype=F64, seed=9)
    x = bk.Input(4, dtype=F64, name="x")
    h = enc(x)
    assert re.fullmatch(r"sequential_\d+\.1", h.name)  # "<scope>.<inner node name>"
    model = bk.Model(inputs=x, outputs=head(h))
    assert [b for b in model.blocks[:2]] == list(enc)  # the same blocks, not copies
    X = rng.normal(size=(5, 4))
    np.testing.assert_array_equal(model.forward(X), head.forward(enc.forward(X)))
    assert bk.gradcheck(model, X)
    # training the outer model trains the inner one's weights
    w0 = enc[0].params["weight"].copy()
    model.compile(bk.MSELoss(dtype=F64), bk.SGD(model, lr=0.1))
    model.train_step(X, rng.normal(size=(5, 2)))
    assert not np.array_equal(enc[0].params["weight"], w0)
    # predict fuses each Linear with its activation (kernels run over other spans): ulps
    np.testing.assert_allclose(model.predict(X), head.forward(enc.forward(X)), rtol=1e-12, atol=1e-14)


def test_calling_a_model_twice_needs_share_weights(rng):
    enc = encoder()
    a, b = bk.Input(4, dtype=F64), bk.Input(4, dtype=F64)
    ea, eb = enc(a), enc(b)
    with pytest.raises(ValueError, match="share_weights=True"):
        bk.Model(inputs=[a, b], outputs=ea + eb)
    model = bk.Model(inputs=[a, b], outputs=ea + eb, share_weights=True)  # a siamese pair
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(model.forward(A, B), enc.forward(A) + enc.forward(B), rtol=1e-15)
    assert bk.gradcheck(model, A, B)
    assert len(model.params) == 2  # one weight, one bias: shared


def test_functional_model_with_two_inputs_and_two_outputs_inlined(rng):
    u, v = bk.Input(3, dtype=F64), bk.Input(2, dtype=F64)
    p = bk.Linear(3, 4, dtype=F64, seed=1)(u)
    q = bk.Linear(2, 4, dtype=F64, seed=2)(v)
    inner = bk.Model(inputs=[u, v], outputs=[p * q, bk.Concat(dtype=F64)(p, q)])
    x, z = bk.Input(3, dtype=F64), bk.Input(2, dtype=F64)
    m, c = inner(x, z, name="pair")
    assert m.name.startswith("pair.") and c.name.startswith("pair.") and (m.features, c.features) == (4, 8)
    outer = bk.Model(inputs=[x, z], outputs=bk.Linear(12, 1, dtype=F64, seed=3)(bk.Concat(dtype=F64)(m, c)))
    X, Z = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    assert bk.gradcheck(outer, X, Z)
    with pytest.raises(TypeError, match=r"takes 2 node\(s\)"):
        inner(x)
    with pytest.raises(ValueError, match=r"input 1 .* expects \(N, 2\), node .* is \(N, 3\)"):
        inner(x, x)
    with pytest.raises(TypeError, match="dtype|float32"):
        inner(bk.Input(3), bk.Input(2))
    with pytest.raises(TypeError, match=r"nodes or arrays \(not both\)"):
        inner(x, Z)


def test_inner_losses_are_left_out_and_labels_inputs_are_not_needed(rng):
    clf = bk.Sequential(bk.Linear(4, 3, dtype=F64, seed=0)).compile(bk.CrossEntropyLoss(dtype=F64))
    x = bk.Input(4, dtype=F64)
    y = bk.Softmax(dtype=F64)(clf(x))  # the compiled model's target input is not needed
    model = bk.Model(inputs=x, outputs=y)
    assert not model.losses and len(model.inputs) == 1
    X = rng.normal(size=(2, 4))
    np.testing.assert_allclose(model.forward(X).sum(1), 1.0)


def test_a_sequential_without_width_is_built_from_the_node(rng):
    acts = bk.Sequential(bk.Tanh(dtype=F64), bk.Identity(dtype=F64))
    assert not acts.built
    x = bk.Input(5, dtype=F64)
    model = bk.Model(inputs=x, outputs=acts(x))
    assert acts.built and acts.input_width == 5
    X = rng.normal(size=(2, 5))
    np.testing.assert_allclose(model.forward(X), np.tanh(X), rtol=1e-15)


def test_a_sequential_in_a_sequential_is_named_as_pytorch_names_it(rng, tmp_path):
    enc = encoder()
    model = bk.Sequential(enc, bk.Linear(6, 3, dtype=F64, seed=1))
    assert model.input_width == 4 and model[0] is enc
    assert list(model.params) == ["0.0.weight", "0.0.bias", "1.weight", "1.bias"]
    assert list(model.state_dict()) == list(model.params)
    X = rng.normal(size=(5, 4))
    np.testing.assert_array_equal(model.forward(X), model[1].forward(enc.forward(X)))
    assert bk.gradcheck(model, X)
    model.compile(bk.MSELoss(dtype=F64), bk.Adam(model, lr=0.01))
    model.fit(X, np.zeros((5, 3)), epochs=2, batch_size=5, verbose=0)
    model.save(tmp_path / "m.npz")
    loaded = bk.load(tmp_path / "m.npz")
    assert isinstance(loaded[0], bk.Sequential) and list(loaded.params) == list(model.params)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.train_step(X, np.zeros((5, 3))) == model.train_step(X, np.zeros((5, 3)))
    assert "  Sequential(\n    Linear(4, 6)" in repr(model)
    # no width anywhere: built from the first data, the nested chain too
    acts = bk.Sequential(bk.Sequential(bk.Tanh(dtype=F64)), bk.Identity(dtype=F64))
    assert acts.input_width is None
    np.testing.assert_allclose(acts.forward(X), np.tanh(X), rtol=1e-15)
    assert acts[0].built and acts[0].input_width == 4


def test_what_a_sequential_cannot_hold():
    x = bk.Input(4)
    with pytest.raises(TypeError, match=r"item 0 is a Model.*Call the model on nodes"):
        bk.Sequential(bk.Model(inputs=x, outputs=bk.Linear(4, 2)(x)))
    enc = encoder()
    with pytest.raises(ValueError, match="appears twice"):
        bk.Sequential(enc, enc[1])
    with pytest.raises(ValueError, match=r"block 1 \(Sequential\) after a width of 6: .*expects \(N, 4\)"):
        bk.Sequential(bk.Linear(3, 6, dtype=F64), encoder())


def test_a_file_nested_too_deep_is_refused(tmp_path):
    import json

    model = bk.Sequential(bk.Linear(2, 2))
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        members = dict(f)
    key = "__bricks__"  # the architecture member (bricks.io.ARCH)
    arch = json.loads(str(members[key]))
    deep = {"class": "Sequential", "blocks": [{"class": "Identity", "config": {}}]}
    for _ in range(40):
        deep = {"class": "Sequential", "blocks": [deep]}
    arch["blocks"].append(deep)
    members[key] = np.array(json.dumps(arch))
    np.savez(tmp_path / "deep.npz", **members)
    with pytest.raises(ValueError, match="nested deeper than 32"):
        bk.load(tmp_path / "deep.npz")


# -- through save, load, pickle, ONNX, state_dict ------------------------------------------------
def composed(dtype=F64):
    enc = encoder(dtype)
    x = bk.Input(4, dtype=dtype, name="x")
    h = enc(x)
    y = bk.Linear(6, 3, dtype=dtype, seed=5)(bk.Add(dtype=dtype)(h, bk.Identity(dtype=dtype)(h), h))
    return bk.Model(inputs=x, outputs=y)


def test_save_load_and_pickle_through_a_nested_model(tmp_path, rng):
    model = composed()
    model.compile(bk.MSELoss(dtype=F64), bk.Adam(model, lr=0.01))
    X, T = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    model.fit(X, T, epochs=2, batch_size=4, verbose=0)
    model.save(tmp_path / "m.npz")
    copies = [bk.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(model))]
    for again in copies:
        np.testing.assert_array_equal(again.predict(X), model.predict(X))
        assert list(again.params) == list(model.params)
    losses = [m.train_step(X, T) for m in [model, *copies]]  # the optimizer state came along too
    assert losses[0] == losses[1] == losses[2]
    for again in copies:
        np.testing.assert_array_equal(again.predict(X), model.predict(X))


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_onnx_export_through_a_nested_model(tmp_path, rng, dtype):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = composed(dtype)
    a, b = bk.Input(4, dtype=dtype, name="a"), bk.Input(4, dtype=dtype, name="b")
    joined = bk.Concat(dtype=dtype)(model(a), b, model(b))
    two = bk.Model(inputs=[a, b], outputs=bk.Identity(dtype=dtype)(joined), share_weights=True)
    for m, feeds in ((model, ("x",)), (two, ("a", "b"))):
        proto = m.to_onnx(tmp_path / "m.onnx")
        ops = [n.op_type for n in proto.graph.node]
        assert "Sum" in ops and "Identity" in ops
        assert ("Concat" in ops) == (m is two)
        assert proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value == m.outputs[0].features
        sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        for n in (1, 7):
            xs = [rng.normal(size=(n, 4)).astype(dtype) for _ in feeds]
            got = sess.run(None, dict(zip(feeds, xs)))[0]
            want = m.predict(xs if len(xs) > 1 else xs[0])
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 if dtype == F32 else 1e-12)


def test_state_dict_through_a_nested_sequential_is_the_flat_chain(rng):
    enc = encoder()
    x = bk.Input(4, dtype=F64)
    model = bk.Model(inputs=x, outputs=bk.Linear(6, 3, dtype=F64, seed=2)(enc(x)))
    sd = model.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # nn.Sequential(Linear, Tanh, Linear)
    np.testing.assert_array_equal(sd["0.weight"], enc[0].params["weight"])
    new = {k: rng.normal(size=v.shape) for k, v in sd.items()}
    model.load_state_dict(new)
    np.testing.assert_array_equal(enc[0].params["weight"], new["0.weight"])  # shared with enc


def test_pytorch_round_trip_through_a_nested_sequential(rng):
    torch = pytest.importorskip("torch")
    enc = encoder()
    x = bk.Input(4, dtype=F64)
    model = bk.Model(inputs=x, outputs=bk.Linear(6, 3, dtype=F64, seed=2)(enc(x)))
    twin = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    X = rng.normal(size=(5, 4))
    np.testing.assert_allclose(twin(torch.from_numpy(X)).detach().numpy(), model.forward(X), rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(0.5)
    bk.from_state_dict(model, twin.state_dict())
    np.testing.assert_allclose(twin(torch.from_numpy(X)).detach().numpy(), model.forward(X), rtol=1e-12, atol=1e-12)


def test_pytorch_round_trip_of_a_nested_sequential(rng):
    torch = pytest.importorskip("torch")
    model = bk.Sequential(encoder(), bk.Linear(6, 3, dtype=F64, seed=2))
    twin = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh()), torch.nn.Linear(6, 3))
    twin = twin.double()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    X = rng.normal(size=(5, 4))
    np.testing.assert_allclose(twin(torch.from_numpy(X)).detach().numpy(), model.forward(X), rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(0.25)
    bk.from_state_dict(model, twin.state_dict())
    np.testing.assert_allclose(twin(torch.from_numpy(X)).detach().numpy(), model.forward(X), rtol=1e-12, atol=1e-12)


def test_add_has_no_state_dict_name_for_a_branching_model():
    model = residual()
    with pytest.raises(ValueError, match="takes 2 inputs"):
        model.state_dict()


def test_a_node_repeated_in_a_join_gets_every_gradient(rng):
    """x feeds one Add three times and a Concat twice (a gradient buffer per use: found by the fuzzer)."""
    x = bk.Input(3, dtype=F64)
    h = bk.Tanh(dtype=F64)(x)
    s = bk.Add(dtype=F64)(x, h, x, x, h)
    y = bk.Concat(dtype=F64)(s, x, s, h)
    model = bk.Model(inputs=x, outputs=y)
    X = rng.normal(size=(2, 3))
    np.testing.assert_allclose(model.forward(X)[:, :3], 3 * X + 2 * np.tanh(X), rtol=1e-15)
    assert bk.gradcheck(model, X)


def test_calls_on_nodes_that_cannot_feed_the_model():
    acts = bk.Sequential(bk.Tanh())
    with pytest.raises(TypeError, match="input width is unknown"):
        acts(bk.Input(1, labels=True))
    enc = encoder(F32)
    x = bk.Input(4)
    with pytest.raises(TypeError, match="is a loss"):
        enc(bk.MSELoss()(x, bk.Input(4)))
    with pytest.raises(TypeError, match="name must be a non-empty str"):
        enc(x, name="")
