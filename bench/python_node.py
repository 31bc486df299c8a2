"""What one block written in Python costs per training step inside a native model.

The same network, 64-64-10 with cross-entropy, trained by fit (the native loop) with
SGD, three ways: as is; with a native elementwise block (Tanh) added after the first
layer; with a Python block doing elementwise work of the same size (a learnable scale,
y = x ⊙ γ + β, forward and backward in NumPy) in its place. The Python node's cost is
its step time minus the native node's: taking the GIL, copying its inputs and dy into
NumPy arrays, the calls into Python, the checks and the copies back.

    python bench/python_node.py                  # batch sizes 32 and 256, ~20 s
    python bench/python_node.py --batches 32 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
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


def model(extra: str, width: int):
    middle = {"none": [], "native": [bk.Tanh()], "python": [Scale(width)]}[extra]
    m = bk.Sequential(bk.Linear(64, width, seed=0), *middle, bk.ReLU(), bk.Linear(width, 10, seed=1))
    return m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.01))


def step_us(extra: str, batch: int, width: int, steps: int, repeats: int) -> float:
    """Median µs per training step of fit over `steps` batches."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(batch * steps, 64)).astype(np.float32)
    y = rng.integers(0, 10, len(X))
    m = model(extra, width)
    m.fit(X[: batch * 10], y[: batch * 10], batch_size=batch, verbose=0)  # warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m.fit(X, y, batch_size=batch, verbose=0, shuffle=False)
        times.append((time.perf_counter() - t0) / steps * 1e6)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="32,256", help="batch sizes, comma-separated")
    ap.add_argument("--width", type=int, default=64, help="width of the hidden layer (the node's features)")
    ap.add_argument("--steps", type=int, default=400, help="training steps per repeat")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    bk.set_num_threads(1)
    print(f"64-{a.width}-10, fit with SGD, float32, 1 thread; median of {a.repeats} x {a.steps} steps")
    print(f"{'batch':>6} {'model':>9} {'+ native':>9} {'+ Python':>9} {'Python node':>12} {'native node':>12}")
    for batch in map(int, a.batches.split(",")):
        t = {e: step_us(e, batch, a.width, a.steps, a.repeats) for e in ("none", "native", "python")}
        print(
            f"{batch:>6} {t['none']:>7.1f}µs {t['native']:>7.1f}µs {t['python']:>7.1f}µs "
            f"{t['python'] - t['none']:>+10.1f}µs {t['native'] - t['none']:>+10.1f}µs"
        )
    print("(µs per training step; the last two columns: what adding that node costs)")


if __name__ == "__main__":
    main()
