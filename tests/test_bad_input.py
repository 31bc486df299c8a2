"""Bad input to the public API beyond single blocks (test_block_errors.py covers those).

Cases by category (test_case_count checks these numbers):
    construction 39, model calls 62, optimizers 95, fit 116, evaluate/predict 44,
    save/load 27, datasets 25  -- 408 cases in all (338 errors, 70 legal inputs).

A case is either an error (the call must raise the expected TypeError/ValueError, or a
documented subclass; an OSError naming the path for a save the system refuses), whose
message matches every listed pattern: it names the block or
argument and what was expected) or legal (the odd but valid input must give the answer of
a clean-input run, or of NumPy). After every error the model is used again: one epoch of
fit and a predict must match, bit for bit, a twin model that never saw the failed call.

Every case runs in a worker subprocess (a few per category), so a segfault or abort fails
that case instead of killing pytest; the worker is restarted for the remaining cases.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import pickle
import re
import signal
import subprocess
import sys
import time
import traceback
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import bricks as bk
from layouts import read_only, strided

F32, F64 = np.float32, np.float64
RNG = np.random.default_rng(7)
X, Y = bk.datasets.blobs(40, centers=3, n_features=4, seed=0)  # float32 (40, 4), int64 (40,)
B = RNG.normal(size=(40, 3)).astype(F32)  # second input of the graph
T = RNG.normal(size=(40, 2)).astype(F32)  # regression targets
ROWS = RNG.uniform(0.0, 2.0, (40, 3))  # probability rows not summing to 1
FIT = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)


# -- models the cases run against ----------------------------------------------------------------
def clf():
    m = bk.Sequential(bk.Linear(4, 8, seed=1), bk.ReLU(), bk.Linear(8, 3, seed=2))
    return m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1, momentum=0.9))


def reg():
    m = bk.Sequential(bk.Linear(4, 2, seed=3), bk.Tanh(), bk.Linear(2, 2, seed=4))
    return m.compile(bk.MSELoss(), bk.Adam(m, lr=0.01))


def graph():
    a, b = bk.Input(4, name="a"), bk.Input(3, name="b")
    h = bk.Hadamard()(bk.Linear(4, 5, seed=5)(a), bk.Sigmoid()(bk.Linear(3, 5, seed=6)(b)))
    m = bk.Model(inputs=[a, b], outputs=bk.Linear(5, 2, seed=7)(h))
    return m.compile(bk.MSELoss(), bk.AdamW(m, lr=0.01))


def rows():
    m = bk.Sequential(bk.Linear(4, 3, seed=8, dtype=F64))
    return m.compile(bk.CrossEntropyLoss(dtype=F64), bk.SGD(m, lr=0.1), labels=False)


ENVS = {
    "clf": (clf, (X, Y), X),
    "reg": (reg, (X, T), X),
    "graph": (graph, ([X, B], T), [X, B]),
    "rows": (rows, (X, ROWS), X),
}


class Env:
    """A fresh model, its untouched twin, the data and a private directory for one case."""

    def __init__(self, kind, tmp: Path):
        build, self.fit_args, self.pred_args = ENVS[kind]
        self.m, self.twin, self.tmp = build(), build(), tmp

    def still_works(self):
        outs = []
        for m in (self.m, self.twin):
            h = m.fit(*self.fit_args, epochs=1, batch_size=8, shuffle=False, verbose=0)
            outs.append([h.history, m.predict(self.pred_args), *m.params.values()])
        assert_same(outs[0], outs[1], what="after the failed call the model differs from an untouched twin")


def assert_same(a, b, tol=0.0, what="result"):
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{what}: keys {a.keys()} vs {b}"
        for k in a:
            assert_same(a[k], b[k], tol, f"{what}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{what}: lengths {len(a)} and {len(b)}"
        for i, (p, q) in enumerate(zip(a, b)):
            assert_same(p, q, tol, f"{what}[{i}]")
    elif tol:
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def trained(e, *data, **kw):
    """Fit e.m (2 epochs unless told) and return what must match: history, predictions, weights."""
    h = e.m.fit(*(data or e.fit_args), **{**FIT, **kw})
    return [h.history, e.m.predict(e.pred_args), *e.m.params.values()]


# -- odd but legal arrays --------------------------------------------------------------------------
def memmap(a, tmp, mode="r"):
    path = tmp / f"mm{len(list(tmp.iterdir()))}.dat"
    mm = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
    mm[...] = a
    mm.flush()
    return np.memmap(path, dtype=a.dtype, mode=mode, shape=a.shape)


def put(a, value, at=(3, 1)):
    a = np.array(a)
    a[at[: a.ndim]] = value
    return a


LAYOUTS = {
    "fortran": lambda a, tmp: np.asfortranarray(a),
    "strided": lambda a, tmp: strided(a),
    "read-only": lambda a, tmp: read_only(a),
    "memmap": lambda a, tmp: memmap(a, tmp),
    "memmap r+": lambda a, tmp: memmap(a, tmp, "r+"),
}


# -- the case table ---------------------------------------------------------------------------------
@dataclass
class Case:
    cat: str
    id: str
    run: Callable
    exc: tuple = ()  # expected exception types; () for a legal call
    match: tuple = ()  # regexes the message must match
    env: str = "clf"
    clean: Callable = None  # legal: the clean run (on a fresh env) whose result must be matched
    tol: float = 0.0
    after: Callable = None  # error: extra checks after the failure (files left, markers)

    def check(self, tmp: Path):
        tmp.mkdir(parents=True, exist_ok=True)
        e = Env(self.env, tmp)
        if not self.exc:
            assert_same(self.run(e), self.clean(Env(self.env, tmp)), self.tol)
            return
        try:
            r = self.run(e)
        except Exception as err:  # noqa: BLE001 - checked right here
            msg = f"{type(err).__name__}: {err}"
            assert isinstance(err, self.exc), f"raised {msg}; expected {[x.__name__ for x in self.exc]}"
            for pat in self.match:
                assert re.search(pat, str(err)), f"message does not match {pat!r}: {msg}"
        else:
            raise AssertionError(f"no error raised; returned {str(r)[:200]}")
        if self.after:
            self.after(e)
        e.still_works()


CASES: dict[str, Case] = {}
TE, VE, SE = (TypeError,), (ValueError,), (bk.StateError,)
TVE = (TypeError, ValueError)


def bad(cat, cid, run, exc, *match, env="clf", after=None):
    assert cid not in CASES, cid
    CASES[cid] = Case(cat, cid, run, exc, match, env, after=after)


def legal(cat, cid, run, clean, env="clf", tol=0.0):
    assert cid not in CASES, cid
    CASES[cid] = Case(cat, cid, run, (), (), env, clean, tol)


L, x4 = bk.Linear, lambda: bk.Input(4, name="x")
h3 = lambda x: L(4, 3, seed=0)(x)

# -- construction: Sequential, Input, Model, graph calls, compile --------------------------------
C = "construction"
for cid, run, exc, *m in [
    ("Sequential()", lambda e: bk.Sequential(), VE, "Sequential", "at least one block"),
    ("Sequential([])", lambda e: bk.Sequential([]), VE, "Sequential", "at least one block"),
    ("Sequential str item", lambda e: bk.Sequential(L(4, 3), "relu"), TE, "Sequential", "item 1", "not a block", "str"),
    ("Sequential None item", lambda e: bk.Sequential(None), TE, "item 0", "NoneType"),
    ("Sequential block class", lambda e: bk.Sequential(bk.ReLU), TE, "item 0", "not a block", "type"),
    (
        "Model in Sequential",  # a Sequential may hold Sequentials; a functional Model is called on nodes
        lambda e: (lambda x: bk.Sequential(bk.Model(inputs=x, outputs=L(4, 3)(x))))(bk.Input(4)),
        TE,
        "item 0",
        "Model",
        "Call the model on nodes",
    ),
    (
        "Sequential in Sequential width mismatch",
        lambda e: bk.Sequential(L(4, 3), bk.Sequential(L(4, 3))),
        VE,
        r"block 1 \(Sequential\)",
        r"expects \(N, 4\)",
        r"\(N, 3\)",
    ),
    ("Sequential Hadamard", lambda e: bk.Sequential(L(4, 3), bk.Hadamard()), VE, "Hadamard", "2 inputs"),
    ("Sequential loss block", lambda e: bk.Sequential(L(4, 3), bk.MSELoss()), VE, "MSELoss", "2 inputs"),
    ("Sequential same instance", lambda e: (lambda r: bk.Sequential(L(4, 4), r, r))(bk.ReLU()), VE, "appears twice"),
    ("Sequential mixed dtype", lambda e: bk.Sequential(L(4, 3), bk.ReLU(dtype=F64)), TE, "dtype", "float32", "float64"),
    ("Sequential width mismatch", lambda e: bk.Sequential(L(4, 3), L(5, 2)), VE, r"Linear\(5, 2\)", r"\(N, 5\)"),
    (
        "lazy Sequential width mismatch",
        lambda e: bk.Sequential(bk.ReLU(), L(4, 3)).forward(X[:, :3]),
        VE,
        r"Linear\(4, 3\)",
        r"\(N, 4\)",
    ),
    ("Input(0)", lambda e: bk.Input(0), VE, "Input", "features", "positive"),
    ("Input(-3)", lambda e: bk.Input(-3), VE, "Input", "features", "positive"),
    ("Input(2.5)", lambda e: bk.Input(2.5), TVE, "Input", "features", "int"),
    ("Input('4')", lambda e: bk.Input("4"), TVE, "Input", "features", "int"),
    ("Input labels width 3", lambda e: bk.Input(3, labels=True), VE, "labels", "features=1"),
    ("Input int dtype", lambda e: bk.Input(4, dtype=np.int32), TE, "dtype", "float32 or float64", "int32"),
    ("Model no output", lambda e: bk.Model(inputs=x4(), outputs=None), VE, "Model", "output"),
    ("Model inputs str", lambda e: bk.Model(inputs="x", outputs=h3(x4())), TE, "inputs", "graph nodes", "str"),
    ("Model outputs array", lambda e: bk.Model(inputs=x4(), outputs=np.zeros(3)), TE, "outputs", "ndarray"),
    (
        "Model loss not a loss",
        lambda e: (lambda x: bk.Model(inputs=x, outputs=h3(x), loss=h3(x)))(x4()),
        VE,
        "loss",
        "not the output of a loss block",
    ),
    ("Model input twice", lambda e: (lambda x: bk.Model(inputs=[x, x], outputs=h3(x)))(x4()), VE, "listed twice"),
    ("Model input not an Input", lambda e: (lambda h: bk.Model(inputs=h, outputs=h))(h3(x4())), VE, "not a bk.Input"),
    ("Model missing input", lambda e: bk.Model(inputs=[], outputs=h3(x4())), VE, "'x'", "not among the model's inputs"),
    (
        "Model dangling input",
        lambda e: (lambda x: bk.Model(inputs=[x, bk.Input(2, name="z")], outputs=h3(x)))(x4()),
        VE,
        "'z'",
        "dangling",
    ),
    (
        "Model block reused",
        lambda e: (lambda r, x: bk.Model(inputs=x, outputs=r(r(x))))(bk.ReLU(), x4()),
        VE,
        "ReLU",
        "share_weights",
    ),
    ("call on an array", lambda e: bk.ReLU()(np.zeros((2, 2))), TE, "ReLU", "forward"),
    ("call arity", lambda e: bk.Hadamard()(x4()), TE, "Hadamard", "2 input"),
    ("call Hadamard widths", lambda e: (lambda x: bk.Hadamard()(h3(x), x))(x4()), VE, "Hadamard", "same shape"),
    ("call Linear width", lambda e: L(5, 2)(x4()), VE, r"Linear\(5, 2\)", r"\(N, 5\)"),
    (
        "call dtype mismatch",  # an Input without dtype= would take the Linear's (issue 15)
        lambda e: L(4, 2, dtype=F64)(bk.Input(4, dtype=np.float32)),
        TE,
        r"Linear\(4, 2\)",
        "float64",
        "float32",
    ),
    ("call MSELoss on labels", lambda e: bk.MSELoss()(h3(x4()), bk.Input(1, labels=True)), TE, "MSELoss"),
    ("call MSELoss widths", lambda e: bk.MSELoss()(h3(x4()), bk.Input(2)), VE, "MSELoss", "shape"),
    ("compile loss name unknown", lambda e: e.m.compile("msee"), VE, "compile", "unknown loss 'msee'", "'mse'"),
    ("compile loss dtype", lambda e: e.m.compile(bk.CrossEntropyLoss(dtype=F64)), TE, "CrossEntropyLoss", "float64"),
    ("compile optimizer name unknown", lambda e: e.m.compile(bk.CrossEntropyLoss(), "sdg"), VE, "optimizer", "'sgd'"),
]:
    bad(C, f"{C}: {cid}", run, exc, *m)
bad(
    C,
    f"{C}: compile two outputs",
    lambda e: (lambda x: bk.Model(inputs=x, outputs=[h3(x), h3(x)]))(x4()).compile(bk.MSELoss()),
    VE,
    "compile",
    "exactly one output",
)

# -- model calls: forward/backward/compute_loss/train_step ----------------------------------------
C = "model calls"
fwd = lambda a: lambda e: e.m.forward(a)
for cid, run, exc, *m in [
    ("forward no arrays", lambda e: e.m.forward(), TE, r"expected 2 \(or 1 for the outputs\)", "got 0"),
    ("forward too many arrays", lambda e: e.m.forward(X, X, X), TE, "expected 2", "got 3"),
    ("forward 1-D", fwd(X[0]), VE, "2-D", "reshape"),
    ("forward 3-D", fwd(X[None]), VE, "2-D", r"\(1, 40, 4\)"),
    ("forward scalar", fwd(1.5), VE, "2-D"),
    ("forward None", fwd(None), TE, "2-D", "NoneType"),
    ("forward str", fwd("1.0"), TE, "2-D", "str"),
    ("forward width", fwd(X[:, :3]), VE, r"\(N, 4\)", r"\(40, 3\)"),
    ("forward zero width", fwd(X[:, :0]), VE, r"\(N, 4\)", r"\(40, 0\)"),
    ("forward empty", fwd(X[:0]), VE, "empty"),
    ("forward NaN", fwd(put(X, np.nan)), VE, "finite", "nan", "row 3"),
    ("forward +inf", fwd(put(X, np.inf)), VE, "finite", "inf"),
    ("forward -inf", fwd(put(X, -np.inf)), VE, "finite", "-inf"),
    ("forward float64 overflowing float32", fwd(X.astype(F64) * 1e39), VE, "finite"),
    ("forward complex", fwd(X.astype(complex)), TE, "real numeric", "complex"),
    ("forward bool", fwd(X > 0), TE, "real numeric", "bool"),
    ("forward object", fwd(X.astype(object)), TE, "real numeric", "object"),
    ("forward str array", fwd(X.astype(str)), TE, "real numeric"),
    ("backward before forward", lambda e: e.m.backward(np.ones((40, 3))), SE, "backward called before forward"),
    ("backward dy width", lambda e: (e.m.forward(X), e.m.backward(np.ones((40, 4)))), VE, r"\(40, 3\)", r"\(40, 4\)"),
    ("backward dy rows", lambda e: (e.m.forward(X), e.m.backward(np.ones((39, 3)))), VE, r"\(40, 3\)", r"\(39, 3\)"),
    (
        "backward dy NaN",
        lambda e: (e.m.forward(X), e.m.backward(np.full((40, 3), np.nan))),
        VE,
        "output gradient",
        "finite",
    ),
    (
        "backward dy count",
        lambda e: (e.m.forward(X), e.m.backward(np.ones((40, 3)), np.ones((40, 3)))),
        TE,
        "expected 1 output gradient",
    ),
    ("backward dy complex", lambda e: (e.m.forward(X), e.m.backward(np.ones((40, 3), complex))), TE, "output gradient"),
    ("backward dy None", lambda e: (e.m.forward(X), e.m.backward(None)), TE, "output gradient"),
    ("backward from loss after forward", lambda e: (e.m.forward(X), e.m.backward()), SE, "forward with targets"),
    (
        "backward after failed forward",
        lambda e: (e.m.forward(X), pytest.raises(VE, e.m.forward, X[:, :3]), e.m.backward(np.ones((40, 3)))),
        SE,
        "before forward",
    ),
    ("compute_loss without targets", lambda e: e.m.compute_loss(X), TE, "expected 2 input array"),
    (
        "compute_loss label out of range",
        lambda e: e.m.compute_loss(X, put(Y, 5)),
        VE,
        "CrossEntropyLoss",
        "class label 5",
        r"\[0, 3\)",
    ),
    ("compute_loss float labels", lambda e: e.m.compute_loss(X, Y.astype(F64)), TE, "'target'", "integers"),
    ("compute_loss lengths", lambda e: e.m.compute_loss(X, Y[:5]), VE, "batch sizes", "40", "5"),
    ("compute_loss no loss", lambda e: bk.Sequential(L(4, 3)).compute_loss(X), VE, "no loss"),
    (
        "train_step no optimizer",
        lambda e: bk.Sequential(L(4, 3)).compile(bk.MSELoss()).train_step(X, T[:, :1].repeat(3, 1)),
        VE,
        "optimizer",
    ),
    ("train_step optimizer str", lambda e: e.m.train_step(X, Y, optimizer="sgd"), TE, "optimizer", "str"),
    ("train_step negative label", lambda e: e.m.train_step(X, put(Y, -1)), VE, "class label -1"),
    ("train_step labels 2-D", lambda e: e.m.train_step(X, Y[:, None]), VE, "class labels", "1-D"),
    ("train_step NaN", lambda e: e.m.train_step(put(X, np.nan), Y), VE, "finite"),
    ("train_step lengths", lambda e: e.m.train_step(X, Y[:39]), VE, "batch sizes", "40", "39"),
    ("train_step without targets", lambda e: e.m.train_step(X), TE, "expected 2 input array"),
    ("lazy Sequential forward 1-D", lambda e: bk.Sequential(bk.ReLU(), L(4, 3)).forward(X[0]), VE, "Sequential", "2-D"),
    ("lazy Sequential summary", lambda e: bk.Sequential(bk.ReLU()).summary(), SE, "summary", "input width"),
]:
    bad(C, f"{C}: {cid}", run, exc, *m)
for cid, run, exc, *m in [
    ("graph backward before forward", lambda e: e.m.backward(np.ones((40, 2))), SE, "before forward"),
    ("graph forward batch sizes", lambda e: e.m.forward(X, B[:5]), VE, "batch sizes", "40", "5"),
    ("graph forward one array", lambda e: e.m.forward(X), TE, r"expected 3 \(or 2 for the outputs\)", "got 1"),
    ("graph forward swapped", lambda e: e.m.forward(B, X), VE, "Model input 0", r"\(N, 4\)"),
    ("graph forward NaN in b", lambda e: e.m.forward(X, put(B, np.nan)), VE, "input 1", "finite"),
    ("graph backward dy width", lambda e: (e.m.forward(X, B), e.m.backward(np.ones((40, 3)))), VE, r"\(40, 2\)"),
]:
    bad(C, f"{C}: {cid}", run, exc, *m, env="graph")
for name, lay in LAYOUTS.items():
    legal(C, f"{C}: forward {name}", lambda e, lay=lay: e.m.forward(lay(X, e.tmp)), lambda e: e.m.forward(X))
    legal(
        C,
        f"{C}: train_step {name}",
        lambda e, lay=lay: [e.m.train_step(lay(X, e.tmp), lay(Y, e.tmp)), e.m.params],
        lambda e: [e.m.train_step(X, Y), e.m.params],
    )
legal(C, f"{C}: forward int", lambda e: e.m.forward(np.round(X).astype(np.int16)), lambda e: e.m.forward(np.round(X)))
legal(
    C,
    f"{C}: forward float16",
    lambda e: e.m.forward(X.astype(np.float16)),
    lambda e: e.m.forward(X.astype(np.float16).astype(F32)),
)
legal(
    C,
    f"{C}: backward Fortran dy",
    lambda e: (e.m.forward(X), e.m.backward(np.asfortranarray(np.ones((40, 3)))))[1],
    lambda e: (e.m.forward(X), e.m.backward(np.ones((40, 3), F32)))[1],
)
legal(
    C, f"{C}: train_step int32 labels", lambda e: e.m.train_step(X, Y.astype(np.int32)), lambda e: e.m.train_step(X, Y)
)


def lazy_after_failure(e):
    s = bk.Sequential(bk.Tanh(), L(4, 3, seed=0))
    with pytest.raises(ValueError):
        s.forward(X[:, :3])
    return s.forward(X)


legal(
    C,
    f"{C}: lazy Sequential works after a failed width",
    lazy_after_failure,
    lambda e: bk.Sequential(bk.Tanh(), L(4, 3, seed=0)).forward(X),
)

# -- optimizers -------------------------------------------------------------------------------------
C = "optimizers"
other = clf  # a third model, so that neither e.m nor the twin is touched


def setter(O, attr, value):
    def run(e):
        e.opt = O(e.m, lr=0.01)
        setattr(e.opt, attr, value)

    return run


for O in (bk.SGD, bk.Adam, bk.AdamW):
    n = O.__name__
    rows_ = [(f"lr={v!r}", {"lr": v}, VE, n, "lr", "finite number >= 0") for v in (-1.0, math.nan, math.inf)]
    rows_ += [(f"lr={v!r}", {"lr": v}, TE, n, "lr", "number") for v in ("0.1", None)]
    rows_ += [
        ("clip_norm=-1", {"clip_norm": -1.0}, VE, n, "clip_norm"),
        ("clip_norm='1'", {"clip_norm": "1"}, TE, n, "clip_norm"),
        ("weight_decay=nan", {"weight_decay": math.nan}, VE, n, "weight_decay"),
        ("weight_decay=-1", {"weight_decay": -1.0}, VE, n, "weight_decay"),
    ]
    if O is bk.SGD:
        rows_ += [
            ("momentum=-0.9", {"momentum": -0.9}, VE, n, "momentum"),
            ("momentum=nan", {"momentum": math.nan}, VE, n, "momentum"),
            ("momentum='0.9'", {"momentum": "0.9"}, TE, n, "momentum"),
            ("dampening=-1", {"dampening": -1.0}, VE, n, "dampening"),
            ("nesterov without momentum", {"nesterov": True}, VE, n, "nesterov", "momentum > 0"),
            (
                "nesterov with dampening",
                {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
                VE,
                n,
                "nesterov",
                "dampening = 0",
            ),
        ]
    else:
        rows_ += [
            (f"betas={v!r}", {"betas": v}, VE, n, "betas", r"\[0, 1\)")
            for v in ((1.0, 0.999), (0.9, 1.0), (-0.1, 0.9), (math.nan, 0.9))
        ]
        rows_ += [(f"betas={v!r}", {"betas": v}, TE, n, "betas", "pair") for v in ((0.9,), "ab", None)]
        rows_ += [
            ("betas=('a', 0.9)", {"betas": ("a", 0.9)}, TE, n, "beta1", "number"),
            ("eps=-1", {"eps": -1.0}, VE, n, "eps"),
            ("eps=nan", {"eps": math.nan}, VE, n, "eps"),
            ("eps='1e-8'", {"eps": "1e-8"}, TE, n, "eps", "number"),
        ]
    for cid, kw, exc, *m in rows_:
        bad(C, f"{C}: {n} {cid}", lambda e, O=O, kw=kw: O(e.m, **kw), exc, *m)
    for cid, params in [
        ("params 3", 3),
        ("params None", None),
        ("params [model, 'w']", "MW"),
        ("params array", np.zeros(3)),
    ]:
        bad(
            C,
            f"{C}: {n} {cid}",
            lambda e, O=O, p=params: O([e.m, "w"] if isinstance(p, str) else p),
            TE,
            n,
            "model, blocks",
        )
    for attr, v in (("lr", -1.0), ("lr", math.nan), ("clip_norm", -1.0)):
        bad(
            C,
            f"{C}: {n} setter {attr}={v}",
            setter(O, attr, v),
            VE,
            n,
            attr,
            "finite number >= 0",
            after=lambda e: assert_same(
                [e.opt.lr, e.opt.clip_norm], [0.01, 0.0], what="hyper-parameters after a rejected set"
            ),
        )
    bad(
        C,
        f"{C}: {n} of another model in fit",
        lambda e, O=O: e.m.fit(X, Y, optimizer=O(other()), verbose=0),
        VE,
        "optimizer",
        "parameters",
    )
    lr32 = np.float32(0.1)
    legal(
        C,
        f"{C}: {n} lr numpy float32",
        lambda e, O=O: trained(e, optimizer=O(e.m, lr=lr32)),
        lambda e, O=O: trained(e, optimizer=O(e.m, lr=float(lr32))),
    )
    legal(
        C,
        f"{C}: {n} lr numpy float64",
        lambda e, O=O: trained(e, optimizer=O(e.m, lr=np.float64(0.05))),
        lambda e, O=O: trained(e, optimizer=O(e.m, lr=0.05)),
    )
    legal(
        C,
        f"{C}: {n} lr=0 leaves the weights",
        lambda e, O=O: trained(e, optimizer=O(e.m, lr=0.0, weight_decay=0.0))[2:],
        lambda e: list(e.m.params.values()),
    )
sd = lambda e: e.m.optimizer.state_dict()
for n, cid, make, exc, *m in [
    ("SGD", "state of another type", lambda e: {**sd(e), "type": "Adam"}, VE, "SGD", "'Adam'"),
    ("SGD", "state missing key", lambda e: {k: v for k, v in sd(e).items() if k != "state"}, VE, "SGD", "'state'"),
    ("SGD", "state not a dict", lambda e: 3, TE, "SGD", "dict"),
    ("SGD", "state wrong arrays", lambda e: {**sd(e), "state": [np.zeros(2)]}, VE, "SGD", "4 state arrays"),
    ("Adam", "state of another type", lambda e: {**sd(e), "type": "SGD"}, VE, "Adam", "'SGD'"),
    ("Adam", "state wrong arrays", lambda e: {**sd(e), "state": sd(e)["state"][:-1]}, VE, "Adam", "state arrays"),
    ("Adam", "state negative steps", lambda e: {**sd(e), "steps": -5}, VE, "Adam", "steps"),
]:
    bad(
        C,
        f"{C}: {n} load_state_dict {cid}",
        lambda e, make=make: e.m.optimizer.load_state_dict(make(e)),
        exc,
        *m,
        env="clf" if n == "SGD" else "reg",
    )

# -- fit ----------------------------------------------------------------------------------------------
C = "fit"
fit = lambda *a, **kw: lambda e: e.m.fit(*a, **{"verbose": 0, "seed": 0, **kw})
LAST = (39,)  # a bad label in the last row: any batch before it must not have been trained on
onehot = np.eye(3)[Y]
for cid, run, exc, *m in [
    ("X 1-D", fit(X[0], Y), VE, "'input'", "2-D"),
    ("X 3-D", fit(X[None], Y), VE, "'input'", "2-D"),
    ("X scalar", fit(3.0, Y), VE, "'input'", "2-D"),
    ("X None", fit(None, Y), TE, "'input'", "2-D", "NoneType"),
    ("X str", fit("abc", Y), TE, "'input'", "2-D", "str"),
    ("X complex", fit(X.astype(complex), Y), TE, "'input'", "real numeric", "complex"),
    ("X bool", fit(X > 0, Y), TE, "'input'", "real numeric", "bool"),
    ("X object", fit(X.astype(object), Y), TE, "'input'", "real numeric", "object"),
    ("X str array", fit(X.astype(str), Y), TE, "'input'", "real numeric"),
    ("X NaN", fit(put(X, np.nan), Y), VE, "input 0", "finite", "nan"),
    ("X +inf", fit(put(X, np.inf), Y), VE, "input 0", "finite", "inf"),
    ("X -inf", fit(put(X, -np.inf), Y), VE, "input 0", "finite", "-inf"),
    ("X float64 overflowing float32", fit(X.astype(F64) * 1e39, Y), VE, "input 0", "finite"),
    ("X empty", fit(X[:0], Y[:0]), VE, "input 0", "empty"),
    ("X zero width", fit(X[:, :0], Y), VE, "input 0", r"\(N, 4\)", r"\(40, 0\)"),
    ("X width", fit(X[:, :3], Y), VE, "input 0", r"\(N, 4\)", r"\(40, 3\)"),
    ("y length", fit(X, Y[:-1]), VE, "different lengths", "40", "39"),
    ("y None", fit(X, None), VE, "2 inputs", "1 arrays"),
    ("y scalar", fit(X, 3), VE, "'target'", "1-D"),
    ("y 3-D", fit(X, Y[:, None, None]), VE, "'target'", "1-D"),
    ("y float", fit(X, Y.astype(F64)), TE, "'target'", "integers", "float64"),
    ("y float fractions", fit(X, Y + 0.5), TE, "'target'", "integers"),
    ("y bool", fit(X, Y > 0), TE, "'target'", "integers", "bool"),
    ("y complex", fit(X, Y.astype(complex)), TE, "'target'", "integers"),
    ("y object", fit(X, Y.astype(object)), TE, "'target'", "integers", "object"),
    ("y str", fit(X, Y.astype(str)), TE, "'target'", "integers"),
    ("y negative", fit(X, put(Y, -1, LAST), shuffle=False), VE, "CrossEntropyLoss", "class label -1", r"\[0, 3\)"),
    ("y out of range", fit(X, put(Y, 3, LAST), shuffle=False), VE, "CrossEntropyLoss", "class label 3", r"\[0, 3\)"),
    ("y int8 negative", fit(X, put(Y.astype(np.int8), -128, LAST), shuffle=False), VE, "class label -128"),
    ("y uint64 above int64", fit(X, put(Y.astype(np.uint64), np.uint64(2**64 - 1))), VE, "'target'", "out of range"),
    ("y column (N, 1)", fit(X, Y[:, None]), VE, "'target'", "one-hot"),
    ("y one-hot scaled", fit(X, 2 * onehot), VE, "'target'", "not one-hot"),
    ("y two-hot", fit(X, onehot + np.eye(3)[(Y + 1) % 3]), VE, "'target'", "not one-hot"),
    ("y one-hot zero row", fit(X, put(onehot, 0.0, (3, Y[3]))), VE, "'target'", "not one-hot"),
    ("y one-hot NaN", fit(X, put(onehot, np.nan)), VE, "'target'", "one-hot"),
    ("y one-hot wrong width", fit(X, np.eye(4)[Y]), VE, "'target'", r"\b3\b"),
    ("batch_size=0", fit(X, Y, batch_size=0), VE, "batch_size", "positive int"),
    ("batch_size=-8", fit(X, Y, batch_size=-8), VE, "batch_size", "positive int"),
    ("batch_size=2.5", fit(X, Y, batch_size=2.5), TVE, "batch_size", "int"),
    ("batch_size=None", fit(X, Y, batch_size=None), TVE, "batch_size", "int"),
    ("batch_size=True", fit(X, Y, batch_size=True), TVE, "batch_size", "int"),
    ("epochs=0", fit(X, Y, epochs=0), VE, "epochs", "positive int"),
    ("epochs=-1", fit(X, Y, epochs=-1), VE, "epochs", "positive int"),
    ("epochs=1.5", fit(X, Y, epochs=1.5), TVE, "epochs", "int"),
    ("epochs='2'", fit(X, Y, epochs="2"), TVE, "epochs", "int"),
    ("validation_split=-0.1", fit(X, Y, validation_split=-0.1), VE, "validation_split", r"\[0, 1\)"),
    ("validation_split=1", fit(X, Y, validation_split=1.0), VE, "validation_split", r"\[0, 1\)"),
    ("validation_split=nan", fit(X, Y, validation_split=math.nan), VE, "validation_split"),
    ("validation_split='0.1'", fit(X, Y, validation_split="0.1"), TVE, "validation_split", "str"),
    ("validation_split leaves no validation", fit(X, Y, validation_split=0.001), VE, "validation_split", "empty"),
    ("validation_split leaves no training", fit(X, Y, validation_split=0.999), VE, "validation_split", "empty"),
    ("validation_data width", fit(X, Y, validation_data=(X[:, :3], Y)), VE, "input 0", r"\(N, 4\)"),
    ("validation_data lengths", fit(X, Y, validation_data=(X, Y[:3])), VE, "different lengths"),
    ("validation_data labels", fit(X, Y, validation_data=(X, put(Y, 7, LAST))), VE, "class label 7"),
    ("validation_data str", fit(X, Y, validation_data="abc"), TVE, "validation_data|'input'"),
    ("validation_data 4-tuple", fit(X, Y, validation_data=(X, Y, Y, Y)), VE, "2 inputs", "4 arrays"),
    ("validation_data weights < 0", fit(X, Y, validation_data=(X, Y, -1.0 * Y)), VE, "sample_weight", ">= 0"),
    ("validation_data weights (2,)", fit(X, Y, validation_data=(X, Y, Y[:2])), VE, "sample_weight", "shape"),
    ("sample_weight NaN", fit(X, Y, sample_weight=np.full(len(Y), np.nan)), VE, "sample_weight", "finite"),
    ("sample_weight str", fit(X, Y, sample_weight="abc"), TE, "sample_weight", "str"),
    ("class_weight str", fit(X, Y, class_weight="balanced"), TVE, "class_weight"),
    ("class_weight key 'a'", fit(X, Y, class_weight={"a": 1.0}), TE, "class_weight", "int"),
    ("class_weight value NaN", fit(X, Y, class_weight={0: np.nan}), VE, "class_weight", "finite"),
    ("metrics unknown", fit(X, Y, metrics=["f1"]), VE, "unknown metric 'f1'", "accuracy"),
    ("metrics=3", fit(X, Y, metrics=3), TE, "metric", "int"),
    ("on_nonfinite=None", fit(X, Y, on_nonfinite=None), VE, "on_nonfinite", "'raise'"),
    ("on_nonfinite='warn'", fit(X, Y, on_nonfinite="warn"), VE, "on_nonfinite", "'skip'"),
    ("seed='a'", fit(X, Y, seed="a"), TVE, r"\bseed\b"),
    ("seed=-1", fit(X, Y, seed=-1), VE, r"\bseed\b"),
    ("callbacks=3", fit(X, Y, callbacks=3), TE, "callbacks"),
    ("callbacks=[3]", fit(X, Y, callbacks=[3]), TE, "[cC]allback", "callable"),
    ("unknown keyword", fit(X, Y, foo=1), TE, "'foo'"),
    ("loss name unknown", fit(X, Y, loss="ce"), VE, "unknown loss 'ce'", "'cross_entropy'"),
    ("optimizer name unknown", fit(X, Y, loss=bk.CrossEntropyLoss(), optimizer="sdg"), VE, "optimizer", "'sgd'"),
    ("uncompiled, no loss", lambda e: bk.Sequential(L(4, 3)).fit(X, Y, verbose=0), VE, "loss and an optimizer"),
]:
    bad(C, f"{C}: {cid}", run, exc, *m)
for cid, run, exc, *m in [
    ("regression targets NaN", fit(X, put(T, np.nan)), VE, "input 1", "finite"),
    ("regression targets width", fit(X, T[:, :1]), VE, "input 1", r"\(N, 2\)"),
    ("regression targets 1-D", fit(X, T[:, 0]), VE, "'target'", "2-D"),
]:
    bad(C, f"{C}: {cid}", run, exc, *m, env="reg")
for cid, run, exc, *m in [
    ("graph one array for two inputs", fit(X, T), VE, "3 inputs", "2 arrays"),
    ("graph lengths", fit([X, B[:30]], T), VE, "different lengths", "30"),
    ("graph swapped inputs", fit([B, X], T), VE, "input 0", r"\(N, 4\)"),
    ("graph targets width", fit([X, B], T[:, :1]), VE, "input 2", r"\(N, 2\)"),
]:
    bad(C, f"{C}: {cid}", run, exc, *m, env="graph")
bad(C, f"{C}: probability rows NaN", fit(X, put(ROWS, np.nan)), VE, "input 1", "finite", env="rows")
bad(C, f"{C}: probability rows width", fit(X, ROWS[:, :2]), VE, "input 1", r"\(N, 3\)", env="rows")
for name, lay in LAYOUTS.items():
    legal(C, f"{C}: X {name}", lambda e, lay=lay: trained(e, lay(X, e.tmp), Y), trained)
    legal(C, f"{C}: y {name}", lambda e, lay=lay: trained(e, X, lay(Y, e.tmp)), trained)
    legal(
        C,
        f"{C}: graph inputs {name}",
        lambda e, lay=lay: trained(e, [lay(X, e.tmp), lay(B, e.tmp)], lay(T, e.tmp)),
        trained,
        env="graph",
    )
for cid, data, clean in [
    ("X int", (np.round(X).astype(np.int32), Y), (np.round(X), Y)),
    ("X float64 into float32", (X.astype(F64), Y), (X, Y)),
    ("X float16", (X.astype(np.float16), Y), (X.astype(np.float16).astype(F32), Y)),
    ("y int32", (X, Y.astype(np.int32)), (X, Y)),
    ("y uint8", (X, Y.astype(np.uint8)), (X, Y)),
    ("y list", (X, Y.tolist()), (X, Y)),
    ("y one-hot float", (X, onehot), (X, Y)),
    ("y one-hot bool", (X, onehot.astype(bool)), (X, Y)),
    ("y one-hot int", (X, onehot.astype(np.int64)), (X, Y)),
]:
    legal(C, f"{C}: {cid}", lambda e, d=data: trained(e, *d), lambda e, d=clean: trained(e, *d))
legal(
    C,
    f"{C}: regression targets int",
    lambda e: trained(e, X, np.round(T).astype(int)),
    lambda e: trained(e, X, np.round(T)),
    env="reg",
)
legal(C, f"{C}: batch_size numpy int", lambda e: trained(e, batch_size=np.int64(8), epochs=np.int32(2)), trained)
legal(
    C,
    f"{C}: batch_size larger than the data",
    lambda e: trained(e, batch_size=1000),
    lambda e: trained(e, batch_size=40),
)
legal(
    C,
    f"{C}: validation_split",
    lambda e: trained(e, validation_split=0.25),
    lambda e: trained(e, X[:30], Y[:30], validation_data=(X[30:], Y[30:])),
)


def lazy_fit(forward_first):
    def run(e):
        s = bk.Sequential(bk.Tanh(), L(4, 3, seed=0))
        if forward_first:  # gives the Sequential its input width
            s.forward(X)
        h = s.fit(X, Y, loss=bk.CrossEntropyLoss(), optimizer=bk.SGD(s, lr=0.1), **FIT)
        return [h.history, s.predict(X)]

    return run


legal(C, f"{C}: lazy Sequential (no Linear first)", lazy_fit(False), lazy_fit(True))


def rows_reference(e):
    """One full-batch SGD step of CrossEntropyLoss on rows not summing to 1, in NumPy."""
    (W, b), n, lr = (np.array(v) for v in e.m.params.values()), len(X), 0.1
    x = X.astype(F64)
    z = x @ W.T + b
    ls = z - z.max(1, keepdims=True)
    ls -= np.log(np.exp(ls).sum(1, keepdims=True))
    dz = (np.exp(ls) * ROWS.sum(1, keepdims=True) - ROWS) / n
    return [{"loss": [-(ROWS * ls).sum() / n]}, W - lr * dz.T @ x, b - lr * dz.sum(0)]


legal(
    C,
    f"{C}: probability rows not summing to 1",
    lambda e: [e.m.fit(X, ROWS, epochs=1, batch_size=40, verbose=0).history, *e.m.params.values()],
    rows_reference,
    env="rows",
    tol=1e-12,
)
legal(
    C,
    f"{C}: probability rows not summing to 1, evaluate",
    lambda e: e.m.evaluate(X, ROWS)["loss"],
    lambda e: rows_reference(e)[0]["loss"][0],
    env="rows",
    tol=1e-12,
)

legal(
    "fit",
    "fit: X as a list of rows (one input: one array, as Keras and scikit-learn read it)",
    lambda e: [e.m.fit(X.tolist(), Y, **FIT).history, *e.m.params.values()],
    lambda e: [e.m.fit(X, Y, **FIT).history, *e.m.params.values()],
)

# -- evaluate / predict / predict_proba -------------------------------------------------------------
C = "evaluate/predict"
for cid, run, exc, *m in [
    ("evaluate batch_size=0", lambda e: e.m.evaluate(X, Y, batch_size=0), VE, "batch_size"),
    ("evaluate batch_size=-1", lambda e: e.m.evaluate(X, Y, batch_size=-1), VE, "batch_size"),
    ("evaluate batch_size=2.5", lambda e: e.m.evaluate(X, Y, batch_size=2.5), TVE, "batch_size"),
    ("evaluate batch_size='8'", lambda e: e.m.evaluate(X, Y, batch_size="8"), TVE, "batch_size"),
    ("evaluate label out of range", lambda e: e.m.evaluate(X, put(Y, 3)), VE, "class label 3"),
    ("evaluate float labels", lambda e: e.m.evaluate(X, Y + 0.5), TE, "'target'", "integers"),
    ("evaluate empty", lambda e: e.m.evaluate(X[:0], Y[:0]), VE, "empty"),
    ("evaluate lengths", lambda e: e.m.evaluate(X, Y[:3]), VE, "different lengths"),
    ("evaluate NaN", lambda e: e.m.evaluate(put(X, np.nan), Y), VE, "finite"),
    ("evaluate without y", lambda e: e.m.evaluate(X), VE, "evaluate", "2 inputs", "1 arrays"),
    ("evaluate without loss", lambda e: bk.Sequential(L(4, 3)).evaluate(X, Y), VE, "evaluate", "no loss"),
    ("predict batch_size=0", lambda e: e.m.predict(X, batch_size=0), VE, "batch_size"),
    ("predict batch_size=-1", lambda e: e.m.predict(X, batch_size=-1), VE, "batch_size"),
    ("predict batch_size=2.5", lambda e: e.m.predict(X, batch_size=2.5), TVE, "batch_size"),
    ("predict batch_size='8'", lambda e: e.m.predict(X, batch_size="8"), TVE, "batch_size"),
    ("predict empty", lambda e: e.m.predict(X[:0]), VE, "predict", "empty"),
    ("predict 1-D", lambda e: e.m.predict(X[0]), VE, "2-D", "reshape"),
    ("predict 3-D", lambda e: e.m.predict(X[None]), VE, "2-D"),
    ("predict scalar", lambda e: e.m.predict(2.0), VE, "2-D"),
    ("predict None", lambda e: e.m.predict(None), TE, "2-D", "NoneType"),
    ("predict width", lambda e: e.m.predict(X[:, :3]), VE, r"\(N, 4\)"),
    ("predict zero width", lambda e: e.m.predict(X[:, :0]), VE, r"\(N, 4\)"),
    ("predict NaN", lambda e: e.m.predict(put(X, np.nan)), VE, "finite"),
    ("predict complex", lambda e: e.m.predict(X.astype(complex)), TE, "real numeric"),
    ("predict bool", lambda e: e.m.predict(X > 0), TE, "real numeric"),
    ("predict_proba empty", lambda e: e.m.predict_proba(X[:0]), VE, "empty"),
    ("predict_proba inf", lambda e: e.m.predict_proba(put(X, np.inf)), VE, "finite"),
    ("predict_proba of a regressor", lambda e: reg().predict_proba(X), VE, "predict_proba", "not a classifier"),
]:
    bad(C, f"{C}: {cid}", run, exc, *m)
bad(C, f"{C}: graph predict batch sizes", lambda e: e.m.predict([X, B[:5]]), VE, "batch sizes", env="graph")
bad(C, f"{C}: graph predict one array", lambda e: e.m.predict(X), TE, "expected 3", env="graph")
for name, lay in LAYOUTS.items():
    legal(C, f"{C}: predict {name}", lambda e, lay=lay: e.m.predict(lay(X, e.tmp)), lambda e: e.m.predict(X))
    legal(
        C,
        f"{C}: evaluate {name}",
        lambda e, lay=lay: e.m.evaluate(lay(X, e.tmp), lay(Y, e.tmp)),
        lambda e: e.m.evaluate(X, Y),
    )
legal(
    C,
    f"{C}: predict batch_size numpy int",
    lambda e: e.m.predict(X, batch_size=np.int64(7)),
    lambda e: e.m.predict(X, batch_size=7),
)
legal(C, f"{C}: predict batch_size=1", lambda e: e.m.predict(X, batch_size=1), lambda e: e.m.predict(X), tol=1e-5)
legal(
    C,
    f"{C}: predict_proba of extreme inputs",
    lambda e: (lambda p: [np.isfinite(p).all(), p.sum(1)])(e.m.predict_proba(X * 1e30)),
    lambda e: [True, np.ones(40)],
    tol=1e-6,
)
legal(
    C,
    f"{C}: predict_proba is softmax of predict",
    lambda e: e.m.predict_proba(X),
    lambda e: (
        lambda z: np.exp(z - z.max(1, keepdims=True)) / np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)
    )(e.m.predict(X).astype(F64)),
    tol=1e-6,
)

# -- save / load --------------------------------------------------------------------------------------
C = "save/load"


def saved(e):
    """A good file of a trained model (with optimizer state); e.m itself is left untouched."""
    m = clf()
    m.fit(X, Y, epochs=1, verbose=0)
    m.save(e.tmp / "m.npz")
    return e.tmp / "m.npz"


def write(e, name, data):
    """e.tmp/name holding `data` (bytes) or written by data(path)."""
    path = e.tmp / name
    path.write_bytes(data) if isinstance(data, bytes) else data(path)
    return path


def members(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def rewrite(e, arch=None, drop=(), replace=None):
    """A copy of a good file with the architecture edited by arch(dict) and members dropped/replaced."""
    files = members(saved(e))
    if arch:
        a = json.loads(str(files["__bricks__"]))
        arch(a)
        files["__bricks__"] = np.array(json.dumps(a))
    for k in drop:
        files.pop(k)
    files.update(replace or {})
    np.savez(e.tmp / "edited.npz", **files)
    return e.tmp / "edited.npz"


def raw_edit(e, edit):
    data = bytearray(saved(e).read_bytes())
    (e.tmp / "raw.npz").write_bytes(edit(data, zipfile.ZipFile(io.BytesIO(bytes(data)))))
    return e.tmp / "raw.npz"


def flip_param_bytes(data, z):
    o = z.getinfo("param/0.weight.npy").header_offset  # local header: name and extra lengths at 26, 28
    start = o + 30 + int.from_bytes(data[o + 26 : o + 28], "little") + int.from_bytes(data[o + 28 : o + 30], "little")
    start += 128  # past the .npy header, into the float data
    for i in range(start, start + 8):
        data[i] ^= 0xFF
    return bytes(data)


class Boom:
    """Unpickling this would create a marker file: loading must never execute code from a file."""

    marker = None

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def evil(e, as_npz):
    """A file whose unpickling would create e.tmp/pwned: a raw pickle, or an .npz with an object array."""
    Boom.marker = e.tmp / "pwned"
    path = e.tmp / "evil.npz"
    if as_npz:
        files = members(saved(e))
        files["param/0.weight"] = np.array([Boom()], dtype=object)
        np.savez(path, **files)
    else:
        path.write_bytes(pickle.dumps(Boom()))
    return path


def not_pwned(e):
    assert not (e.tmp / "pwned").exists(), "loading ran code from the file"


def no_temp_files(e):
    left = [p for d in (e.tmp, e.tmp.parent) for p in os.listdir(d) if p.startswith(".bricks-")]
    assert not left, f"a failed save left temporary files: {left}"


def file_intact(e):
    assert (e.tmp / "m.npz").read_bytes() == e.before, "the previous file changed"
    no_temp_files(e)


def over(e, target):
    """Save a good file first, then try to save e.m to `target` (which must fail)."""
    e.before = saved(e).read_bytes()
    e.m.save(target(e))


OSE = (OSError,)
for cid, run, exc, *m, after in [
    ("save into a missing directory", lambda e: over(e, lambda e: e.tmp / "nope" / "m.npz"), OSE, "nope", file_intact),
    (
        "save into an unwritable directory",
        lambda e: over(e, lambda e: "/proc/bricks-test.npz"),
        OSE,
        "/proc",
        file_intact,
    ),
    ("save below a file", lambda e: over(e, lambda e: e.tmp / "m.npz" / "x.npz"), OSE, "m.npz", file_intact),
    ("save onto a directory", lambda e: over(e, lambda e: e.tmp), OSE, "[Dd]irectory", file_intact),
    ("save path None", lambda e: e.m.save(None), TE, r"save|\bpath\b", no_temp_files),
    ("load missing file", lambda e: bk.load(e.tmp / "missing.npz"), (FileNotFoundError,), "missing.npz", None),
    ("load a directory", lambda e: bk.load(e.tmp), VE, "not a readable bricks model", None),
    ("load path None", lambda e: bk.load(None), TE, r"load|\bpath\b", None),
    ("load empty file", lambda e: bk.load(write(e, "empty.npz", b"")), VE, "empty.npz", "truncated or corrupted", None),
    (
        "load truncated half",
        lambda e: bk.load(raw_edit(e, lambda d, z: bytes(d[: len(d) // 2]))),
        VE,
        "truncated or corrupted",
        None,
    ),
    (
        "load truncated last byte",
        lambda e: bk.load(raw_edit(e, lambda d, z: bytes(d[:-1]))),
        VE,
        "truncated or corrupted",
        None,
    ),
    ("load corrupted weights", lambda e: bk.load(raw_edit(e, flip_param_bytes)), VE, "raw.npz", "corrupted", None),
    ("load text file", lambda e: bk.load(write(e, "t.npz", b"hello")), VE, "t.npz", None),
    ("load a pickle", lambda e: bk.load(evil(e, False)), VE, "evil.npz", not_pwned),
    ("load an object array", lambda e: bk.load(evil(e, True)), VE, "evil.npz", not_pwned),
    ("load a .npy array", lambda e: bk.load(write(e, "a.npy", lambda p: np.save(p, np.zeros(3)))), VE, "a.npy", None),
    (
        "load a foreign npz",
        lambda e: bk.load(write(e, "f.npz", lambda p: np.savez(p, a=np.zeros(3)))),
        VE,
        "not a bricks model",
        None,
    ),
    (
        "load wrong version",
        lambda e: bk.load(rewrite(e, lambda a: a.update(version=2))),
        VE,
        "version 2",
        "version 1",
        None,
    ),
    (
        "load wrong format",
        lambda e: bk.load(rewrite(e, lambda a: a.update(format="keras"))),
        VE,
        "not a bricks model",
        None,
    ),
    (
        "load corrupted JSON",
        lambda e: bk.load(rewrite(e, replace={"__bricks__": np.array("{not json")})),
        VE,
        "corrupted architecture",
        None,
    ),
    (
        "load unknown block class",
        lambda e: bk.load(rewrite(e, lambda a: a["blocks"][0].update({"class": "__import__"}))),
        VE,
        "unknown block class",
        None,
    ),
    (
        "load bad block config",
        lambda e: bk.load(rewrite(e, lambda a: a["blocks"][0]["config"].update(in_features="4"))),
        VE,
        "invalid architecture",
        "in_features",
        None,
    ),
    (
        "load unknown optimizer",
        lambda e: bk.load(rewrite(e, lambda a: a["optimizer"].update(type="os"))),
        VE,
        "unknown optimizer",
        None,
    ),
    (
        "load bad optimizer steps",
        lambda e: bk.load(rewrite(e, lambda a: a["optimizer"].update(steps="x"))),
        VE,
        "edited.npz",
        "steps",
        None,
    ),
    ("load missing parameter", lambda e: bk.load(rewrite(e, drop=["param/0.weight"])), VE, "missing", "0.weight", None),
    (
        "load parameter shape",
        lambda e: bk.load(rewrite(e, replace={"param/0.weight": np.zeros((3, 3), F32)})),
        VE,
        "'0.weight'",
        r"\(8, 4\)",
        None,
    ),
    (
        "load non-finite weights",
        lambda e: bk.load(rewrite(e, replace={"param/0.weight": np.full((8, 4), np.nan, F32)})),
        VE,
        "0.weight",
        "finite",
        None,
    ),
]:
    bad(C, f"{C}: {cid}", run, exc, *m, after=after)

# -- datasets -----------------------------------------------------------------------------------------
C = "datasets"
D = bk.datasets


def hdr(tt, dims):
    return bytes([0, 0, tt, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)


def mnist_dir(e, images, labels):
    write(e, "train-images-idx3-ubyte", images)
    write(e, "train-labels-idx1-ubyte", labels)
    return D.mnist(e.tmp)


for cid, run, exc, *m in [
    ("xor n_repeats=0", lambda e: D.xor(0), VE, "xor", "n_repeats", ">= 1"),
    ("xor noise=nan", lambda e: D.xor(noise=math.nan), VE, "xor", "noise", "finite"),
    ("two_moons n_samples=2.5", lambda e: D.two_moons(2.5), TE, "two_moons", "n_samples", "int"),
    ("two_moons seed=-1", lambda e: D.two_moons(seed=-1), VE, "two_moons", "seed"),
    ("spirals n_classes=1", lambda e: D.spirals(n_classes=1), VE, "spirals", "n_classes"),
    ("blobs centers='3'", lambda e: D.blobs(centers="3"), TE, "blobs", "centers"),
    ("blobs cluster_std=-1", lambda e: D.blobs(cluster_std=-1), VE, "blobs", "cluster_std"),
    ("blobs NaN centre", lambda e: D.blobs(centers=[[np.nan, 0.0]]), VE, "blobs", "centers", "finite"),
    ("digits return_images='yes'", lambda e: D.digits(return_images="yes"), TE, "digits", "return_images"),
    ("train_test_split lengths", lambda e: D.train_test_split(X, Y[:5]), VE, "train_test_split", "40 and 5"),
    ("train_test_split test_size=1.5", lambda e: D.train_test_split(X, Y, test_size=1.5), VE, "test_size", r"\(0, 1\)"),
    ("train_test_split test_size='0.2'", lambda e: D.train_test_split(X, Y, test_size="0.2"), TE, "test_size"),
    ("mnist kind='val'", lambda e: D.mnist(e.tmp, kind="val"), VE, "mnist", "kind", "'train' or 'test'"),
    ("mnist path=5", lambda e: D.mnist(5), TE, "mnist", "path"),
    ("mnist missing files", lambda e: D.mnist(e.tmp), (FileNotFoundError,), "mnist", "train-images-idx3-ubyte"),
    (
        "mnist labels above 9",
        lambda e: mnist_dir(e, hdr(8, [2, 28, 28]) + bytes(2 * 784), hdr(8, [2]) + bytes([3, 12])),
        VE,
        "mnist",
        "0..9",
        "12",
    ),
    (
        "mnist counts disagree",
        lambda e: mnist_dir(e, hdr(8, [2, 28, 28]) + bytes(2 * 784), hdr(8, [3]) + bytes(3)),
        VE,
        "mnist",
        "2 images",
        "3 labels",
    ),
    ("read_idx missing", lambda e: D.read_idx(e.tmp / "nope.idx"), (FileNotFoundError,), "nope.idx"),
    ("read_idx empty", lambda e: D.read_idx(write(e, "e.idx", b"")), VE, "read_idx", "e.idx", "too short"),
    ("read_idx bad magic", lambda e: D.read_idx(write(e, "m.idx", b"\1\2\3\4")), VE, "read_idx", "magic"),
    (
        "read_idx truncated data",
        lambda e: D.read_idx(write(e, "t.idx", hdr(8, [10]) + b"abc")),
        VE,
        "truncated",
        "10",
        "3",
    ),
    (
        "read_idx oversized",
        lambda e: D.read_idx(write(e, "o.idx", hdr(8, [2]) + b"abcdef")),
        VE,
        "oversized",
        "4 extra",
    ),
    (
        "read_idx absurd dimensions",
        lambda e: D.read_idx(write(e, "h.idx", hdr(0x0E, [2**32 - 1] * 3) + b"abc")),
        VE,
        "truncated",
    ),
    (
        "read_idx damaged gzip",
        lambda e: D.read_idx(write(e, "g.idx", gzip.compress(hdr(8, [100]) + bytes(100))[:-10])),
        VE,
        "damaged gzip",
    ),
    ("read_idx path None", lambda e: D.read_idx(None), TE, "read_idx", "path"),
]:
    bad(C, f"{C}: {cid}", run, exc, *m)

CATEGORIES = {
    "construction": 39,
    "model calls": 62,
    "optimizers": 95,
    "fit": 116,
    "evaluate/predict": 44,
    "save/load": 27,
    "datasets": 25,
}
# the harness's own check: a worker that crashes or hangs fails that case and the others still run
HARNESS = {
    "harness: segfault": Case("harness", "segfault", lambda e: os.kill(os.getpid(), signal.SIGSEGV), TE),
    "harness: hang": Case("harness", "hang", lambda e: time.sleep(600), TE),
}


# -- running the cases in worker subprocesses -----------------------------------------------------------
WORKER = """
import json, sys
sys.path.insert(0, {tests!r})
import test_bad_input as T
T.worker(json.loads(sys.argv[1]), sys.argv[2])
"""


def worker(ids, tmp):
    bk.set_num_threads(1)
    for i, cid in enumerate(ids):
        print("@@start " + json.dumps(cid), flush=True)
        try:
            {**CASES, **HARNESS}[cid].check(Path(tmp) / re.sub(r"\W+", "_", cid))
            res = {"ok": True}
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            res = {
                "ok": False,
                "detail": f"{type(e).__name__}: {e}\n" + "".join(traceback.format_tb(e.__traceback__)[-3:]),
            }
        print("@@result " + json.dumps({"id": cid, **res}), flush=True)


def run_in_subprocesses(ids, tmp, timeout=120):
    """{id: {"ok", "detail"}}; a case during which the worker died or hung fails with the reason."""
    results, todo = {}, list(ids)
    while todo:
        cmd = [sys.executable, "-c", WORKER.format(tests=str(Path(__file__).parent)), json.dumps(todo), str(tmp)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            out, err, why = p.stdout, p.stderr, f"the worker died (return code {p.returncode})"
        except subprocess.TimeoutExpired as t:
            dec = lambda s: s.decode(errors="replace") if isinstance(s, bytes) else (s or "")
            out, err, why = dec(t.stdout), dec(t.stderr), f"the worker hung (> {timeout} s)"
        started = None
        for line in out.splitlines():
            if line.startswith("@@start "):
                started = json.loads(line[8:])
            elif line.startswith("@@result "):
                r = json.loads(line[9:])
                results[r.pop("id")] = r
                started = None
        if started is None and len(results) < len(ids) and not any(c in results for c in todo):
            started = todo[0]  # died before the first case
        if started is not None:
            results[started] = {"ok": False, "detail": f"{why} during this case; stderr:\n{err[-3000:]}"}
        todo = [c for c in todo if c not in results]
    return results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    groups = {}
    for c in CASES.values():
        groups.setdefault(c.cat, []).append(c.id)
    tmp = tmp_path_factory.mktemp("bad_input")
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        parts = pool.map(lambda ids: run_in_subprocesses(ids, tmp), groups.values())
    return {k: v for part in parts for k, v in part.items()}


@pytest.mark.parametrize("cid", list(CASES))
def test_case(cid, results):
    r = results[cid]
    assert r["ok"], r["detail"]


def test_harness_survives_a_crash_and_a_hang(tmp_path):
    ok = "model calls: forward 1-D"
    res = run_in_subprocesses(["harness: segfault", ok], tmp_path)
    assert not res["harness: segfault"]["ok"] and "died (return code" in res["harness: segfault"]["detail"]
    assert res[ok]["ok"], res[ok]
    res = run_in_subprocesses(["harness: hang", ok], tmp_path, timeout=3)
    assert not res["harness: hang"]["ok"] and "hung" in res["harness: hang"]["detail"]
    assert res[ok]["ok"], res[ok]


def test_case_count():
    counts = {}
    for c in CASES.values():
        counts[c.cat] = counts.get(c.cat, 0) + 1
    assert counts == CATEGORIES, f"update the docstring and CATEGORIES: {counts}, total {len(CASES)}"
    assert len(CASES) >= 150
