"""Chains and graphs: whole-model gradients against hand-derived NumPy and finite differences."""

import numpy as np
import pytest

import bricks as bk

F64 = np.float64


def gating_graph(seed=0):
    """x -> (ReLU(Linear) ⊙ Softmax(Linear)) -> Linear: fan-out of x and a Hadamard node."""
    x = bk.Input(4, dtype=F64)
    l1, l2, l3 = (
        bk.Linear(4, 5, dtype=F64, seed=seed),
        bk.Linear(4, 5, dtype=F64, seed=seed + 1),
        bk.Linear(5, 2, dtype=F64, seed=seed + 2, init="torch"),
    )
    h = bk.ReLU(dtype=F64)(l1(x))
    g = bk.Softmax(dtype=F64)(l2(x))
    y = l3(bk.Hadamard(dtype=F64)(h, g))
    return bk.Model(inputs=x, outputs=y), (l1, l2, l3)


def numpy_gating(X, dY, l1, l2, l3):
    """Forward and backward of the gating graph by hand."""
    W1, b1 = l1.params["weight"], l1.params["bias"]
    W2, b2 = l2.params["weight"], l2.params["bias"]
    W3, b3 = l3.params["weight"], l3.params["bias"]
    a1 = X @ W1.T + b1
    h = np.maximum(a1, 0)
    a2 = X @ W2.T + b2
    e = np.exp(a2 - a2.max(1, keepdims=True))
    g = e / e.sum(1, keepdims=True)
    m = h * g
    Y = m @ W3.T + b3
    dm = dY @ W3
    dW3, db3 = dY.T @ m, dY.sum(0)
    dh, dg = dm * g, dm * h
    da1 = dh * (a1 > 0)
    da2 = g * (dg - (dg * g).sum(1, keepdims=True))
    dX = da1 @ W1 + da2 @ W2  # fan-out: the two paths' gradients add up
    grads = {"w1": da1.T @ X, "b1": da1.sum(0), "w2": da2.T @ X, "b2": da2.sum(0), "w3": dW3, "b3": db3}
    return Y, dX, grads


def test_gating_graph_matches_hand_derived_numpy(rng):
    model, (l1, l2, l3) = gating_graph()
    X = rng.normal(size=(6, 4))
    dY = rng.normal(size=(6, 2))
    Y_ref, dX_ref, g_ref = numpy_gating(X, dY, l1, l2, l3)
    np.testing.assert_allclose(model.forward(X), Y_ref, rtol=1e-12, atol=1e-12)
    model.zero_grad()
    dX = model.backward(dY)
    np.testing.assert_allclose(dX, dX_ref, rtol=1e-12, atol=1e-12)
    names = model.params.keys()
    assert len(names) == 6
    for blk, w, b in ((l1, "w1", "b1"), (l2, "w2", "b2"), (l3, "w3", "b3")):
        np.testing.assert_allclose(blk.grads["weight"], g_ref[w], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(blk.grads["bias"], g_ref[b], rtol=1e-12, atol=1e-12)


def test_gating_graph_gradcheck(rng):
    model, _ = gating_graph(3)
    assert bk.gradcheck(model, rng.normal(size=(3, 4)))


def test_sequential_gradcheck_and_names(rng):
    m = bk.Sequential(
        bk.Linear(3, 4, dtype=F64),
        bk.Tanh(dtype=F64),
        bk.Linear(4, 4, dtype=F64),
        bk.Sigmoid(dtype=F64),
        bk.Linear(4, 2, dtype=F64),
        bk.LogSoftmax(dtype=F64),
    )
    assert bk.gradcheck(m, rng.normal(size=(2, 3)))
    assert list(m.params) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert len(m) == 6 and isinstance(m[1], bk.Tanh) and [type(b) for b in m][0] is bk.Linear
    assert isinstance(m, bk.Model)


def test_params_and_grads_are_properties_as_on_a_block():
    m, (l1, _, _) = gating_graph(1)
    m.forward(np.ones((2, 4)))
    m.backward(np.ones((2, 2)))
    for what in ("params", "grads"):
        got = getattr(m, what)
        assert isinstance(got, dict) and len(got) == 6 and list(got) == list(getattr(m, what))
        mine = getattr(l1, what)["weight"]
        assert sum(np.shares_memory(v, mine) for v in got.values()) == 1  # views of native memory
    assert not callable(l1.params)  # on a block it never was a method


@pytest.mark.parametrize("what", ["params", "grads"])
def test_the_old_call_spelling_warns_and_still_works(what):
    for m in (gating_graph(1)[0], bk.Sequential(bk.Linear(3, 2), bk.ReLU())):
        with pytest.warns(DeprecationWarning, match=rf"model\.{what}\(\) is deprecated.*write model\.{what} "):
            old = getattr(m, what)()
        assert list(old) == list(getattr(m, what))
        assert all(old[k] is v or np.shares_memory(old[k], v) for k, v in getattr(m, what).items())
    with pytest.warns(DeprecationWarning) as record:
        m.params()
    assert record[0].filename == __file__  # the warning points at the caller's line


def test_sequential_equals_blocks_run_by_hand(rng):
    blocks = [bk.Linear(5, 7, seed=1), bk.ReLU(), bk.Linear(7, 3, seed=2)]
    m = bk.Sequential(*blocks)
    X = rng.normal(size=(8, 5)).astype(np.float32)
    h = X
    for b in blocks:
        h = b.forward(h)
    np.testing.assert_array_equal(m.forward(X), h)


def test_two_inputs_two_outputs_and_jacobian(rng):
    a, b = bk.Input(3, dtype=F64), bk.Input(3, dtype=F64)
    p = bk.Hadamard(dtype=F64)(a, b)
    y1 = bk.Tanh(dtype=F64)(p)
    y2 = bk.Linear(3, 2, dtype=F64)(p)
    m = bk.Model(inputs=[a, b], outputs=[y1, y2])
    A, B = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    o1, o2 = m.forward(A, B)
    assert o1.shape == (2, 3) and o2.shape == (2, 2)
    d1, d2 = rng.normal(size=o1.shape), np.zeros(o2.shape)
    dA, dB = m.backward(d1, d2)
    np.testing.assert_allclose(dA, d1 * (1 - np.tanh(A * B) ** 2) * B, rtol=1e-12)
    np.testing.assert_allclose(dB, d1 * (1 - np.tanh(A * B) ** 2) * A, rtol=1e-12)
    # a single-output graph: the model's Jacobian equals the NumPy one
    x = bk.Input(3, dtype=F64)
    sm = bk.Model(inputs=x, outputs=bk.Softmax(dtype=F64)(x))
    X = rng.normal(size=(1, 3))
    J = bk.jacobian(sm, X)
    s = np.exp(X[0]) / np.exp(X[0]).sum()
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=1e-12, atol=1e-14)


def test_node_feeding_one_block_twice(rng):
    x = bk.Input(3, dtype=F64)
    m = bk.Model(inputs=x, outputs=bk.Hadamard(dtype=F64)(x, x))  # y = x², dy/dx = 2x
    X = rng.normal(size=(2, 3))
    m.forward(X)
    np.testing.assert_allclose(m.backward(np.ones((2, 3))), 2 * X, rtol=1e-12)


def test_shared_weights_need_asking_and_sum_gradients(rng):
    lin = bk.Linear(3, 3, dtype=F64)
    x = bk.Input(3, dtype=F64)
    y = lin(bk.Tanh(dtype=F64)(lin(x)))
    with pytest.raises(ValueError, match="share_weights"):
        bk.Model(inputs=x, outputs=y)
    m = bk.Model(inputs=x, outputs=y, share_weights=True)
    assert list(m.params) == [f"{y.inputs[0].inputs[0].name}.weight", f"{y.inputs[0].inputs[0].name}.bias"]
    assert bk.gradcheck(m, rng.normal(size=(2, 3)))


def test_learnable_target_gets_its_gradient(rng):
    """The lecture's 'learn the targets': the target is the output of another sub-network."""
    x, z = bk.Input(2, dtype=F64), bk.Input(3, dtype=F64)
    pred = bk.Linear(2, 2, dtype=F64, seed=1)(x)
    tgt_lin = bk.Linear(3, 2, dtype=F64, seed=2)
    tgt = tgt_lin(z)
    L = bk.MSELoss(dtype=F64)(pred, tgt)
    m = bk.Model(inputs=[x, z], outputs=pred, loss=L)
    X, Z = rng.normal(size=(4, 2)), rng.normal(size=(4, 3))
    m.zero_grad()
    loss = m.compute_loss(X, Z)
    P, T = m.forward(X), Z @ tgt_lin.params["weight"].T + tgt_lin.params["bias"]
    assert loss == pytest.approx(((P - T) ** 2).sum() / 4, rel=1e-12)
    m.compute_loss(X, Z)
    dX, dZ = m.backward()
    dT = 2 * (T - P) / 4
    np.testing.assert_allclose(tgt_lin.grads["weight"], dT.T @ Z, rtol=1e-10)
    np.testing.assert_allclose(dZ, dT @ tgt_lin.params["weight"], rtol=1e-10)


def test_target_input_receives_gradient(rng):
    x, t = bk.Input(3, dtype=F64), bk.Input(3, dtype=F64)
    p = bk.Linear(3, 3, dtype=F64)(x)
    m = bk.Model(inputs=[x, t], outputs=p, loss=bk.CrossEntropyLoss(dtype=F64)(p, t))
    X, T = rng.normal(size=(2, 3)), rng.dirichlet(np.ones(3), size=2)
    m.compute_loss(X, T)
    _, dT = m.backward()
    P = m.forward(X)
    logsm = P - np.log(np.exp(P).sum(1, keepdims=True))
    np.testing.assert_allclose(dT, -logsm / 2, rtol=1e-12)


def test_train_step_equals_forward_backward_step(rng):
    def make():
        bk.manual_seed(7)
        m = bk.Sequential(bk.Linear(4, 6), bk.ReLU(), bk.Linear(6, 3))
        return m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1, momentum=0.9))

    X = rng.normal(size=(10, 4)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    a, b = make(), make()
    for _ in range(3):
        la = a.train_step(X, y)
        b.zero_grad()
        lb = b.compute_loss(X, y)
        b.backward()
        b.optimizer.step()
        assert la == lb
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])


def test_graph_errors_name_the_node():
    x = bk.Input(4, name="pixels")
    with pytest.raises(ValueError, match=r"Linear\(3, 2\)"):
        bk.Linear(3, 2)(x)
    other = bk.Input(4, name="other")
    y = bk.Hadamard()(bk.Linear(4, 2)(x), bk.Linear(4, 2)(other))
    with pytest.raises(ValueError, match="'other'"):
        bk.Model(inputs=x, outputs=y)
    unused = bk.Input(2, name="unused")
    with pytest.raises(ValueError, match="'unused'.*dangling"):
        bk.Model(inputs=[x, other, unused], outputs=y)
    # a cycle cannot be built by calls; forge one to see it rejected with the node named
    a = bk.ReLU()(x)
    b = bk.ReLU()(a)
    a.inputs = (b,)
    with pytest.raises(ValueError, match="cycle"):
        bk.Model(inputs=x, outputs=b)
    with pytest.raises(TypeError, match="forward"):
        bk.ReLU()(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="dtype"):
        bk.Linear(4, 2, dtype=np.float64)(x)


def test_model_bad_arrays():
    m = bk.Sequential(bk.Linear(4, 2))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        m.forward(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="finite"):
        m.forward(np.full((3, 4), np.nan, np.float32))
    with pytest.raises(ValueError, match="empty"):
        m.forward(np.zeros((0, 4), np.float32))
    with pytest.raises(bk.StateError):
        bk.Sequential(bk.ReLU()).backward(np.zeros((1, 1)))
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
    with pytest.raises(ValueError, match="out of range"):
        m.train_step(np.zeros((3, 4)), np.array([0, 1, 2]))
    # the failed step left the model usable
    assert np.isfinite(m.train_step(np.zeros((3, 4)), np.array([0, 1, 1])))


def test_summary_and_dot():
    m = bk.Sequential(bk.Linear(784, 256), bk.ReLU(), bk.Dropout(0.5), bk.Linear(256, 10))
    s = m.summary()
    assert "Linear(784, 256)" in s and "200960" in s and f"total parameters: {784 * 256 + 256 + 2570}" in s
    dot = m.to_dot()
    assert dot.startswith("digraph") and dot.count("->") == 4 and "Dropout(0.5)" in dot


def test_dropout_in_graph_train_and_eval(rng):
    m = bk.Sequential(bk.Linear(8, 8), bk.Dropout(0.5, seed=3))
    X = rng.normal(size=(16, 8)).astype(np.float32)
    a, b = m.forward(X), m.forward(X)
    assert (a == 0).mean() > 0.3 and not np.array_equal(a, b)
    m.eval()
    np.testing.assert_array_equal(m.forward(X), m.forward(X))
    assert (m.forward(X) == 0).mean() < 0.05


def test_train_step_does_not_copy_fitting_arrays(rng):
    m = bk.Sequential(bk.Linear(6, 4), bk.ReLU(), bk.Linear(4, 3))
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
    X = rng.normal(size=(8, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    m.train_step(X, y)
    assert m._graph.data_address(0) == X.ctypes.data  # viewed in place
    assert m._graph.data_address(1) == y.ctypes.data
    Xf = np.asfortranarray(X.astype(np.float64))  # converted (a copy), same answer
    m2 = bk.Sequential(bk.Linear(6, 4, seed=1), bk.ReLU(), bk.Linear(4, 3, seed=2))
    m3 = bk.Sequential(bk.Linear(6, 4, seed=1), bk.ReLU(), bk.Linear(4, 3, seed=2))
    for mm in (m2, m3):
        mm.compile(bk.CrossEntropyLoss(), bk.SGD(mm, lr=0.1))
    assert m2.train_step(Xf, y.astype(np.int32)) == m3.train_step(X, y)
    assert m2._graph.data_address(0) != Xf.ctypes.data


def _by_hand(m, xs, opt):
    m.zero_grad()
    loss = m.compute_loss(*xs)
    m.backward()
    opt.step()
    return loss


def test_train_step_with_shared_weights_and_unreached_blocks(rng):
    """train_step's fresh gradients (overwritten, or zeroed where weights are shared)
    equal zero_grad + backward + step, and blocks no loss reaches get no update."""

    def build():
        bk.manual_seed(3)
        x, t = bk.Input(3, dtype=F64), bk.Input(3, dtype=F64)
        lin, side = bk.Linear(3, 3, dtype=F64), bk.Linear(3, 2, dtype=F64)
        y = lin(bk.Tanh(dtype=F64)(lin(x)))
        m = bk.Model(inputs=[x, t], outputs=[y, side(x)], loss=bk.MSELoss(dtype=F64)(y, t), share_weights=True)
        return m, side, bk.SGD(m, lr=0.1, momentum=0.5)

    X, T = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    (a, side_a, oa), (b, _, ob) = build(), build()
    side_before = side_a.params["weight"].copy()
    for _ in range(3):
        assert a.train_step(X, T, optimizer=oa) == _by_hand(b, (X, T), ob)
    for pa, pb in zip(a.params.values(), b.params.values()):  # node names differ
        np.testing.assert_array_equal(pa, pb)
    np.testing.assert_array_equal(side_a.params["weight"], side_before)
    assert not side_a.grads["weight"].any()


def test_arrays_that_went_through_pickle():
    import pickle

    X = pickle.loads(pickle.dumps(np.ones((4, 3), np.float32)))  # an equal, distinct dtype object
    m = bk.Sequential(bk.Linear(3, 2, seed=0))
    np.testing.assert_array_equal(m.predict(X), m.predict(np.ones((4, 3), np.float32)))


def test_backward_after_someone_elses_forward_is_an_error(rng):
    """predict/evaluate run forwards of their own, and a block used in a model has the
    model's caches after the model's forward: backward then refuses instead of
    returning the gradients of the other batch."""
    X = rng.normal(size=(6, 4)).astype(np.float32)
    lin = bk.Linear(4, 3, seed=0)
    m = bk.Sequential(lin, bk.ReLU(), bk.Linear(3, 2, seed=1))
    m.forward(X)
    m.predict(X[:5])
    with pytest.raises(bk.StateError, match="predict/evaluate/fit/train_step ran a forward"):
        m.backward(np.ones((6, 2), np.float32))
    m.forward(X)
    assert m.backward(np.ones((6, 2), np.float32)).shape == (6, 4)
    lin.forward(X)
    m.predict(X[:5])
    with pytest.raises(bk.StateError, match="Linear\\(4, 3\\): a model that uses this block ran a forward"):
        lin.backward(np.ones((6, 3), np.float32))
    m.forward(X)
    lin2 = bk.Sequential(lin)  # another model over the same block
    lin2.forward(X[:2])
    with pytest.raises(bk.StateError, match="ran a forward elsewhere"):
        m.backward(np.ones((6, 2), np.float32))


def test_sequential_slice_is_a_sequential_sharing_the_blocks(rng):
    X = rng.normal(size=(5, 4)).astype(np.float32)
    m = bk.Sequential(bk.Linear(4, 6, seed=0), bk.ReLU(), bk.Linear(6, 2, seed=1))
    head = m[:2]
    assert isinstance(head, bk.Sequential) and len(head) == 2 and head[0] is m[0]
    np.testing.assert_array_equal(m[2].forward(head.forward(X)), m.forward(X))
    with pytest.raises(ValueError, match="at least one block"):
        m[5:]


def test_sequential_add(rng):
    X = rng.normal(size=(5, 4)).astype(np.float32)
    m = bk.Sequential(bk.Linear(4, 6, seed=0))
    m.add(bk.ReLU()).add(bk.Linear(6, 2, seed=1))
    ref = bk.Sequential(m[0], m[1], m[2])
    np.testing.assert_array_equal(m.forward(X), ref.forward(X))
    assert list(m.params) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(ValueError, match=r"block 3 \(Linear\(5, 1\)\) after a width of 2"):
        m.add(bk.Linear(5, 1))
    assert len(m) == 3  # a refused block leaves the model as it was
    np.testing.assert_array_equal(m.forward(X), ref.forward(X))
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
    with pytest.raises(ValueError, match="compiled"):
        m.add(bk.ReLU())


def test_an_input_named_target_and_a_loss_only_model(rng):
    X = rng.normal(size=(6, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2])
    x = bk.Input(4, name="target")  # the user's name: compile must not take it for its own
    m = bk.Model(inputs=x, outputs=bk.Linear(4, 3, seed=0)(x))
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
    assert [n.name for n in m.inputs] == ["target", "target1"]
    m.fit(X, y, epochs=1, verbose=0)
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))  # again: the old target is replaced
    assert [n.name for n in m.inputs] == ["target", "target1"]
    a, t = bk.Input(3), bk.Input(3)
    only_loss = bk.Model(inputs=[a, t], outputs=None, loss=bk.MSELoss()(bk.Linear(3, 3)(a), t))
    assert only_loss.compute_loss(X[:, :3], X[:, 1:]) > 0
    with pytest.raises(ValueError, match="no outputs, only losses"):
        only_loss.predict(X[:, :3])
