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


def dropout(x, mask):
    """Dropout with a given mask (0 or 1/(1-p) in training, all ones in eval)."""
    return x * mask, lambda dy: _no_params(dy * mask)


# -- losses: mean over the N rows of a sum over features; vjp(dL) with dL a float -----
def mse_loss(x, t):
    n = x.shape[0]
    return ((x - t) ** 2).sum() / n, lambda dL: _no_params(dL * 2 * (x - t) / n, dL * 2 * (t - x) / n)


def _log_clamped(p):
    return np.maximum(np.log(np.maximum(p, 1e-300)), -100.0)


def bce_loss(p, t):
    n = p.shape[0]
    lp, lq = _log_clamped(p), _log_clamped(1.0 - p)
    loss = -(t * lp + (1.0 - t) * lq).sum() / n
    return loss, lambda dL: _no_params(dL * (p - t) / (n * np.maximum(p * (1 - p), 1e-12)), dL * (lq - lp) / n)


def bce_with_logits_loss(x, t):
    n = x.shape[0]
    loss = (np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).sum() / n
    return loss, lambda dL: _no_params(dL * (_sigmoid(x) - t) / n, dL * -x / n)


def cross_entropy_loss(x, t):
    """t: integer labels (N,) (no gradient) or rows (N, C), which need not sum to 1."""
    n, c = x.shape
    labels = t.ndim == 1
    rows = np.eye(c)[t] if labels else t
    ls = _log_softmax(x)
    loss = -(rows * ls).sum() / n

    def vjp(dL):
        dx = dL * (np.exp(ls) * rows.sum(axis=1, keepdims=True) - rows) / n
        return _no_params(dx, None if labels else -dL * ls / n)

    return loss, vjp
