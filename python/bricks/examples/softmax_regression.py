"""Softmax regression is a one-layer network: Linear + Softmax + cross-entropy.

On the bundled handwritten digits (a real dataset, no download). CrossEntropyLoss
takes the logits and folds the softmax in (stable log-sum-exp), so the trained
network is Linear alone; a Softmax block turns its logits into probabilities.
"""

import bricks as bk
from bricks.datasets import digits, train_test_split


def run(seed=0, verbose=True, epochs=30):
    X, y = digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, seed=seed, stratify=True)
    bk.manual_seed(seed)
    model = bk.Sequential(bk.Linear(64, 10))
    history = model.fit(
        Xtr,
        ytr,
        loss=bk.CrossEntropyLoss(),
        optimizer=bk.SGD(model, lr=0.5),
        epochs=epochs,
        batch_size=32,
        seed=seed,
        verbose=0,
        validation_data=(Xte, yte),
    )
    probs = bk.Softmax().forward(model.predict(Xte))
    acc = float((probs.argmax(1) == yte).mean())
    if verbose:
        print(
            f"softmax regression on digits: test accuracy {100 * acc:.2f}% "
            f"({len(Xtr)} train, {len(Xte)} test); probabilities sum to "
            f"{probs.sum(1).min():.6f}..{probs.sum(1).max():.6f}"
        )
    return {
        "test_accuracy": acc,
        "probabilities": probs,
        "history": history,
        "model": model,
        "X_test": Xte,
        "y_test": yte,
    }


if __name__ == "__main__":
    run()
