"""The Python face of a block: forward/backward on NumPy arrays, parameters as views.

It also holds the block registry: every concrete `Block` subclass that bricks defines
is registered under its class name when the class is created, and everything that
finds blocks by name (saving and loading, pickling, the ONNX export, the tests and
the documentation checks) reads `registry()`. Adding a block is defining its class:
see docs/content/architecture.md, "Adding a block".

Your own subclasses register too, apart (`user_blocks()`): under their class name, or
under ``module.QualName`` when that name is taken (by a bricks block or another class),
so that one never stands in for another when a file is loaded. A subclass whose
forward and backward are written in Python (docs/content/own-block.md) runs inside
native models through a native ``_core.PyBlock`` that calls back into it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from . import _checks, _core
from ._arrays import as_float_matrix, resolve_dtype
from .node import Node

_REGISTRY: dict = {}  # class name -> class, in definition order
_USER: dict = {}  # your own block classes: key (class name, or module.QualName) -> class


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


def user_blocks():
    """Your own registered block classes (subclasses of `Block` defined outside bricks):
    a read-only mapping from the name saved files record to the class. That name is the
    class name, or ``module.QualName`` when the class name was taken first (by a bricks
    block or another of your classes). A live view, like `registry`."""
    return MappingProxyType(_USER)


def block_class(name: str) -> type:
    """The registered block class called ``name`` (``block_class("Linear") is bk.Linear``):
    a bricks block, or one of yours (`user_blocks`).

    An unknown name is an `UnknownBlockError` (a KeyError and a ValueError) that lists
    the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"block_class: name must be a str, got {type(name).__name__}")
    cls = _REGISTRY.get(name) or _USER.get(name)
    if cls is None:
        mine = f"; yours are {', '.join(_USER)}" if _USER else ""
        raise UnknownBlockError(
            f"unknown block class {name!r}; the blocks are {', '.join(_REGISTRY)}{mine}"
            f" (a class of your own must be defined, e.g. its module imported, before loading)"
        )
    return cls


def _key(cls):
    """The name spec() records for a registered class, or None."""
    if _REGISTRY.get(cls.__name__) is cls:
        return cls.__name__
    return cls.__dict__.get("_block_key")


def _register_user(cls) -> None:
    name = cls.__name__
    prev = _REGISTRY.get(name) or _USER.get(name)
    same = prev is not None and (prev.__module__, prev.__qualname__) == (cls.__module__, cls.__qualname__)
    key = name if prev is None or same else f"{cls.__module__}.{cls.__qualname__}"
    _USER[key] = cls  # the same class again (a cell run twice, a module reloaded): the new one
    cls._block_key = key


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


def formulas(block) -> tuple | None:
    """The forward and backward formulas of a block (an instance or a class), as two
    texts ``(forward, backward)`` (without the docstring's double backquotes), read
    from its class docstring, their one source.

    A block's docstring states its forward first (the opening paragraphs, ending with
    any lines of the backward's paragraph above the line that begins ``Backward``),
    then its backward: from that line to the end of its paragraph, up to ``Shapes:``.
    None when the class's own docstring has no ``Backward`` line (one of your blocks
    without formulas). Blocks show them in Jupyter (``Block._repr_html_``).
    """
    cls = block if isinstance(block, type) else type(block)
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return None
    paragraphs = [p.splitlines() for p in inspect.cleandoc(doc).split("\n\n")]
    for i, lines in enumerate(paragraphs):
        starts = [j for j, line in enumerate(lines) if line.lstrip().startswith("Backward")]
        if starts:
            j = starts[0]
            forward = "\n\n".join("\n".join(p) for p in [*paragraphs[:i], lines[:j]] if p)
            backward = "\n".join(lines[j:]).split("Shapes:")[0]
            return forward.replace("``", "").strip(), backward.replace("``", "").strip()
    return None


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

    Subclasses defined in bricks are registered by class name (see `registry`), your
    own apart (see `user_blocks`); a base that is not itself a block says so with
    ``class Loss(Block, abstract=True)``.

    **Your own block in Python**: subclass `Block`, call ``super().__init__(dtype=...)``
    in ``__init__``, declare parameters with ``self.add_param(name, array)``, and write
    ``forward(self, *xs)`` and ``backward(self, dy)`` in NumPy. backward returns one
    gradient per input (a tuple for several) and **adds** into ``self.grads[name]``.
    The output width is ``out_features(self, *in_features)`` if the class defines it,
    else the first input's width; the number of inputs is ``n_inputs`` if the class sets
    it, else the number of forward's positional arguments. Such a block runs on its own
    and inside `Sequential` and `Model` (the native executor calls back into Python for
    that node only), is trained by the native optimizers, and saves by class name with
    the constructor's arguments as its config. See docs/content/own-block.md.
    """

    n_inputs = 1
    # A parameter-free bricks block built without dtype= takes its inputs' dtype when it
    # joins a graph (its core rebuilt in that dtype); see _adopt_dtype.
    _adopts_dtype = False

    def __init_subclass__(cls, *, abstract: bool = False, **kwargs):
        super().__init_subclass__(**kwargs)
        if _defined_in_bricks(cls):
            if "__init__" in cls.__dict__ and cls._adopts_dtype:
                cls.__init__ = _remembering_init(cls.__dict__["__init__"])
            if not abstract:
                _register(cls)
            return
        if "__init__" in cls.__dict__:  # records the constructor's arguments (the default config)
            cls.__init__ = _recording_init(cls.__dict__["__init__"])
        if _is_python_class(cls):
            for verb in ("forward", "backward"):  # the native core calls the user's; callers go through it
                own = cls.__dict__.get(verb)
                if own is not None:
                    setattr(cls, f"_py_{verb}", own)
                    setattr(cls, verb, getattr(Block, verb))
            if "n_inputs" not in cls.__dict__ and not _sets_n_inputs(cls) and hasattr(cls, "_py_forward"):
                cls.n_inputs = _positional_count(cls._py_forward)
        if not abstract:
            _register_user(cls)

    def __init__(self, core=None, *, dtype=None):
        if core is None:  # a block written in Python
            cls = type(self)
            who = cls.__name__
            if not _is_python_class(cls):
                raise TypeError(f"{who}: Block.__init__ needs a native core here (it derives from a bricks block)")
            missing = [v for v in ("forward", "backward") if not hasattr(cls, f"_py_{v}")]
            if missing:
                raise TypeError(f"{who}: a block written in Python must define {' and '.join(missing)}")
            n = _checks.positive_int(cls.n_inputs, who, "n_inputs", maximum=64, why="a block's inputs")
            core = _core.PyBlock(self, init_dtype(dtype, who), n, who)
        elif not isinstance(core, _core.Block):
            raise TypeError(
                f"{type(self).__name__}: Block.__init__ takes dtype= by keyword (super().__init__(dtype=...)), "
                f"got {core!r:.60} as its native core"
            )
        elif dtype is not None:
            raise TypeError(f"{type(self).__name__}: pass either a native core or dtype=, not both")
        else:  # a native core under Python forward/backward overrides: they stay plain overrides
            for verb in ("forward", "backward"):
                own = getattr(type(self), f"_py_{verb}", None)
                if own is not None:
                    setattr(self, verb, own.__get__(self))
        self._core = core
        self._runner = _core.Runner(core)

    def add_param(self, name: str, value):
        """Declare a parameter of a block written in Python (in its ``__init__``, after
        ``super().__init__``): a copy of ``value`` (1-D or 2-D, finite, converted to the
        block's dtype) in native memory, with a zero gradient. Returns
        ``self.params[name]``, the array viewing it."""
        who = type(self).__name__
        core = self.__dict__.get("_core")
        if not isinstance(core, _core.PyBlock):
            raise TypeError(
                f"{who}: add_param is for blocks written in Python, after super().__init__(dtype=...) in __init__"
            )
        if self.__dict__.get("_init_depth", 0) <= 0:
            raise _core.StateError(
                f"{who}: add_param({name!r}) outside __init__; parameters are declared while the "
                f"block is built (models and optimizers collect them once)"
            )
        if not isinstance(name, str) or not name or any(c in name for c in "./") or not name.isprintable():
            raise ValueError(f"{who}: a parameter name must be a non-empty str without '.' or '/', got {name!r}")
        try:
            arr = np.array(value, dtype=self.dtype, order="C")
        except (TypeError, ValueError) as e:
            raise TypeError(f"{who}: parameter {name!r} must be an array of numbers, got {type(value).__name__}") from e
        if arr.ndim not in (1, 2) or arr.size == 0:
            raise ValueError(f"{who}: parameter {name!r} must be a non-empty 1-D or 2-D array, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{who}: parameter {name!r} contains NaN or infinite values")
        core.add_param(name, arr)
        self.__dict__.pop("_param_views", None)
        return core.param(name)

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
        not reach the block (a block written in Python: assigning copies into the array,
        so ``self.params["w"] -= ...`` works)."""
        if isinstance(self._core, _core.PyBlock):
            return self._views()[0]
        return MappingProxyType({n: self._core.param(n) for n in self._core.param_names()})

    @property
    def grads(self) -> dict:
        """Accumulated gradients, keyed like ``params`` (a read-only mapping of arrays; a
        block written in Python: assigning copies into the array, so
        ``self.grads["w"] += ...`` adds in place)."""
        if isinstance(self._core, _core.PyBlock):
            return self._views()[1]
        return MappingProxyType({n: self._core.grad(n) for n in self._core.param_names()})

    @property
    def buffers(self) -> dict:
        """State that is not trained (BatchNorm's ``running_mean``, ``running_var`` and
        ``num_batches_tracked``) as NumPy arrays viewing native memory, like ``params``: a
        read-only mapping of writable views. Buffers have no gradients, so optimizers,
        gradient clipping and weight decay never see them; saving, loading, pickling and
        PyTorch state dicts carry them. Most blocks have none (an empty mapping)."""
        return MappingProxyType({n: self._core.buffer(n) for n in self._core.buffer_names()})

    def _views(self):
        v = self.__dict__.get("_param_views")
        if v is None:  # built once; add_param drops it (the hot path of a Python node reads it)
            names, who = self._core.param_names(), type(self).__name__
            v = (
                _Views({n: self._core.param(n) for n in names}, who, "parameter"),
                _Views({n: self._core.grad(n) for n in names}, who, "gradient"),
            )
            self.__dict__["_param_views"] = v
        return v

    def __reduce_ex__(self, protocol):
        """pickle and copy.deepcopy: the block's configuration, parameter and buffer values
        (caches and gradients are not copied). A class not registered (abstract) pickles as usual."""
        if _key(type(self)) is None:
            return super().__reduce_ex__(protocol)
        buffers = dict(self.buffers)  # most blocks have none: their pickles stay as they were
        return _unpickle_block, (self.spec(), dict(self.params)) + ((buffers,) if buffers else ())

    def spec(self) -> dict:
        """The block's class name and constructor arguments: what save writes, and
        what ``from_spec`` builds it again from.

        For your own classes the config is ``config()`` if your class defines it, else
        the arguments its constructor was called with; either must be JSON-able."""
        cls = type(self)
        key = _key(cls)
        if key is None:
            raise TypeError(f"{cls.__name__}: an abstract block class has no spec")
        if key == cls.__name__ and _REGISTRY.get(key) is cls:
            return {"class": key, "config": self.config()}
        recorded = self.__dict__.get("_init_args")
        cfg = self.config() if _user_defines(cls, "config") or recorded is None else _bound_args(cls, *recorded)
        import json  # here, not at import: it is needed only to save

        for k, v in cfg.items():
            try:
                json.dumps(v)
            except (TypeError, ValueError):
                raise TypeError(
                    f"{cls.__name__}: cannot save constructor argument {k!r}={v!r:.80} (a {type(v).__name__}, not "
                    f"JSON-able); define config(self) returning JSON-able arguments that rebuild the block"
                ) from None
        return {"class": key, "config": cfg}

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

    def _repr_html_(self) -> str:
        """The block in Jupyter: its name, its config and its forward and backward
        formulas (see `formulas`), escaped."""
        from html import escape as e  # here, not at import: only Jupyter calls this

        try:
            config = self.spec()["config"]  # your own blocks: the arguments they were built with
        except Exception:  # a display never raises: show what is there
            try:
                config = self.config()
            except Exception:
                config = {}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        parts = [f"<strong>{e(type(self).__name__)}</strong>(<code>{e(args)}</code>)"]
        found = formulas(self)
        if found is not None:
            for title, text in zip(("Forward", "Backward"), found):
                parts.append(f"<div><em>{title}</em><pre>{e(text)}</pre></div>")
        return '<div class="bricks-block">' + "".join(parts) + "</div>"

    # -- helpers ---------------------------------------------------------------
    def _adoptable(self) -> bool:  # graph nodes (node.py) ask through these two
        return _adoptable(self)

    def _adopt(self, dtype, what: str, joins_ok: int = 0) -> None:
        _adopt_dtype(self, dtype, what, joins_ok)

    def _native(self, n: int):
        """The native block a graph node with n inputs runs (Add and Concat keep one per n)."""
        return self._core

    def _check_arity(self, args, verb):
        if len(args) != self.n_inputs:
            raise TypeError(f"{self._core.name}: {verb} takes {self.n_inputs} input(s), got {len(args)}")

    def _as_input(self, x, i):
        return as_float_matrix(x, self.dtype, self._core.name, f"input {i}")


class _Views(Mapping):
    """The parameter (or gradient) arrays of a block written in Python: item assignment
    copies into the native array, so ``grads["w"] += g`` accumulates in place."""

    def __init__(self, arrays, who, what):
        self._a, self._who, self._what = arrays, who, what

    def __getitem__(self, k):
        return self._a[k]

    def __iter__(self):
        return iter(self._a)

    def __len__(self):
        return len(self._a)

    def __setitem__(self, k, value):
        if k not in self._a:
            raise KeyError(f"{self._who} has no parameter {k!r} (declare it with add_param in __init__)")
        a = self._a[k]
        if value is a:  # an in-place operator (+=) already wrote it
            return
        if np.shape(value) != a.shape and np.ndim(value) != 0:
            raise ValueError(f"{self._who}: {self._what} {k!r} has shape {a.shape}, got {np.shape(value)}")
        a[...] = value

    def __delitem__(self, k):
        raise TypeError(f"{self._who}: parameters are declared once, in __init__; they cannot be removed")

    def __repr__(self):
        return repr(self._a)


def _is_python_class(cls) -> bool:
    """A class whose only bricks ancestor is Block: its forward/backward are the user's."""
    return not any(_defined_in_bricks(b) and b is not Block for b in cls.__mro__[1:] if issubclass(b, Block))


def _user_defines(cls, name) -> bool:
    for b in cls.__mro__:
        if name in b.__dict__:
            return not _defined_in_bricks(b)
    return False


def _sets_n_inputs(cls) -> bool:
    return any("n_inputs" in b.__dict__ for b in cls.__mro__[1:] if b is not Block and issubclass(b, Block))


def _positional_count(fn) -> int:
    params = list(inspect.signature(fn).parameters.values())[1:]  # without self
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return 1
    return max(1, sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in params))


def _remembering_init(init):
    """Wraps a parameter-free bricks block's __init__: the arguments of the outermost call
    are kept, so that the block can be rebuilt in another dtype (_adopt_dtype)."""

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        outer = "_made_with" not in self.__dict__
        if outer:
            self.__dict__["_made_with"] = None  # marks the call outermost while it runs
        try:
            init(self, *args, **kwargs)
        except BaseException:
            if outer:
                self.__dict__.pop("_made_with", None)
            raise
        if outer:
            self.__dict__["_made_with"] = (args, kwargs)

    return __init__


def _adoptable(block) -> bool:
    """A bricks block without parameters built without dtype=: its dtype follows its inputs'."""
    made = block.__dict__.get("_made_with")
    return (
        type(block)._adopts_dtype
        and _defined_in_bricks(type(block))
        and made is not None
        and made[1].get("dtype") is None
        and not block.params
    )


def _adopt_dtype(block, dtype, what: str, joins_ok: int = 0) -> None:
    """Rebuild ``block`` in ``dtype`` (a block of _adoptable that has joined at most
    ``joins_ok`` graph nodes); else the TypeError of a dtype mismatch."""
    dtype = np.dtype(dtype)
    if block.dtype == dtype:
        return
    if not _adoptable(block) or block.__dict__.get("_joins", 0) > joins_ok:
        why = (
            "it was built with that dtype" if not _adoptable(block) else "it is already used in the graph in its dtype"
        )
        raise TypeError(f"{block.name}: its dtype {block.dtype} differs from {what}'s {dtype} ({why})")
    args, kwargs = block.__dict__["_made_with"]
    training = block.training
    block.__dict__.pop("_made_with")
    type(block).__init__(block, *args, **{**kwargs, "dtype": dtype})
    block.__dict__["_made_with"] = (args, kwargs)  # still built without dtype=
    block.train(training)


def _recording_init(init):
    """Wraps a user class's __init__: the outermost call records its arguments (the
    default config), add_param is allowed while it runs, and it must set up the core."""

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        depth = self.__dict__.get("_init_depth", 0)
        if depth == 0:
            self.__dict__["_init_args"] = (args, kwargs)
        self.__dict__["_init_depth"] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            self.__dict__["_init_depth"] = depth
        if depth == 0 and "_core" not in self.__dict__:
            raise TypeError(f"{type(self).__name__}: __init__ must call super().__init__(dtype=...)")

    return __init__


def _bound_args(cls, args, kwargs) -> dict:
    """The constructor's arguments by name (what it was called with; defaults apply again)."""
    sig = inspect.signature(cls.__init__)
    bound = sig.bind(None, *args, **kwargs)
    cfg = {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = sig.parameters[name].kind
        if kind == inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise TypeError(
                    f"{cls.__name__}: cannot record *{name} as a config; define config(self) returning "
                    f"keyword arguments that rebuild the block"
                )
        elif kind == inspect.Parameter.VAR_KEYWORD:
            cfg.update(value)
        else:
            cfg[name] = value
    if "dtype" in cfg:
        cfg["dtype"] = str(resolve_dtype(cfg["dtype"]))
    return cfg


def _takes(cls, name) -> bool:
    params = inspect.signature(cls.__init__).parameters.values()
    return any(p.name == name or p.kind == inspect.Parameter.VAR_KEYWORD for p in params)


def init_dtype(dtype, who: str = "block") -> str:
    try:
        return str(resolve_dtype(dtype))
    except TypeError as e:
        raise TypeError(f"{who}: {e}") from None


def from_spec(spec, who: str = "load"):
    """A new block from ``Block.spec()``'s dict, its class found in the registry (or
    among your own classes, `user_blocks`)."""
    name = spec.get("class")
    cls = (_REGISTRY.get(name) or _USER.get(name)) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"{who}: unknown block class {name!r}; a class of your own must be defined "
            f"(its module imported) before loading"
        )
    cfg = dict(spec.get("config", {}))
    if _REGISTRY.get(name) is cls or "dtype" not in cfg or _takes(cls, "dtype"):
        return cls(**cfg)
    want = np.dtype(cfg.pop("dtype"))  # a constructor without dtype=: the block must come out right
    block = cls(**cfg)
    if block.dtype != want:
        raise ValueError(f"{who}: {name} was built as {block.dtype}, the file holds {want}")
    return block


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
