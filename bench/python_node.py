"""What one block written in Python costs per training step inside a native model.

The same network, 64-64-10 with cross-entropy, trained by fit (the native loop) with
SGD, four ways: as is; with a native elementwise block (Tanh) added after the first
layer; with a Python block doing elementwise work of the same size (a learnable scale,
y = x ⊙ γ + β, forward and backward in NumPy) in its place; with a Python identity
there (forward returns x, backward dy), whose cost is the crossing alone: taking the
GIL, copying the input and dy into NumPy arrays, the two calls into Python, the checks
and the copies back.

    python bench/python_node.py                  # batch sizes 32 and 256, ~20 s
    python bench/python_node.py --batches 32 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import bricks as bk


class Scale(bk.Block):
    """y = x ⊙ gamma + beta (docs/content/own-block.md's example)."""

    def __init__(self, features, dtype=None):
        super().__init__(dtype=dtype)
        self.add_param("gamma", np.ones(features))
        self.add_param("beta", np.zeros(features))

    def forward(self, x):
        self.x = x
        return x * self.params["gamma"] + self.params["beta"]

    def backward(self, dy):
        self.grads["gamma"] += (dy * self.x).sum(0)
        self.grads["beta"] += dy.sum(0)
        return dy * self.params["gamma"]


class Identity(bk.Block):
    """y = x: what calling into Python costs by itself."""

    def forward(self, x):
        return x

    def backward(self, dy):
        return dy


def model(extra: str, width: int):
    middle = {"none": [], "native": [bk.Tanh()], "python": [Scale(width)], "identity": [Identity()]}[extra]
    m = bk.Sequential(bk.Linear(64, width, seed=0), *middle, bk.ReLU(), bk.Linear(width, 10, seed=1))
    return m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.01))


VARIANTS = ("none", "native", "python", "identity")


def step_us(batch: int, width: int, steps: int, repeats: int) -> dict:
    """Fastest µs per training step of fit over `steps` batches, per variant. The
    variants take turns, repeat by repeat, so that load from other processes falls on
    all of them alike; the fastest repeat is the one least disturbed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(batch * steps, 64)).astype(np.float32)
    y = rng.integers(0, 10, len(X))
    models = {e: model(e, width) for e in VARIANTS}
    for m in models.values():
        m.fit(X[: batch * 10], y[: batch * 10], batch_size=batch, verbose=0)  # warm up
    times = {e: [] for e in VARIANTS}
    for _ in range(repeats):
        for e, m in models.items():
            t0 = time.perf_counter()
            m.fit(X, y, batch_size=batch, verbose=0, shuffle=False)
            times[e].append((time.perf_counter() - t0) / steps * 1e6)
    return {e: min(v) for e, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="32,256", help="batch sizes, comma-separated")
    ap.add_argument("--width", type=int, default=64, help="width of the hidden layer (the node's features)")
    ap.add_argument("--steps", type=int, default=400, help="training steps per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    bk.set_num_threads(1)
    print(f"64-{a.width}-10, fit with SGD, float32, 1 thread; fastest of {a.repeats} x {a.steps} steps")
    print(
        f"{'batch':>6} {'model':>9} {'+ Tanh':>9} {'+ Scale':>9} {'+ Identity':>10}   "
        f"{'Tanh node':>10} {'Scale node':>10} {'Identity node':>13}"
    )
    for batch in map(int, a.batches.split(",")):
        t = step_us(batch, a.width, a.steps, a.repeats)
        d = {e: t[e] - t["none"] for e in t}
        print(
            f"{batch:>6} {t['none']:>7.1f}µs {t['native']:>7.1f}µs {t['python']:>7.1f}µs {t['identity']:>8.1f}µs   "
            f"{d['native']:>+8.1f}µs {d['python']:>+8.1f}µs {d['identity']:>+11.1f}µs"
        )
    print("(µs per training step; Tanh is native, Scale and Identity are Python blocks; the last")
    print(" three columns: what adding that node costs per step)")


if __name__ == "__main__":
    main()
