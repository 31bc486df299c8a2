"""Optimizers: the update runs natively over every parameter buffer."""
from __future__ import annotations

from . import _core
from .block import Block


def _blocks(params) -> list:
    from .graph import Model

    if isinstance(params, Model):
        return params._core_blocks()
    if isinstance(params, Block):
        return [params._core]
    blocks = []
    for p in params:
        if isinstance(p, Model):
            blocks.extend(p._core_blocks())
        elif isinstance(p, Block):
            blocks.append(p._core)
        else:
            raise TypeError(f"SGD: expected blocks or a model, got {type(p).__name__}")
    return blocks


class SGD:
    r"""Stochastic gradient descent, θ ← θ − α ∇θL, with PyTorch's ``torch.optim.SGD`` semantics:

        g = ∇θL + weight_decay · θ
        if momentum: buf = g on the first step, else buf = momentum · buf + (1 − dampening) · g;
                     g = g + momentum · buf if nesterov else buf
        θ ← θ − lr · g

    Args:
        params: a model, a block, or a list of blocks.
        lr: learning rate α (≥ 0).
        momentum, dampening, weight_decay: ≥ 0. nesterov needs momentum > 0, dampening 0.

    ``step()`` applies one update from the accumulated gradients; ``zero_grad()``
    clears them. Parameters shared by several blocks are updated once.
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        for n, v in (("lr", lr), ("momentum", momentum), ("dampening", dampening),
                     ("weight_decay", weight_decay)):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"SGD: {n} must be a number, got {type(v).__name__}")
        self._core = _core.SGD(_blocks(params), float(lr), float(momentum), float(dampening),
                               float(weight_decay), bool(nesterov))
        self.defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                         "weight_decay": weight_decay, "nesterov": nesterov}

    def step(self) -> None:
        self._core.step()

    def zero_grad(self) -> None:
        self._core.zero_grad()

    @property
    def lr(self) -> float:
        return self._core.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._core.lr = float(value)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"SGD({args})"
