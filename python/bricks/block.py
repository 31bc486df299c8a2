"""The Python face of a block: forward/backward on NumPy arrays, parameters as views.

It also holds the block registry: every concrete `Block` subclass that bricks defines
is registered under its class name when the class is created, and everything that
finds blocks by name (saving and loading, pickling, the ONNX export, the tests and
the documentation checks) reads `registry()`. Adding a block is defining its class:
see docs/content/architecture.md, "Adding a block".
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from . import _checks, _core
from ._arrays import as_float_matrix, resolve_dtype
from .node import Node

_REGISTRY: dict = {}  # class name -> class, in definition order


class UnknownBlockError(KeyError, ValueError):
    """`block_class` was given a name that is not a registered block: a KeyError (a
    lookup that failed) and a ValueError (a bad name in a file or an argument)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


def registry():
    """The registered block classes: a read-only mapping from class name to class, in
    the order they were defined (``{"Linear": bricks.Linear, "ReLU": bricks.ReLU, ...}``).

    Every concrete block bricks defines is in it; abstract bases (`Block`, `Loss`) are
    not, nor are subclasses defined outside bricks (your own Python blocks), so that a
    class of yours never shadows a bricks block when a file is loaded. It is a live
    view: a block class defined later appears in it."""
    return MappingProxyType(_REGISTRY)


def block_class(name: str) -> type:
    """The registered block class called ``name`` (``block_class("Linear") is bk.Linear``).

    An unknown name is an `UnknownBlockError` (a KeyError and a ValueError) that lists
    the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"block_class: name must be a str, got {type(name).__name__}")
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBlockError(f"unknown block class {name!r}; the blocks are {', '.join(_REGISTRY)}") from None


def _defined_in_bricks(cls) -> bool:
    module = getattr(cls, "__module__", "") or ""
    return module == "bricks" or module.startswith("bricks.")


def _register(cls) -> None:
    name = cls.__name__
    prev = _REGISTRY.get(name)
    same = prev is not None and (prev.__module__, prev.__qualname__) == (cls.__module__, cls.__qualname__)
    if prev is not None and not same:
        raise TypeError(
            f"Block: two block classes are named {name!r} ({prev.__module__}.{prev.__qualname__} "
            f"and {cls.__module__}.{cls.__qualname__}); a block's class name is its name in "
            f"saved files and must be unique"
        )
    _REGISTRY[name] = cls  # the same class again (a module reloaded): the new one


def manual_seed(seed: int) -> None:
    """Seed the stream that blocks built without ``seed=`` draw their seeds from.

    The same seed followed by the same constructions gives the same weights and
    dropout masks, bit for bit.
    """
    _core.manual_seed(_checks.seed(seed, "manual_seed") % 2**64)


def _seed(seed, who: str = "block") -> int:
    seed = _checks.seed(seed, who, none=True)
    return _core.next_seed() if seed is None else seed % 2**64


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

    Subclasses defined in bricks are registered by class name (see `registry`);
    a base that is not itself a block says so with ``class Loss(Block, abstract=True)``.
    """

    n_inputs = 1

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if not abstract and _defined_in_bricks(cls):
            _register(cls)

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

    @property
    def buffers(self) -> dict:
        """State that is not trained (BatchNorm's ``running_mean``, ``running_var`` and
        ``num_batches_tracked``) as NumPy arrays viewing native memory, like ``params``: a
        read-only mapping of writable views. Buffers have no gradients, so optimizers,
        gradient clipping and weight decay never see them; saving, loading, pickling and
        PyTorch state dicts carry them. Most blocks have none (an empty mapping)."""
        return MappingProxyType({n: self._core.buffer(n) for n in self._core.buffer_names()})

    def __reduce_ex__(self, protocol):
        """pickle and copy.deepcopy: the block's configuration, parameter and buffer values
        (caches and gradients are not copied). Blocks defined in Python pickle as usual."""
        if _REGISTRY.get(type(self).__name__) is not type(self):
            return super().__reduce_ex__(protocol)
        buffers = dict(self.buffers)  # most blocks have none: their pickles stay as they were
        return _unpickle_block, (self.spec(), dict(self.params)) + ((buffers,) if buffers else ())

    def spec(self) -> dict:
        """The block's class name and constructor arguments: what save writes, and
        what ``from_spec`` builds it again from."""
        return {"class": type(self).__name__, "config": self.config()}

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
    def _native(self, n: int):
        """The native block a graph node with n inputs runs (Add and Concat keep one per n)."""
        return self._core

    def _check_arity(self, args, verb):
        if len(args) != self.n_inputs:
            raise TypeError(f"{self._core.name}: {verb} takes {self.n_inputs} input(s), got {len(args)}")

    def _as_input(self, x, i):
        return as_float_matrix(x, self.dtype, self._core.name, f"input {i}")


def init_dtype(dtype, who: str = "block") -> str:
    try:
        return str(resolve_dtype(dtype))
    except TypeError as e:
        raise TypeError(f"{who}: {e}") from None


def from_spec(spec, who: str = "load"):
    """A new block from ``Block.spec()``'s dict, its class found in the registry."""
    cls = _REGISTRY.get(spec.get("class"))
    if cls is None:
        raise ValueError(f"{who}: unknown block class {spec.get('class')!r}")
    return cls(**dict(spec.get("config", {})))


def _unpickle_block(spec, params, buffers=None):
    block = from_spec(spec, "unpickle")
    pairs = []
    for what, got, want in (("parameter", params, block.params), ("buffer", buffers or {}, block.buffers)):
        if set(got) != set(want):
            raise ValueError(f"unpickle {block.name}: expected {what}s {sorted(want)}, got {sorted(got)}")
        for k, a in want.items():  # all checked before any is written
            v = np.asarray(got[k])
            if v.shape != a.shape or v.dtype != a.dtype:
                raise ValueError(
                    f"unpickle {block.name}: {what} {k!r} is {v.dtype} {v.shape}, expected {a.dtype} {a.shape}"
                )
            if not np.isfinite(v).all():
                raise ValueError(f"unpickle {block.name}: {what} {k!r} contains NaN or infinite values")
            if what == "buffer" and k in NONNEGATIVE_BUFFERS and (v < 0).any():
                raise ValueError(f"unpickle {block.name}: buffer {k!r} holds negative values; expected values >= 0")
            pairs.append((a, v))
    for a, v in pairs:
        a[...] = v
    return block


# Buffers whose values are never negative (a variance, a count): loading checks them.
NONNEGATIVE_BUFFERS = frozenset({"running_var", "num_batches_tracked"})
