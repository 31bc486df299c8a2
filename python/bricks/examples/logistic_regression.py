"""Logistic regression is a one-layer network: Linear + Sigmoid + binary cross-entropy.

Two separable Gaussian blobs; the decision boundary is the line where W x + b = 0.
"""

import numpy as np

import bricks as bk


def run(seed=0, verbose=True, epochs=30):
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-2.0, 0.7, size=(200, 2)), rng.normal(2.0, 0.7, size=(200, 2))])
    t = np.repeat([0.0, 1.0], 200)[:, None]
    bk.manual_seed(seed)
    model = bk.Sequential(bk.Linear(2, 1), bk.Sigmoid())
    hist = model.fit(
        X, t, loss=bk.BCELoss(), optimizer=bk.SGD(model, lr=0.5), epochs=epochs, batch_size=16, seed=seed, verbose=0
    )
    p = model.predict(X)
    acc = float(((p > 0.5) == (t > 0.5)).mean())
    w, b = model[0].params["weight"][0], model[0].params["bias"][0]
    if verbose:
        print(
            f"accuracy {100 * acc:.1f}%, final loss {hist.history['loss'][-1]:.4f}; boundary "
            f"{w[0]:.3f} x1 + {w[1]:.3f} x2 + {b:.3f} = 0"
        )
    return {
        "accuracy": acc,
        "loss": hist.history["loss"],
        "weight": w.copy(),
        "bias": float(b),
        "model": model,
        "X": X,
        "t": t,
    }


if __name__ == "__main__":
    run()
