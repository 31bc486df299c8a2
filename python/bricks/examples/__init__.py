"""The lecture's examples, each runnable: ``python -m bricks.examples <name>``.

    linear_regression    Linear + MSE recovers known weights
    logistic_regression  Linear + Sigmoid + BCE on a separable problem
    softmax_regression   Linear + softmax cross-entropy on the bundled digits
    xor                  one linear layer cannot solve XOR; one hidden layer can
    gating               Hadamard + Softmax: "learn conditionals, just use softmax"
    learn_targets        the quadratic loss's gradient into the targets

Each module has ``run(seed=0, verbose=True) -> dict`` of its results.
"""

NAMES = ("linear_regression", "logistic_regression", "softmax_regression", "xor", "gating", "learn_targets")
