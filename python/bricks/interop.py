"""PyTorch weights in and out, without importing PyTorch.

A chain of blocks is named as the equivalent ``torch.nn.Sequential`` names it: the
i-th block (activations and Dropout count too) owns ``"<i>.weight"`` and
``"<i>.bias"``. Linear weights are (out, in) in both libraries, so arrays move
unchanged:

    bricks                                   torch
    Sequential(Linear(4, 8), ReLU(),         nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
               Dropout(0.1), Linear(8, 3),                 nn.Dropout(0.1), nn.Linear(8, 3),
               Softmax())                                  nn.Softmax(dim=1))
    keys: 0.weight 0.bias 3.weight 3.bias    the same keys, the same shapes

    >>> torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    >>> bk.from_state_dict(model, torch_model.state_dict())     # tensors are accepted as they are

A general ``bk.Model`` works too when its blocks form one chain from its input to
its output (losses aside); a model called on nodes inside it is inlined, so its blocks
count one by one (``head(enc(x))`` is named as the flat chain). A Sequential nested in
a Sequential is named as PyTorch names a nested ``nn.Sequential``: ``"0.0.weight"``.

Buffers move too, under PyTorch's names: a ``BatchNorm`` at index ``i`` (PyTorch's
``nn.BatchNorm1d``) owns ``"<i>.weight"``, ``"<i>.bias"``, ``"<i>.running_mean"``,
``"<i>.running_var"`` and ``"<i>.num_batches_tracked"`` (an int64 scalar, shape ()),
in that order; a ``LayerNorm`` owns ``"<i>.weight"`` and ``"<i>.bias"``.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .block import NONNEGATIVE_BUFFERS
from .graph import Model
from .sequential import Sequential

__all__ = ["state_dict", "load_state_dict", "from_state_dict", "chain_blocks", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def chain_blocks(model) -> list:
    """The model's blocks in chain order (the indices PyTorch's Sequential would use).

    A ``Sequential`` is a chain by construction. A ``Model`` qualifies when, loss
    nodes aside, its nodes form one path: each takes exactly the previous node
    (the first takes a model input) and the last is the model's only output.
    Anything else is a ``ValueError``.
    """
    if isinstance(model, Sequential):
        return list(model)
    if not isinstance(model, Model):
        raise TypeError(f"state_dict: expected a bricks Model or Sequential, got {type(model).__name__}")
    nodes = [n for n in model.nodes if not n.is_loss]
    if len(model.outputs) != 1 or model.outputs[0].block is None:
        raise ValueError(
            f"state_dict: PyTorch names only chains; this model has "
            f"{len(model.outputs)} outputs (needs exactly one block output)"
        )
    chain, n = [], model.outputs[0]
    while n.block is not None:
        if len(n.inputs) != 1:
            raise ValueError(
                f"state_dict: PyTorch names only chains; node {n.name!r} ({n.block.name}) takes {len(n.inputs)} inputs"
            )
        chain.append(n)
        n = n.inputs[0]
    if n.labels:
        raise ValueError(f"state_dict: the chain starts at the label input {n.name!r}")
    chain.reverse()
    off = [m.name for m in nodes if all(m is not c for c in chain)]
    if off:
        raise ValueError(
            f"state_dict: PyTorch names only chains; nodes {off} are off the path "
            f"from input {n.name!r} to output {model.outputs[0].name!r}"
        )
    return [c.block for c in chain]


def _named(model):
    """[(torch key, block, param or buffer name)] in PyTorch's order."""
    out = []
    for i, blk in enumerate(chain_blocks(model)):
        for p in blk.params:  # Linear: "weight" then "bias", as nn.Linear registers them
            out.append((f"{i}.{p}", blk, p))
        for b in blk.buffers:  # after the parameters, as in a torch module's state_dict
            out.append((f"{i}.{b}", blk, b))
    return out


def _slot(blk, name):
    """The array a key writes to: a parameter, else a buffer."""
    return blk.params[name] if name in blk.params else blk.buffers[name]


def state_dict(model) -> "OrderedDict[str, np.ndarray]":
    """The model's parameters and buffers as PyTorch's ``nn.Sequential`` names and lays them out.

    Returns an ``OrderedDict`` of NumPy copies in the model's dtype: ``"<i>.weight"``
    (out, in) and ``"<i>.bias"`` (out,) for the Linear block at chain index ``i``
    (every block counts, activations and Dropout included); a BatchNorm adds its
    running statistics (``num_batches_tracked`` as an int64 scalar). Load it into PyTorch with
    ``torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})``.
    """
    return OrderedDict((k, np.array(_slot(blk, p), copy=True)) for k, blk, p in _named(model))


def _to_numpy(key, v, integer=False):
    if hasattr(v, "detach") and callable(v.detach):  # a torch tensor (or alike): no torch import
        try:
            v = v.detach().cpu().numpy()
        except Exception as e:  # e.g. bfloat16, which NumPy has no type for
            raise TypeError(
                f"load_state_dict: {key!r} could not be converted to a NumPy array: "
                f"{e} (convert it to float32/float64 first)"
            ) from None
    try:
        a = np.asarray(v)
    except Exception as e:
        raise TypeError(f"load_state_dict: {key!r} is not an array ({type(v).__name__}): {e}") from None
    if integer:  # a counter (num_batches_tracked): PyTorch keeps it as int64
        if a.dtype.kind not in "iu":
            raise TypeError(f"load_state_dict: {key!r} has dtype {a.dtype}; expected an integer count (int64)")
        if a.dtype.kind == "u" and a.size and int(a.max()) > np.iinfo(np.int64).max:
            raise ValueError(f"load_state_dict: {key!r} holds {int(a.max())}, beyond int64")
        return a
    if a.dtype.kind != "f":
        raise TypeError(
            f"load_state_dict: {key!r} has dtype {a.dtype}; expected floating-point weights (float16/32/64)"
        )
    return a


def load_state_dict(model, state_dict, strict: bool = True) -> IncompatibleKeys:
    """Copy PyTorch-named weights (NumPy arrays or torch tensors) into ``model``.

    Keys and shapes are those of `state_dict`. Values are cast to the model's
    dtype. ``strict=True`` (default) makes missing and unexpected keys an error;
    with ``strict=False`` they are skipped and reported in the returned
    ``(missing_keys, unexpected_keys)``, as PyTorch does. Shape, dtype and
    non-finite values are always errors. Everything is checked before anything is
    copied: on error the model is unchanged.
    """
    if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
        raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}")
    named = _named(model)
    want = [k for k, _, _ in named]
    have = list(state_dict.keys())
    bad = [k for k in have if not isinstance(k, str)]
    if bad:
        raise TypeError(f"load_state_dict: keys must be strings, got {bad[:3]!r}")
    missing = [k for k in want if k not in state_dict]
    want_set = set(want)
    unexpected = [k for k in have if k not in want_set]
    if strict and (missing or unexpected):
        hint = ""
        if unexpected and any(k.startswith("module.") for k in unexpected):
            hint = " (strip the 'module.' prefix that DataParallel adds)"
        raise ValueError(
            f"load_state_dict: keys do not match the model's {want}: missing {missing}, unexpected {unexpected}{hint}"
        )
    dtype = np.dtype(model.dtype)
    staged = []
    for k, blk, p in named:
        if k not in state_dict:
            continue
        target = _slot(blk, p)
        a = _to_numpy(k, state_dict[k], integer=target.dtype.kind == "i")
        if a.shape != target.shape:
            raise ValueError(
                f"load_state_dict: shape mismatch for {k!r}: got {tuple(a.shape)}, "
                f"the model has {tuple(target.shape)} ({blk.name}.{p})"
            )
        if not np.all(np.isfinite(a)):
            raise ValueError(f"load_state_dict: {k!r} contains NaN or infinite values")
        if p in NONNEGATIVE_BUFFERS and p not in blk.params and (a < 0).any():
            raise ValueError(f"load_state_dict: {k!r} holds negative values; expected values >= 0")
        staged.append((k, blk, p, a.astype(target.dtype if target.dtype.kind == "i" else dtype, copy=False)))
    seen = {}
    for k, blk, p, a in staged:  # a block used twice in the chain gets one value
        prev = seen.setdefault((id(blk), p), (k, a))
        if prev[1] is not a and not np.array_equal(prev[1], a):
            raise ValueError(
                f"load_state_dict: {prev[0]!r} and {k!r} are the same shared parameter but hold different values"
            )
    for _, blk, p, a in staged:
        _slot(blk, p)[...] = a
    return IncompatibleKeys(missing, unexpected)


def from_state_dict(model, state_dict):
    """Load PyTorch-named weights into ``model`` (strictly: every key, nothing else);
    returns the model. See `load_state_dict`."""
    load_state_dict(model, state_dict, strict=True)
    return model
