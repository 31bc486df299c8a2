"""The lecture's blocks. Shapes: N samples (rows), D features.

Each docstring gives the forward formula, the backward formula for every input
(the vector-Jacobian product for an upstream gradient dy), the shapes, and what
forward caches for backward.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import _checks, _core
from .block import Block, _seed, init_dtype
from .node import _OPERATORS


_MAX_SIZE = 2**31 - 1  # OpenBLAS here takes 32-bit sizes


def _size(v, who: str, name: str) -> int:
    """A layer width: a positive int the matrix kernels can take."""
    return _checks.positive_int(v, who, name, maximum=_MAX_SIZE, why="2**31 - 1, the matrix kernels' 32-bit sizes")


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def _memory_error(who: str, shapes: dict, dtype: str, have: int | None = None) -> MemoryError:
    """Which parameter, of what shape and size, did not fit (std::bad_alloc says none of it)."""
    item = np.dtype(dtype).itemsize
    name, shape = max(shapes.items(), key=lambda kv: math.prod(kv[1]))
    one, total = math.prod(shape) * item, _need(shapes, dtype)
    dims = " x ".join(map(str, shape))
    where = f"; this machine has {_bytes(have)} of memory" if have else ""
    return MemoryError(
        f"{who}: {name} of {dims} {dtype} needs {_bytes(one)} ({_bytes(total)} for all "
        f"parameters with their gradients){where}"
    )


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not on this platform
        return None


def _need(shapes: dict, dtype: str) -> int:
    """Bytes of the parameters and their gradients (the core allocates both)."""
    return 2 * sum(math.prod(s) for s in shapes.values()) * np.dtype(dtype).itemsize


def _check_memory(who: str, shapes: dict, dtype: str) -> None:
    """Refuse parameters beyond the machine's memory before allocating: the allocation
    might succeed (overcommit) and filling it would then swap or be killed. Without
    the machine's size, beyond a 48-bit address space (256 TB) still fails here."""
    have = _physical_memory()
    if _need(shapes, dtype) > (have or 2**48):
        raise _memory_error(who, shapes, dtype, have)


class Linear(Block):
    r"""Fully connected layer: ``y = x Wᵀ + b`` (the lecture's ``y = W x + b``, one sample per row).

    Backward:
        dL/dx = dy W;   dL/dW += dyᵀ x;   dL/db += Σ_rows dy

    Shapes: x (N, in_features), y (N, out_features); ``params["weight"]`` (out, in) as
    in PyTorch, so weights move between the two unchanged; ``params["bias"]`` (out,).
    Caches: x.

    Args:
        in_features, out_features: sizes, positive ints of at most 2**31 - 1. Parameters
            (and their gradients) beyond the machine's memory are a MemoryError naming
            the shape and the bytes, raised before anything is allocated.
        bias: learn an additive bias (default True).
        init: ``"glorot_uniform"`` (default: W ~ U(-a, a), a = sqrt(6 / (in + out)), b = 0),
            ``"he_uniform"`` (a = sqrt(6 / in)), ``"he_normal"`` (W ~ N(0, 2 / in)) or
            ``"torch"`` (W, b ~ U(-k, k), k = 1 / sqrt(in), PyTorch's default).
        dtype: np.float32 (default) or np.float64.
        seed: seed of the initialisation (default: drawn from ``bk.manual_seed``'s stream).
        max_norm: None (default) or c > 0: max-norm regularisation (Srivastava et al. 2014).
            After every optimizer step (``fit``, ``train_step`` and ``optimizer.step()``
            alike, natively) each row w of W, one unit's incoming weights, with
            ‖w‖₂ > c becomes w · c / ‖w‖₂; rows within c are left alone. Saved with the
            model.

    Example:
        >>> lin = bk.Linear(784, 10)
        >>> logits = lin.forward(images)          # (N, 784) -> (N, 10)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        init: str = "glorot_uniform",
        dtype=None,
        seed=None,
        max_norm=None,
    ):
        in_features = _size(in_features, "Linear", "in_features")
        if max_norm is not None:
            max_norm = _checks.positive_float(max_norm, "Linear", "max_norm")
        out_features = _size(out_features, "Linear", "out_features")
        dt = init_dtype(dtype, "Linear")
        shapes = {"weight": (out_features, in_features), **({"bias": (out_features,)} if bias else {})}
        who = f"Linear({in_features}, {out_features})"
        _check_memory(who, shapes, dt)
        try:
            core = _core.Linear(
                in_features, out_features, bool(bias), dt, str(init), _seed(seed, "Linear"), max_norm or 0.0
            )
        except MemoryError:
            raise _memory_error(who, shapes, dt) from None
        super().__init__(core)
        self._cfg = {"in_features": in_features, "out_features": out_features, "bias": bool(bias), "init": str(init)}
        if max_norm is not None:  # only when set: files without it stay as they were
            self._cfg["max_norm"] = max_norm

    @property
    def in_features(self) -> int:
        return self._cfg["in_features"]

    @property
    def out_features(self) -> int:
        return self._cfg["out_features"]

    @property
    def max_norm(self) -> float | None:
        """The max-norm bound c of each row of the weight, or None."""
        return self._cfg.get("max_norm")

    def config(self) -> dict:
        return {**self._cfg, **super().config()}


class _Simple(Block, abstract=True):
    _adopts_dtype = True  # parameter-free: takes its inputs' dtype in a graph
    _core_cls = None

    def __init__(self, *, dtype=None):
        super().__init__(self._core_cls(init_dtype(dtype, type(self).__name__)))


class ReLU(_Simple):
    r"""Rectified linear unit: ``y = max(0, x)``, elementwise.

    Backward: dL/dx = dy ⊙ 1[y > 0] (gates the gradient; 0 at the kink x = 0).
    Shapes: x, y (N, D). Caches: y.
    """

    _core_cls = _core.ReLU


class Sigmoid(_Simple):
    r"""Logistic sigmoid: ``y = 1 / (1 + e^{-x})``, elementwise, stable for any finite x.

    Backward (from the output): dL/dx = dy ⊙ y (1 − y).
    Shapes: x, y (N, D). Caches: y.
    """

    _core_cls = _core.Sigmoid


class Tanh(_Simple):
    r"""Hyperbolic tangent: ``y = tanh(x)``, elementwise.

    Backward (from the output): dL/dx = dy ⊙ (1 − y²).
    Shapes: x, y (N, D). Caches: y.
    """

    _core_cls = _core.Tanh


class LeakyReLU(Block):
    r"""Leaky rectified linear unit: ``y = x`` where x > 0, else ``negative_slope · x``, elementwise.

    Backward: dL/dx = dy where x > 0, else negative_slope · dy (at x = 0 the slope, as
    in PyTorch). Shapes: x, y (N, D). Caches: x.

    Args:
        negative_slope: the slope for x ≤ 0, a finite number (default 0.01, PyTorch's).
    """

    _adopts_dtype = True  # parameter-free: takes its inputs' dtype in a graph

    def __init__(self, negative_slope: float = 0.01, *, dtype=None):
        s = _checks.number(negative_slope, "LeakyReLU", "negative_slope", finite=True)
        super().__init__(_core.LeakyReLU(s, init_dtype(dtype, "LeakyReLU")))
        self._negative_slope = s

    @property
    def negative_slope(self) -> float:
        return self._negative_slope

    def config(self) -> dict:
        return {"negative_slope": self._negative_slope, **super().config()}


class ELU(Block):
    r"""Exponential linear unit: ``y = x`` where x > 0, else ``α (eˣ − 1)``, elementwise.

    Backward: dL/dx = dy where x > 0, else dy · α eˣ (α at x = 0, as in PyTorch;
    computed from x). Shapes: x, y (N, D). Caches: x.

    Args:
        alpha: α, a finite number (default 1.0, PyTorch's).
    """

    _adopts_dtype = True  # parameter-free: takes its inputs' dtype in a graph

    def __init__(self, alpha: float = 1.0, *, dtype=None):
        a = _checks.number(alpha, "ELU", "alpha", finite=True)
        super().__init__(_core.ELU(a, init_dtype(dtype, "ELU")))
        self._alpha = a

    @property
    def alpha(self) -> float:
        return self._alpha

    def config(self) -> dict:
        return {"alpha": self._alpha, **super().config()}


class GELU(Block):
    r"""Gaussian error linear unit, elementwise, in PyTorch's two forms.

    ``approximate="none"``: y = x Φ(x), Φ(x) = (1 + erf(x / √2)) / 2 the standard normal CDF.
    ``approximate="tanh"``: y = ½ x (1 + tanh u), u = √(2/π) (x + 0.044715 x³).

    Backward: "none": dL/dx = dy (Φ(x) + x φ(x)), φ(x) = e^{−x²/2} / √(2π);
    "tanh": dL/dx = dy (½ (1 + tanh u) + ½ x (1 − tanh² u) √(2/π) (1 + 3 · 0.044715 x²)).
    Shapes: x, y (N, D). Caches: x.

    Args:
        approximate: ``"none"`` (default, exact, through erf) or ``"tanh"``.
    """

    _adopts_dtype = True  # parameter-free: takes its inputs' dtype in a graph

    def __init__(self, approximate: str = "none", *, dtype=None):
        a = _checks.choice(approximate, "GELU", "approximate", ("none", "tanh"))
        super().__init__(_core.GELU(a, init_dtype(dtype, "GELU")))
        self._approximate = a

    @property
    def approximate(self) -> str:
        return self._approximate

    def config(self) -> dict:
        return {"approximate": self._approximate, **super().config()}


class Softplus(Block):
    r"""Smooth ReLU: ``y = log(1 + e^{βx}) / β``, elementwise, linear (``y = x``) where βx > threshold.

    Backward: dL/dx = dy · σ(βx), and dL/dx = dy where βx > threshold.
    Shapes: x, y (N, D). Caches: x.

    Args:
        beta: β > 0, finite (default 1.0, PyTorch's).
        threshold: above it (in βx) the block is the identity, a finite number (default 20.0).
    """

    _adopts_dtype = True  # parameter-free: takes its inputs' dtype in a graph

    def __init__(self, beta: float = 1.0, threshold: float = 20.0, *, dtype=None):
        b = _checks.positive_float(beta, "Softplus", "beta")
        t = _checks.number(threshold, "Softplus", "threshold", finite=True)
        super().__init__(_core.Softplus(b, t, init_dtype(dtype, "Softplus")))
        self._beta, self._threshold = b, t

    @property
    def beta(self) -> float:
        return self._beta

    @property
    def threshold(self) -> float:
        return self._threshold

    def config(self) -> dict:
        return {"beta": self._beta, "threshold": self._threshold, **super().config()}


class Softmax(_Simple):
    r"""Row-wise softmax: ``y_ij = e^{x_ij} / Σ_k e^{x_ik}`` (max-shifted: stable for ±1e4).

    Backward: dL/dx = y ⊙ (dy − ⟨dy, y⟩), the inner product taken per row.
    Shapes: x, y (N, C). Caches: y.
    """

    _core_cls = _core.Softmax


class LogSoftmax(_Simple):
    r"""Row-wise log-softmax: ``y_ij = x_ij − log Σ_k e^{x_ik}`` (stable log-sum-exp).

    Backward: dL/dx = dy − softmax(x) ⊙ Σ_k dy_ik, with softmax(x) = e^y.
    Shapes: x, y (N, C). Caches: y.
    """

    _core_cls = _core.LogSoftmax


class Hadamard(_Simple):
    r"""Elementwise product of two inputs: ``y = a ⊙ b`` ("learn conditionals: use softmax").

    Backward: dL/da = dy ⊙ b;   dL/db = dy ⊙ a (never by dividing y by an input).
    Shapes: a, b, y (N, D). Caches: a and b.
    ``forward(a, b)`` returns y; ``backward(dy)`` returns the tuple (dL/da, dL/db).
    """

    n_inputs = 2
    _core_cls = _core.Hadamard


class Identity(_Simple):
    r"""The identity: ``y = x``.

    Backward: dL/dx = dy.
    Shapes: x, y (N, D). Caches: nothing.
    A named pass-through: a placeholder layer, or the skip branch of a residual block.
    """

    _core_cls = _core.Identity


class _Join(Block, abstract=True):
    """A block of n ≥ 2 inputs, n set by each call: one native block per n (the native
    arity is fixed), made when first needed."""

    _adopts_dtype = True  # parameter-free: takes its inputs' dtype in a graph
    _core_cls = None

    def __init__(self, *, dtype=None):
        self._dt = init_dtype(dtype, type(self).__name__)
        self._natives = {}  # n -> (native block, runner)
        super().__init__(self._native(2))

    def _native(self, n: int):
        if n not in self._natives:
            core = self._core_cls(n, self._dt)
            self._natives[n] = (core, _core.Runner(core))
        return self._natives[n][0]

    def _use(self, n: int) -> None:
        self._native(n)
        training = self._core.training
        self._core, self._runner = self._natives[n]
        self._core.training = training

    @property
    def n_inputs(self) -> int:
        """The number of inputs of the last call (2 before any)."""
        return self._core.num_inputs

    def forward(self, *inputs):
        """The output for n ≥ 2 arrays; ``backward(dy)`` then returns n gradients."""
        self._core.invalidate()  # a rejected call leaves no stale cache for backward
        self._check_arity(inputs, "forward")
        self._use(len(inputs))
        return super().forward(*inputs)

    def train(self, mode: bool = True):
        for core, _ in self._natives.values():
            core.training = bool(mode)
        return self

    def _check_arity(self, args, verb):
        if len(args) < 2:
            raise TypeError(f"{self._core.name}: {verb} takes 2 or more inputs, got {len(args)}")


class Add(_Join):
    r"""Elementwise sum of n ≥ 2 inputs of one shape: ``y = x₁ + x₂ + … + xₙ``.

    Backward: dL/dx_k = dy for every input k (the sum hands the gradient to each).
    Shapes: every x_k and y (N, D); inputs of different shapes are a ValueError that
    names both. Caches: nothing.
    ``forward(*xs)`` takes any n ≥ 2 arrays and ``backward(dy)`` returns a tuple of n
    gradients; on graph nodes ``bk.Add()(a, b, c)`` (or ``a + b``) builds one node.
    """

    _core_cls = _core.Add


class Concat(_Join):
    r"""n ≥ 2 inputs joined along the features: ``y = [x₁ | x₂ | … | xₙ]``.

    Backward: dL/dx_k = dy[:, o_k : o_k + D_k] with o_k = D₁ + … + D_{k−1} (dy split by
    columns, each input getting its own).
    Shapes: x_k (N, D_k), y (N, D₁ + … + Dₙ); every input has the same N. Class
    labels cannot be joined (a TypeError). Caches: nothing (the widths are the inputs'
    shapes).
    ``forward(*xs)`` takes any n ≥ 2 arrays and ``backward(dy)`` returns a tuple of n
    gradients.
    """

    _core_cls = _core.Concat


_OPERATORS.update({"+": Add, "*": Hadamard})  # what `a + b` and `a * b` on nodes build


class Dropout(Block):
    r"""Inverted dropout: ``y = x ⊙ m``, ``m_ij = 1[u_ij ≥ p] / (1 − p)``, u ~ U[0, 1), in training mode.

    In eval mode (``blk.eval()``) y = x. The expected value of y is x in both modes.
    Backward: dL/dx = dy ⊙ m (the same mask as the forward; dy in eval mode).
    Shapes: x, y (N, D). Caches: the mask m.

    Args:
        p: drop probability in [0, 1).
        seed: seed of the mask stream (default: drawn from ``bk.manual_seed``'s stream).

    ``reseed(seed)`` restarts the mask stream: the masks that follow are those of a new
    ``Dropout(p, seed=seed)``. Reseeding before every forward keeps the mask fixed, which
    a gradient check in training mode needs:
    ``bk.gradcheck(model, x, setup=lambda: drop.reseed(0))``.
    """

    _adopts_dtype = True  # parameter-free: takes its inputs' dtype in a graph

    def __init__(self, p: float = 0.5, *, dtype=None, seed=None):
        p = _checks.probability(p, "Dropout", "p")
        super().__init__(_core.Dropout(float(p), init_dtype(dtype, "Dropout"), _seed(seed, "Dropout")))
        self._p = float(p)

    @property
    def p(self) -> float:
        return self._p

    def reseed(self, seed: int) -> None:
        """Restart the mask stream from ``seed`` (the masks of a new ``Dropout(p, seed=seed)``)."""
        self._core.reseed(_checks.seed(seed, "Dropout.reseed") % 2**64)

    def config(self) -> dict:
        return {"p": self._p, **super().config()}


class LayerNorm(Block):
    r"""Layer normalisation over the features of each row (PyTorch's ``nn.LayerNorm(features)``).

    Forward, per row i (μ and σ² over the D features, σ² biased):
        μ_i = (1/D) Σ_j x_ij,   σ²_i = (1/D) Σ_j (x_ij − μ_i)²,   r_i = 1 / √(σ²_i + eps)
        x̂_ij = (x_ij − μ_i) r_i,   y_ij = γ_j x̂_ij + β_j   (y = x̂ without elementwise_affine)

    Backward, with ĝ_ij = dy_ij γ_j (through μ and σ² of the row):
        dL/dx_ij = r_i (ĝ_ij − mean_j ĝ_ij − x̂_ij mean_j(ĝ_ij x̂_ij))
        dL/dγ_j += Σ_i dy_ij x̂_ij;   dL/dβ_j += Σ_i dy_ij

    Shapes: x, y (N, features); ``params["weight"]`` (γ, init 1) and ``params["bias"]``
    (β, init 0) are (features,), as in PyTorch. Caches: x̂ and r (one per row).
    Means and variances (two passes), x̂ and every sum are in double precision in both dtypes.

    Args:
        features: the width D, a positive int.
        eps: added to the variance, a finite number > 0 (default 1e-5).
        elementwise_affine: learn γ and β (default True); False: no parameters.
        dtype: np.float32 (default) or np.float64.
    """

    def __init__(self, features: int, eps: float = 1e-5, elementwise_affine: bool = True, *, dtype=None):
        features = _size(features, "LayerNorm", "features")
        eps = _checks.positive_float(eps, "LayerNorm", "eps")
        affine = _checks.boolean(elementwise_affine, "LayerNorm", "elementwise_affine")
        dt = init_dtype(dtype, "LayerNorm")
        _check_memory(f"LayerNorm({features})", {"weight": (features,), "bias": (features,)}, dt)
        super().__init__(_core.LayerNorm(features, eps, affine, dt))
        self._cfg = {"features": features, "eps": eps, "elementwise_affine": affine}

    @property
    def features(self) -> int:
        return self._cfg["features"]

    def config(self) -> dict:
        return {**self._cfg, **super().config()}


class BatchNorm(Block):
    r"""Batch normalisation of each feature over the batch (PyTorch's ``nn.BatchNorm1d(features)``).

    Forward, per feature j. In training mode (``blk.train()``, and during ``fit``) with
    the batch's statistics (σ² biased); in eval mode (``blk.eval()``, ``predict``,
    ``evaluate``) with the running ones:
        training:  μ_j = (1/N) Σ_i x_ij,  σ²_j = (1/N) Σ_i (x_ij − μ_j)²
        eval:      μ_j = running_mean_j,  σ²_j = running_var_j
        r_j = 1 / √(σ²_j + eps),   x̂_ij = (x_ij − μ_j) r_j,   y_ij = γ_j x̂_ij + β_j

    A training forward also updates the buffers (``blk.buffers``, not trained), once per
    forward, as PyTorch does:
        running_mean ← (1 − momentum) running_mean + momentum μ
        running_var  ← (1 − momentum) running_var + momentum σ² N / (N − 1)   (unbiased)
        num_batches_tracked ← num_batches_tracked + 1
    and needs more than one row: a batch of 1 in training mode is a ValueError (call
    ``.eval()`` to normalise single samples with the running statistics).

    Backward, with ĝ_ij = dy_ij γ_j. Training (through the batch's μ and σ²):
        dL/dx_ij = r_j (ĝ_ij − mean_i ĝ_ij − x̂_ij mean_i(ĝ_ij x̂_ij))
    eval (the running statistics are constants):
        dL/dx_ij = r_j ĝ_ij
    both:  dL/dγ_j += Σ_i dy_ij x̂_ij;   dL/dβ_j += Σ_i dy_ij

    Shapes: x, y (N, features); ``params["weight"]`` (γ, init 1), ``params["bias"]``
    (β, init 0), ``buffers["running_mean"]`` (init 0) and ``buffers["running_var"]``
    (init 1) are (features,); ``buffers["num_batches_tracked"]`` is an int64 scalar.
    Caches: x̂, r (one per feature) and whether the forward used batch statistics.
    Means and variances (two passes), x̂ and every sum are in double precision in both dtypes.

    A gradient check in training mode is exact (the output does not depend on the
    running statistics); each of its forwards updates them, and ``bk.gradcheck`` and
    ``bk.jacobian`` put them back when they end.

    Args:
        features: the width D, a positive int.
        eps: added to the variance, a finite number > 0 (default 1e-5).
        momentum: weight of the new batch in the running statistics, in [0, 1] (default 0.1).
        dtype: np.float32 (default) or np.float64.
    """

    def __init__(self, features: int, eps: float = 1e-5, momentum: float = 0.1, *, dtype=None):
        features = _size(features, "BatchNorm", "features")
        eps = _checks.positive_float(eps, "BatchNorm", "eps")
        momentum = _checks.number(momentum, "BatchNorm", "momentum", low=0, high=1)
        dt = init_dtype(dtype, "BatchNorm")
        shapes = {k: (features,) for k in ("weight", "bias", "running_mean", "running_var")}
        _check_memory(f"BatchNorm({features})", shapes, dt)
        super().__init__(_core.BatchNorm(features, eps, momentum, dt))
        self._cfg = {"features": features, "eps": eps, "momentum": momentum}

    @property
    def features(self) -> int:
        return self._cfg["features"]

    def config(self) -> dict:
        return {**self._cfg, **super().config()}
