"""Bad input for every block, driven by the registry.

Every error is a TypeError or ValueError whose message names the block; after it the
block still computes correctly, and a failed forward leaves no cache to backward from.
"""

import numpy as np
import pytest

import bricks as bk
from layouts import read_only, strided
from registry import SPECS

SHAPE = (3, 4)


def name(spec) -> str:
    return spec.cls.__name__


def setup(spec, rng):
    """A float64 block and good inputs for it."""
    return spec.build(SHAPE[1]), spec.inputs(rng, SHAPE)


def with_input(xs, i, value):
    xs = list(xs)
    xs[i] = value
    return xs


def put_at(x, value, at=(1, 2)):
    x = np.array(x, dtype=np.float64)
    x[at[0] % len(x), at[1] % x.shape[1]] = value
    return x


def bad_inputs(spec):
    """(id, make(good inputs) -> bad inputs, exception) for every way to call forward wrongly."""
    cases = [
        ("too few inputs", (lambda xs: xs[:1]) if spec.variadic else (lambda xs: xs[:-1]), TypeError),
        *([] if spec.variadic else [("too many inputs", lambda xs: xs + [xs[0]], TypeError)]),
        ("empty batch", lambda xs: [x[:0] for x in xs], ValueError),
    ]
    for i, dom in enumerate(spec.domains):

        def change(f, i=i):
            return lambda xs: with_input(xs, i, f(xs[i]))

        if dom.labels:
            cases += [
                ("labels 2-D", change(lambda y: y[:, None]), ValueError),
                ("labels float", change(lambda y: y.astype(np.float64)), TypeError),
                ("labels bool", change(lambda y: y > 0), TypeError),
                ("label out of range", change(lambda y: np.r_[y[:-1], SHAPE[1]]), ValueError),
                ("label negative", change(lambda y: np.r_[y[:-1], -1]), ValueError),
                (
                    "label above int64",
                    change(lambda y: np.append(y[:-1].astype(np.uint64), np.uint64(2**64 - 1))),
                    ValueError,
                ),
                ("labels batch mismatch", change(lambda y: y[:-1]), ValueError),
            ]
            continue
        # a 1-D float target for CrossEntropyLoss reads as (non-integer) class labels
        one_d = (TypeError, ValueError) if i == 1 and spec.cls is bk.CrossEntropyLoss else ValueError
        cases += [
            (f"input {i} 1-D", change(lambda x: x[0]), one_d),
            (f"input {i} 3-D", change(lambda x: x[None]), ValueError),
            (f"input {i} 0-D", change(lambda x: x[0, 0]), ValueError),
            (f"input {i} no features", change(lambda x: x[:, :0]), ValueError),
            (f"input {i} complex", change(lambda x: x.astype(np.complex128)), TypeError),
            (f"input {i} object", change(lambda x: x.astype(object)), TypeError),
            (f"input {i} str", change(lambda x: "1.0"), TypeError),
            (f"input {i} str array", change(lambda x: x.astype(str)), TypeError),
            (f"input {i} None", change(lambda x: None), TypeError),
            (f"input {i} NaN", change(lambda x: put_at(x, np.nan)), ValueError),
            # loss targets read bool as 0/1 (test_misuse_messages.py); data stays numeric only
            *([] if spec.is_loss and i == 1 else [(f"input {i} bool", change(lambda x: x > 0.5), TypeError)]),
            (f"input {i} +inf", change(lambda x: put_at(x, np.inf, (0, 0))), ValueError),
            (f"input {i} -inf", change(lambda x: put_at(x, -np.inf, (-1, -1))), ValueError),
        ]
        if spec.n_inputs >= 2:
            cases.append((f"input {i} batch mismatch", change(lambda x: np.concatenate([x, x[:1]])), ValueError))
        widths_agree = spec.n_inputs >= 2 and not any(d.labels for d in spec.domains) and spec.cls is not bk.Concat
        fixed_width = spec.cls is bk.Linear or "features" in spec.kwargs(SHAPE[1])  # LayerNorm, BatchNorm
        if fixed_width or widths_agree:
            cases.append(
                (f"input {i} feature mismatch", change(lambda x: np.concatenate([x, x[:, :1]], axis=1)), ValueError)
            )
    if spec.cls is bk.BCELoss:
        cases += [
            ("prediction below 0", lambda xs: with_input(xs, 0, put_at(xs[0], -0.1)), ValueError),
            ("prediction above 1", lambda xs: with_input(xs, 0, put_at(xs[0], 1.1)), ValueError),
        ]
    return cases


BAD_INPUTS = [pytest.param(s, make, exc, id=f"{s.id}-{cid}") for s in SPECS for cid, make, exc in bad_inputs(s)]


def assert_works(spec, blk, xs, rng):
    """A good forward and backward give the reference's values (and fresh parameter grads)."""
    blk.zero_grad()
    y_ref, vjp = spec.reference(blk, xs, SHAPE)
    spec.setup(blk)
    y = blk.forward(*xs)
    dy = 0.75 if spec.is_loss else rng.normal(size=np.shape(y))
    g = blk.backward(dy)
    gx_ref, gp_ref = vjp(dy)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    for gi, ri in zip(g if isinstance(g, tuple) else (g,), gx_ref):
        assert (gi is None) == (ri is None)
        if ri is not None:
            np.testing.assert_allclose(gi, ri, rtol=1e-12, atol=1e-12)
    for k, v in blk.grads.items():
        np.testing.assert_allclose(v, gp_ref[k], rtol=1e-12, atol=1e-12)


def raises_naming(spec_or_name, exc, call):
    who = spec_or_name if isinstance(spec_or_name, str) else name(spec_or_name)
    with pytest.raises(exc) as e:
        call()
    assert type(e.value) in (TypeError, ValueError) or isinstance(e.value, bk.StateError)
    assert who in str(e.value), f"the message does not name {who}: {e.value!r}"
    return e.value


# -- forward ----------------------------------------------------------------------------------
@pytest.mark.parametrize("spec, make, exc", BAD_INPUTS)
def test_bad_input_is_rejected_and_the_block_still_works(spec, make, exc, rng):
    blk, xs = setup(spec, rng)
    raises_naming(spec, exc, lambda: blk.forward(*make(xs)))
    assert_works(spec, blk, xs, rng)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_failed_forward_invalidates_the_cache(spec, rng):
    """After any rejected forward, backward is a StateError (not gradients of the old forward)."""
    stale = []
    for case_id, make, exc in bad_inputs(spec):
        blk, xs = setup(spec, rng)
        y = blk.forward(*xs)
        with pytest.raises(exc):
            blk.forward(*make(xs))
        try:
            blk.backward(1.0 if spec.is_loss else np.ones_like(y))
            stale.append(case_id)
        except bk.StateError as e:
            assert name(spec) in str(e)
    assert not stale, f"backward still ran on the previous forward's cache after: {stale}"


# -- conversions that must work --------------------------------------------------------------
LAYOUTS = {
    "fortran": lambda x, dom: np.asfortranarray(x),
    "strided": lambda x, dom: strided(x),
    "reversed": lambda x, dom: np.ascontiguousarray(x[::-1])[::-1],
    "read-only": lambda x, dom: read_only(x),
    "int": lambda x, dom: x.astype(np.int32) if dom.labels or dom.int_ok else x,
    "float32 into float64": lambda x, dom: x if dom.labels else x.astype(np.float32),
}


def plain(x, dom, layout):
    """What the converted input holds, as the block's own (float64, C-order) array."""
    if layout == "int" and (dom.labels or dom.int_ok):
        return x if dom.labels else x.astype(np.int32).astype(np.float64)
    if layout == "float32 into float64" and not dom.labels:
        return x.astype(np.float32).astype(np.float64)
    return x


def outputs(spec, blk, xs, dy):
    spec.setup(blk)
    y = blk.forward(*xs)
    g = blk.backward(dy)
    return [y, *(g if isinstance(g, tuple) else (g,)), *blk.grads.values()]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_inputs_are_converted_to_the_right_answer(spec, layout, rng):
    base = spec.inputs(rng, SHAPE)
    if layout == "int":  # integer-valued floats, so that the int arrays hold the same values
        base = [np.round(x) if d.int_ok and not d.labels else x for x, d in zip(base, spec.domains)]
    odd = [LAYOUTS[layout](x, d) for x, d in zip(base, spec.domains)]
    kept = [x.copy() for x in odd]
    want = [plain(x, d, layout) for x, d in zip(base, spec.domains)]
    blk, twin = spec.build(SHAPE[1]), spec.build(SHAPE[1])
    for p, q in zip(blk.params.values(), twin.params.values()):
        q[...] = p
    dy = 0.75 if spec.is_loss else rng.normal(size=(SHAPE[0], spec.out_width(SHAPE[1])))
    for a, b in zip(outputs(spec, blk, odd, dy), outputs(spec, twin, want, dy)):
        assert (a is None) == (b is None)
        if isinstance(a, np.ndarray):
            assert a.dtype == np.float64 and a.flags.c_contiguous
        np.testing.assert_array_equal(a, b)
    for x, k in zip(odd, kept):
        np.testing.assert_array_equal(x, k)  # inputs are never written
    assert_works(spec, blk, want, rng)


# -- backward ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_backward_before_forward_is_a_state_error(spec):
    blk = spec.build(SHAPE[1])
    err = raises_naming(spec, bk.StateError, lambda: blk.backward(*([] if spec.is_loss else [np.ones(SHAPE)])))
    assert isinstance(err, ValueError)


def bad_dys(spec):
    if spec.is_loss:
        return [
            ("dL array", np.ones((1, 1)), TypeError),
            ("dL str", "1", TypeError),
            ("dL None", None, TypeError),
            ("dL bool", True, TypeError),
            ("dL NaN", float("nan"), ValueError),
            ("dL inf", float("inf"), ValueError),
        ]
    return [
        ("dy extra feature", lambda y: np.ones((y.shape[0], y.shape[1] + 1)), ValueError),
        ("dy extra row", lambda y: np.ones((y.shape[0] + 1, y.shape[1])), ValueError),
        ("dy 1-D", lambda y: np.ones(y.size), ValueError),
        ("dy 3-D", lambda y: np.ones((1,) + y.shape), ValueError),
        ("dy NaN", lambda y: put_at(np.ones_like(y), np.nan), ValueError),
        ("dy inf", lambda y: put_at(np.ones_like(y), np.inf), ValueError),
        ("dy complex", lambda y: np.ones(y.shape, complex), TypeError),
        ("dy bool", lambda y: np.ones(y.shape, bool), TypeError),
        ("dy str", lambda y: "1", TypeError),
        ("dy None", lambda y: None, TypeError),
    ]


@pytest.mark.parametrize(
    "spec, dy_id, bad, exc", [pytest.param(s, c, b, e, id=f"{s.id}-{c}") for s in SPECS for c, b, e in bad_dys(s)]
)
def test_bad_dy_is_rejected_and_the_block_still_works(spec, dy_id, bad, exc, rng):
    blk, xs = setup(spec, rng)
    spec.setup(blk)
    y = blk.forward(*xs)
    raises_naming(spec, exc, lambda: blk.backward(bad(y) if callable(bad) else bad))
    for g in blk.grads.values():
        assert not g.any(), "a rejected backward must not accumulate"
    assert_works(spec, blk, xs, rng)


# -- constructors and the optimizer -------------------------------------------------------------
CTOR_ERRORS = [
    ("Dropout", lambda: bk.Dropout(1.0), ValueError),
    ("Dropout", lambda: bk.Dropout(-0.1), ValueError),
    ("Dropout", lambda: bk.Dropout(float("nan")), ValueError),
    ("Dropout", lambda: bk.Dropout("0.5"), TypeError),
    ("Dropout", lambda: bk.Dropout(0.5, seed="1"), TypeError),
    ("Linear", lambda: bk.Linear(0, 3), ValueError),
    ("Linear", lambda: bk.Linear(3, 0), ValueError),
    ("Linear", lambda: bk.Linear(-1, 3), ValueError),
    ("Linear", lambda: bk.Linear(2.5, 3), TypeError),
    ("Linear", lambda: bk.Linear(True, 3), TypeError),
    ("Linear", lambda: bk.Linear(2, 3, init="xavier"), ValueError),
    ("Linear", lambda: bk.Linear(2, 3, seed=1.5), TypeError),
    ("LayerNorm", lambda: bk.LayerNorm(0), ValueError),
    ("LayerNorm", lambda: bk.LayerNorm(2.0), TypeError),
    ("LayerNorm", lambda: bk.LayerNorm(True), TypeError),
    ("LayerNorm", lambda: bk.LayerNorm(3, eps=0.0), ValueError),
    ("LayerNorm", lambda: bk.LayerNorm(3, eps=float("nan")), ValueError),
    ("LayerNorm", lambda: bk.LayerNorm(3, eps="1e-5"), TypeError),
    ("LayerNorm", lambda: bk.LayerNorm(3, elementwise_affine=1), TypeError),
    ("BatchNorm", lambda: bk.BatchNorm(-2), ValueError),
    ("BatchNorm", lambda: bk.BatchNorm(None), TypeError),
    ("BatchNorm", lambda: bk.BatchNorm(3, eps=-1e-5), ValueError),
    ("BatchNorm", lambda: bk.BatchNorm(3, eps=float("inf")), ValueError),
    ("BatchNorm", lambda: bk.BatchNorm(3, momentum=1.5), ValueError),
    ("BatchNorm", lambda: bk.BatchNorm(3, momentum=-0.1), ValueError),
    ("BatchNorm", lambda: bk.BatchNorm(3, momentum=float("nan")), ValueError),
    ("BatchNorm", lambda: bk.BatchNorm(3, momentum=None), TypeError),
    ("SGD", lambda: bk.SGD([bk.Linear(2, 2)], lr=-0.1), ValueError),
    ("SGD", lambda: bk.SGD([bk.Linear(2, 2)], lr=float("nan")), ValueError),
    ("SGD", lambda: bk.SGD([bk.Linear(2, 2)], lr="0.1"), TypeError),
    ("SGD", lambda: bk.SGD([bk.Linear(2, 2)], momentum=-0.9), ValueError),
    ("SGD", lambda: bk.SGD([bk.Linear(2, 2)], weight_decay=-1e-4), ValueError),
    ("SGD", lambda: bk.SGD([bk.Linear(2, 2)], nesterov=True), ValueError),
    ("SGD", lambda: bk.SGD([np.zeros(3)]), TypeError),
]


@pytest.mark.parametrize("who, call, exc", CTOR_ERRORS, ids=[f"{w}-{i}" for i, (w, _, _) in enumerate(CTOR_ERRORS)])
def test_bad_constructor_arguments(who, call, exc):
    raises_naming(who, exc, call)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_bad_dtype_names_the_block(spec):
    for dtype in ("int32", np.int64, np.float16, "complex64", np.longdouble):
        raises_naming(spec, TypeError, lambda: spec.cls(**spec.kwargs(SHAPE[1]), dtype=dtype))


def test_sgd_negative_lr_setter_keeps_the_old_lr():
    opt = bk.SGD([bk.Linear(2, 2)], lr=0.1)
    raises_naming("SGD", ValueError, lambda: setattr(opt, "lr", -1.0))
    assert opt.lr == pytest.approx(0.1)
