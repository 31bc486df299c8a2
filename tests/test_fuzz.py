"""Property-based fuzzing (hypothesis) of every block and of small random graphs.

Blocks: over shapes (batch 1..8, features 1..8), dtypes (float32/float64) and finite values
within ±1e3 (plus ±1e4 for the overflow-prone softmax, log-softmax, sigmoid and the
logit losses), forward and backward agree with the NumPy reference of tests/reference.py.
Graphs: random chains and DAGs of 2-6 blocks (fan-out, Hadamard gates, Add and Concat
joins of 2-4 inputs, one or two inputs)
built from bk.Input and block calls: forward/backward never crash, give finite gradients
of the right shapes, and in float64 pass bk.gradcheck on tiny shapes.

Derandomized (the same examples on every run); about 10-20 s in all.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import bricks as bk
from registry import SPECS

F32, F64 = np.float32, np.float64
EXTREME = {bk.Softmax, bk.LogSoftmax, bk.Sigmoid, bk.CrossEntropyLoss, bk.BCEWithLogitsLoss}
TOL = {F32: dict(rtol=2e-5, atol=2e-6), F64: dict(rtol=1e-10, atol=1e-12)}
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def values(dom, dtype, extreme):
    """The hypothesis strategy for one element of an input from registry domain `dom`."""
    w = 32 if dtype == F32 else 64
    if dom.name in ("prob", "unit", "prob_rows"):
        return st.floats(0.0, 1.0, width=w)
    if dom.name == "pos_rows":
        return st.floats(0.0, 2.0, width=w)
    finite = st.floats(-1e3, 1e3, width=w)
    return st.one_of(finite, st.sampled_from([-1e4, 1e4])) if extreme else finite


@st.composite
def block_case(draw, spec):
    dtype = draw(st.sampled_from([F32, F64]))
    n, d = draw(st.integers(spec.min_batch, 8)), draw(st.integers(1, 8))
    xs = []
    for k, dom in enumerate(spec.domains):
        dk = d + (spec.widths[k] if spec.widths else 0)  # Concat: inputs of several widths
        if dom.labels:
            xs.append(np.array(draw(st.lists(st.integers(0, d - 1), min_size=n, max_size=n)), np.int64))
            continue
        x = draw(arrays(dtype, (n, dk), elements=values(dom, dtype, spec.cls in EXTREME)))
        if dom.name == "prob_rows":  # rows summing to 1 (a zero row becomes uniform)
            s = x.sum(1, keepdims=True, dtype=F64)
            x = np.where(s > 0, x / np.where(s > 0, s, 1), 1.0 / d).astype(dtype)
        xs.append(x)
    out = (n, spec.out_width(d))
    dy = draw(
        st.floats(0.25, 4.0, width=32) if spec.is_loss else arrays(dtype, out, elements=st.floats(-10, 10, width=32))
    )
    return dtype, (n, d), xs, dy


def assert_close(got, want, dtype, what):
    # float32 arithmetic errs in proportion to the largest value involved, not to each entry
    tol = dict(TOL[dtype])
    tol["atol"] *= max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(np.asarray(got, F64), want, err_msg=what, **tol)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_block_agrees_with_numpy(spec, data):
    dtype, shape, xs, dy = data.draw(block_case(spec))
    blk = spec.build(shape[1], dtype)
    with np.errstate(over="ignore", under="ignore"):
        y_ref, vjp = spec.reference(blk, xs, shape)
        gx_ref, gp_ref = vjp(np.asarray(dy, F64))
    spec.setup(blk)
    y = blk.forward(*xs)
    g = blk.backward(dy)
    g = g if isinstance(g, tuple) else (g,)
    assert np.all(np.isfinite(y)), "the forward of finite input is not finite"
    assert_close(y, y_ref, dtype, "forward")
    for i, (gi, ri) in enumerate(zip(g, gx_ref)):
        if ri is None:
            assert gi is None
            continue
        assert gi.dtype == dtype and gi.shape == xs[i].shape and np.isfinite(gi).all()
        assert_close(gi, ri, dtype, f"gradient of input {i}")
    for k, v in blk.grads.items():
        assert_close(v, gp_ref[k], dtype, f"gradient of parameter {k}")


# -- random graphs ------------------------------------------------------------------------------------
KINDS = [
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "Hadamard",
    "Dropout",
    "Add",
    "Concat",
    "Identity",
    "LeakyReLU",
    "ELU",
    "GELU",
    "Softplus",
    "LayerNorm",
    "BatchNorm",
]
KINKED = (bk.ReLU, bk.LeakyReLU, bk.ELU)  # a kink at 0 (finite differences need a margin)


@st.composite
def graph_case(draw, dtype, max_n, max_d, limit):
    """(model, input arrays, dropout blocks): 1-2 inputs, 2-6 blocks on random earlier nodes."""
    n = draw(st.integers(1, max_n))
    widths = draw(st.lists(st.integers(1, max_d), min_size=1, max_size=2))
    inputs = [bk.Input(w, dtype=dtype, name=f"in{i}") for i, w in enumerate(widths)]
    nodes, used, drops = list(inputs), set(), []
    seed = iter(range(1000))
    for _ in range(draw(st.integers(2, 6))):
        kind = draw(st.sampled_from(KINDS))
        # the newest node (chains) or any earlier one (DAGs: fan-out when a node is used again)
        a = nodes[-1] if draw(st.booleans()) else draw(st.sampled_from(nodes))
        if kind == "Linear":
            blk, args = bk.Linear(a.features, draw(st.integers(1, max_d)), dtype=dtype, seed=next(seed)), (a,)
        elif kind == "Hadamard":
            blk = bk.Hadamard(dtype=dtype)
            args = (a, draw(st.sampled_from([m for m in nodes if m.features == a.features])))  # may be a itself
        elif kind in ("Add", "Concat"):  # 2-4 inputs, repeats allowed (x + x)
            pool = [m for m in nodes if m.features == a.features] if kind == "Add" else nodes
            blk = getattr(bk, kind)(dtype=dtype)
            args = (a, *draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
        elif kind in ("LayerNorm", "BatchNorm"):  # BatchNorm trains on 2+ rows (one has no variance)
            kind = kind if n >= 2 else "LayerNorm"
            blk, args = getattr(bk, kind)(a.features, dtype=dtype), (a,)
        elif kind == "Dropout":
            blk, args = bk.Dropout(draw(st.sampled_from([0.0, 0.3, 0.7])), dtype=dtype, seed=next(seed)), (a,)
            drops.append(blk)
        else:
            blk, args = getattr(bk, kind)(dtype=dtype), (a,)
        used.update(m.name for m in args)
        nodes.append(blk(*args))
    for x in inputs:  # every input must feed the graph
        if x.name not in used:
            nodes.append(bk.Linear(x.features, 2, dtype=dtype, seed=next(seed))(x))
            used.add(x.name)
    outputs = [m for m in nodes[len(inputs) :] if m.name not in used]
    model = bk.Model(inputs=inputs, outputs=outputs)
    xs = [draw(arrays(dtype, (n, w), elements=st.floats(-limit, limit, width=32))) for w in widths]
    return model, xs, drops


def reseed(drops):
    for b in drops:
        b._core.reseed(5)


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_random_graph_forward_backward(data):
    dtype = data.draw(st.sampled_from([F32, F64]))
    model, xs, drops = data.draw(graph_case(dtype, 8, 8, 10.0))
    reseed(drops)
    outs = model.forward(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    assert [o.shape for o in outs] == [(xs[0].shape[0], n.features) for n in model.outputs]
    assert all(np.isfinite(o).all() for o in outs)
    dys = [data.draw(arrays(dtype, o.shape, elements=st.floats(-3, 3, width=32))) for o in outs]
    model.zero_grad()
    gx = model.backward(*dys)
    gx = gx if isinstance(gx, tuple) else (gx,)
    assert [g.shape for g in gx] == [x.shape for x in xs]
    assert all(g.dtype == dtype and np.isfinite(g).all() for g in gx), "non-finite input gradient"
    for k, g in model.grads.items():
        assert np.isfinite(g).all(), f"non-finite gradient of {k}"
    # the same again gives the same numbers (no state leaks from one call to the next)
    reseed(drops)
    again = model.forward(*xs)
    for a, b in zip(again if isinstance(again, tuple) else (again,), outs):
        np.testing.assert_array_equal(a, b)


def relu_margin(model, xs):
    """The smallest |input| of any ReLU-like node for these inputs (kinks break finite differences)."""
    model.forward(*xs)
    vals = [model._graph.value(model._ids[n.inputs[0]._uid]) for n in model._nodes if isinstance(n.block, KINKED)]
    return min((np.abs(v).min() for v in vals), default=np.inf)


def norm_margin(model, xs):
    """The smallest variance a LayerNorm (per row) or BatchNorm (per column) normalises by: near 0,
    1/sqrt(var + eps) curves too fast for finite differences (a one-feature LayerNorm is exactly 0)."""
    model.forward(*xs)
    out = np.inf
    for n in model._nodes:
        if isinstance(n.block, (bk.LayerNorm, bk.BatchNorm)) and n.features > 1 or isinstance(n.block, bk.BatchNorm):
            v = model._graph.value(model._ids[n.inputs[0]._uid])
            out = min(out, v.var(1 if isinstance(n.block, bk.LayerNorm) else 0).min())
    return out


def ancestors(node):
    seen, todo = {}, [node]
    while todo:
        n = todo.pop()
        if n._uid not in seen:
            seen[n._uid] = n
            todo.extend(n.inputs)
    return seen


def per_output(model, xs):
    """One single-output model per output, over the inputs it depends on (gradcheck takes one output)."""
    for out in model.outputs:
        up = ancestors(out)
        keep = [i for i, x in enumerate(model.inputs) if x._uid in up]
        yield bk.Model(inputs=[model.inputs[i] for i in keep], outputs=out), [xs[i] for i in keep]


@settings(FUZZ, max_examples=100)
@given(case=graph_case(F64, 3, 3, 2.0))
def test_random_graph_gradcheck_float64(case):
    model, xs, drops = case
    reseed(drops)
    assume(relu_margin(model, xs) > 1e-3)
    assume(norm_margin(model, xs) > 1e-2)
    for sub, sub_xs in per_output(model, xs):
        assert bk.gradcheck(sub, *sub_xs, setup=lambda: reseed(drops), tol=1e-6)


def test_gradcheck_of_a_two_output_model():
    """Found by the fuzzer: the README says every model can be checked; one with two outputs cannot."""
    x = bk.Input(2, dtype=F64)
    h = bk.Linear(2, 2, dtype=F64, seed=0)(x)
    model = bk.Model(inputs=x, outputs=[bk.Sigmoid(dtype=F64)(h), bk.Tanh(dtype=F64)(h)])
    assert bk.gradcheck(model, np.array([[0.3, -0.7]]))
