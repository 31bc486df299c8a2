"""Inference speed (issue 14): rows/s of bricks' predict and forward against ONNX
Runtime (a session on the model's own to_onnx export, intra_op_num_threads set) and
PyTorch (same weights, torch.inference_mode), on medium (784-256-256-10) and large
(784-2048-2048-10) ReLU networks, float32, at 1 and 2 threads and batch 1..1024.

It also measures a STREAM-like copy (NumPy, one thread, arrays far beyond the caches)
as the memory bandwidth limit, and the weight-streaming rate bricks reaches at batch 1
(the weight bytes read per row x rows/s). Each cell is the best of --repeats timed
repeats of --time seconds; min-max over the repeats is printed beside it. The targets
(>= 1.0x ONNX Runtime at every batch, >= 2x PyTorch at batch 1) end in PASS or MISS.

    env -u OPENBLAS_CORETYPE python bench/inference_speed.py
    env -u OPENBLAS_CORETYPE BRICKS_ISA=avx2 python bench/inference_speed.py   # the AVX2 path
    python bench/inference_speed.py --quick    # a smoke run: medium, batch 1 and 64, 1 thread
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

NETS = {"medium": (784, 256, 256, 10), "large": (784, 2048, 2048, 10)}


def bricks_net(widths, seed=0):
    import bricks as bk

    bk.manual_seed(seed)
    blocks = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        blocks.append(bk.Linear(a, b, init="torch"))
        if i < len(widths) - 2:
            blocks.append(bk.ReLU())
    return bk.Sequential(*blocks)


def torch_net(model):
    import torch

    layers = []
    lins = [b for b in model.blocks if type(b).__name__ == "Linear"]
    for i, lin in enumerate(lins):
        w, b = lin.params["weight"], lin.params["bias"]
        t = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(np.array(w)))
            t.bias.copy_(torch.from_numpy(np.array(b).reshape(-1)))
        layers.append(t)
        if i < len(lins) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def ort_session(model, threads):
    import onnxruntime as ort

    path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    model.to_onnx(path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return sess, sess.get_inputs()[0].name


def rate(fn, rows, seconds, repeats):
    """rows/s of each repeat (fn run in a loop for about `seconds`)."""
    fn()
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-7)
    n = max(1, int(seconds / one))
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        out.append(rows * n / (time.perf_counter() - t))
    return out


def stream_copy_gbs(mib=256, repeats=5):
    """A STREAM-like copy: bytes read + written per second, one thread."""
    a = np.ones(mib * 1024 * 1024 // 4, np.float32)
    b = np.empty_like(a)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        best = max(best, 2 * a.nbytes / (time.perf_counter() - t) / 1e9)
    return best


def cell(model, sess, tnet, X, out, libs, seconds, repeats):
    """rows/s of each library's repeats on the batch X."""
    batch, r = X.shape[0], {}
    if "predict" in libs:
        r["predict"] = rate(lambda: model.predict(X, batch_size=batch, out=out), batch, seconds, repeats)
    if "forward" in libs:
        r["forward"] = rate(lambda: model.forward(X), batch, seconds, repeats)
    if sess is not None:
        feed = {sess[1]: X}
        r["ort"] = rate(lambda: sess[0].run(None, feed), batch, seconds, repeats)
    if tnet is not None:
        import torch

        tx = torch.from_numpy(X)

        def run_torch():
            with torch.inference_mode():
                tnet(tx)

        r["torch"] = rate(run_torch, batch, seconds, repeats)
    return r


def fmt(rs):
    return f"{C.fmt_rate(max(rs))} ({C.fmt_rate(min(rs))}-{C.fmt_rate(max(rs))})"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nets", default="medium,large")
    p.add_argument("--batches", default="1,4,16,64,256,1024")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--time", type=float, default=0.2, help="seconds per repeat")
    p.add_argument("--libs", default="predict,forward,ort,torch")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.nets, a.batches, a.threads, a.repeats, a.time = "medium", "1,64", "1", 3, 0.1
    libs = a.libs.split(",")
    warn = C.coretype_warning()
    if warn:
        print(warn)
    import bricks as bk

    have_torch = have_ort = True
    try:
        import torch  # noqa: F401
    except ImportError:
        have_torch = False
    try:
        import onnxruntime as ort
    except ImportError:
        have_ort = False
    info = C.machine_info()
    flags = [f for f in ("avx512f", "avx2", "fma") if f in open("/proc/cpuinfo").read()]
    print(
        f"CPU {info['cpu']} ({os.cpu_count()} cores; flags {' '.join(flags)}); bricks kernels "
        f"{bk.cpu_info()['isa']}, BLAS {bk.blas_info()}; small-M limit {bk._core.small_m_limit()}; "
        f"ONNX Runtime {ort.__version__ if have_ort else 'absent'}; "
        f"PyTorch {sys.modules['torch'].__version__ if have_torch else 'absent'}"
    )
    print("The machine may be shared: 'others' is the CPU other processes used during the cell (cores).")
    bw = stream_copy_gbs()
    print(f"STREAM-like copy (NumPy, 1 thread): {bw:.1f} GB/s")
    verdicts = []
    for name in a.nets.split(","):
        widths = NETS[name]
        model = bricks_net(widths)
        wbytes = 4 * sum(x * y + y for x, y in zip(widths[:-1], widths[1:]))
        tnet = torch_net(model) if have_torch and "torch" in libs else None
        for threads in (int(t) for t in a.threads.split(",")):
            C.set_threads(threads)
            sess = ort_session(model, threads) if have_ort and "ort" in libs else None
            rows = [
                [
                    "batch",
                    "predict rows/s",
                    "forward rows/s",
                    "ORT rows/s",
                    "torch rows/s",
                    "pred/ORT",
                    "pred/torch",
                    "others",
                ]
            ]
            for batch in (int(b) for b in a.batches.split(",")):
                X = np.random.default_rng(batch).standard_normal((batch, widths[0]), dtype=np.float32)
                out = np.empty((batch, widths[-1]), np.float32)
                load = C.OtherLoad()
                r = cell(model, sess, tnet, X, out, libs, a.time, a.repeats)
                others = load.cores()
                best = {k: max(v) for k, v in r.items()}
                vs_ort = best["predict"] / best["ort"] if "ort" in best and "predict" in best else None
                vs_torch = best["predict"] / best["torch"] if "torch" in best and "predict" in best else None
                rows.append(
                    [
                        batch,
                        fmt(r["predict"]) if "predict" in r else "-",
                        fmt(r["forward"]) if "forward" in r else "-",
                        fmt(r["ort"]) if "ort" in r else "-",
                        fmt(r["torch"]) if "torch" in r else "-",
                        f"{vs_ort:.2f}x" if vs_ort else "-",
                        f"{vs_torch:.2f}x" if vs_torch else "-",
                        f"{others:.2f}" if others is not None else "?",
                    ]
                )
                for lib in ("predict", "forward"):
                    if lib in best and "ort" in best:
                        ratio = best[lib] / best["ort"]
                        verdicts.append((f"{name} {threads}t batch {batch}: {lib} >= 1.0x ORT", ratio, ratio >= 1.0))
                if batch == 1 and "predict" in best and "torch" in best:
                    ratio = best["predict"] / best["torch"]
                    verdicts.append((f"{name} {threads}t batch 1: predict >= 2x PyTorch", ratio, ratio >= 2.0))
                if batch == 1 and "predict" in best:
                    gbs = wbytes * best["predict"] / 1e9
                    print(
                        f"  {name} {threads}t batch 1: weights streamed at {gbs:.1f} GB/s "
                        f"({100 * gbs / bw:.0f}% of the copy)"
                    )
            print(f"\n{name} {'-'.join(map(str, widths))}, {threads} thread(s), float32, best (min-max) of {a.repeats}")
            print(C.table(rows, right=range(len(rows[0]))))
    print("\nTargets")
    for what, ratio, ok in verdicts:
        print(f"  {'PASS' if ok else 'MISS'}  {what}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
