"""Learn conditionals, just use softmax: a gating network with Hadamard + Softmax.

The target depends on a context bit: y = a if c = 0 else b (inputs x = [c, a, b]).
A linear model cannot express "choose by c"; a gate g = Softmax(Linear(x)) multiplied
(Hadamard) into candidate values v = Linear(x) learns to route:
    y = Linear(v ⊙ g)
"""

import numpy as np

import bricks as bk


def make_data(n, rng):
    c = rng.integers(0, 2, size=n).astype(np.float64)
    ab = rng.normal(size=(n, 2))
    X = np.column_stack([c, ab])
    y = np.where(c == 0, ab[:, 0], ab[:, 1])[:, None]
    return X, y


def run(seed=0, verbose=True, epochs=200):
    F = np.float64
    rng = np.random.default_rng(seed)
    X, y = make_data(2000, rng)
    Xte, yte = make_data(500, rng)
    bk.manual_seed(seed)
    x = bk.Input(3, dtype=F)
    values = bk.Linear(3, 2, dtype=F)(x)
    gate = bk.Softmax(dtype=F)(bk.Linear(3, 2, dtype=F)(x))
    out = bk.Linear(2, 1, dtype=F)(bk.Hadamard(dtype=F)(values, gate))
    gated = bk.Model(inputs=x, outputs=out)
    gated.fit(
        X,
        y,
        loss=bk.MSELoss(dtype=F),
        optimizer=bk.Adam(gated, lr=0.01),
        epochs=epochs,
        batch_size=64,
        seed=seed,
        verbose=0,
    )
    linear = bk.Sequential(bk.Linear(3, 1, dtype=F))
    linear.fit(
        X,
        y,
        loss=bk.MSELoss(dtype=F),
        optimizer=bk.Adam(linear, lr=0.01),
        epochs=epochs,
        batch_size=64,
        seed=seed,
        verbose=0,
    )
    mse_g = float(((gated.predict(Xte) - yte) ** 2).mean())
    mse_l = float(((linear.predict(Xte) - yte) ** 2).mean())
    if verbose:
        print(f"test MSE: gated (Hadamard + Softmax) {mse_g:.4f}, linear {mse_l:.4f}")
    return {"gated_mse": mse_g, "linear_mse": mse_l, "model": gated, "linear_model": linear}


if __name__ == "__main__":
    run()
