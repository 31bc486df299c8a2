"""Shared pieces of the benchmarks: the configs, the same network in every library,
thread control, data, environment checks and formatting.

Import order matters (see train_speed.py): this module imports only the standard
library and NumPy at the top; torch, bricks and scikit-learn are imported by the
functions that need them.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import sys
import time

import numpy as np

# name -> layer widths, hidden activation, batch size. tiny uses BCE-with-logits on
# one output; the others cross-entropy on 10 classes.
CONFIGS = {
    "tiny": {"layers": (2, 8, 1), "act": "sigmoid", "batch": 4},
    "small": {"layers": (64, 32, 10), "act": "relu", "batch": 32},
    "medium": {"layers": (784, 256, 256, 10), "act": "relu", "batch": 128},
    "large": {"layers": (784, 2048, 2048, 10), "act": "relu", "batch": 256},
    # training at small batches (issue 14), at a rate that keeps them stable
    "medium-b1": {"layers": (784, 256, 256, 10), "act": "relu", "batch": 1, "lr": 0.001},
    "medium-b8": {"layers": (784, 256, 256, 10), "act": "relu", "batch": 8, "lr": 0.001},
    "large-b1": {"layers": (784, 2048, 2048, 10), "act": "relu", "batch": 1, "lr": 0.001},
    "large-b8": {"layers": (784, 2048, 2048, 10), "act": "relu", "batch": 8, "lr": 0.001},
}
# bricks samples/s over PyTorch's, per config: issue 5's for tiny and small, issue 14's
# (raised) for medium and large, and >= 2x at batch 1 and 8.
TARGET_RATIO = {
    "tiny": 50.0,
    "small": 10.0,
    "medium": 2.5,
    "large": 1.5,
    "medium-b1": 2.0,
    "medium-b8": 2.0,
    "large-b1": 2.0,
    "large-b8": 2.0,
}
TARGET_IMPORT_OVER_NUMPY_S = 0.030  # import bricks <= import numpy + 30 ms
TARGET_GEMM_PCT = 85.0  # large: achieved GFLOP/s as % of the measured GEMM ceiling
TARGET_RSS_MIB = 60.0

LR, MOMENTUM = 0.01, 0.9


def is_binary(cfg) -> bool:
    return cfg["layers"][-1] == 1


def forward_flops_per_sample(cfg) -> int:
    """2·in·out per Linear layer (the GEMMs; elementwise work is not counted)."""
    w = cfg["layers"]
    return sum(2 * a * b for a, b in zip(w[:-1], w[1:]))


# -- data --------------------------------------------------------------------------
def make_batch(cfg, rows: int, seed: int = 0):
    """Standard-normal float32 inputs and learnable targets, so that the loss goes
    down (a check that each library really trains): the class is the argmax of the
    first C features (int64 labels (N,)); binary: x0 > x1 (float32 0/1, (N, 1)). No
    matrix product here: it would touch NumPy's BLAS buffers (memory.py)."""
    w = cfg["layers"]
    X = np.random.default_rng(seed).standard_normal((rows, w[0]), dtype=np.float32)
    if is_binary(cfg):
        y = (X[:, :1] > X[:, 1:2]).astype(np.float32)
    else:
        y = X[:, : w[-1]].argmax(1).astype(np.int64)
    return X, y


# -- the same network in each library ------------------------------------------------
def bricks_model(cfg):
    """bk.Sequential compiled with its loss and SGD(momentum 0.9)."""
    import bricks as bk

    w, blocks = cfg["layers"], []
    for i, (a, b) in enumerate(zip(w[:-1], w[1:])):
        blocks.append(bk.Linear(a, b))
        if i < len(w) - 2:
            blocks.append(bk.Sigmoid() if cfg["act"] == "sigmoid" else bk.ReLU())
    model = bk.Sequential(*blocks)
    loss = bk.BCEWithLogitsLoss() if is_binary(cfg) else bk.CrossEntropyLoss()
    model.compile(loss, bk.SGD(model, lr=cfg.get("lr", LR), momentum=MOMENTUM))
    return model


def torch_model(cfg):
    """(model, loss, optimizer) with the same layers; nn.Linear's own init."""
    import torch
    from torch import nn

    w, layers = cfg["layers"], []
    for i, (a, b) in enumerate(zip(w[:-1], w[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(w) - 2:
            layers.append(nn.Sigmoid() if cfg["act"] == "sigmoid" else nn.ReLU())
    model = nn.Sequential(*layers)
    loss = nn.BCEWithLogitsLoss() if is_binary(cfg) else nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=cfg.get("lr", LR), momentum=MOMENTUM)
    return model, loss, opt


def torch_step(model, loss_fn, opt, X, y):
    """PyTorch's idiomatic eager step."""
    opt.zero_grad()
    loss = loss_fn(model(X), y)
    loss.backward()
    opt.step()
    return loss


class NumpyMLP:
    """A hand-written MLP: matmul forward/backward, softmax/sigmoid cross-entropy,
    momentum SGD (PyTorch's rule: v = m·v + g; w -= lr·v). Weights are stored (in, out)
    so that forward is X @ W without a transpose. In-place where it is natural."""

    def __init__(self, cfg, seed=0):
        rng = np.random.default_rng(seed)
        w = cfg["layers"]
        self.sigmoid, self.binary = cfg["act"] == "sigmoid", is_binary(cfg)
        self.W = [rng.uniform(-1, 1, (a, b)).astype(np.float32) / np.float32(np.sqrt(a)) for a, b in zip(w[:-1], w[1:])]
        self.b = [np.zeros(b, np.float32) for b in w[1:]]
        self.vW = [np.zeros_like(x) for x in self.W]
        self.vb = [np.zeros_like(x) for x in self.b]

    def step(self, X, y, lr=LR, momentum=MOMENTUM):
        hs, n = [X], X.shape[0]
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            z = hs[-1] @ W
            z += b
            if i < len(self.W) - 1:
                if self.sigmoid:
                    np.negative(z, out=z)
                    np.exp(z, out=z)
                    z += 1
                    np.reciprocal(z, out=z)
                else:
                    np.maximum(z, 0, out=z)
            hs.append(z)
        z = hs[-1]
        if self.binary:  # BCE with logits: dz = (sigmoid(z) - t) / N
            loss = float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))
            dz = (1 / (1 + np.exp(-z)) - y) / np.float32(n)
        else:  # softmax cross-entropy: dz = (softmax(z) - onehot) / N
            z -= z.max(1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(1, keepdims=True)
            rows = np.arange(n)
            loss = float(-np.log(z[rows, y]).mean())
            dz = z
            dz[rows, y] -= 1
            dz /= np.float32(n)
        for i in range(len(self.W) - 1, -1, -1):
            gW, gb = hs[i].T @ dz, dz.sum(0)
            if i > 0:  # no gradient for the input
                dz = dz @ self.W[i].T
                h = hs[i]
                dz *= h * (1 - h) if self.sigmoid else (h > 0)
            for p, v, g in ((self.W[i], self.vW[i], gW), (self.b[i], self.vb[i], gb)):
                v *= momentum
                v += g
                p -= lr * v
        return loss


def sklearn_model(cfg):
    """MLPClassifier with the same hidden layers, plain momentum SGD, no L2, no shuffle."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=tuple(cfg["layers"][1:-1]),
        activation="logistic" if cfg["act"] == "sigmoid" else "relu",
        solver="sgd",
        learning_rate_init=LR,
        momentum=MOMENTUM,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=cfg["batch"],
        shuffle=False,
        random_state=0,
    )


def sklearn_classes(cfg):
    return np.arange(2 if is_binary(cfg) else cfg["layers"][-1])


def sklearn_labels(y):
    """MLPClassifier wants class labels (N,), also for the binary config."""
    return y.ravel().astype(np.int64) if y.ndim == 2 else y


# -- threads ---------------------------------------------------------------------------
_limits = None


def set_threads(n: int) -> str:
    """n threads for every library that is loaded. Returns a note for NumPy's BLAS."""
    global _limits
    note = "numpy: threadpoolctl"
    try:
        from threadpoolctl import threadpool_limits

        # Every loaded BLAS (NumPy's OpenBLAS, also bricks' scipy-openblas): n threads.
        _limits = threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        note = "numpy: threadpoolctl not installed, its BLAS threads are NOT controlled"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if "bricks" in sys.modules:
        sys.modules["bricks"].set_num_threads(n)  # last: bricks' own setting wins
    return note


# -- environment -------------------------------------------------------------------------
def coretype_warning() -> str | None:
    ct = os.environ.get("OPENBLAS_CORETYPE")
    if ct:
        return (
            f"WARNING: OPENBLAS_CORETYPE={ct} is set: OpenBLAS (bricks' and NumPy's) uses "
            f"that kernel instead of the best one for this CPU, often at half speed. "
            f"Re-run as: env -u OPENBLAS_CORETYPE python {' '.join(sys.argv)}"
        )
    return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            if m:
                return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }
    try:
        info["load_avg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    for mod in ("bricks", "torch", "sklearn"):
        if mod in sys.modules:
            info[mod] = getattr(sys.modules[mod], "__version__", "?")
    if "bricks" in sys.modules:
        info["bricks_blas_kernel"] = sys.modules["bricks"].blas_info()
        info["bricks_isa"] = sys.modules["bricks"].cpu_info()["isa"]
    return info


class OtherLoad:
    """CPU used by other processes since start(), in cores: all busy time of the
    machine (/proc/stat) minus this process's own. On a shared 2-core machine a
    value above ~0.2 means the numbers (above all at 2 threads) are disturbed."""

    def __init__(self):
        self.start()

    @staticmethod
    def _busy_s():
        try:
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
        except OSError:
            return None
        idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
        return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def start(self):
        t = os.times()
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy_s(), t.user + t.system

    def cores(self) -> float | None:
        if self.busy0 is None:
            return None
        t = os.times()
        own = t.user + t.system - self.own0
        return max(0.0, (self._busy_s() - self.busy0 - own) / (time.perf_counter() - self.t0))


# -- statistics and formatting ----------------------------------------------------------
def median(xs):
    return statistics.median(xs)


def fmt_rate(x: float) -> str:
    """12345 -> '12.3k', 1234567 -> '1.23M'."""
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def table(rows, right=()):
    """Plain-text table; rows[0] is the header; columns in `right` are right-aligned."""
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        out.append(
            "  ".join(str(c).rjust(w[i]) if i in right else str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip()
        )
        if k == 0:
            out.append("  ".join("-" * x for x in w))
    return "\n".join(out)
