"""Command line: ``python -m bricks train ...`` (also the ``bricks`` console script).

    bricks train                                   # an MLP on the bundled digits
    bricks train --data mnist --data-path DIR --hidden 256,256 --epochs 10 --out mnist.npz
    bricks evaluate mnist.npz --data mnist --data-path DIR
    bricks info
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

DATASETS = ("digits", "iris", "mnist", "moons", "spirals", "blobs", "xor")


def _load_data(args):
    from . import datasets

    if args.data == "mnist":
        if not args.data_path:
            raise SystemExit("bricks: --data mnist needs --data-path DIR (the four IDX files, "
                             "gzipped or not); add --download to fetch them there")
        Xtr, ytr = datasets.mnist(args.data_path, kind="train", download=args.download)
        Xte, yte = datasets.mnist(args.data_path, kind="test", download=args.download)
        return Xtr, Xte, ytr, yte
    make = {"digits": datasets.digits, "iris": datasets.iris, "xor": datasets.xor,
            "moons": lambda: datasets.two_moons(n_samples=1000, noise=0.2, seed=args.seed),
            "spirals": lambda: datasets.spirals(n_samples=1500, seed=args.seed),
            "blobs": lambda: datasets.blobs(n_samples=1000, seed=args.seed)}[args.data]
    X, y = make()
    if args.data == "xor":  # four points: nothing to hold out
        if getattr(args, "validation_split", 0):
            args.validation_split = 0.0
        print("bricks: xor has 4 points: no validation split, and the test set is the training set")
        return X, X, y, y
    return datasets.train_test_split(X, y, test_size=args.test_size, seed=args.seed, stratify=True)


def build_mlp(n_in, hidden, n_out, activation="relu", dropout=0.0, dtype=None, init=None):
    """An MLP as a bricks Sequential: Linear → activation (→ Dropout) per hidden layer."""
    import bricks as bk

    act = {"relu": bk.ReLU, "tanh": bk.Tanh, "sigmoid": bk.Sigmoid}[activation]
    init = init or ("he_uniform" if activation == "relu" else "glorot_uniform")
    blocks, width = [], n_in
    for h in hidden:
        blocks += [bk.Linear(width, h, init=init, dtype=dtype), act(dtype=dtype)]
        if dropout:
            blocks.append(bk.Dropout(dropout, dtype=dtype))
        width = h
    blocks.append(bk.Linear(width, n_out, dtype=dtype))
    return bk.Sequential(*blocks)


def _optimizer(args, model):
    import bricks as bk

    if args.optimizer == "sgd":
        return bk.SGD(model, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov,
                      weight_decay=args.weight_decay, clip_norm=args.clip_norm)
    cls = bk.Adam if args.optimizer == "adam" else bk.AdamW
    return cls(model, lr=args.lr, weight_decay=args.weight_decay, clip_norm=args.clip_norm)


def cmd_train(args):
    import bricks as bk

    if args.threads:
        bk.set_num_threads(args.threads)
    bk.manual_seed(args.seed)
    Xtr, Xte, ytr, yte = _load_data(args)
    hidden = [int(h) for h in args.hidden.split(",") if h.strip()] if args.hidden else []
    n_classes = int(max(ytr.max(), yte.max()) + 1)
    model = build_mlp(Xtr.shape[1], hidden, n_classes, args.activation, args.dropout,
                      dtype=np.dtype(args.dtype))
    opt = _optimizer(args, model)
    model.compile(bk.CrossEntropyLoss(dtype=np.dtype(args.dtype)), opt)
    print(f"bricks {bk.__version__}: {args.data} ({Xtr.shape[0]} train, {Xte.shape[0]} test, "
          f"{Xtr.shape[1]} features, {n_classes} classes), BLAS {bk.blas_info()}, "
          f"{bk.get_num_threads()} thread(s)")
    model._ensure([Xtr])
    print(model.summary())
    cbs = []
    if args.schedule == "cosine":
        cbs.append(bk.callbacks.LearningRateScheduler(bk.optim.CosineAnnealingLR(args.epochs)))
    if args.early_stopping:
        cbs.append(bk.callbacks.EarlyStopping(monitor="val_loss", patience=args.early_stopping))
    t0 = time.perf_counter()
    model.fit(Xtr, ytr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
              validation_split=args.validation_split, callbacks=cbs, verbose=args.verbose)
    dt = time.perf_counter() - t0
    res = model.evaluate(Xte, yte)
    print(f"trained in {dt:.2f}s; test loss {res['loss']:.4f}, test accuracy {100 * res['accuracy']:.2f}%")
    if args.out:
        model.save(args.out)
        print(f"saved to {args.out}")
    return res


def cmd_evaluate(args):
    import bricks as bk

    model = bk.load(args.model)
    _, Xte, _, yte = _load_data(args)
    res = model.evaluate(Xte, yte)
    print(f"test loss {res['loss']:.4f}, test accuracy {100 * res.get('accuracy', float('nan')):.2f}%")
    return res


def cmd_info(_args):
    import bricks as bk

    print(f"bricks {bk.__version__}; BLAS kernel {bk.blas_info()}; {bk.get_num_threads()} thread(s)")


def main(argv=None):
    p = argparse.ArgumentParser(prog="bricks", description="Train and evaluate bricks networks.")
    sub = p.add_subparsers(dest="command", required=True)

    def data_args(q):
        q.add_argument("--data", choices=DATASETS, default="digits",
                       help="dataset (default: digits, bundled: no download)")
        q.add_argument("--data-path", help="folder of the MNIST IDX files (for --data mnist)")
        q.add_argument("--download", action="store_true", help="fetch MNIST into --data-path if missing")
        q.add_argument("--test-size", type=float, default=0.2, help="test fraction for bundled data")
        q.add_argument("--seed", type=int, default=0)

    t = sub.add_parser("train", help="train an MLP and report its test accuracy")
    data_args(t)
    t.add_argument("--hidden", default="128", help="hidden layer sizes, comma-separated (default 128)")
    t.add_argument("--activation", choices=("relu", "tanh", "sigmoid"), default="relu")
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="sgd")
    t.add_argument("--lr", type=float, default=0.05)
    t.add_argument("--momentum", type=float, default=0.9)
    t.add_argument("--nesterov", action="store_true")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--clip-norm", type=float, default=None)
    t.add_argument("--schedule", choices=("none", "cosine"), default="none")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--validation-split", type=float, default=0.1)
    t.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE")
    t.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    t.add_argument("--threads", type=int, default=0, help="BLAS threads (default: OpenBLAS's)")
    t.add_argument("--out", help="save the trained model here (.npz)")
    t.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
    t.set_defaults(fn=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a saved model")
    e.add_argument("model")
    data_args(e)
    e.set_defaults(fn=cmd_evaluate)

    i = sub.add_parser("info", help="version and BLAS information")
    i.set_defaults(fn=cmd_info)

    args = p.parse_args(argv)
    out = getattr(args, "out", None)
    if out:  # check where the model goes before spending the training on it
        folder = os.path.dirname(os.path.abspath(out)) or "."
        if os.path.isdir(out) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            print(f"bricks: error: --out {out}: " + ("is a directory" if os.path.isdir(out) else
                  f"no writable folder {folder}"), file=sys.stderr)
            return 2
    try:
        args.fn(args)
    except (ValueError, TypeError, OSError) as err:  # OSError: files and folders
        print(f"bricks: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
