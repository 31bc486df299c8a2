"""The block registry (PyTorch's test_modules.py style): one spec per block configuration.

A spec says how to build the block, what its inputs look like (domains), and which
NumPy reference computes it. Every block in bricks' block registry
(``bricks.block.registry()``, which every concrete Block subclass of bricks joins by
being defined) needs at least one spec: test_blocks.py::test_every_block_has_a_spec
fails otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import bricks as bk
import reference as R
from bricks.block import registry

SHAPES = ((1, 1), (1, 7), (5, 3), (17, 33))  # (N, D): batch 1 and odd sizes
SMALL_SHAPES = ((1, 1), (3, 4))  # for full-Jacobian finite differences
DROPOUT_SEED = 5


@dataclass(frozen=True)
class Domain:
    """Where an input's values come from: draw(rng, N, D) -> float64 array or int64 labels."""

    name: str
    draw: Callable
    labels: bool = False  # integer class labels of shape (N,)
    int_ok: bool = True  # an integer array of these values is a valid input (converted)


REAL = Domain("real", lambda r, n, d: r.normal(0.0, 1.5, (n, d)))
# ReLU: at least 1e-3 away from the kink, so finite differences do not straddle it.
NONZERO = Domain("nonzero", lambda r, n, d: r.choice([-1.0, 1.0], (n, d)) * r.uniform(1e-3, 3, (n, d)))
PROB = Domain("prob", lambda r, n, d: r.uniform(0.05, 0.95, (n, d)))
UNIT = Domain("unit", lambda r, n, d: r.uniform(0.0, 1.0, (n, d)))
LABELS = Domain("labels", lambda r, n, d: r.integers(0, d, n), labels=True)
PROB_ROWS = Domain(
    "prob_rows", lambda r, n, d: np.exp(R.log_softmax(r.normal(0, 1, (n, d)))[0]), int_ok=False
)  # an int 2-D target is read as (bad) labels
POS_ROWS = Domain("pos_rows", lambda r, n, d: r.uniform(0.0, 2.0, (n, d)), int_ok=False)  # sums != 1


def class_weights(c):
    """Distinct class weights for C classes (> 0, so no batch sums to 0)."""
    return np.linspace(0.5, 2.0, c) if c > 1 else np.array([1.5])


def no_context(blk, shape):
    return {}


def params_of(blk, shape):
    """Linear: the block's own parameters, as float64 copies."""
    return {k: np.array(v, dtype=np.float64) for k, v in blk.params.items()}


def reseed(blk):
    blk._core.reseed(DROPOUT_SEED)


def dropout_mask(blk, shape):
    """Dropout: the mask the next (reseeded) forward will use, read off forward(ones)."""
    if not blk.training:
        return {"mask": np.ones(shape)}
    reseed(blk)
    return {"mask": np.array(blk.forward(np.ones(shape, blk.dtype)), dtype=np.float64)}


def norm_params(blk, shape):
    """LayerNorm, BatchNorm: the parameters, the buffers and the mode, as float64 copies."""
    ctx = {**params_of(blk, shape), "eps": blk.config()["eps"]}
    if isinstance(blk, bk.BatchNorm):
        ctx.update({k: np.array(blk.buffers[k], np.float64) for k in ("running_mean", "running_var")})
        ctx["training"] = blk.training
    return ctx


def random_norm_state(blk):
    """LayerNorm, BatchNorm: γ, β and running statistics away from their initial 1, 0, 0, 1
    (so that the tests see every one of them), the same for the same width."""
    r = np.random.default_rng(blk.features)
    if "weight" in blk.params:
        blk.params["weight"][...] = r.uniform(0.5, 2.0, blk.features) * r.choice([-1, 1], blk.features)
        blk.params["bias"][...] = r.normal(0.0, 1.0, blk.features)
    if blk.buffers:
        blk.buffers["running_mean"][...] = r.normal(0.0, 1.0, blk.features)
        blk.buffers["running_var"][...] = r.uniform(0.5, 2.0, blk.features)


@dataclass(frozen=True)
class Spec:
    cls: type
    domains: tuple
    ref: Callable  # reference function: ref(*inputs, **context) -> (y, vjp)
    kwargs: Callable = lambda d: {}  # constructor kwargs for D input features
    context: Callable = no_context  # context(blk, (N, D)) -> extra reference kwargs
    setup: Callable = lambda blk: None  # run before every forward (reseed a Dropout)
    training: bool = True
    tag: str = ""
    shapes: tuple = field(default=SHAPES)
    widths: tuple = ()  # Concat: input k has D + widths[k] features (inputs of several widths)
    small_shapes: tuple = field(default=SMALL_SHAPES)  # for full Jacobians
    min_batch: int = 1  # BatchNorm in training mode needs 2 rows
    prepare: Callable = lambda blk: None  # run once on a new block (set its parameters)

    @property
    def id(self) -> str:
        return self.cls.__name__ + (f"[{self.tag}]" if self.tag else "")

    @property
    def is_loss(self) -> bool:
        return issubclass(self.cls, bk.Loss)

    @property
    def n_inputs(self) -> int:
        return len(self.domains)

    @property
    def variadic(self) -> bool:
        """Add and Concat take any n >= 2 inputs (the spec's n is one of them)."""
        return issubclass(self.cls, (bk.Add, bk.Concat))

    def out_width(self, d: int) -> int:
        """The output's features for inputs of D = d features."""
        if issubclass(self.cls, bk.Concat):
            return sum(d + (self.widths[k] if self.widths else 0) for k in range(self.n_inputs))
        return self.kwargs(d).get("out_features", d)

    def build(self, d: int, dtype=np.float64) -> bk.Block:
        blk = self.cls(**self.kwargs(d), dtype=dtype).train(self.training)
        self.prepare(blk)
        return blk

    def inputs(self, rng, shape, dtype=np.float64) -> list:
        n, d = shape
        ds = [d + (self.widths[k] if self.widths else 0) for k in range(len(self.domains))]
        return [
            dom.draw(rng, n, dk) if dom.labels else dom.draw(rng, n, dk).astype(dtype)
            for dom, dk in zip(self.domains, ds)
        ]

    def reference(self, blk, inputs, shape):
        """(y, vjp) of the NumPy reference for these inputs, in float64."""
        xs = [x if dom.labels else np.asarray(x, np.float64) for x, dom in zip(inputs, self.domains)]
        return self.ref(*xs, **self.context(blk, shape))


SPECS = [
    Spec(
        bk.Linear,
        (REAL,),
        R.linear,
        kwargs=lambda d: dict(in_features=d, out_features=d % 5 + 2, init="torch"),
        context=params_of,
    ),
    Spec(
        bk.Linear,
        (REAL,),
        R.linear,
        tag="no bias",
        context=params_of,
        kwargs=lambda d: dict(in_features=d, out_features=3, bias=False),
    ),
    Spec(bk.ReLU, (NONZERO,), R.relu),
    Spec(bk.Sigmoid, (REAL,), R.sigmoid),
    Spec(bk.Tanh, (REAL,), R.tanh),
    Spec(bk.LeakyReLU, (NONZERO,), R.leaky_relu),
    Spec(
        bk.LeakyReLU,
        (NONZERO,),
        R.leaky_relu,
        kwargs=lambda d: dict(negative_slope=-0.5),
        context=lambda blk, shape: dict(negative_slope=-0.5),
        tag="negative slope",
    ),
    Spec(bk.ELU, (NONZERO,), R.elu),
    Spec(
        bk.ELU,
        (NONZERO,),
        R.elu,
        kwargs=lambda d: dict(alpha=0.5),
        context=lambda blk, shape: dict(alpha=0.5),
        tag="alpha 0.5",
    ),
    Spec(bk.GELU, (REAL,), R.gelu),
    Spec(
        bk.GELU,
        (REAL,),
        R.gelu,
        kwargs=lambda d: dict(approximate="tanh"),
        context=lambda blk, shape: dict(approximate="tanh"),
        tag="tanh",
    ),
    Spec(bk.Softplus, (REAL,), R.softplus),
    Spec(
        bk.Softplus,
        (REAL,),
        R.softplus,
        kwargs=lambda d: dict(beta=2.0, threshold=3.0),  # 2x is exact: the threshold falls alike
        context=lambda blk, shape: dict(beta=2.0, threshold=3.0),
        tag="beta 2 threshold 3",
    ),
    Spec(bk.Softmax, (REAL,), R.softmax),
    Spec(bk.LogSoftmax, (REAL,), R.log_softmax),
    Spec(bk.Hadamard, (REAL, REAL), R.hadamard),
    Spec(bk.Identity, (REAL,), R.identity),
    Spec(bk.Add, (REAL, REAL), R.add, tag="2"),
    Spec(bk.Add, (REAL,) * 3, R.add, tag="3"),
    Spec(bk.Add, (REAL,) * 5, R.add, tag="5"),
    Spec(bk.Concat, (REAL, REAL), R.concat, tag="2"),
    Spec(bk.Concat, (REAL,) * 3, R.concat, tag="3", widths=(1, 2, 0)),
    Spec(bk.Concat, (REAL,) * 5, R.concat, tag="5", widths=(0, 3, 1, 0, 2)),
    Spec(bk.Dropout, (REAL,), R.dropout, kwargs=lambda d: dict(p=0.5), context=dropout_mask, setup=reseed, tag="train"),
    Spec(
        bk.Dropout, (REAL,), R.dropout, kwargs=lambda d: dict(p=0.3), context=dropout_mask, training=False, tag="eval"
    ),
    Spec(
        bk.LayerNorm,
        (REAL,),
        R.layer_norm,
        kwargs=lambda d: dict(features=d),
        context=norm_params,
        prepare=random_norm_state,
    ),
    Spec(
        bk.LayerNorm,
        (REAL,),
        R.layer_norm,
        tag="no affine",
        context=norm_params,
        kwargs=lambda d: dict(features=d, elementwise_affine=False, eps=1e-3),
    ),
    Spec(
        bk.BatchNorm,
        (REAL,),
        R.batch_norm,
        kwargs=lambda d: dict(features=d),
        context=norm_params,
        prepare=random_norm_state,
        tag="train",
        shapes=((2, 1), (2, 7), (5, 3), (17, 33)),
        small_shapes=((2, 1), (3, 4)),
        min_batch=2,
    ),
    Spec(
        bk.BatchNorm,
        (REAL,),
        R.batch_norm,
        kwargs=lambda d: dict(features=d, eps=1e-3, momentum=0.3),
        context=norm_params,
        prepare=random_norm_state,
        training=False,
        tag="eval",
    ),
    Spec(bk.MSELoss, (REAL, REAL), R.mse_loss),
    Spec(bk.BCELoss, (PROB, UNIT), R.bce_loss),
    Spec(bk.BCEWithLogitsLoss, (REAL, UNIT), R.bce_with_logits_loss),
    Spec(bk.CrossEntropyLoss, (REAL, LABELS), R.cross_entropy_loss, tag="labels"),
    Spec(bk.CrossEntropyLoss, (REAL, PROB_ROWS), R.cross_entropy_loss, tag="rows"),
    Spec(bk.CrossEntropyLoss, (REAL, POS_ROWS), R.cross_entropy_loss, tag="rows not summing to 1"),
    Spec(
        bk.CrossEntropyLoss,
        (REAL, LABELS),
        R.cross_entropy_loss,
        kwargs=lambda d: dict(weight=class_weights(d)),
        context=lambda blk, shape: {"weight": blk.weight},
        tag="labels, class weights",
    ),
    Spec(
        bk.CrossEntropyLoss,
        (REAL, POS_ROWS),
        R.cross_entropy_loss,
        kwargs=lambda d: dict(weight=class_weights(d)),
        context=lambda blk, shape: {"weight": blk.weight},
        tag="rows, class weights",
    ),
]


def exported_blocks() -> set:
    """Every registered block class (`bricks.block.registry`)."""
    return set(registry().values())


def by_id(spec_id: str) -> Spec:
    return next(s for s in SPECS if s.id == spec_id)
