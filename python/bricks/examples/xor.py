"""The limitation of one layer: XOR is not linearly separable.

A single Linear + Sigmoid gets at most 3 of the 4 points right however long it
trains; one hidden layer with a non-linearity solves it. The slide's hand-set
hidden layer W = [[-1, 1], [1, -1]], b = [-4, -4], followed by a sigmoid, sends both
XOR-false inputs (0,0) and (1,1) to the same point and pulls the XOR-true inputs
apart, so that a line separates them in the hidden space.
"""

import numpy as np

import bricks as bk

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


def _accuracy(model):
    return float(((model.predict(X) > 0.5) == (Y > 0.5)).mean())


def run(seed=0, verbose=True, epochs=2000):
    F = np.float64
    bk.manual_seed(seed)
    linear = bk.Sequential(bk.Linear(2, 1, dtype=F), bk.Sigmoid(dtype=F))
    linear.fit(X, Y, loss=bk.BCELoss(dtype=F), optimizer=bk.SGD(linear, lr=0.5), epochs=epochs, batch_size=4, verbose=0)
    hidden = bk.Sequential(bk.Linear(2, 4, dtype=F), bk.Tanh(dtype=F), bk.Linear(4, 1, dtype=F), bk.Sigmoid(dtype=F))
    hidden.fit(
        X,
        Y,
        loss=bk.BCELoss(dtype=F),
        optimizer=bk.SGD(hidden, lr=0.5, momentum=0.9),
        epochs=epochs,
        batch_size=4,
        verbose=0,
    )

    # The slide's hidden layer, set by hand.
    slide = bk.Linear(2, 2, dtype=F)
    slide.params["weight"][...] = [[-1, 1], [1, -1]]
    slide.params["bias"][...] = [-4, -4]
    pre = slide.forward(X)
    H = bk.Sigmoid(dtype=F).forward(pre)
    # In the hidden space one line separates the classes: train only the output layer.
    head = bk.Sequential(bk.Linear(2, 1, dtype=F), bk.Sigmoid(dtype=F))
    head.fit(
        H * 100,
        Y,
        loss=bk.BCELoss(dtype=F),
        optimizer=bk.SGD(head, lr=0.5, momentum=0.9),
        epochs=epochs,
        batch_size=4,
        verbose=0,
    )
    head_acc = float(((head.predict(H * 100) > 0.5) == (Y > 0.5)).mean())
    res = {
        "linear_accuracy": _accuracy(linear),
        "hidden_accuracy": _accuracy(hidden),
        "slide_preactivation": pre,
        "slide_hidden": H,
        "slide_head_accuracy": head_acc,
        "linear_model": linear,
        "hidden_model": hidden,
    }
    if verbose:
        print(f"one linear layer: accuracy {100 * res['linear_accuracy']:.0f}% (at most 75%)")
        print(f"one hidden layer (tanh): accuracy {100 * res['hidden_accuracy']:.0f}%")
        print("the slide's hidden layer W = [[-1, 1], [1, -1]], b = [-4, -4]:")
        for x, z, h in zip(X, pre, H):
            print(f"  x = {x.astype(int)} -> W x + b = {z} -> sigmoid = {h.round(4)}")
        print(f"  a single output layer on that hidden space: accuracy {100 * head_acc:.0f}%")
    return res


if __name__ == "__main__":
    run()
