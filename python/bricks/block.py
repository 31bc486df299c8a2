"""The Python face of a block: forward/backward on NumPy arrays, parameters as views."""
from __future__ import annotations

from types import MappingProxyType

import numpy as np

from . import _core
from ._arrays import as_float_matrix, resolve_dtype
from .node import Node


def manual_seed(seed: int) -> None:
    """Seed the stream that blocks built without ``seed=`` draw their seeds from.

    The same seed followed by the same constructions gives the same weights and
    dropout masks, bit for bit.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _core.manual_seed(int(seed) % 2**64)


def _seed(seed, who: str = "block") -> int:
    if seed is None:
        return _core.next_seed()
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{who}: seed must be an int or None, got {type(seed).__name__}")
    return int(seed) % 2**64


class Block:
    """A lego piece: ``y = blk.forward(x)``, ``dx = blk.backward(dy)``.

    ``backward(dy)`` is the vector-Jacobian product: the gradient of ⟨y, dy⟩ with
    respect to every input. Parameter gradients (``blk.grads``) accumulate over
    backward calls until ``zero_grad()``. Calling ``backward`` twice after one
    ``forward`` gives the same input gradients and accumulates twice.

    Inputs are converted to the block's dtype and to C order when needed (a copy);
    arrays that already fit are not copied. Forward keeps its own copy of what
    backward needs, so changing an input array afterwards does not change the
    gradients. Non-finite values (NaN, inf) are rejected with a ValueError.

    Calling a block on graph nodes (``blk(node)``) builds a graph instead: see
    `bricks.Model`.
    """

    n_inputs = 1

    def __init__(self, core):
        self._core = core
        self._runner = _core.Runner(core)

    # -- the lecture's API -------------------------------------------------
    def forward(self, *inputs):
        """Compute the output from ``n_inputs`` arrays of shape (N, D)."""
        self._core.invalidate()  # a rejected call leaves no stale cache for backward
        self._check_arity(inputs, "forward")
        return self._runner.forward([self._as_input(x, i) for i, x in enumerate(inputs)])

    def backward(self, dy):
        """Gradient of ⟨output, dy⟩ w.r.t. each input (a tuple for several inputs)."""
        if not self._core.has_forward:
            raise _core.StateError(f"{self._core.name}: backward called before forward")
        dy = as_float_matrix(dy, self.dtype, self._core.name, "dy")
        grads = self._runner.backward(dy)
        return grads[0] if self.n_inputs == 1 else tuple(grads)

    def __call__(self, *nodes):
        self._check_arity(nodes, "call")
        if not all(isinstance(n, Node) for n in nodes):
            raise TypeError(
                f"{self._core.name}: calling a block builds a graph and takes bk.Input/graph "
                f"nodes; to compute on arrays use .forward(...)"
            )
        return Node._from_block(self, nodes)

    # -- parameters ----------------------------------------------------------
    @property
    def params(self) -> dict:
        """Parameters as NumPy arrays viewing native memory: ``params["weight"][...] = W``
        changes the block. A read-only mapping, since assigning a new array to a key could
        not reach the block."""
        return MappingProxyType({n: self._core.param(n) for n in self._core.param_names()})

    @property
    def grads(self) -> dict:
        """Accumulated gradients, keyed like ``params`` (a read-only mapping of arrays)."""
        return MappingProxyType({n: self._core.grad(n) for n in self._core.param_names()})

    def __reduce_ex__(self, protocol):
        """pickle and copy.deepcopy: the block's configuration and parameter values
        (caches and gradients are not copied). Blocks defined in Python pickle as usual."""
        from .io import _block_spec, _blocks_by_name, _unpickle_block

        if _blocks_by_name().get(type(self).__name__) is not type(self):
            return super().__reduce_ex__(protocol)
        return _unpickle_block, (_block_spec(self), dict(self.params))

    def zero_grad(self) -> None:
        """Reset the accumulated parameter gradients to zero."""
        self._core.zero_grad()

    def train(self, mode: bool = True):
        """Training mode (Dropout drops). Returns self."""
        self._core.training = bool(mode)
        return self

    def eval(self):
        """Evaluation mode (Dropout is the identity). Returns self."""
        return self.train(False)

    @property
    def training(self) -> bool:
        return self._core.training

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self._core.dtype)

    @property
    def name(self) -> str:
        return self._core.name

    def num_params(self) -> int:
        return sum(p.size for p in self.params.values())

    def config(self) -> dict:
        """Constructor arguments (for saving the architecture)."""
        return {"dtype": str(self.dtype)}

    def __repr__(self) -> str:
        return self._core.name

    # -- helpers ---------------------------------------------------------------
    def _check_arity(self, args, verb):
        if len(args) != self.n_inputs:
            raise TypeError(
                f"{self._core.name}: {verb} takes {self.n_inputs} input(s), got {len(args)}"
            )

    def _as_input(self, x, i):
        return as_float_matrix(x, self.dtype, self._core.name, f"input {i}")


def init_dtype(dtype, who: str = "block") -> str:
    try:
        return str(resolve_dtype(dtype))
    except TypeError as e:
        raise TypeError(f"{who}: {e}") from None
