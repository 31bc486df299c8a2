"""Accuracy on real MNIST against published results, with wall times.

Three networks (issue 4, item 7), trained on the 60000 training images and scored on
the 10000 test images, each beside the figure its source publishes:

  a  784-50-10 ReLU, SGD lr 0.1, momentum 0.9 Nesterov, batch 200, weight decay 1e-4,
     10 epochs. scikit-learn's example "Visualization of MLP weights on MNIST" trains
     MLPClassifier(hidden_layer_sizes=(50,), solver="sgd", learning_rate_init=0.1,
     alpha=1e-4, max_iter=10) and reports a test score of 0.970.
  b  784-800-10 cross-entropy: 1.6 % test error for a 2-layer MLP with 800 hidden units
     trained with cross-entropy, no distortions (Simard, Steinkraus and Platt, ICDAR 2003).
  c  784-1024-1024-10 ReLU with dropout (0.2 on the input, 0.5 on hidden layers): 1.25 %
     for a dropout ReLU network of 1024-unit layers (Srivastava et al., JMLR 2014, table 2:
     their network has three hidden layers and trains for far longer).
  d  784-1024-1024-1024-10 ReLU with the same dropout and max-norm (every hidden unit's
     incoming weights kept at ||w|| <= 3.5): 1.06 % (Srivastava et al. 2014, table 2,
     "Dropout + max-norm", again after far longer training). Run with --configs d.

When scikit-learn is installed, its MLPClassifier runs setup (a) in the same process
for a side-by-side time. Nothing is downloaded: the IDX files come from --path.

    env -u OPENBLAS_CORETYPE python bench/mnist_accuracy.py [--path DIR]   # DIR: the four MNIST IDX files
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path


HERE = Path(__file__).resolve().parent
DEFAULT_PATH = HERE.parent.parent / "shared" / "data" / "mnist"

# name -> (description, published test error %, source)
PUBLISHED = {
    "a": ("784-50-10 ReLU, SGD Nesterov, wd 1e-4, 10 ep", 3.0, "scikit-learn example (0.970)"),
    "b": ("784-800-10 cross-entropy", 1.6, "Simard et al. 2003"),
    "c": ("784-1024-1024-10 ReLU + dropout", 1.25, "Srivastava et al. 2014"),
    "d": ("784-1024x3-10 ReLU + dropout + max-norm 3.5", 1.06, "Srivastava et al. 2014"),
}


def build(bk, name, epochs, seed):
    """The network, its optimizer, batch size and callbacks for one setup."""
    cbs = []
    if name == "a":
        model = bk.Sequential(bk.Linear(784, 50, seed=seed), bk.ReLU(), bk.Linear(50, 10, seed=seed + 1))
        opt = bk.SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
        batch = 200
    elif name == "b":
        model = bk.Sequential(bk.Linear(784, 800, seed=seed), bk.ReLU(), bk.Linear(800, 10, seed=seed + 1))
        opt = bk.SGD(model, lr=0.1, momentum=0.9, nesterov=True)
        batch = 128
        cbs.append(bk.callbacks.LearningRateScheduler(bk.optim.CosineAnnealingLR(epochs)))
    elif name == "c":
        model = bk.Sequential(
            bk.Dropout(0.2, seed=seed),
            bk.Linear(784, 1024, seed=seed),
            bk.ReLU(),
            bk.Dropout(0.5, seed=seed + 1),
            bk.Linear(1024, 1024, seed=seed + 2),
            bk.ReLU(),
            bk.Dropout(0.5, seed=seed + 3),
            bk.Linear(1024, 10, seed=seed + 4),
        )
        opt = bk.SGD(model, lr=0.05, momentum=0.9, nesterov=True)
        batch = 128
        cbs.append(bk.callbacks.LearningRateScheduler(bk.optim.CosineAnnealingLR(epochs)))
    elif name == "d":
        c = 3.5
        model = bk.Sequential(
            bk.Dropout(0.2, seed=seed),
            bk.Linear(784, 1024, seed=seed, max_norm=c),
            bk.ReLU(),
            bk.Dropout(0.5, seed=seed + 1),
            bk.Linear(1024, 1024, seed=seed + 2, max_norm=c),
            bk.ReLU(),
            bk.Dropout(0.5, seed=seed + 3),
            bk.Linear(1024, 1024, seed=seed + 4, max_norm=c),
            bk.ReLU(),
            bk.Dropout(0.5, seed=seed + 5),
            bk.Linear(1024, 10, seed=seed + 6, max_norm=c),
        )
        opt = bk.SGD(model, lr=0.05, momentum=0.9, nesterov=True)  # setup c's, with the bound
        batch = 128
        cbs.append(bk.callbacks.LearningRateScheduler(bk.optim.CosineAnnealingLR(epochs)))
    else:
        raise ValueError(name)
    return model.compile(bk.CrossEntropyLoss(), opt), batch, cbs


def run_sklearn(Xtr, ytr, Xte, yte, seed):
    """scikit-learn's own documented setup (a), for the wall time beside ours."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(50,), max_iter=10, alpha=1e-4, solver="sgd", learning_rate_init=0.1, random_state=seed
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    dt = time.perf_counter() - t0
    return 100 * (1 - clf.score(Xte, yte)), dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default=str(DEFAULT_PATH), help="folder of the four MNIST IDX files")
    ap.add_argument("--configs", default="a,b,c", help="which setups, comma-separated")
    ap.add_argument("--epochs-b", type=int, default=30)
    ap.add_argument("--epochs-c", type=int, default=30)
    ap.add_argument("--epochs-d", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (default: OpenBLAS's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn's run of (a)")
    ap.add_argument("--quick", action="store_true", help="2 epochs each, 10000 training images")
    ap.add_argument("--verbose", type=int, default=0)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(
            f"warning: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set: OpenBLAS may use a "
            "slower kernel; run with env -u OPENBLAS_CORETYPE",
            file=sys.stderr,
        )

    import bricks as bk

    if args.threads:
        bk.set_num_threads(args.threads)
    Xtr, ytr = bk.datasets.mnist(args.path, "train")
    Xte, yte = bk.datasets.mnist(args.path, "test")
    if args.quick:
        Xtr, ytr = Xtr[:10000], ytr[:10000]
    epochs = {"a": 10, "b": args.epochs_b, "c": args.epochs_c, "d": args.epochs_d}
    if args.quick:
        epochs = dict.fromkeys(epochs, 2)
    print(
        f"bricks {bk.__version__}, BLAS {bk.blas_info()}, {bk.get_num_threads()} thread(s); "
        f"MNIST {len(Xtr)} train / {len(Xte)} test images from {args.path}"
    )

    rows = []
    for name in args.configs.split(","):
        desc, published, source = PUBLISHED[name]
        model, batch, cbs = build(bk, name, epochs[name], args.seed)
        t0 = time.perf_counter()
        hist = model.fit(
            Xtr, ytr, epochs=epochs[name], batch_size=batch, seed=args.seed, callbacks=cbs, verbose=args.verbose
        )
        dt = time.perf_counter() - t0
        res = model.evaluate(Xte, yte)
        err = 100 * (1 - res["accuracy"])
        rows.append(
            {
                "setup": name,
                "network": desc,
                "epochs": epochs[name],
                "batch": batch,
                "test_error_pct": err,
                "published_error_pct": published,
                "source": source,
                "train_seconds": dt,
                "final_train_loss": hist.history["loss"][-1],
            }
        )
        print(f"  {name}: {desc}: {err:.2f}% test error in {dt:.1f} s (published {published}%)", flush=True)
    if "a" in args.configs.split(",") and not args.no_sklearn:
        try:
            err, dt = run_sklearn(Xtr, ytr, Xte, yte, args.seed)
            rows.append(
                {
                    "setup": "a (scikit-learn)",
                    "network": PUBLISHED["a"][0],
                    "epochs": 10,
                    "batch": 200,
                    "test_error_pct": err,
                    "published_error_pct": 3.0,
                    "source": "same run",
                    "train_seconds": dt,
                    "final_train_loss": None,
                }
            )
        except ImportError:
            print("  scikit-learn not installed: no side-by-side run of (a)")

    print()
    print("| setup | network | epochs | batch | test error | published | source | train time |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['setup']} | {r['network']} | {r['epochs']} | {r['batch']} | {r['test_error_pct']:.2f} % "
            f"| {r['published_error_pct']} % | {r['source']} | {r['train_seconds']:.1f} s |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": bk.get_num_threads(), "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
