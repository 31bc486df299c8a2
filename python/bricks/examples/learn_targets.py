"""Learning the targets: the quadratic loss sends a gradient into t as well,
dL/dt = 2 (t − x) / N.

1. By hand with the loss block: targets t, free parameters, move by gradient
   descent on dL/dt and converge to the (fixed) predictions x.
2. In a graph: the target of each sample is a learnable class prototype,
   t = Linear(onehot(label)) (an embedding table); the MSE's gradient into the
   target trains the prototypes, which converge to the class means of the data.
"""

import numpy as np

import bricks as bk


def run(seed=0, verbose=True, steps=300):
    F = np.float64
    rng = np.random.default_rng(seed)
    # 1. the loss block alone
    x = rng.normal(size=(5, 3))
    t = np.zeros((5, 3))
    mse = bk.MSELoss(dtype=F)
    first = mse.forward(x, t)
    for _ in range(steps):
        mse.forward(x, t)
        _, dt = mse.backward()
        t -= 0.5 * dt
    by_hand = {"initial_loss": first, "final_loss": mse.forward(x, t), "max_gap": float(np.abs(t - x).max())}

    # 2. learnable targets in a graph
    means = np.array([[2.0, 0.0], [-1.0, 1.5], [0.0, -2.0]])
    labels = rng.integers(0, 3, size=600)
    data = means[labels] + 0.3 * rng.normal(size=(600, 2))
    onehot = np.eye(3)[labels]
    z, c = bk.Input(2, dtype=F, name="data"), bk.Input(3, dtype=F, name="class")
    table = bk.Linear(3, 2, bias=False, dtype=F, seed=seed)
    loss = bk.MSELoss(dtype=F)(z, table(c))  # the target is a graph node: it learns
    model = bk.Model(inputs=[z, c], outputs=None, loss=loss)
    model.fit(
        [data, onehot], None, optimizer=bk.SGD(model, lr=0.2), epochs=steps // 10, batch_size=60, seed=seed, verbose=0
    )
    prototypes = table.params["weight"].T.copy()
    class_means = np.array([data[labels == k].mean(0) for k in range(3)])
    graph = {
        "prototypes": prototypes,
        "class_means": class_means,
        "data": data,
        "labels": labels,
        "max_gap": float(np.abs(prototypes - class_means).max()),
    }
    if verbose:
        print(
            f"targets learned by hand: loss {by_hand['initial_loss']:.4f} -> "
            f"{by_hand['final_loss']:.2e}; max |t - x| = {by_hand['max_gap']:.2e}"
        )
        print("class prototypes learned through dL/dt:")
        for k in range(3):
            print(f"  class {k}: prototype {prototypes[k].round(3)}, class mean {class_means[k].round(3)}")
    return {"by_hand": by_hand, "graph": graph}


if __name__ == "__main__":
    run()
