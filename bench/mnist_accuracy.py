"""Accuracy on real MNIST against published results, with wall times.

Six networks, trained on the 60000 training images and scored on
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
  e  a pre-norm residual MLP, 784-256, two blocks h + Linear(ReLU(LayerNorm(h))), then
     LayerNorm, ReLU, Linear(256, 10); SGD 0.05 Nesterov, cosine, batch 128. No
     published figure: the same network in PyTorch runs in the same process.
  f  the same with BatchNorm (PyTorch's BatchNorm1d beside it).

When scikit-learn is installed, its MLPClassifier runs setup (a) in the same process
for a side-by-side time; when PyTorch is, it runs (e) and (f). Nothing is downloaded:
the IDX files come from --path (or the BRICKS_MNIST environment variable).

    env -u OPENBLAS_CORETYPE python bench/mnist_accuracy.py --path DIR   # DIR: the four MNIST IDX files
    env -u OPENBLAS_CORETYPE python bench/mnist_accuracy.py --path DIR --configs e,f
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path


DEFAULT_PATH = os.environ.get("BRICKS_MNIST")  # the folder of the four IDX files, or --path

# name -> (description, published test error %, source)
PUBLISHED = {
    "a": ("784-50-10 ReLU, SGD Nesterov, wd 1e-4, 10 ep", 3.0, "scikit-learn example (0.970)"),
    "b": ("784-800-10 cross-entropy", 1.6, "Simard et al. 2003"),
    "c": ("784-1024-1024-10 ReLU + dropout", 1.25, "Srivastava et al. 2014"),
    "d": ("784-1024x3-10 ReLU + dropout + max-norm 3.5", 1.06, "Srivastava et al. 2014"),
    "e": ("residual 784-256-(256)x2-10, LayerNorm", None, "PyTorch, same run"),
    "f": ("residual 784-256-(256)x2-10, BatchNorm", None, "PyTorch, same run"),
}
RESIDUAL_WIDTH, RESIDUAL_BLOCKS = 256, 2


def residual_bricks(bk, norm, seed):
    """x -> Linear(784, 256) -> 2 x [h + Linear(ReLU(Norm(h)))] -> Norm -> ReLU -> Linear(256, 10):
    a pre-norm residual MLP, built with Add (``+`` on nodes) and the norm blocks."""
    w = RESIDUAL_WIDTH
    Norm = bk.LayerNorm if norm == "layer" else bk.BatchNorm
    x = bk.Input(784)
    h = bk.Linear(784, w, init="torch", seed=seed)(x)
    for i in range(RESIDUAL_BLOCKS):
        h = h + bk.Linear(w, w, init="torch", seed=seed + 1 + i)(bk.ReLU()(Norm(w)(h)))
    y = bk.Linear(w, 10, init="torch", seed=seed + 9)(bk.ReLU()(Norm(w)(h)))
    return bk.Model(x, y)


def residual_torch(norm):
    """The same network in PyTorch (its own default initialisation, as init="torch")."""
    import torch
    from torch import nn

    w = RESIDUAL_WIDTH
    Norm = nn.LayerNorm if norm == "layer" else nn.BatchNorm1d

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(784, w)
            self.blocks = nn.ModuleList(
                nn.Sequential(Norm(w), nn.ReLU(), nn.Linear(w, w)) for _ in range(RESIDUAL_BLOCKS)
            )
            self.head = nn.Sequential(Norm(w), nn.ReLU(), nn.Linear(w, 10))

        def forward(self, x):
            h = self.inp(x)
            for b in self.blocks:
                h = h + b(h)
            return self.head(h)

    return Residual(), torch


def run_torch(norm, Xtr, ytr, Xte, yte, epochs, batch, seed, threads):
    """setup e/f in PyTorch: the same network, SGD (lr 0.05, Nesterov momentum 0.9), batch
    and epochs, cosine annealing; data shuffled every epoch; test error in eval mode."""
    import torch

    torch.manual_seed(seed)  # before building: the initialisation draws from it
    torch.set_num_threads(threads)
    model, _ = residual_torch(norm)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=gen)
        for i in range(0, len(X), batch):
            idx = perm[i : i + batch]
            if len(idx) < 2 and norm == "batch":
                continue  # BatchNorm cannot train on one sample (bricks' fit refuses it too)
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(X[idx]), y[idx]).backward()
            opt.step()
        sched.step()
    dt = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(Xte)).argmax(1).numpy()
    return 100 * float((pred != yte).mean()), dt


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
    elif name in ("e", "f"):
        model = residual_bricks(bk, "layer" if name == "e" else "batch", seed)
        opt = bk.SGD(model, lr=0.05, momentum=0.9, nesterov=True)
        batch = 128  # 60000 = 468 x 128 + 96: no batch of one for BatchNorm
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


def _pct(v) -> str:
    return "—" if v is None else f"{v} %"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--path", default=DEFAULT_PATH, required=DEFAULT_PATH is None, help="folder of the four MNIST IDX files"
    )
    ap.add_argument("--configs", default="a,b,c", help="which setups, comma-separated")
    ap.add_argument("--epochs-b", type=int, default=30)
    ap.add_argument("--epochs-c", type=int, default=30)
    ap.add_argument("--epochs-d", type=int, default=30)
    ap.add_argument("--epochs-ef", type=int, default=10, help="epochs of the residual MLPs (e, f)")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch's runs of (e) and (f)")
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
    epochs = {
        "a": 10,
        "b": args.epochs_b,
        "c": args.epochs_c,
        "d": args.epochs_d,
        "e": args.epochs_ef,
        "f": args.epochs_ef,
    }
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
        print(f"  {name}: {desc}: {err:.2f}% test error in {dt:.1f} s (published {_pct(published)})", flush=True)
        if name in ("e", "f") and not args.no_torch:
            try:
                terr, tdt = run_torch(
                    "layer" if name == "e" else "batch", Xtr, ytr, Xte, yte, epochs[name], batch, args.seed,
                    bk.get_num_threads(),
                )  # fmt: skip
            except ImportError:
                print(f"  PyTorch not installed: no side-by-side run of ({name})")
                continue
            rows.append(
                {
                    "setup": f"{name} (PyTorch)",
                    "network": desc,
                    "epochs": epochs[name],
                    "batch": batch,
                    "test_error_pct": terr,
                    "published_error_pct": None,
                    "source": "same run",
                    "train_seconds": tdt,
                    "final_train_loss": None,
                }
            )
            print(f"  {name} (PyTorch): {terr:.2f}% test error in {tdt:.1f} s; bricks/PyTorch time {dt / tdt:.2f}")
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
            f"| {_pct(r['published_error_pct'])} | {r['source']} | {r['train_seconds']:.1f} s |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"threads": bk.get_num_threads(), "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
