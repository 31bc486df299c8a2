"""Jacobians and gradient checks for any block or model (the lecture's chain rule, verified).

``jacobian`` builds a full Jacobian either from backward (one vector-Jacobian product
per output element) or from central finite differences of forward; ``gradcheck``
compares the two for every input and every parameter.
"""

from __future__ import annotations

import numpy as np

from .blocks import Dropout
from .losses import Loss


class GradcheckError(AssertionError):
    """Analytic and numeric Jacobians disagree."""


class NondeterministicError(GradcheckError, ValueError):
    """Forward gives different outputs at the same point (e.g. a Dropout in training
    mode), so finite differences cannot check backward. A GradcheckError (the check
    fails) and a ValueError (the function cannot be checked as it is)."""


class _Fn:
    """A uniform view of a block, loss or model: float64 arrays in, a 2-D array out."""

    def __init__(self, f, inputs, setup):
        self.f, self.setup = f, setup or (lambda: None)
        self.is_loss = isinstance(f, Loss)
        if np.dtype(getattr(f, "dtype", np.float64)) != np.float64:
            raise TypeError(
                f"{f!r}: gradient checks need a float64 block or model (build it under "
                f"`with bk.default_dtype(np.float64):`, or check model.astype(np.float64)), got {f.dtype}"
            )
        self.inputs = [
            np.array(x, dtype=np.float64 if np.asarray(x).dtype.kind == "f" else np.asarray(x).dtype) for x in inputs
        ]
        self.params = dict(f.params)

    def grads(self):
        return {k: np.array(v) for k, v in self.f.grads.items()}

    def forward(self):
        self.setup()
        out = self.f.forward(*self.inputs)
        if isinstance(out, tuple):  # several outputs: one flat row, split again in backward
            self.shapes = [np.shape(o) for o in out]
            return np.concatenate([np.ravel(o) for o in out]).astype(np.float64)[None, :]
        self.shapes = None
        return np.array(out, dtype=np.float64, ndmin=2)

    def backward(self, dy):
        if self.shapes is not None:
            cuts = np.cumsum([int(np.prod(sh)) for sh in self.shapes])[:-1]
            parts = [p.reshape(sh) for p, sh in zip(np.split(dy.ravel(), cuts), self.shapes)]
            g = self.f.backward(*parts)
        else:
            g = self.f.backward(float(dy[0, 0])) if self.is_loss else self.f.backward(dy)
        g = g if isinstance(g, tuple) else (g,)
        return [None if x is None else np.array(x) for x in g]

    def targets(self):
        """(label, array) for every float input and parameter: what a Jacobian is taken of."""
        t = [(f"input {i}", x) for i, x in enumerate(self.inputs) if x.dtype.kind == "f"]
        return t + [(f"parameter {k!r}", v) for k, v in self.params.items()]


class _KeepBuffers:
    """Puts f's buffers (BatchNorm's running statistics) back as they were: the many
    forwards of a check in training mode would move them."""

    def __init__(self, f):
        self.f = f
        self.saved = {k: np.array(v) for k, v in getattr(f, "buffers", {}).items()}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for k, v in getattr(self.f, "buffers", {}).items():
            if k in self.saved:
                v[...] = self.saved[k]


def _random_blocks(f):
    """Names of the Dropouts in training mode in f (a block or a model)."""
    if isinstance(f, Dropout):
        return [repr(f)] if f.training else []
    named = f.named_blocks() if hasattr(f, "named_blocks") else []
    return [f"{b!r} (node {k!r})" for k, b in named if isinstance(b, Dropout) and b.training]


def _check_deterministic(fn: _Fn):
    """Finite differences compare forwards at nearby points: a forward that draws anew
    each time (Dropout in training mode) makes them noise, not a wrong backward."""
    a, b = fn.forward(), fn.forward()
    if a.shape == b.shape and np.array_equal(a, b, equal_nan=True):
        return
    with np.errstate(invalid="ignore"):  # inf - inf: only the finite differences are told
        d = np.abs(a - b).ravel() if a.shape == b.shape else np.empty(0)
    d = d[np.isfinite(d)]
    by = f" (by up to {d.max():.3g})" if d.size else ""
    drops = _random_blocks(fn.f)
    why = (
        f"{', '.join(drops)} {'is' if len(drops) == 1 else 'are'} in training mode, where the "
        f"Dropout mask changes between evaluations. Check in eval mode (call .eval() first), or "
        f"fix the mask by reseeding it before every forward: setup=lambda: drop.reseed(0) for "
        f"each such Dropout `drop`"
        if drops
        else "something in it draws new random numbers on every forward; pass setup= to reset "
        "that state before every forward"
    )
    raise NondeterministicError(
        f"{fn.f!r}: forward is not deterministic: two forwards at the same "
        f"point differ{by}, so finite differences cannot check backward: {why}"
    )


def _analytic(fn: _Fn):
    out = fn.forward()
    rows = {label: [] for label, _ in fn.targets()}
    float_inputs = [i for i, x in enumerate(fn.inputs) if x.dtype.kind == "f"]
    for k in range(out.size):
        dy = np.zeros_like(out)
        dy.flat[k] = 1.0
        fn.f.zero_grad()
        g = fn.backward(dy)
        for i in float_inputs:
            if g[i] is None:
                raise GradcheckError(f"{fn.f!r}: backward gave no gradient for float input {i}")
            rows[f"input {i}"].append(g[i].ravel())
        for name, gv in fn.grads().items():
            rows[f"parameter {name!r}"].append(gv.ravel())
    fn.f.zero_grad()
    return {k: np.array(v).reshape(out.size, -1) for k, v in rows.items()}


def _numeric(fn: _Fn, eps: float):
    out = fn.forward()
    cols = {}
    for label, arr in fn.targets():
        J = np.empty((out.size, arr.size))
        flat = arr.reshape(-1)  # a view: inputs are our copies, params view native memory
        for j in range(arr.size):
            keep = flat[j]
            flat[j] = keep + eps
            fp = fn.forward()
            flat[j] = keep - eps
            fm = fn.forward()
            flat[j] = keep
            J[:, j] = ((fp - fm) / (2 * eps)).ravel()
        cols[label] = J
    return cols


def jacobian(f, *inputs, wrt=0, numeric: bool = False, eps: float = 1e-6, setup=None):
    """The full Jacobian d(output)/d(wrt) as an (output size, wrt size) float64 array.

    Args:
        f: a float64 block, loss or model.
        inputs: its input arrays.
        wrt: an input index (int) or a parameter name (str).
        numeric: central finite differences of forward instead of backward.
        setup: called before every forward (e.g. ``lambda: drop.reseed(0)`` to keep a
            Dropout's mask fixed; a numeric Jacobian of a forward that is not
            deterministic is a NondeterministicError).
    """
    fn = _Fn(f, inputs, setup)
    label = f"input {wrt}" if isinstance(wrt, int) else f"parameter {wrt!r}"
    if label not in dict(fn.targets()):
        raise ValueError(f"{f!r}: nothing to differentiate by {wrt!r}; have {[lbl for lbl, _ in fn.targets()]}")
    with _KeepBuffers(f):
        if numeric:
            _check_deterministic(fn)
        return (_numeric(fn, eps) if numeric else _analytic(fn))[label]


def gradcheck(f, *inputs, eps: float = 1e-6, tol: float = 1e-6, setup=None) -> bool:
    """Check backward against finite differences: the full Jacobian of every float
    input and every parameter, in float64. Error is |analytic − numeric| / max(1, |numeric|).

    Returns True, or raises GradcheckError naming the input or parameter, the worst
    entry and both values. Use inputs away from kinks (ReLU at 0).

    Buffers (BatchNorm's running statistics, which every forward in training mode
    updates) are put back as they were when the check ends.

    ``setup`` is called before every forward. A forward that is not deterministic (two
    evaluations at the same point differ, as with a Dropout in training mode) raises
    NondeterministicError (a GradcheckError and a ValueError) saying so: check in eval
    mode, or fix the mask with ``setup=lambda: drop.reseed(0)`` (see ``Dropout.reseed``).
    """
    fn = _Fn(f, inputs, setup)
    with _KeepBuffers(f):
        _check_deterministic(fn)
        a, n = _analytic(fn), _numeric(fn, eps)
    for label in n:
        err = np.abs(a[label] - n[label]) / np.maximum(1.0, np.abs(n[label]))
        if err.size and err.max() > tol:
            k = np.unravel_index(np.argmax(err), err.shape)
            raise GradcheckError(
                f"{f!r}: Jacobian of {label} is wrong at (output {k[0]}, element {k[1]}): "
                f"backward {a[label][k]:.10g}, finite differences {n[label][k]:.10g} "
                f"(error {err.max():.3g} > tol {tol:g})"
            )
    return True
