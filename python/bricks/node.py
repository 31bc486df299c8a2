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
        # An Input made without dtype=, or the output of parameter-free blocks fed only by
        # such nodes, is "soft": its dtype (the default until then) becomes that of the
        # first block with a dtype of its own that it feeds (see _settle).
        self.soft = False
        self._uid = next(_ids)
        kind = "input" if block is None else type(block).__name__.lower()
        self.name = name or f"{kind}_{self._uid}"

    @classmethod
    def _from_block(cls, block, nodes) -> "Node":
        values = [n for n in nodes if not n.labels]
        firm = [n for n in values if not n.soft]
        adopts = bool(values) and block._adoptable()
        if adopts:  # a parameter-free block built without dtype=: the inputs' dtype is its
            ref = firm or values
            other = next((n for n in ref if n.dtype != ref[0].dtype), None)
            if other is not None:
                raise TypeError(
                    f"{block.name}: its inputs {ref[0].name!r} ({ref[0].dtype}) and {other.name!r} "
                    f"({other.dtype}) differ in dtype"
                )
            want = ref[0].dtype
            block._adopt(want, f"node {ref[0].name!r}")
        for n in values:
            if n.soft:
                n._settle(block.dtype, harden=not adopts or bool(firm), who=block.name)
            elif n.dtype != block.dtype:
                raise TypeError(f"{block.name}: its dtype {block.dtype} differs from node {n.name!r}'s {n.dtype}")
        features = block._native(len(nodes)).infer_features([(n.features, n.labels) for n in nodes])
        node = cls(block, nodes, features, block.dtype)
        node.soft = adopts and not firm
        block.__dict__["_joins"] = block.__dict__.get("_joins", 0) + 1
        return node

    def _settle(self, dtype, harden: bool, who: str) -> None:
        """A soft node takes ``dtype`` (the parameter-free blocks above it rebuilt in it);
        ``harden``: it is fixed from now on."""
        if self.dtype != dtype:
            if self.block is not None:
                self.block._adopt(dtype, who, joins_ok=1)
            for n in self.inputs:
                if n.soft:
                    n._settle(dtype, harden, who)
            self.dtype = dtype
        elif harden:
            for n in self.inputs:
                if n.soft:
                    n._settle(dtype, harden, who)
        if harden:
            self.soft = False

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
        if a.dtype != b.dtype and not (a.soft or b.soft):
            raise TypeError(f"cannot {what} nodes {a.name!r} ({a.dtype}) and {b.name!r} ({b.dtype}): dtypes differ")
        return _OPERATORS[op]()(a, b)  # built without dtype=: it takes the nodes' dtype

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
    """A model input of shape (N, features); ``labels=True`` for int64 class labels (N,).

    Without ``dtype=`` the input takes the dtype of the first block it feeds (a block with
    parameters or an explicit dtype; through parameter-free blocks), so
    ``bk.Linear(3, 4, dtype=np.float64)(bk.Input(3))`` is a float64 graph; an input that
    feeds no such block keeps the default dtype (``bk.get_default_dtype()``)."""
    features = _checks.positive_int(
        features, "Input", "features", maximum=2**31 - 1, why="the matrix kernels' 32-bit sizes"
    )
    if labels and features != 1:
        raise ValueError("Input: class labels are one column (features=1)")
    node = Node(None, (), int(features), resolve_dtype(dtype), name, labels)
    node.soft = dtype is None and not labels  # takes the dtype of the first block it feeds
    return node
