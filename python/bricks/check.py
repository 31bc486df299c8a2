"""Jacobians and gradient checks for any block or model (the lecture's chain rule, verified).

``jacobian`` builds a full Jacobian either from backward (one vector-Jacobian product
per output element) or from central finite differences of forward; ``gradcheck``
compares the two for every input and every parameter.
"""
from __future__ import annotations

import numpy as np


class GradcheckError(AssertionError):
    """Analytic and numeric Jacobians disagree."""


class _Fn:
    """A uniform view of a block, loss or model: float64 arrays in, a 2-D array out."""

    def __init__(self, f, inputs, setup):
        from .losses import Loss

        self.f, self.setup = f, setup or (lambda: None)
        self.is_loss = isinstance(f, Loss)
        if np.dtype(getattr(f, "dtype", np.float64)) != np.float64:
            raise TypeError(f"{f!r}: gradient checks need a float64 block or model "
                            f"(build it with dtype=np.float64), got {f.dtype}")
        self.inputs = [np.array(x, dtype=np.float64 if np.asarray(x).dtype.kind == "f"
                                else np.asarray(x).dtype) for x in inputs]
        p = f.params() if callable(f.params) else f.params
        self.params = dict(p)

    def grads(self):
        g = self.f.grads() if callable(self.f.grads) else self.f.grads
        return {k: np.array(v) for k, v in g.items()}

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
        setup: called before every forward (e.g. to reseed a Dropout).
    """
    fn = _Fn(f, inputs, setup)
    label = f"input {wrt}" if isinstance(wrt, int) else f"parameter {wrt!r}"
    if label not in dict(fn.targets()):
        raise ValueError(f"{f!r}: nothing to differentiate by {wrt!r}; have "
                         f"{[lbl for lbl, _ in fn.targets()]}")
    return (_numeric(fn, eps) if numeric else _analytic(fn))[label]


def gradcheck(f, *inputs, eps: float = 1e-6, tol: float = 1e-6, setup=None) -> bool:
    """Check backward against finite differences: the full Jacobian of every float
    input and every parameter, in float64. Error is |analytic − numeric| / max(1, |numeric|).

    Returns True, or raises GradcheckError naming the input or parameter, the worst
    entry and both values. Use inputs away from kinks (ReLU at 0).
    """
    fn = _Fn(f, inputs, setup)
    a, n = _analytic(fn), _numeric(fn, eps)
    for label in n:
        err = np.abs(a[label] - n[label]) / np.maximum(1.0, np.abs(n[label]))
        if err.size and err.max() > tol:
            k = np.unravel_index(np.argmax(err), err.shape)
            raise GradcheckError(
                f"{f!r}: Jacobian of {label} is wrong at (output {k[0]}, element {k[1]}): "
                f"backward {a[label][k]:.10g}, finite differences {n[label][k]:.10g} "
                f"(error {err.max():.3g} > tol {tol:g})")
    return True
