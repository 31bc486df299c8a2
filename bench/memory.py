#!/usr/bin/env python
"""Peak memory (RSS) of a medium training run, each library in its own process.

The run: 784-256-256-10 ReLU MLP, cross-entropy, SGD(momentum 0.9), batch 128, 3
epochs (237 steps) over an in-memory dataset of 10000 x 784 float32 (30 MiB; --rows),
shuffled each epoch (bricks-step: in order, contiguous slices). Each child reports its
peak resident set size (VmHWM from /proc/self/status). Baselines: a bare interpreter,
one with NumPy imported, one that also holds the dataset; "*-import" rows import the
library and hold the dataset without training. What a library adds is its peak
minus the numpy+data baseline.

    env -u OPENBLAS_CORETYPE python bench/memory.py            # ~20 s
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

EPOCHS = 3
KINDS = (
    "python",
    "numpy",
    "numpy+data",
    "bricks-import",
    "bricks-fit",
    "bricks-step",
    "torch-import",
    "torch",
    "numpy-mlp",
    "sklearn",
)
BASELINES = ("python", "numpy", "numpy+data")


def vm(field: str) -> float:
    """A /proc/self/status size (VmHWM: peak RSS, VmRSS: current), in MiB."""
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)\s+kB", f.read()).group(1)) / 1024


def child(kind: str, threads: int, rows: int) -> dict:
    """Runs in the child process: import, (train), report."""
    if kind == "python":
        return {}
    # Import the library before NumPy-heavy work, as a user's script would.
    if kind.startswith("torch"):
        import torch
    if kind.startswith("bricks"):
        import bricks  # noqa: F401
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _common as C
    import numpy as np

    if kind == "numpy":
        return {}
    C.set_threads(threads)
    cfg = C.CONFIGS["medium"]
    B = cfg["batch"]
    X, y = C.make_batch(cfg, rows)
    if kind in ("numpy+data", "bricks-import", "torch-import"):  # imported, data, no training
        return {}
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    if kind == "bricks-fit":  # the native loop, shuffling every epoch
        model = C.bricks_model(cfg)
        loss = model.fit(X, y, epochs=EPOCHS, batch_size=B, shuffle=True, seed=0, verbose=0).history["loss"][-1]
    elif kind == "bricks-step":  # the per-step API on contiguous slices (no copies)
        model = C.bricks_model(cfg)
        for _ in range(EPOCHS):
            for lo in range(0, rows, B):
                loss = model.train_step(X[lo : lo + B], y[lo : lo + B])
    elif kind == "torch":
        model, loss_fn, opt = C.torch_model(cfg)
        tX, ty = torch.from_numpy(X), torch.from_numpy(y)  # shares the NumPy memory
        for _ in range(EPOCHS):
            perm = torch.randperm(rows)
            for lo in range(0, rows, B):
                idx = perm[lo : lo + B]
                loss = C.torch_step(model, loss_fn, opt, tX[idx], ty[idx]).item()
    elif kind == "numpy-mlp":
        model = C.NumpyMLP(cfg)
        for _ in range(EPOCHS):
            perm = rng.permutation(rows)
            for lo in range(0, rows, B):
                idx = perm[lo : lo + B]
                loss = model.step(X[idx], y[idx])
    elif kind == "sklearn":
        model, classes = C.sklearn_model(cfg), C.sklearn_classes(cfg)
        for _ in range(EPOCHS):
            perm = rng.permutation(rows)
            for lo in range(0, rows, B):
                idx = perm[lo : lo + B]
                model.partial_fit(X[idx], y[idx], classes=classes)
        loss = model.loss_
    else:
        raise ValueError(kind)
    return {"train_s": time.perf_counter() - t0, "final_loss": float(loss)}


def run_child(kind: str, threads: int, rows: int) -> dict:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", kind, "--threads", str(threads), "--rows", str(rows)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated, of: " + ", ".join(KINDS))
    p.add_argument("--threads", type=int, default=2, help="threads for every library")
    p.add_argument("--rows", type=int, default=10000, help="dataset rows (x 784 float32)")
    p.add_argument("--json", metavar="PATH", help="write the results to this JSON file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        res = child(args.child, args.threads, args.rows)
        res.update(peak_mib=vm("VmHWM"), end_rss_mib=vm("VmRSS"))
        print(json.dumps(res))
        return

    kinds = [k for k in args.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            p.error(f"unknown kind {k!r}")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(
            f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set (it changes speed, "
            f"not memory much); the README runs benchmarks with env -u OPENBLAS_CORETYPE",
            file=sys.stderr,
        )
    print(
        f"peak RSS (VmHWM) of a medium training run: 784-256-256-10, batch 128, {EPOCHS} epochs "
        f"over {args.rows} x 784 float32, {args.threads} threads; each row its own process\n"
    )
    results = {k: run_child(k, args.threads, args.rows) for k in kinds}
    base = results.get("numpy+data", {}).get("peak_mib")
    import _common as C  # only now: the parent's own imports do not matter

    rows = [["process", "peak RSS MiB", "over numpy+data", "train s", "final loss", "note"]]
    for k, r in results.items():
        if "error" in r:
            rows.append([k, "-", "-", "-", "-", "failed: " + r["error"][:60]])
            continue
        over = f"{r['peak_mib'] - base:+.1f}" if base and k not in BASELINES else ""
        note = ""
        if k in ("bricks-fit", "bricks-step"):
            note = f"target <= {C.TARGET_RSS_MIB:g} MiB: " + ("ok" if r["peak_mib"] <= C.TARGET_RSS_MIB else "MISSED")
        elif k in BASELINES:
            note = "baseline"
        elif k.endswith("-import"):
            note = "imported + data, no training"
        rows.append(
            [
                k,
                f"{r['peak_mib']:.1f}",
                over,
                f"{r['train_s']:.2f}" if "train_s" in r else "",
                f"{r['final_loss']:.3f}" if "final_loss" in r else "",
                note,
            ]
        )
    print(C.table(rows, right={1, 2, 3, 4}))
    if base and base > C.TARGET_RSS_MIB:
        print(
            f"\nnote: the baseline with the dataset alone is {base:.1f} MiB, above the "
            f"{C.TARGET_RSS_MIB:g} MiB target; what each library adds is 'over numpy+data'."
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": C.machine_info(),
                    "threads": args.threads,
                    "rows": args.rows,
                    "epochs": EPOCHS,
                    "results": results,
                },
                f,
                indent=1,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
