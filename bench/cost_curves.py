#!/usr/bin/env python
"""Cost curves: samples/s against batch size and against width, bricks beside PyTorch
and ONNX Runtime, so that a cliff (a size where a library suddenly falls behind its
own trend) shows at a glance.

Two sweeps, float32, ReLU MLPs, data in memory:

- batch: 784-256-256-10 at batch 1, 4, 16, 64, 256, 1024;
- width: 784-w-w-10 at batch 256, w = 64, 128, ..., 4096.

Five series: the training step (forward + cross-entropy + backward + SGD with momentum
0.9) of bricks (``model.train_step``) and PyTorch (eager); inference of bricks
(``model.predict(X, batch_size=len(X))``), PyTorch (eval, ``torch.inference_mode()``)
and ONNX Runtime (the bricks model exported with ``model.to_onnx``, CPU provider). At
each point every series is built, warmed up and calibrated to about ``--time`` seconds
a repeat; then the series run interleaved, ``--repeats`` rounds, the first rotating,
so that the noise of a shared machine hits all alike; a cell is the median.

Writes the tables to stdout and to ``--md`` (markdown), and the two curves, log axes,
to ``--png``.

    env -u OPENBLAS_CORETYPE python bench/cost_curves.py            # ~2-4 minutes
    env -u OPENBLAS_CORETYPE python bench/cost_curves.py --quick    # ~30 s, rough
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

import _common as C

# The other libraries before bricks: `import bricks` sets OMP_WAIT_POLICY=PASSIVE (when
# unset), which would otherwise reach PyTorch's OpenMP (see README, "Import order").
try:
    import torch
except ImportError:
    torch = None
try:
    import onnxruntime as ort
except ImportError:
    ort = None
import bricks as bk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHES = (1, 4, 16, 64, 256, 1024)
WIDTHS = (64, 128, 256, 512, 1024, 2048, 4096)
BATCH_NET = (784, 256, 256, 10)
WIDTH_BATCH = 256
SERIES = ("bricks-train", "torch-train", "bricks-infer", "torch-infer", "ort-infer")
STYLE = {  # colour per library, solid = training step, dashed = inference
    "bricks-train": ("tab:blue", "-", "o"),
    "torch-train": ("tab:red", "-", "s"),
    "bricks-infer": ("tab:blue", "--", "o"),
    "torch-infer": ("tab:red", "--", "s"),
    "ort-infer": ("tab:green", "--", "^"),
}
CLIFF = 0.7  # a point below 70% of the previous one's rate (batch) or GFLOP/s (width)


def cfg_of(widths, batch):
    return {"layers": tuple(widths), "act": "relu", "batch": batch}


def runners(cfg, threads: int, series) -> dict:
    """name -> a function doing one step (train) or one predict (infer) on one batch."""
    X, y = C.make_batch(cfg, cfg["batch"])
    out = {}
    trained = C.bricks_model(cfg)  # compiled with its loss and SGD
    model = C.bricks_model(cfg)  # another, only predicting
    if "bricks-train" in series:
        out["bricks-train"] = lambda: trained.train_step(X, y)
    if "bricks-infer" in series:
        out["bricks-infer"] = lambda: model.predict(X, batch_size=len(X))
    if torch is not None:
        tX, ty = torch.from_numpy(X), torch.from_numpy(y)
        if "torch-train" in series:
            tm, loss_fn, opt = C.torch_model(cfg)
            out["torch-train"] = lambda: C.torch_step(tm, loss_fn, opt, tX, ty)
        if "torch-infer" in series:
            ti = C.torch_model(cfg)[0].eval()

            def torch_infer():
                with torch.inference_mode():
                    return ti(tX).numpy()

            out["torch-infer"] = torch_infer
    if ort is not None and "ort-infer" in series:
        with tempfile.TemporaryDirectory(prefix="bricks-curves-") as tmp:
            path = os.path.join(tmp, "net.onnx")
            model.to_onnx(path)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        out["ort-infer"] = lambda: sess.run(None, {name: X})[0]
    return out


def measure_point(cfg, threads, series, seconds, repeats):
    """Median samples/s of each series at one config, interleaved; and the others' load."""
    fns = runners(cfg, threads, series)
    C.set_threads(threads)
    steps = {}
    for name, fn in fns.items():  # warm up, then calibrate to ~seconds a repeat
        fn()
        t0, n = time.perf_counter(), 0
        while n < 2 or time.perf_counter() - t0 < min(seconds, 0.05):
            fn()
            n += 1
        per = (time.perf_counter() - t0) / n
        steps[name] = max(1, int(seconds / per))
    rates = {name: [] for name in fns}
    load = C.OtherLoad()
    names = list(fns)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, k = fns[name], steps[name]
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            rates[name].append(k * cfg["batch"] / (time.perf_counter() - t0))
    return {name: statistics.median(v) for name, v in rates.items()}, load.cores()


def sweep(points, threads, series, seconds, repeats, label):
    """[(x, cfg, {series: samples/s}, others)] over the points of one sweep."""
    out = []
    for x, cfg in points:
        rates, others = measure_point(cfg, threads, series, seconds, repeats)
        out.append((x, cfg, rates, others))
        cells = "  ".join(f"{s}={C.fmt_rate(rates[s])}" for s in series if s in rates)
        print(f"  {label} {x}: {cells}  (others {others if others is None else round(others, 2)})", flush=True)
    return out


def gflops(cfg, series, rate):
    """GFLOP/s of a rate: forward GEMM flops a sample, x3 for a training step."""
    return rate * C.forward_flops_per_sample(cfg) * (3 if series.endswith("train") else 1) / 1e9


def cliffs(results, series, by_flops):
    """Points where a series falls below CLIFF x the previous point: its samples/s (batch
    sweep: more rows a call should never be slower a row) or its GFLOP/s (width sweep)."""
    found = []
    for s in series:
        prev = None
        for x, cfg, rates, _ in results:
            if s not in rates:
                continue
            v = gflops(cfg, s, rates[s]) if by_flops else rates[s]
            if prev is not None and v < CLIFF * prev[1]:
                found.append(f"{s}: {prev[0]} -> {x}: {v / prev[1] - 1:+.0%} {'GFLOP/s' if by_flops else 'samples/s'}")
            prev = (x, v)
    return found


def markdown_table(results, series, xname, with_flops):
    head = [xname] + list(series) + ["bricks/torch train", "bricks/torch infer", "bricks/ort infer", "others"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for x, cfg, rates, others in results:
        cells = [str(x)]
        for s in series:
            if s not in rates:
                cells.append("–")
                continue
            cell = C.fmt_rate(rates[s])
            if with_flops:
                cell += f" ({gflops(cfg, s, rates[s]):.0f} GF/s)"
            cells.append(cell)
        for a, b in (("bricks-train", "torch-train"), ("bricks-infer", "torch-infer"), ("bricks-infer", "ort-infer")):
            cells.append(f"{rates[a] / rates[b]:.2f}" if a in rates and b in rates else "–")
        cells.append("?" if others is None else f"{others:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(batch_res, width_res, series, path, caption):
    """Three panels, log x: samples/s by batch, samples/s by width, and GFLOP/s by width
    (linear y), where a width that falls off its library's plateau stands out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), dpi=100)
    panels = (
        (axes[0], batch_res, "batch size (rows)", "samples/s by batch size, 784-256-256-10", False),
        (axes[1], width_res, "hidden width w", f"samples/s by width, 784-w-w-10, batch {WIDTH_BATCH}", False),
        (axes[2], width_res, "hidden width w", f"GEMM GFLOP/s by width, 784-w-w-10, batch {WIDTH_BATCH}", True),
    )
    for ax, res, xlabel, title, flops in panels:
        for s in series:
            pts = [(x, gflops(cfg, s, r[s]) if flops else r[s]) for x, cfg, r, _ in res if s in r]
            if not pts:
                continue
            colour, ls, marker = STYLE[s]
            ax.plot(*zip(*pts), color=colour, linestyle=ls, marker=marker, markersize=4, label=s)
        ax.set_xscale("log", base=2)
        if flops:
            ax.set_ylim(bottom=0)
            ax.set_ylabel("GFLOP/s (train step: 3x the forward's flops)")
        else:
            ax.set_yscale("log")
            ax.set_ylabel("samples/s (higher is better)")
        ax.set_xlabel(xlabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        if res:
            ax.set_xticks([x for x, *_ in res], [str(x) for x, *_ in res])
    axes[0].legend(fontsize=8, title="solid: train step, dashed: inference", title_fontsize=8)
    fig.suptitle("Cost curves: bricks, PyTorch, ONNX Runtime (float32, CPU)", fontsize=11)
    fig.text(0.5, 0.01, caption, ha="center", fontsize=7.5, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="threads for every library (default 1: a shared machine)")
    p.add_argument("--time", type=float, default=0.2, help="seconds a repeat (default 0.2)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds a point (default 5)")
    p.add_argument("--batches", default=",".join(map(str, BATCHES)), help="batch sweep, comma-separated")
    p.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="width sweep, comma-separated")
    p.add_argument("--series", default=",".join(SERIES), help="of: " + ", ".join(SERIES))
    p.add_argument("--quick", action="store_true", help="smoke run: --time 0.03 --repeats 1, rough")
    p.add_argument("--md", help="markdown table file (default bench/cost_curves.md; with --quick: none)")
    p.add_argument("--png", help="the plot (default bench/cost_curves.png; with --quick: none)")
    p.add_argument("--json", metavar="PATH", help="also write every number to this JSON file")
    p.add_argument("--from-json", metavar="PATH", help="measure nothing: the tables and plot of a --json file")
    args = p.parse_args(argv)
    if args.quick:  # rough numbers: they do not replace the committed table and picture
        args.time, args.repeats = 0.03, 1
    if args.md is None:
        args.md = "" if args.quick else os.path.join(HERE, "cost_curves.md")
    if args.png is None:
        args.png = "" if args.quick else os.path.join(HERE, "cost_curves.png")
    series = [s for s in args.series.split(",") if s]
    bad = set(series) - set(SERIES)
    if bad:
        p.error(f"--series: unknown {sorted(bad)}; of {', '.join(SERIES)}")
    missing = [s for s in series if (s.startswith("torch") and torch is None) or (s == "ort-infer" and ort is None)]
    if missing:
        print(f"note: not installed, skipped: {missing}", file=sys.stderr)
        series = [s for s in series if s not in missing]
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        batch_res = [(d["x"], cfg_of(BATCH_NET, d["x"]), d["rates"], d["others"]) for d in saved["batch"]]
        width_res = [
            (d["x"], cfg_of((784, d["x"], d["x"], 10), WIDTH_BATCH), d["rates"], d["others"]) for d in saved["width"]
        ]
        series = [s for s in SERIES if any(s in r for _, _, r, _ in batch_res + width_res)]
        report(batch_res, width_res, series, saved["repeats"], saved["caption"], args, saved["machine"])
        return
    warn = C.coretype_warning()
    if warn:
        print(warn, file=sys.stderr)

    t_start = time.perf_counter()
    batches = [int(b) for b in args.batches.split(",") if b]
    widths = [int(w) for w in args.widths.split(",") if w]
    print(f"cost curves, {args.threads} thread(s), ~{args.time} s a repeat, {args.repeats} interleaved repeats")
    batch_res = sweep(
        [(b, cfg_of(BATCH_NET, b)) for b in batches], args.threads, series, args.time, args.repeats, "batch"
    )
    width_res = sweep(
        [(w, cfg_of((784, w, w, 10), WIDTH_BATCH)) for w in widths],
        args.threads,
        series,
        args.time,
        args.repeats,
        "width",
    )
    elapsed = time.perf_counter() - t_start

    info = C.machine_info()
    info["machine"] = platform.node()
    versions = ", ".join(
        f"{k} {v}" for k, v in (("bricks", bk.__version__), ("PyTorch", getattr(torch, "__version__", None))) if v
    )
    if ort is not None:
        versions += f", ONNX Runtime {ort.__version__}"
    caption = (
        f"machine '{info['machine']}' ({info['cpu']}, {info['cores']} cores, OpenBLAS kernel "
        f"{info.get('bricks_blas_kernel', '?')}), shared with other sessions: noisy; {args.threads} thread(s); "
        f"{versions}; {info['date'][:16]}"
    )
    report(batch_res, width_res, series, args.repeats, caption, args, info)
    print(f"({elapsed:.0f} s)")


def report(batch_res, width_res, series, repeats, caption, args, info):
    """The tables (stdout, --md), the picture (--png) and the numbers (--json)."""
    by_batch = cliffs(batch_res, series, by_flops=False)
    by_width = cliffs(width_res, series, by_flops=True)
    md = "\n\n".join(
        [
            f"Samples/s by batch size, 784-256-256-10 (median of {repeats} interleaved repeats):",
            markdown_table(batch_res, series, "batch", False),
            f"Samples/s by hidden width, 784-w-w-10, batch {WIDTH_BATCH} (GEMM GFLOP/s in brackets; "
            "a training step counts 3x the forward's):",
            markdown_table(width_res, series, "width", True),
            "Cliffs (a point below "
            f"{CLIFF:.0%} of the one before; batch: samples/s, width: GFLOP/s): "
            + ("; ".join(by_batch + by_width) or "none"),
            f"Run: {caption}; `others` is the CPU (cores) other processes used during the point.",
        ]
    )
    print("\n" + md)
    if args.md:
        with open(args.md, "w") as f:
            f.write(
                "# Cost curves (`bench/cost_curves.py`)\n\n"
                "Written by `bench/cost_curves.py`; the picture is `cost_curves.png`.\n\n" + md + "\n"
            )
        print(f"\nwrote {args.md}")
    if args.png:
        plot(batch_res, width_res, series, args.png, caption)
        print(f"wrote {args.png}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": info,
                    "caption": caption,
                    "repeats": repeats,
                    "batch": [{"x": x, "rates": r, "others": o} for x, _, r, o in batch_res],
                    "width": [{"x": x, "rates": r, "others": o} for x, _, r, o in width_res],
                    "cliffs": by_batch + by_width,
                },
                f,
                indent=1,
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
