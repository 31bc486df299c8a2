"""Independent NumPy reference implementations of every block, from the lecture's formulas.

Each function takes float64 arrays (one sample per row) and returns ``(y, vjp)``:
``y`` is the output (a float for losses) and ``vjp(dy)`` returns
``(input_grads, param_grads)``, the gradient of <y, dy> with respect to every input
(a list; ``None`` for integer class labels) and to every parameter (a dict).
Nothing here calls bricks.
"""

import math

import numpy as np


def _no_params(*input_grads):
    return list(input_grads), {}


def _sigmoid(x):
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _log_softmax(x):
    s = x - x.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


# -- blocks ------------------------------------------------------------------------
def linear(x, weight, bias=None):
    """y = x Wᵀ + b (W is (out, in)); dx = dy W, dW = dyᵀ x, db = Σ_rows dy."""
    y = x @ weight.T + (0.0 if bias is None else bias)

    def vjp(dy):
        grads = {"weight": dy.T @ x}
        if bias is not None:
            grads["bias"] = dy.sum(axis=0)
        return [dy @ weight], grads

    return y, vjp


def relu(x):
    return np.maximum(x, 0.0), lambda dy: _no_params(dy * (x > 0))


def sigmoid(x):
    y = _sigmoid(x)
    return y, lambda dy: _no_params(dy * y * (1.0 - y))


def tanh(x):
    y = np.tanh(x)
    return y, lambda dy: _no_params(dy * (1.0 - y * y))


def leaky_relu(x, negative_slope=0.01):
    """y = x (x > 0) or slope x; dx = dy or slope dy (the slope at 0, PyTorch's choice)."""
    pos = x > 0
    return np.where(pos, x, negative_slope * x), lambda dy: _no_params(np.where(pos, dy, negative_slope * dy))


def elu(x, alpha=1.0):
    """y = x (x > 0) or alpha (e^x - 1); dx = dy or dy alpha e^x (alpha at 0, PyTorch's choice)."""
    pos, neg = x > 0, np.minimum(x, 0.0)
    return np.where(pos, x, alpha * np.expm1(neg)), lambda dy: _no_params(np.where(pos, dy, dy * alpha * np.exp(neg)))


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def gelu(x, approximate="none"):
    """none: y = x Phi(x), dx = dy (Phi + x phi); tanh: y = x/2 (1 + tanh u), u = sqrt(2/pi) (x + 0.044715 x^3)."""
    if approximate == "tanh":
        # PyTorch's formulas as written (bricks computes 0.5 (1 + tanh u) as sigmoid(2u))
        k = math.sqrt(2.0 / math.pi)
        xc = np.clip(x, -1e4, 1e4)  # x^3 stays finite; tanh has long saturated there
        t = np.tanh(k * (xc + 0.044715 * xc**3))
        du = k * (1.0 + 3 * 0.044715 * xc**2)
        return 0.5 * x * (1.0 + t), lambda dy: _no_params(dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du))
    cdf = 0.5 * _erfc(-x / math.sqrt(2.0))
    pdf = np.exp(-0.5 * np.minimum(x * x, 1e4)) / math.sqrt(2.0 * math.pi)
    return x * cdf, lambda dy: _no_params(dy * (cdf + x * pdf))


def softplus(x, beta=1.0, threshold=20.0):
    """y = log(1 + e^{beta x}) / beta, or x where beta x > threshold; dx = dy sigmoid(beta x), or dy there."""
    z = beta * x
    lin = z > threshold
    sp = (np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))) / beta
    return np.where(lin, x, sp), lambda dy: _no_params(np.where(lin, dy, dy * _sigmoid(z)))


def softmax(x):
    y = np.exp(_log_softmax(x))
    return y, lambda dy: _no_params(y * (dy - (dy * y).sum(axis=1, keepdims=True)))


def log_softmax(x):
    y = _log_softmax(x)
    return y, lambda dy: _no_params(dy - np.exp(y) * dy.sum(axis=1, keepdims=True))


def hadamard(a, b):
    return a * b, lambda dy: _no_params(dy * b, dy * a)


def add(*xs):
    """y = Σ_k x_k; every input's gradient is dy."""
    return sum(xs[1:], xs[0].copy()), lambda dy: _no_params(*[dy.copy() for _ in xs])


def concat(*xs):
    """y = [x_1 | ... | x_n] along the features; dy split back by the input widths."""
    cuts = np.cumsum([x.shape[1] for x in xs])[:-1]
    return np.concatenate(xs, axis=1), lambda dy: _no_params(*np.split(dy, cuts, axis=1))


def identity(x):
    return x.copy(), lambda dy: _no_params(dy.copy())


def dropout(x, mask):
    """Dropout with a given mask (0 or 1/(1-p) in training, all ones in eval)."""
    return x * mask, lambda dy: _no_params(dy * mask)


# -- losses: mean over the N rows of a sum over features; vjp(dL) with dL a float -----
def _sw(sample_weight, n):
    """Per-sample weights as a column (ones without)."""
    return np.ones((n, 1)) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(n, 1)


def mse_loss(x, t, sample_weight=None):
    n = x.shape[0]
    s = _sw(sample_weight, n)
    return (s * (x - t) ** 2).sum() / n, lambda dL: _no_params(dL * s * 2 * (x - t) / n, dL * s * 2 * (t - x) / n)


def _log_clamped(p):
    return np.maximum(np.log(np.maximum(p, 1e-300)), -100.0)


def bce_loss(p, t, sample_weight=None):
    n = p.shape[0]
    s = _sw(sample_weight, n)
    lp, lq = _log_clamped(p), _log_clamped(1.0 - p)
    loss = -(s * (t * lp + (1.0 - t) * lq)).sum() / n
    return loss, lambda dL: _no_params(dL * s * (p - t) / (n * np.maximum(p * (1 - p), 1e-12)), dL * s * (lq - lp) / n)


def bce_with_logits_loss(x, t, sample_weight=None):
    n = x.shape[0]
    s = _sw(sample_weight, n)
    loss = (s * (np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x))))).sum() / n
    return loss, lambda dL: _no_params(dL * s * (_sigmoid(x) - t) / n, dL * s * -x / n)


def cross_entropy_loss(x, t, weight=None, sample_weight=None):
    """t: integer labels (N,) (no gradient) or rows (N, C), which need not sum to 1.
    weight: class weights (C,), PyTorch's: for labels the mean is weighted (divided by
    the sum of the samples' class weights), for rows it is divided by N."""
    n, c = x.shape
    labels = t.ndim == 1
    cw = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    s = _sw(sample_weight, n)
    rows = np.eye(c)[t] if labels else t
    wrows = rows * cw  # c_j t_ij
    z = cw[t].sum() if labels and weight is not None else n
    ls = _log_softmax(x)
    loss = -(s * wrows * ls).sum() / z if z > 0 else 0.0

    def vjp(dL):
        k = dL / z if z > 0 else 0.0
        dx = k * s * (np.exp(ls) * wrows.sum(axis=1, keepdims=True) - wrows)
        return _no_params(dx, None if labels else -k * s * cw * ls)

    return loss, vjp


# -- normalisation: written out from the definitions, no shortcut formula for the vjp -----
def _normalize(x, axis, eps):
    mu = x.mean(axis=axis, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axis, keepdims=True)
    return (x - mu) / np.sqrt(var + eps), mu, var


def _norm_vjp(x, axis, eps, weight, dy):
    """dL/dx of y = γ (x - μ) / √(σ² + ε) by the chain rule through μ and σ² (not the
    folded formula the blocks use): dx = dx̂ r + dσ² 2(x - μ)/n + dμ / n."""
    n = x.shape[axis]
    mu = x.mean(axis=axis, keepdims=True)
    d = x - mu
    var = (d**2).mean(axis=axis, keepdims=True)
    r = 1.0 / np.sqrt(var + eps)
    dxh = dy * weight
    dvar = (dxh * d).sum(axis=axis, keepdims=True) * -0.5 * r**3
    dmu = -(dxh * r).sum(axis=axis, keepdims=True) - dvar * 2.0 * d.sum(axis=axis, keepdims=True) / n
    return dxh * r + dvar * 2.0 * d / n + dmu / n


def layer_norm(x, weight=None, bias=None, eps=1e-5):
    """y = γ x̂ + β with x̂ normalised over each row's features (biased variance)."""
    xh = _normalize(x, 1, eps)[0]
    g = 1.0 if weight is None else weight
    y = g * xh + (0.0 if bias is None else bias)

    def vjp(dy):
        grads = {} if weight is None else {"weight": (dy * xh).sum(axis=0), "bias": dy.sum(axis=0)}
        return [_norm_vjp(x, 1, eps, g, dy)], grads

    return y, vjp


def batch_norm(x, weight, bias, running_mean, running_var, training, eps=1e-5):
    """Training: x̂ normalised over the batch for each feature (biased variance), the
    running statistics unused; eval: x̂ = (x - running_mean) / √(running_var + ε), constants."""
    if training:
        xh = _normalize(x, 0, eps)[0]
    else:
        xh = (x - running_mean) / np.sqrt(running_var + eps)
    y = weight * xh + bias

    def vjp(dy):
        dx = _norm_vjp(x, 0, eps, weight, dy) if training else dy * weight / np.sqrt(running_var + eps)
        return [dx], {"weight": (dy * xh).sum(axis=0), "bias": dy.sum(axis=0)}

    return y, vjp


def batch_norm_running(running_mean, running_var, x, momentum):
    """The running statistics after one training forward on x (PyTorch's update)."""
    n = x.shape[0]
    mu, var = x.mean(axis=0), x.var(axis=0)
    return (1 - momentum) * running_mean + momentum * mu, (1 - momentum) * running_var + momentum * var * n / (n - 1)
