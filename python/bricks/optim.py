"""Optimizers (native updates over every parameter buffer) and learning-rate schedules."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from . import _checks, _core
from ._compat import ParamDict, param_owner
from .block import Block


def _is_model(p) -> bool:  # a Model or Sequential (optim sits below graph: no import of it)
    return hasattr(p, "native_blocks") and hasattr(p, "build_for")


def _spelling(who) -> str:
    return f"params must be a model, blocks or model.params; write {who}(model, lr=...)"


def _blocks(params, who) -> list:
    """The native blocks an optimizer updates: from a model, a block, ``model.params``
    (called or not), ``model.params.values()``, or a list of blocks or of those arrays."""
    if isinstance(params, ParamDict) and params.owner is not None:
        params = params.owner
    elif isinstance(params, Mapping):  # a block's params, or a dict of a model's arrays
        params = list(params.values())
    if isinstance(params, Block) or _is_model(params):
        items = [params]
    elif isinstance(params, (str, bytes, np.ndarray)):
        items = [params]
    else:
        try:
            items = list(params)
        except TypeError:
            raise TypeError(f"{who}: {_spelling(who)}; got {type(params).__name__} {params!r:.60}") from None
    blocks, seen = [], set()
    for p in items:
        if _is_model(p):
            found = list(p.native_blocks)
        elif isinstance(p, Block):
            found = [p._core]
        elif param_owner(p) is not None:
            found = [param_owner(p)]
        else:
            what = "an array that is no model's parameter" if isinstance(p, np.ndarray) else repr(p)[:60]
            raise TypeError(f"{who}: {_spelling(who)}; got {type(p).__name__} {what}")
        for b in found:
            if id(b) not in seen:
                seen.add(id(b))
                blocks.append(b)
    if not any(b.param_names() for b in blocks):  # as PyTorch: nothing to optimize is a mistake
        raise ValueError(
            f"{who}: got an empty parameter list ({len(blocks)} block(s), none with "
            f"parameters); pass the model or its Linear blocks"
        )
    return blocks


class Optimizer:
    """Base of the optimizers: ``step()``, ``zero_grad()``, ``lr``, ``clip_norm``.

    ``clip_norm`` > 0 rescales the gradients before each update so that their global
    L2 norm is at most ``clip_norm`` (as ``torch.nn.utils.clip_grad_norm_``).
    """

    def __init__(self, core, defaults, clip_norm, blocks=()):
        self._core = core
        self._param_blocks = list(blocks)  # the core blocks whose parameters it updates
        self.defaults = defaults
        self.clip_norm = clip_norm

    def step(self) -> None:
        self._core.step()

    def zero_grad(self) -> None:
        self._core.zero_grad()

    @property
    def lr(self) -> float:
        return self._core.lr

    @lr.setter
    def lr(self, value) -> None:
        self._core.lr = _checks.number(value, type(self).__name__, "lr")

    @property
    def clip_norm(self) -> float:
        return self._core.clip_norm

    @clip_norm.setter
    def clip_norm(self, value) -> None:
        self._core.clip_norm = 0.0 if value is None else _checks.number(value, type(self).__name__, "clip_norm")

    def state_dict(self) -> dict:
        """Hyper-parameters, step count and state buffers (copies)."""
        return {
            "type": type(self).__name__,
            "defaults": dict(self.defaults),
            "lr": self.lr,
            "clip_norm": self.clip_norm,
            "steps": self._core.steps,
            "state": list(self._core.get_state()),
        }

    def load_state_dict(self, state: dict) -> None:
        name = type(self).__name__
        if not isinstance(state, dict):
            raise TypeError(f"{name}: state must be a dict from state_dict(), got {type(state).__name__}")
        missing = [k for k in ("type", "state", "steps", "lr", "clip_norm") if k not in state]
        if missing:
            raise ValueError(f"{name}: state lacks {missing}")
        if state["type"] != name:
            raise ValueError(f"{name}: state is for {state['type']!r}")
        steps = _checks.non_negative_int(state["steps"], name, "steps")
        self._core.set_state(list(state["state"]))
        self._core.steps = int(steps)
        self.lr = state["lr"]
        self.clip_norm = state["clip_norm"]

    def __repr__(self) -> str:  # the live lr and clip_norm (schedules and users change them)
        now = {**self.defaults, "lr": self.lr}
        if self.clip_norm:
            now["clip_norm"] = self.clip_norm
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in now.items())})"


def check_optimizer(opt, model, who):
    """An optimizer that updates this model's parameters (not another model's)."""
    if not isinstance(opt, Optimizer):
        raise TypeError(f"{who}: optimizer must be a bricks optimizer (bk.SGD, bk.Adam, ...), got {type(opt).__name__}")
    mine = {id(b) for b in opt._param_blocks}
    cores = [b for b in model.native_blocks if b.param_names()]
    if cores and not any(id(b) in mine for b in cores):
        raise ValueError(
            f"{who}: the optimizer holds the parameters of other blocks than this model's; "
            f"build it with {type(opt).__name__}(model, ...)"
        )
    return opt


class SGD(Optimizer):
    r"""Stochastic gradient descent, θ ← θ − α ∇θL, with PyTorch's ``torch.optim.SGD`` semantics:

        g = ∇θL + weight_decay · θ
        if momentum: buf = g on the first step, else buf = momentum · buf + (1 − dampening) · g;
                     g = g + momentum · buf if nesterov else buf
        θ ← θ − lr · g

    Args:
        params: a model, a block, or a list of them; or ``model.parameters()``,
            ``model.params`` (called or not), ``model.params.values()`` or a list of those arrays.
        lr: learning rate α (≥ 0). momentum, dampening, weight_decay: ≥ 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        clip_norm: clip the gradients' global norm first (0/None: off).
    """

    def __init__(
        self,
        params,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        clip_norm=None,
    ):
        d = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": bool(nesterov),
        }
        blocks = _blocks(params, "SGD")
        core = _core.SGD(
            blocks,
            *(_checks.number(d[k], "SGD", k) for k in ("lr", "momentum", "dampening", "weight_decay")),
            bool(nesterov),
        )
        super().__init__(core, d, clip_norm, blocks)


class Adam(Optimizer):
    r"""Adam with PyTorch's ``torch.optim.Adam`` semantics (bias-corrected moments):

    g = ∇θL + weight_decay · θ
    m = β1 m + (1 − β1) g;   v = β2 v + (1 − β2) g²;   t = step number
    θ ← θ − lr · (m / (1 − β1ᵗ)) / (sqrt(v / (1 − β2ᵗ)) + eps)
    """

    _decoupled = False

    def __init__(
        self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0, clip_norm=None
    ):
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: betas must be a pair of numbers, got {betas!r}")
        d = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        blocks = _blocks(params, name)
        core = _core.Adam(
            blocks,
            _checks.number(lr, name, "lr"),
            _checks.number(betas[0], name, "beta1"),
            _checks.number(betas[1], name, "beta2"),
            _checks.number(eps, name, "eps"),
            _checks.number(weight_decay, name, "weight_decay"),
            self._decoupled,
        )
        super().__init__(core, d, clip_norm, blocks)


class AdamW(Adam):
    r"""AdamW (``torch.optim.AdamW``): decoupled weight decay, θ ← θ (1 − lr · weight_decay)
    before the Adam update (which then uses the plain gradient). Default weight_decay 0.01."""

    _decoupled = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        clip_norm=None,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, clip_norm)


# -- learning-rate schedules (per epoch, like Keras' LearningRateScheduler) -------------
class Schedule:
    """lr for an epoch (0-based), given the initial lr. Subclasses define ``__call__``."""

    def __call__(self, epoch: int, base_lr: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class StepLR(Schedule):
    """lr = base · gamma^(epoch // step_size)."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        step_size = _checks.positive_int(step_size, "StepLR", "step_size")
        self.step_size, self.gamma = step_size, float(gamma)

    def __call__(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(Schedule):
    """lr = base · gamma^epoch."""

    def __init__(self, gamma: float):
        self.gamma = float(gamma)

    def __call__(self, epoch, base_lr):
        return base_lr * self.gamma**epoch


class CosineAnnealingLR(Schedule):
    """lr = eta_min + (base − eta_min) (1 + cos(π · epoch / T_max)) / 2."""

    def __init__(self, T_max: int, eta_min: float = 0.0):
        T_max = _checks.positive_int(T_max, "CosineAnnealingLR", "T_max")
        self.T_max, self.eta_min = T_max, float(eta_min)

    def __call__(self, epoch, base_lr):
        e = min(epoch, self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * e / self.T_max)) / 2


class LambdaLR(Schedule):
    """lr = base · fn(epoch)."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError("LambdaLR: fn must be callable")
        self.fn = fn

    def __call__(self, epoch, base_lr):
        return base_lr * float(self.fn(epoch))


# -- optimizers by name, for compile(optimizer="...") with Keras's defaults ---------------
_BY_NAME = {
    "sgd": (SGD, {"lr": 0.01}),
    "adam": (Adam, {"lr": 1e-3, "eps": 1e-7}),
    "adamw": (AdamW, {"lr": 1e-3, "eps": 1e-7, "weight_decay": 0.004}),
}


def names() -> list:
    """The optimizer names ``compile(optimizer=...)`` takes."""
    return sorted(_BY_NAME)


def from_name(name: str, params, who: str = "compile") -> Optimizer:
    """A new optimizer over ``params`` (a model) for a name of ``names()``, with Keras's
    defaults: ``"sgd"`` SGD(lr=0.01), ``"adam"`` Adam(lr=0.001, eps=1e-7), ``"adamw"``
    AdamW(lr=0.001, eps=1e-7, weight_decay=0.004). Other settings: build the
    optimizer yourself, ``bk.Adam(model, lr=...)``."""
    if not isinstance(name, str):
        raise TypeError(f"{who}: an optimizer name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in _BY_NAME:
        import difflib  # here, not at import: only a misspelled name needs it

        close = difflib.get_close_matches(key, list(_BY_NAME), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"{who}: unknown optimizer {name!r}{hint}; known: {names()} (or a bricks optimizer, e.g. bk.Adam(model))"
        )
    cls, defaults = _BY_NAME[key]
    return cls(params, **defaults)
