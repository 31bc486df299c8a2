#!/usr/bin/env python
"""Peak memory (RSS) of training and of predicting, each library in its own process.

**Training** (the first table):

The run: 784-256-256-10 ReLU MLP, cross-entropy, SGD(momentum 0.9), batch 128, 3
epochs (237 steps) over an in-memory dataset of 10000 x 784 float32 (30 MiB; --rows),
shuffled each epoch (bricks-step: in order, contiguous slices). Each child reports its
peak resident set size (VmHWM from /proc/self/status). Baselines: a bare interpreter,
one with NumPy imported, one that also holds the dataset; "*-import" rows import the
library and hold the dataset without training. What a library adds is its peak
minus the numpy+data baseline.

**Predicting** (the second table, issue 14): the large network, 784-2048-2048-10 ReLU,
float32, predicting a batch of 1, 256 and 1024 rows in one forward, in bricks
(``model.predict(X, batch_size=len(X))``; ``bricks-default``: ``model.predict(X)``, which
runs 256 rows at a time, for batches above 256), ONNX Runtime (the same model exported with
``model.to_onnx``, CPU provider, its default arena) and PyTorch (eval mode under
``torch.inference_mode()``). Each (library, batch) is a fresh child process: after its
imports it records its RSS (VmRSS) and resets its peak (``/proc/self/clear_refs``, so
that the peak of importing PyTorch is not counted); then it builds the model, makes the
batch and predicts it 3 times. "peak" is the highest RSS after that minus the RSS after
the imports: the weights, the batch and everything predicting it allocates (for bricks
also the modules its first predict imports). The time is the fastest of the 3 predicts
after one more untimed. Issue 14's
bound: weights + 2 x the batch's activations + 40 MiB, the activations being every
node's output for the batch, the input included (784 + 4 x 2048 + 10 floats a row).

    env -u OPENBLAS_CORETYPE python bench/memory.py                    # ~40 s, both tables
    env -u OPENBLAS_CORETYPE python bench/memory.py --what predict     # the predict table alone
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
PREDICT_LIBS = ("bricks", "bricks-default", "onnxruntime", "torch")
PREDICT_BATCHES = (1, 256, 1024)
LARGE = (784, 2048, 2048, 10)
BOUND_SLACK_MIB = 40.0  # issue 14: weights + 2 x activations + this
MIB = 2**20


def weights_mib(widths=LARGE) -> float:
    """The float32 weights and biases of a Linear-ReLU stack of these widths, in MiB."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:])) * 4 / MIB


def activations_mib(batch: int, widths=LARGE) -> float:
    """Every node's output for a batch (input, each Linear and each ReLU), float32, MiB."""
    per_row = widths[0] + 2 * sum(widths[1:-1]) + widths[-1]
    return batch * per_row * 4 / MIB


def predict_bound_mib(batch: int) -> float:
    """Issue 14's bound on predicting a batch with the large network."""
    return weights_mib() + 2 * activations_mib(batch) + BOUND_SLACK_MIB


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


def reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def predict_child(lib: str, batch: int, threads: int, onnx_path: str) -> dict:
    """Runs in the child process: import, baseline, build, predict 3 times, report."""
    import numpy as np

    if lib == "torch":
        import torch

        torch.set_num_threads(threads)
    elif lib == "onnxruntime":
        import onnxruntime as ort
    elif lib.startswith("bricks"):
        import bricks as bk

        bk.set_num_threads(threads)
    else:
        raise ValueError(lib)
    base = vm("VmRSS")
    exact = reset_peak()
    w = LARGE
    if lib.startswith("bricks"):
        blocks = []
        for i, (a, b) in enumerate(zip(w[:-1], w[1:])):
            blocks += [bk.Linear(a, b)] + ([bk.ReLU()] if i < len(w) - 2 else [])
        model = bk.Sequential(*blocks)
        if lib == "bricks-default":
            run = model.predict
        else:
            run = lambda X: model.predict(X, batch_size=len(X))  # noqa: E731
    elif lib == "onnxruntime":
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        run = lambda X: sess.run(None, {name: X})[0]  # noqa: E731
    else:
        layers = []
        for i, (a, b) in enumerate(zip(w[:-1], w[1:])):
            layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < len(w) - 2 else [])
        model = torch.nn.Sequential(*layers).eval()

        def run(X):
            with torch.inference_mode():
                return model(torch.from_numpy(X)).numpy()

    built = vm("VmRSS") - base
    X = np.random.default_rng(0).standard_normal((batch, w[0]), dtype=np.float32)
    times = []
    for _ in range(4):
        t0 = time.perf_counter()
        out = run(X)
        times.append(time.perf_counter() - t0)
    assert out.shape == (batch, w[-1]), out.shape
    return {
        "built_mib": built,
        "predict_s": min(times[1:]),
        "peak_over_imports_mib": vm("VmHWM") - base,
        "imports_mib": base,
        "peak_exact": exact,  # False: the peak may include the imports' own transient peak
    }


def export_onnx(path: str) -> None:
    """Runs in a child: the large network, built in bricks, written as ONNX."""
    import bricks as bk

    w, blocks = LARGE, []
    for i, (a, b) in enumerate(zip(w[:-1], w[1:])):
        blocks += [bk.Linear(a, b)] + ([bk.ReLU()] if i < len(w) - 2 else [])
    bk.Sequential(*blocks).to_onnx(path)


def run_predict_child(lib: str, batch: int, threads: int, onnx_path: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--predict-child", f"{lib}:{batch}:{onnx_path}"]
    out = subprocess.run(cmd + ["--threads", str(threads)], capture_output=True, text=True)
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def predict_table(libs, batches, threads: int) -> dict:
    """The predict rows: each (library, batch) in its own process. Prints the table."""
    import tempfile

    import _common as C

    results = {}
    with tempfile.TemporaryDirectory(prefix="bricks-memory-") as tmp:
        onnx_path = os.path.join(tmp, "large.onnx")
        if "onnxruntime" in libs:
            out = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--export-onnx", onnx_path], capture_output=True, text=True
            )
            if out.returncode:
                err = (out.stderr.strip().splitlines() or ["?"])[-1]
                results.update({f"onnxruntime:{b}": {"error": "export: " + err} for b in batches})
        for b in batches:
            for lib in libs:
                if lib == "bricks-default" and b <= 256:
                    continue  # the same as bricks: predict's default batch_size is 256
                results.setdefault(f"{lib}:{b}", run_predict_child(lib, b, threads, onnx_path))
    print(
        f"\npeak RSS of predicting with 784-2048-2048-10 (float32 weights {weights_mib():.1f} MiB), one forward of "
        f"the batch, 3 times, {threads} threads; MiB over the RSS after the imports; each row its own process\n"
    )
    rows = [["library", "batch", "activations", "bound", "built", "peak", "peak - built", "ms/predict", "verdict"]]
    for key, r in results.items():
        lib, b = key.split(":")
        b = int(b)
        bound = predict_bound_mib(b)
        if "error" in r:
            rows.append([lib, b, "", f"{bound:.1f}", "-", "-", "-", "-", "failed: " + r["error"][:60]])
            continue
        peak = r["peak_over_imports_mib"]
        verdict = ("ok" if peak <= bound else "MISSED") + ("" if r["peak_exact"] else " (peak incl. imports)")
        rows.append(
            [
                lib,
                b,
                f"{activations_mib(b):.1f}",
                f"{bound:.1f}",
                f"{r['built_mib']:.1f}",
                f"{peak:.1f}",
                f"{peak - r['built_mib']:.1f}",
                f"{r['predict_s'] * 1e3:.2f}",
                verdict,
            ]
        )
    print(C.table(rows, right={1, 2, 3, 4, 5, 6, 7}))
    print(
        f"\nbound = weights + 2 x activations + {BOUND_SLACK_MIB:g} MiB (issue 14; the target is bricks'); "
        "built = RSS after building the model (and loading the session) over the imports"
    )
    return results


def run_child(kind: str, threads: int, rows: int) -> dict:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", kind, "--threads", str(threads), "--rows", str(rows)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def train_table(kinds, threads: int, rows: int) -> dict:
    """The training rows, each its own process. Prints the table."""
    import _common as C

    print(
        f"peak RSS (VmHWM) of a medium training run: 784-256-256-10, batch 128, {EPOCHS} epochs "
        f"over {rows} x 784 float32, {threads} threads; each row its own process\n"
    )
    results = {k: run_child(k, threads, rows) for k in kinds}
    base = results.get("numpy+data", {}).get("peak_mib")
    table = [["process", "peak RSS MiB", "over numpy+data", "train s", "final loss", "note"]]
    for k, r in results.items():
        if "error" in r:
            table.append([k, "-", "-", "-", "-", "failed: " + r["error"][:60]])
            continue
        over = f"{r['peak_mib'] - base:+.1f}" if base and k not in BASELINES else ""
        note = ""
        if k in ("bricks-fit", "bricks-step"):
            note = f"target <= {C.TARGET_RSS_MIB:g} MiB: " + ("ok" if r["peak_mib"] <= C.TARGET_RSS_MIB else "MISSED")
        elif k in BASELINES:
            note = "baseline"
        elif k.endswith("-import"):
            note = "imported + data, no training"
        table.append(
            [
                k,
                f"{r['peak_mib']:.1f}",
                over,
                f"{r['train_s']:.2f}" if "train_s" in r else "",
                f"{r['final_loss']:.3f}" if "final_loss" in r else "",
                note,
            ]
        )
    print(C.table(table, right={1, 2, 3, 4}))
    if base and base > C.TARGET_RSS_MIB:
        print(
            f"\nnote: the baseline with the dataset alone is {base:.1f} MiB, above the "
            f"{C.TARGET_RSS_MIB:g} MiB target; what each library adds is 'over numpy+data'."
        )
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--what", default="train,predict", help="the tables: train, predict or both (comma-separated)")
    p.add_argument("--kinds", default=",".join(KINDS), help="training rows, comma-separated, of: " + ", ".join(KINDS))
    p.add_argument("--libs", default=",".join(PREDICT_LIBS), help="predict rows: " + ", ".join(PREDICT_LIBS))
    p.add_argument(
        "--batches", default=",".join(map(str, PREDICT_BATCHES)), help="predict rows: batch sizes, comma-separated"
    )
    p.add_argument("--threads", type=int, default=2, help="threads for every library")
    p.add_argument("--rows", type=int, default=10000, help="dataset rows (x 784 float32)")
    p.add_argument("--json", metavar="PATH", help="write the results to this JSON file")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--predict-child", help=argparse.SUPPRESS)
    p.add_argument("--export-onnx", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.export_onnx:
        export_onnx(args.export_onnx)
        return
    if args.predict_child:
        lib, batch, path = args.predict_child.split(":", 2)
        print(json.dumps(predict_child(lib, int(batch), args.threads, path)))
        return

    if args.child:
        res = child(args.child, args.threads, args.rows)
        res.update(peak_mib=vm("VmHWM"), end_rss_mib=vm("VmRSS"))
        print(json.dumps(res))
        return

    what = [w for w in args.what.split(",") if w]
    if not set(what) <= {"train", "predict"}:
        p.error(f"--what: train and/or predict, got {args.what!r}")
    libs = [x for x in args.libs.split(",") if x]
    if not set(libs) <= set(PREDICT_LIBS):
        p.error(f"--libs: of {', '.join(PREDICT_LIBS)}, got {args.libs!r}")
    batches = [int(b) for b in args.batches.split(",") if b]
    kinds = [k for k in args.kinds.split(",") if k] if "train" in what else []
    for k in kinds:
        if k not in KINDS:
            p.error(f"unknown kind {k!r}")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(
            f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set (it changes speed, "
            f"not memory much); the README runs benchmarks with env -u OPENBLAS_CORETYPE",
            file=sys.stderr,
        )
    import _common as C  # only the standard library and NumPy: the parent's imports do not matter

    results = {}
    if kinds:
        results = train_table(kinds, args.threads, args.rows)
    predict = predict_table(libs, batches, args.threads) if "predict" in what else {}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": C.machine_info(),
                    "threads": args.threads,
                    "rows": args.rows,
                    "epochs": EPOCHS,
                    "results": results,
                    "predict": predict,
                },
                f,
                indent=1,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
