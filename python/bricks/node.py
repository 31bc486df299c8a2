"""Graph nodes: symbolic values of shape (N, features). ``Input`` makes a model input;
calling a block on nodes makes the node of its output (see ``bricks.Model``)."""

from __future__ import annotations

import itertools

from . import _checks
from ._arrays import resolve_dtype

_ids = itertools.count()
# The block classes `a + b` and `a * b` build ({"+": Add, "*": Hadamard}): filled in by
# blocks.py, which this module may not import (imports run one way).
_OPERATORS: dict = {}


class Node:
    """A symbolic value of shape (N, features): a model input or a block's output."""

    def __init__(self, block, inputs, features, dtype, name=None, labels=False):
        self.block, self.inputs, self.features = block, tuple(inputs), features
        self.dtype, self.labels = dtype, labels
        self._uid = next(_ids)
        kind = "input" if block is None else type(block).__name__.lower()
        self.name = name or f"{kind}_{self._uid}"

    @classmethod
    def _from_block(cls, block, nodes) -> "Node":
        for n in nodes:
            if not n.labels and n.dtype != block.dtype:
                raise TypeError(f"{block.name}: its dtype {block.dtype} differs from node {n.name!r}'s {n.dtype}")
        features = block._native(len(nodes)).infer_features([(n.features, n.labels) for n in nodes])
        return cls(block, nodes, features, block.dtype)

    @property
    def is_loss(self) -> bool:
        return self.block is not None and self.block._core.is_loss

    @property
    def shape(self):
        return () if self.is_loss else (None, self.features)

    # -- operators: `a + b` is bk.Add()(a, b), `a * b` is bk.Hadamard()(a, b) -----------
    __array_ufunc__ = None  # `array + node` asks the node (and gets its TypeError), not NumPy

    def _operator(self, op, other, reflected=False):
        what = {"+": "add", "*": "multiply"}[op]
        if not isinstance(other, Node):
            raise TypeError(
                f"cannot {what} node {self.name!r} and a {type(other).__name__}: `a {op} b` builds a "
                f"{_OPERATORS[op].__name__} node from two graph nodes (use a block for constants)"
            )
        a, b = (other, self) if reflected else (self, other)
        for n in (a, b):
            if n.is_loss or n.labels:
                kind = "a loss" if n.is_loss else "class labels"
                raise TypeError(f"cannot {what} node {n.name!r}: it is {kind}, not an (N, D) value")
        if a.dtype != b.dtype:
            raise TypeError(f"cannot {what} nodes {a.name!r} ({a.dtype}) and {b.name!r} ({b.dtype}): dtypes differ")
        return _OPERATORS[op](dtype=a.dtype)(a, b)

    def __add__(self, other):
        return self._operator("+", other)

    def __radd__(self, other):
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self  # sum(nodes) starts from 0
        return self._operator("+", other, reflected=True)

    def __mul__(self, other):
        return self._operator("*", other)

    def __rmul__(self, other):
        return self._operator("*", other, reflected=True)

    def __repr__(self) -> str:
        what = "Input" if self.block is None else self.block.name
        return f"<Node {self.name!r}: {what} -> {self.shape}>"


def Input(features: int, *, dtype=None, name: str | None = None, labels: bool = False) -> Node:
    """A model input of shape (N, features); ``labels=True`` for int64 class labels (N,)."""
    features = _checks.positive_int(
        features, "Input", "features", maximum=2**31 - 1, why="the matrix kernels' 32-bit sizes"
    )
    if labels and features != 1:
        raise ValueError("Input: class labels are one column (features=1)")
    return Node(None, (), int(features), resolve_dtype(dtype), name, labels)
