"""Linear regression is a one-layer network: Linear + quadratic loss (MSE).

Data from known weights, y = X w* + b*; SGD on the mean squared error recovers them.
"""

import numpy as np

import bricks as bk

TRUE_W = np.array([[2.0, -3.0, 0.5]])
TRUE_B = np.array([1.25])


def run(seed=0, verbose=True, epochs=60):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(512, 3))
    y = X @ TRUE_W.T + TRUE_B
    model = bk.Sequential(bk.Linear(3, 1, dtype=np.float64, seed=seed))
    model.fit(
        X,
        y,
        loss=bk.MSELoss(dtype=np.float64),
        optimizer=bk.SGD(model, lr=0.05),
        epochs=epochs,
        batch_size=32,
        seed=seed,
        verbose=0,
    )
    w, b = model[0].params["weight"], model[0].params["bias"]
    err = max(np.abs(w - TRUE_W).max(), np.abs(b - TRUE_B).max())
    if verbose:
        print(f"learned W = {w.round(4)}, b = {b.round(4)}; true W = {TRUE_W}, b = {TRUE_B}; max error {err:.2e}")
    return {"weight": w.copy(), "bias": b.copy(), "max_error": float(err)}


if __name__ == "__main__":
    run()
