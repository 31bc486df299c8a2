"""Graph nodes: symbolic values of shape (N, features). ``Input`` makes a model input;
calling a block on nodes makes the node of its output (see ``bricks.Model``)."""

from __future__ import annotations

import itertools


from . import _checks
from ._arrays import resolve_dtype

_ids = itertools.count()


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
        features = block._core.infer_features([(n.features, n.labels) for n in nodes])
        return cls(block, nodes, features, block.dtype)

    @property
    def is_loss(self) -> bool:
        return self.block is not None and self.block._core.is_loss

    @property
    def shape(self):
        return () if self.is_loss else (None, self.features)

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
