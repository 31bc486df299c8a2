#!/usr/bin/env python
"""The same GridSearchCV with scikit-learn's MLPClassifier and with bricks.sklearn's.

Data: the bundled digits (bricks.datasets.digits(), pixels in [0, 1]), split 75/25
(stratified). Grid: hidden_layer_sizes x alpha, cv=3, the same max_iter, solver
(adam), learning rate, batch size ("auto" = 200) and random_state for both. Each
library's search runs in this process (n_jobs=1 by default) with the same BLAS thread
count, several times interleaved. Prints, side by side: the mean CV accuracy of every candidate, the best
parameters, the test accuracy of the refitted best model, and the median wall time
of the whole search (12 fits + the refit).

    env -u OPENBLAS_CORETYPE python bench/sklearn_grid.py              # a few seconds
    env -u OPENBLAS_CORETYPE python bench/sklearn_grid.py --max-iter 50 --threads 2

Both run in float64 (scikit-learn) and float32 (bricks' default) respectively, as each
library would by default.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import _common as C

# scikit-learn first (see train_speed.py: bricks sets thread defaults at import)
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLP  # noqa: E402

import bricks as bk  # noqa: E402
from bricks.sklearn import MLPClassifier as BkMLP  # noqa: E402


def search(est, grid, Xtr, ytr, cv, n_jobs):
    gs = GridSearchCV(est, grid, cv=cv, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is short on purpose
        t0 = time.perf_counter()
        gs.fit(Xtr, ytr)
        return gs, time.perf_counter() - t0


def fmt_params(p):
    return f"hidden={p['hidden_layer_sizes']}, alpha={p['alpha']:g}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-iter", type=int, default=40, help="epochs per fit (default 40)")
    ap.add_argument("--cv", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both (default 1)")
    ap.add_argument("--n-jobs", type=int, default=1, help="GridSearchCV n_jobs for both (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="searches per library, interleaved; the median wall time is shown (default 3)",
    )
    args = ap.parse_args(argv)

    note = C.set_threads(args.threads)
    warn = C.coretype_warning()
    if warn:
        print(warn)
    X, y = bk.datasets.digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=args.seed, stratify=y)
    grid = {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-3]}
    common = dict(
        solver="adam", learning_rate_init=1e-3, batch_size="auto", max_iter=args.max_iter, random_state=args.seed
    )
    print(
        f"digits: {len(Xtr)} train / {len(Xte)} test, 64 features, 10 classes; grid "
        f"{grid} x cv={args.cv}; adam lr=1e-3, batch 200, max_iter={args.max_iter}; "
        f"{args.threads} BLAS thread(s) ({note}), n_jobs={args.n_jobs}"
    )
    print(f"cpu: {C.cpu_model()}; bricks {bk.__version__} ({bk.blas_info()})")
    load = C.OtherLoad()
    ests = {"scikit-learn": SkMLP(**common), "bricks": BkMLP(**common)}
    res = {n: {"times": []} for n in ests}
    for r in range(args.repeats):  # interleaved, so that a noisy neighbour hits both alike
        for n in list(ests) if r % 2 == 0 else list(ests)[::-1]:
            gs, dt = search(ests[n], grid, Xtr, ytr, args.cv, args.n_jobs)
            res[n]["times"].append(dt)
            res[n]["search"] = gs  # every repeat gives the same results (fixed random_state)
    other = load.cores()
    for r in res.values():
        r["time"] = C.median(r["times"])
        r["test"] = r["search"].score(Xte, yte)
        r["n_iter"] = r["search"].best_estimator_.n_iter_

    names = list(res)
    print("\nmean CV accuracy per candidate")
    cand = res[names[0]]["search"].cv_results_["params"]
    rows = [["candidate"] + names]
    for i, p in enumerate(cand):
        rows.append(
            [fmt_params(p)]
            + [
                f"{res[n]['search'].cv_results_['mean_test_score'][i]:.4f}"
                f" ± {res[n]['search'].cv_results_['std_test_score'][i]:.4f}"
                for n in names
            ]
        )
    print(C.table(rows, right=(1, 2)))

    print("\nsummary")
    rows = [["", *names]]
    rows.append(["best mean CV accuracy", *(f"{res[n]['search'].best_score_:.4f}" for n in names)])
    rows.append(["best params", *(fmt_params(res[n]["search"].best_params_) for n in names)])
    rows.append(["test accuracy (refit best)", *(f"{res[n]['test']:.4f}" for n in names)])
    rows.append(["epochs run by the refit", *(str(res[n]["n_iter"]) for n in names)])
    rows.append([f"search wall time (s, median of {args.repeats})", *(f"{res[n]['time']:.2f}" for n in names)])
    mean_fit = {n: float(np.mean(res[n]["search"].cv_results_["mean_fit_time"])) for n in names}
    rows.append(["mean time per fit (s)", *(f"{mean_fit[n]:.3f}" for n in names)])
    print(C.table(rows))
    print(
        f"\nbricks is {res['scikit-learn']['time'] / res['bricks']['time']:.1f}x faster over the "
        f"whole search (12 fits + refit)"
        + (f"; other processes used {other:.2f} cores meanwhile" if other is not None else "")
    )


if __name__ == "__main__":
    main()
