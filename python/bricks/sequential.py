"""Sequential: a list of one-input blocks and the one Model graph it builds from them.

Every consumer (training, io, onnx_export, interop, plot) sees a plain Model: the
chain's nodes are named by position ("0", "1", ...) and its loss, once compiled, is
a loss node like any other. The only state of its own is the list of blocks and, for
a chain without a Linear (whose input width is unknown until data comes), a
compile waiting for that width.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .block import Block
from .graph import Model
from .losses import CrossEntropyLoss
from .node import Input, Node


class Sequential(Model):
    """A chain of one-input blocks: ``Sequential(Linear(784, 256), ReLU(), Linear(256, 10))``.

    An item may itself be a Sequential (its blocks are then named ``"<i>.<j>"``, as
    PyTorch names a nested ``nn.Sequential``); it shares its blocks with the outer chain.

    A Sequential is a Model: ``forward(x)``, ``backward(dy)`` (returns dx),
    ``compile(loss, optimizer)``, ``train_step(x, y)``. Parameters are named by
    position ("0.weight", "0.bias", ...). The input width is the first Linear's
    ``in_features`` (or LayerNorm's or BatchNorm's ``features``; the blocks before it keep
    the width), or, for a chain without one, the width of the first array seen.
    """

    def __init__(self, *blocks: Block):
        if len(blocks) == 1 and isinstance(blocks[0], (list, tuple)):
            blocks = tuple(blocks[0])
        if not blocks:
            raise ValueError("Sequential: needs at least one block")
        for i, b in enumerate(blocks):
            if isinstance(b, Sequential):
                continue  # a nested chain (PyTorch names its weights "<i>.<j>.weight")
            if isinstance(b, Model):
                raise TypeError(
                    f"Sequential: item {i} is a {type(b).__name__}; a Sequential holds blocks and Sequentials. "
                    f"Call the model on nodes instead: x = bk.Input(width); y = head(inner(x)); "
                    f"bk.Model(inputs=x, outputs=y)"
                )
            if not isinstance(b, Block):
                raise TypeError(f"Sequential: item {i} is not a block, got {type(b).__name__}")
            if b.n_inputs != 1:
                raise ValueError(f"Sequential: block {i} ({b.name}) takes {b.n_inputs} inputs; use bk.Model for graphs")
        leaves = [
            b for item in blocks for _, b in (item.named_blocks() if isinstance(item, Sequential) else [("", item)])
        ]
        if len({id(b) for b in leaves}) != len(leaves) or len({id(b) for b in blocks}) != len(blocks):
            raise ValueError("Sequential: a block instance appears twice; use separate blocks")
        firm = {b.dtype for b in blocks if isinstance(b, Sequential) or not b._adoptable()}
        if len(firm) == 1:  # parameter-free blocks built without dtype= take the chain's
            for b in blocks:
                if not isinstance(b, Sequential) and b.dtype not in firm:
                    b._adopt(next(iter(firm)), "the Sequential")
        dtypes = {b.dtype for b in blocks}
        if len(dtypes) > 1:
            raise TypeError(f"Sequential: all blocks must share one dtype, got {sorted(map(str, dtypes))}")
        self._layers = list(blocks)
        self._pending = None  # (loss, labels): compiled before the input width was known
        self.dtype = dtypes.pop()
        self.inputs, self.outputs, self.losses = [], [], []
        self.share_weights, self.optimizer, self._loss_block, self._graph = False, None, None, None
        if self.input_width is not None:
            self._chain(self.input_width)

    @property
    def input_width(self):
        """The input width: the built graph's, or the first Linear's ``in_features``
        (every other one-input block keeps the width); None until data shows it."""
        if self.built:
            return self.inputs[0].features
        for b in self._layers:  # the first block that fixes a width (a nested chain, a Linear, a norm)
            w = b.input_width if isinstance(b, Sequential) else getattr(b, "in_features", None)
            w = w if w is not None else getattr(b, "features", None)
            if w is not None:
                return w
        return None

    def _chain(self, width):
        """Build the graph for inputs of `width` columns (and the waiting compile)."""
        x = Input(width, dtype=self.dtype, name="input")
        h = x
        for i, b in enumerate(self._layers):
            try:
                if isinstance(b, Sequential):
                    h = b(h, name=str(i))  # inlined: its nodes are "<i>.0", "<i>.1", ...
                else:
                    h = Node._from_block(b, (h,))
                    h.name = str(i)
            except ValueError as e:  # say where in the chain
                what = "Sequential" if isinstance(b, Sequential) else b.name
                raise ValueError(f"Sequential: block {i} ({what}) after a width of {h.features}: {e}") from None
        compiled, optimizer = self.compiled_loss, self.optimizer
        Model.__init__(self, x, h)
        self._pending = None
        if compiled is not None:
            Model.compile(self, compiled[0], optimizer, labels=compiled[1])

    def build_for(self, arrays) -> None:
        if self.built:
            return
        a = np.asarray(arrays[0]) if len(arrays) else None
        if a is None or a.ndim != 2:
            raise ValueError(
                f"Sequential: input must be a 2-D array (batch, features), got {None if a is None else a.shape}"
            )
        self._chain(a.shape[1])

    def build_for_node(self, nodes) -> None:
        if not self.built and nodes and isinstance(nodes[0], Node) and not nodes[0].labels:
            self._chain(nodes[0].features)

    def forward(self, *xs):
        self.build_for(xs)
        return super().forward(*xs)

    def compute_loss(self, *xs) -> float:
        self.build_for(xs)
        return super().compute_loss(*xs)

    def train_step(self, *xs, optimizer=None, distributed=False) -> float:
        self.build_for(xs)
        return super().train_step(*xs, optimizer=optimizer, distributed=distributed)

    def backward(self, *dys):
        if not self.built:
            raise _core.StateError("Sequential: backward called before forward")
        return super().backward(*dys)

    def compile(self, loss, optimizer=None, *, labels=None, metrics=None):
        """As `Model.compile`: ``loss`` a loss block or name (``"cross_entropy"``,
        ``"mse"``...), ``optimizer`` an optimizer or name (``"adam"``...), ``metrics``
        names or callables; before the graph exists the loss waits for the first data."""
        if self.built:
            return super().compile(loss, optimizer, labels=labels, metrics=metrics)
        spelled = loss if isinstance(loss, str) else None
        loss, optimizer = self._from_names(loss, optimizer)
        self._check_compile(loss, optimizer, metrics, spelled=spelled)
        self._pending = (loss, isinstance(loss, CrossEntropyLoss) if labels is None else labels)
        self.optimizer, self._loss_block = optimizer, loss
        if metrics is not None:
            self.metrics = self._metric_list(metrics)
        return self

    @property
    def compiled_loss(self):
        """(loss block, whether its target is class labels), or None before compile."""
        if self._pending is not None:
            return self._pending
        return (self.losses[0].block, self.inputs[-1].labels) if self.losses else None

    @property
    def native_blocks(self) -> list:
        return super().native_blocks if self.built else [b._core for _, b in self.named_blocks()]

    def named_blocks(self) -> list:
        """(position, block) pairs; a nested Sequential's blocks are ``"<i>.<j>"``."""
        out = []
        for i, b in enumerate(self._layers):
            if isinstance(b, Sequential):
                out += [(f"{i}.{k}", blk) for k, blk in b.named_blocks()]
            else:
                out.append((str(i), b))
        return out

    def zero_grad(self) -> None:
        if self.built:
            return super().zero_grad()
        for b in self._layers:
            b.zero_grad()

    def train(self, mode: bool = True):
        if self.built:
            return super().train(mode)
        for b in self._layers:
            b.train(mode)
        return self

    def summary(self) -> str:
        self._require_graph("summary")
        return super().summary()

    def _summary_table(self):
        self._require_graph("summary")
        return super()._summary_table()

    def to_dot(self) -> str:
        self._require_graph("to_dot")
        return super().to_dot()

    def _require_graph(self, what):
        if not self.built:
            raise _core.StateError(
                f"Sequential: {what} needs the input width: run forward once or start with a Linear block"
            )

    def add(self, block: Block) -> "Sequential":
        """Append a block (Keras style), before compiling: ``model.add(bk.ReLU())``."""
        if self.optimizer is not None or self.compiled_loss is not None:
            raise ValueError(
                "Sequential.add: the model is compiled; add blocks before compile "
                "(the optimizer would not know the new block's parameters)"
            )
        grown = Sequential(*self._layers, block)  # validates the block and the wiring first
        self._layers = grown._layers
        if grown.built:
            self._chain(grown.input_width)
        return self

    def __getitem__(self, i):
        """A block, or for a slice a new Sequential over the same blocks (as PyTorch):
        ``model[:2]`` is the first two layers, sharing their weights."""
        if isinstance(i, slice):
            return Sequential(*self._layers[i])
        return self._layers[i]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(b).replace("\n", "\n  ") for b in self._layers)
        return f"Sequential(\n  {inner}\n)"
