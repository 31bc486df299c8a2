#!/usr/bin/env python
"""Training speed of bricks against PyTorch, a NumPy MLP and scikit-learn.

A full step is forward + cross-entropy + backward + SGD(momentum 0.9), float32, data
in memory. For each config and thread count the libraries run interleaved
(round-robin, the starting library rotating each repeat) so that the noise of a
shared machine hits all of them alike; each repeat is a fixed number of steps sized
to take about --time seconds; the table shows medians over the repeats.

    env -u OPENBLAS_CORETYPE python bench/train_speed.py            # full run, ~2-3 min
    env -u OPENBLAS_CORETYPE python bench/train_speed.py --quick    # smoke run, < 30 s

See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import _common as C

# The environment as given, before bricks sets its thread defaults in os.environ.
ENV0 = dict(os.environ)

# Import the other libraries before bricks, so that each starts with its own
# defaults: bricks sets OMP_WAIT_POLICY / OPENBLAS_THREAD_TIMEOUT (if unset) at
# import, which would otherwise also reach PyTorch's OpenMP and scipy's OpenBLAS.
try:
    import torch
except ImportError:
    torch = None
try:
    import sklearn.neural_network  # noqa: F401
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False
import bricks as bk  # noqa: E402

LIBS = ("bricks-step", "bricks-fit", "bricks-fit-ignore", "torch", "numpy", "sklearn")
# Not run by default: bricks' step with the threading modes other than the default "auto"
# (bk.set_threading: "pool", "openblas"), and bricks and PyTorch at one thread inside a
# block of more (the same machine state: the floor a step at more threads must beat).
EXTRA_LIBS = ("bricks-auto", "bricks-pool", "bricks-openblas", "bricks-1thread", "torch-1thread")
GEMM_SHAPE = (256, 2048, 2048)  # the large config's biggest layer: batch, in, out
BUSY = 0.2  # cores used by other processes above which a block counts as disturbed


# -- runners: prepare(steps) sets up a repeat of `steps` steps, run() does it -----------
class Runner:
    """run() returns the last loss (None for the GEMM), for the does-it-train check."""

    work = "samples"  # what rates count: samples (training) or flop (GEMM)
    spins = False  # its idle BLAS/OpenMP threads spin for a while after a run

    def __init__(self, name, cfg):
        self.name, self.cfg, self.batch, self.steps = name, cfg, cfg["batch"], 1

    def prepare(self, steps):
        self.steps = steps

    def work_per_repeat(self):
        return self.steps * self.batch


class BricksStep(Runner):
    """model.train_step(X, y) on one batch: one native call per step."""

    def __init__(self, name, cfg):
        super().__init__(name, cfg)
        self.model = C.bricks_model(cfg)
        self.X, self.y = C.make_batch(cfg, self.batch)

    def run(self):
        step, X, y = self.model.train_step, self.X, self.y
        for _ in range(self.steps):
            loss = step(X, y)
        return loss


class BricksStepAs(BricksStep):
    """train_step with another threading mode or thread count, set for its run only."""

    def __init__(self, name, cfg, mode=None, threads=None):
        super().__init__(name, cfg)
        self.mode, self.threads = mode, threads

    def run(self):
        mode, threads = bk.get_threading(), bk.get_num_threads()
        bk.set_threading(self.mode or mode)
        bk.set_num_threads(self.threads or threads)
        try:
            return super().run()
        finally:
            bk.set_threading(mode)
            bk.set_num_threads(threads)


class BricksFit(Runner):
    """model.fit over a dataset of `steps` batches: one epoch, the native batch loop."""

    def __init__(self, name, cfg, guard):
        super().__init__(name, cfg)
        self.model, self.guard = C.bricks_model(cfg), guard

    def prepare(self, steps):
        self.steps = steps
        self.X, self.y = C.make_batch(self.cfg, steps * self.batch, seed=1)

    def run(self):
        h = self.model.fit(
            self.X, self.y, epochs=1, batch_size=self.batch, shuffle=False, verbose=0, on_nonfinite=self.guard
        )
        return h.history["loss"][-1]


class TorchStep(Runner):
    """zero_grad / forward / loss / backward / optimizer.step, eager CPU."""

    spins = True

    def __init__(self, name, cfg):
        super().__init__(name, cfg)
        self.model, self.loss, self.opt = C.torch_model(cfg)
        X, y = C.make_batch(cfg, self.batch)
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)

    def run(self):
        m, L, o, X, y = self.model, self.loss, self.opt, self.X, self.y
        for _ in range(self.steps):
            loss = C.torch_step(m, L, o, X, y)
        return loss.item()


class TorchOneThread(TorchStep):
    """PyTorch at one thread inside a block of more."""

    def run(self):
        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return super().run()
        finally:
            torch.set_num_threads(n)


class NumpyStep(Runner):
    """The hand-written NumPy MLP of _common.py."""

    spins = True

    def __init__(self, name, cfg):
        super().__init__(name, cfg)
        self.model = C.NumpyMLP(cfg)
        self.X, self.y = C.make_batch(cfg, self.batch)
        self.lr = cfg.get("lr", C.LR)

    def run(self):
        for _ in range(self.steps):
            loss = self.model.step(self.X, self.y, lr=self.lr)
        return loss


class SklearnStep(Runner):
    """MLPClassifier.partial_fit on one batch: per call it validates the input,
    binarises the labels, then does one forward/backward/momentum-SGD step."""

    spins = True

    def __init__(self, name, cfg):
        super().__init__(name, cfg)
        self.model = C.sklearn_model(cfg)
        X, y = C.make_batch(cfg, self.batch)
        self.X, self.y = X, C.sklearn_labels(y)
        self.model.partial_fit(self.X, self.y, classes=C.sklearn_classes(cfg))

    def run(self):
        for _ in range(self.steps):
            self.model.partial_fit(self.X, self.y)
        return self.model.loss_


class BricksGemm(Runner):
    """The GEMM ceiling: bk.Linear(2048, 2048, bias=False).forward of a (256, 2048)
    float32 input, i.e. bricks' own matrix product on the largest layer shape."""

    work = "flop"

    def __init__(self, name, cfg):
        super().__init__(name, cfg)
        n, k, m = GEMM_SHAPE
        self.lin = bk.Linear(k, m, bias=False)
        self.x = np.random.default_rng(0).standard_normal((n, k), dtype=np.float32)

    def work_per_repeat(self):
        n, k, m = GEMM_SHAPE
        return self.steps * 2 * n * k * m

    def run(self):
        f, x = self.lin.forward, self.x
        for _ in range(self.steps):
            f(x)


def make_runner(lib, cfg):
    if lib == "bricks-step":
        return BricksStep(lib, cfg)
    if lib == "bricks-fit":
        return BricksFit(lib, cfg, "raise")
    if lib == "bricks-fit-ignore":
        return BricksFit(lib, cfg, "ignore")
    if lib == "torch":
        return TorchStep(lib, cfg)
    if lib == "bricks-openblas":
        return BricksStepAs(lib, cfg, mode="openblas")
    if lib == "bricks-pool":
        return BricksStepAs(lib, cfg, mode="pool")
    if lib == "bricks-auto":
        return BricksStepAs(lib, cfg, mode="auto")
    if lib == "bricks-1thread":
        return BricksStepAs(lib, cfg, threads=1)
    if lib == "torch-1thread":
        return TorchOneThread(lib, cfg)
    if lib == "numpy":
        return NumpyStep(lib, cfg)
    if lib == "sklearn":
        return SklearnStep(lib, cfg)
    if lib == "gemm":
        return BricksGemm(lib, cfg)
    raise ValueError(lib)


def timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def calibrate(r, target):
    """Find the step count of a ~target-second repeat; the last run is the warm-up."""
    r.prepare(1)
    r.first_loss = r.run()  # first call: allocations, lazy set-up
    steps = 1
    while True:
        r.prepare(steps)
        t = timed(r.run)
        if t >= target / 5 or steps >= 10**7:
            break
        steps = int(steps * min(100.0, max(2.0, 1.2 * target / 5 / max(t, 1e-7))))
    r.prepare(max(1, round(steps * target / t)))
    r.run()  # warm-up at full size


def timed_run(r):
    t0 = time.perf_counter()
    r.last_loss = r.run()
    return time.perf_counter() - t0


def bench_block(cfg_name, threads, libs, args):
    """All libraries on one config at one thread count, interleaved."""
    cfg = C.CONFIGS[cfg_name]
    C.set_threads(threads)
    runners = [make_runner(lib, cfg) for lib in libs]

    # Idle workers of NumPy's OpenBLAS (and, briefly, PyTorch's OpenMP) keep spinning
    # after a run (measured: ~0.1-0.3 s) and would halve the speed of whatever runs
    # next on 2 cores: pause after those libraries. At 1 thread there are no workers.
    def cool_down(r):
        if r.spins and threads > 1:
            time.sleep(args.gap)

    load = C.OtherLoad()
    for r in runners:
        calibrate(r, args.time)
        cool_down(r)
    times = {r.name: [] for r in runners}
    for rep in range(args.repeats):
        k = rep % len(runners)
        for r in runners[k:] + runners[:k]:
            times[r.name].append(timed_run(r))
            cool_down(r)
    res = {}
    for r in runners:
        rates = [r.work_per_repeat() / t for t in times[r.name]]
        res[r.name] = {
            "steps": r.steps,
            "batch": r.batch,
            "work": r.work,
            "times_s": times[r.name],
            "rates": rates,
            "median": C.median(rates),
            "first_loss": r.first_loss,
            "last_loss": r.last_loss,
        }
    return res, load.cores()


def import_time(runs):
    """`import bricks` timed inside fresh interpreters (median, min, max), plus
    `import numpy` alone and the bare interpreter start, for context."""

    def one(stmt):
        code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
        return float(
            subprocess.run(
                [sys.executable, "-c", code], env=ENV0, check=True, capture_output=True, text=True
            ).stdout.split()[-1]
        )  # (an editable install logs a rebuild first)

    def start():
        return timed(lambda: subprocess.run([sys.executable, "-c", "pass"], env=ENV0, check=True))

    one("import bricks")  # discarded: a first run may compile or warm caches
    res = {}
    for key, f in (
        ("bricks", lambda: one("import bricks")),
        ("numpy", lambda: one("import numpy")),
        ("interpreter_start", start),
    ):
        xs = [f() for _ in range(runs)]
        res[key] = {"median": C.median(xs), "min": min(xs), "max": max(xs), "runs": xs}
    return res


# -- a busy neighbour --------------------------------------------------------------------
SPIN = """import os, sys
try:
    os.sched_setaffinity(0, {int(sys.argv[1])})
except (AttributeError, OSError):
    pass  # not pinned: the scheduler places it
while True:
    pass
"""


class Neighbours:
    """`n` processes spinning on a core each (the last cores first), as another
    program on a shared machine would: started on enter, killed on exit."""

    def __init__(self, n):
        self.n, self.procs = n, []

    def __enter__(self):
        cores = os.cpu_count() or 1
        for i in range(self.n):
            core = (cores - 1 - i) % cores
            self.procs.append(subprocess.Popen([sys.executable, "-c", SPIN, str(core)], env=ENV0))
        if self.procs:
            time.sleep(0.2)  # running before the first block
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()
        if self.procs:
            print(f"busy neighbour stopped (pid {' '.join(str(p.pid) for p in self.procs)})", flush=True)


# -- report ----------------------------------------------------------------------------
def spread_pct(rates):
    """Half the min-max range as a % of the median."""
    return 50.0 * (max(rates) - min(rates)) / C.median(rates)


def paired_ratios(a, b):
    """Per-repeat ratios a_i / b_i: the two ran next to each other in the same round."""
    return [x / y for x, y in zip(a["rates"], b["rates"])]


def report(blocks, libs, gemm_pct_libs):
    shown = [lib for lib in libs if any(lib in b["res"] for b in blocks)]
    lines = [
        "samples/s: median over repeats (± half the min-max range, % of the median); "
        "others: CPU cores used by other processes meanwhile",
        "",
    ]
    rows = [["config", "thr", "others"] + shown]
    for b in blocks:
        o = b["others_cores"]
        row = [b["config"], str(b["threads"]), "?" if o is None else f"{o:.2f}"]
        for lib in shown:
            r = b["res"].get(lib)
            row.append(f"{C.fmt_rate(r['median'])} ±{spread_pct(r['rates']):.0f}%" if r else "-")
        rows.append(row)
    lines += [C.table(rows, right=set(range(1, len(shown) + 3))), ""]

    variants = [
        v
        for v in (
            "bricks-step",
            "bricks-fit",
            "bricks-fit-ignore",
            "bricks-auto",
            "bricks-pool",
            "bricks-openblas",
            "bricks-1thread",
        )
        if v in shown
    ]
    if "torch" in shown and variants:
        lines += ["bricks / PyTorch: ratio of the medians [min-max of the per-repeat ratios]", ""]
        rows = [["config", "thr", "target"] + [f"{v} / torch" for v in variants]]
        for b in blocks:
            t = b["res"].get("torch")
            if not t:
                continue
            target = C.TARGET_RATIO[b["config"]]
            row = [b["config"], str(b["threads"]), f">= {target:g}x"]
            for v in variants:
                r = b["res"][v]
                pr = paired_ratios(r, t)
                ratio = r["median"] / t["median"]
                b.setdefault("ratios", {})[v] = {"ratio": ratio, "paired": pr}
                ok = "ok" if ratio >= target else "MISSED"
                row.append(f"{ratio:.2f} [{min(pr):.2f}-{max(pr):.2f}] {ok}")
            rows.append(row)
        lines += [C.table(rows, right={1}), ""]

    gb = [b for b in blocks if "gemm" in b["res"]]
    if gb:
        cfg = C.CONFIGS["large"]
        step_flop = 3 * C.forward_flops_per_sample(cfg)  # forward + backward = 3 x forward
        first_dx = 2 * cfg["layers"][0] * cfg["layers"][1]
        n, k, m = GEMM_SHAPE
        lines += [
            f"GEMM ceiling: bricks' own {n}x{k} @ {k}x{m} float32 (a bk.Linear forward), "
            f"and the large training step's GFLOP/s",
            f"(3 x forward GEMM flops = {step_flop / 1e6:.1f} MFLOP per sample, of which the "
            f"first layer's input gradient, {100 * first_dx / step_flop:.0f}%, need not be "
            f"computed) as % of it;",
            f"target >= {C.TARGET_GEMM_PCT:g}% for bricks; [min-max of the per-round %]",
            "",
        ]
        rows = [["thr", "GEMM GFLOP/s"] + [f"{lib}" for lib in gemm_pct_libs]]
        for b in gb:
            g = b["res"]["gemm"]
            ceil = g["median"] / 1e9
            row = [str(b["threads"]), f"{ceil:.0f} ±{spread_pct(g['rates']):.0f}%"]
            for lib in gemm_pct_libs:
                r = b["res"].get(lib)
                if not r:
                    row.append("-")
                    continue
                gf = r["median"] * step_flop / 1e9
                pct = 100 * gf / ceil
                pr = [100 * x * step_flop / y for x, y in zip(r["rates"], g["rates"])]
                b.setdefault("gemm_pct", {})[lib] = {"gflops": gf, "pct": pct, "paired_pct": pr}
                mark = (" ok" if pct >= C.TARGET_GEMM_PCT else " MISSED") if lib.startswith("bricks") else ""
                row.append(f"{gf:.0f} GFLOP/s = {pct:.1f}% [{min(pr):.0f}-{max(pr):.0f}]{mark}")
            rows.append(row)
        lines += [C.table(rows, right={0}), ""]
    return "\n".join(lines)


def loss_check(blocks) -> str:
    """Each library's loss must be finite and lower at the end than at its first
    step: proof that the timed steps really trained."""
    bad = [
        f"{b['config']}/{b['threads']}/{k}: {v['first_loss']:.4g} -> {v['last_loss']:.4g}"
        for b in blocks
        for k, v in b["res"].items()
        if v["first_loss"] is not None and not (np.isfinite(v["last_loss"]) and v["last_loss"] < v["first_loss"])
    ]
    if bad:
        return "WARNING: loss did not go down for " + "; ".join(bad) + "\n"
    return "check: every library's loss went down from its first step to its last (it trains)\n"


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--configs",
        default="tiny,small,medium,large,medium-b1,medium-b8,large-b1,large-b8",
        help="comma-separated, of: " + ", ".join(C.CONFIGS),
    )
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--repeats", type=int, help="timed repeats per library, median taken (default 5)")
    p.add_argument("--time", type=float, help="seconds per repeat, sets the step count (default 0.3)")
    p.add_argument("--libs", default=",".join(LIBS), help="comma-separated, of: " + ", ".join(LIBS + EXTRA_LIBS))
    p.add_argument(
        "--busy",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="N",
        help="a busy neighbour: N child processes (default 1) spin, each pinned to a core "
        "of its own from the last one down, for the whole run",
    )
    p.add_argument(
        "--sklearn-configs", default="small,medium", help="configs on which scikit-learn runs (default small,medium)"
    )
    p.add_argument(
        "--gap",
        type=float,
        help="pause (s) after each run of NumPy, sklearn or PyTorch at >1 thread, "
        "so that their idle workers stop spinning before the next library runs "
        "(default 0.3)",
    )
    p.add_argument(
        "--retries",
        type=int,
        help="measure a config/thread block again (up to this many times) when "
        f"other processes used more than {BUSY} cores meanwhile; keep the "
        "least disturbed attempt (default 1; 0 with --quick)",
    )
    p.add_argument("--import-runs", type=int, help="fresh interpreters for the import time (default 5)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (< 30 s): defaults become 3 repeats of 0.05 s, gap 0.15 s, 3 import runs; numbers are rough",
    )
    p.add_argument("--json", metavar="PATH", help="write every measurement to this JSON file")
    args = p.parse_args(argv)
    # Options not given take the full run's defaults, or the smoke run's with --quick.
    defaults = (
        dict(repeats=3, time=0.05, gap=0.15, import_runs=3, retries=0)
        if args.quick
        else dict(repeats=5, time=0.3, gap=0.3, import_runs=5, retries=1)
    )
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    configs = [c for c in args.configs.split(",") if c]
    threads = [int(t) for t in args.threads.split(",") if t]
    libs = [lib for lib in args.libs.split(",") if lib]
    for c in configs:
        if c not in C.CONFIGS:
            p.error(f"unknown config {c!r}")
    for lib in libs:
        if lib not in LIBS + EXTRA_LIBS:
            p.error(f"unknown library {lib!r}")
    skipped = []
    for t in ("torch", "torch-1thread"):
        if torch is None and t in libs:
            skipped.append(f"{t} (not importable: pip install torch)")
            libs.remove(t)
    if not HAVE_SKLEARN and "sklearn" in libs:
        skipped.append("sklearn (not installed)")
        libs.remove("sklearn")

    warn = C.coretype_warning()
    if warn:
        print(warn, "\n", file=sys.stderr, flush=True)
    info = C.machine_info()
    info["bricks_threads_default"] = bk.get_num_threads()
    print(
        f"bricks {bk.__version__}  kernels: {bk.cpu_info()['isa']}  OpenBLAS kernel: {bk.blas_info()}  |  "
        f"torch {info.get('torch', '-')}  numpy {np.__version__}  sklearn {info.get('sklearn', '-')}"
    )
    print(f"{info['cpu']}, {info['cores']} cores, load {info.get('load_avg_1min', 0):.2f}, {info['date']}")
    print(
        f"{args.repeats} repeats of ~{args.time:g} s per library, after a warm-up; "
        f"{C.set_threads(1)}" + (f"; skipped: {', '.join(skipped)}" if skipped else "")
    )
    print(flush=True)

    if args.busy:
        print(f"busy neighbour: {args.busy} process(es) spinning on a core each for the whole run\n", flush=True)
    with Neighbours(args.busy):
        blocks, t_start = measure(configs, threads, libs, args)
    report_all(blocks, libs, args, info, t_start, warn)


def measure(configs, threads, libs, args):
    # The neighbours' own cores do not count as a disturbance.
    limit = BUSY + args.busy
    blocks, t_start = [], time.perf_counter()
    for c in configs:
        for n in threads:
            these = [lib for lib in libs if lib != "sklearn" or c in args.sklearn_configs.split(",")]
            if c == "large":
                these.append("gemm")
            # On a shared machine: measure a block again when other processes took
            # CPU meanwhile, and keep the least disturbed attempt.
            best = None
            for attempt in range(1 + args.retries):
                res, others = bench_block(c, n, these, args)
                done = ", ".join(f"{k} {C.fmt_rate(v['median'])}" for k, v in res.items() if k != "gemm")
                print(f"  {c:6s} {n} thr (others {others or 0:.2f} cores): {done}", file=sys.stderr, flush=True)
                if best is None or (others or 0) < (best["others_cores"] or 0):
                    best = {"config": c, "threads": n, "res": res, "others_cores": others, "attempts": attempt + 1}
                if (others or 0) <= limit:
                    break
            blocks.append(best)
    return blocks, t_start


def busy_verdicts(blocks) -> str:
    """Issue 14's busy-neighbour targets, per block at 2+ threads: bricks' step no slower
    than its 1-thread step in the same block, and bricks losing no more than PyTorch."""
    lines = ["busy neighbour: 2+ threads against 1 thread in the same block (same machine state)"]
    for b in blocks:
        r = b["res"]
        if b["threads"] < 2 or not all(k in r for k in ("bricks-step", "bricks-1thread")):
            continue
        mine = r["bricks-step"]["median"] / r["bricks-1thread"]["median"]
        ok = "ok" if mine >= 1 else "MISSED"
        line = f"  {b['config']} {b['threads']} thr: bricks {mine:.2f}x its 1-thread step ({ok})"
        if "torch" in r and "torch-1thread" in r:
            theirs = r["torch"]["median"] / r["torch-1thread"]["median"]
            ok = "ok" if mine >= theirs else "MISSED"
            line += f"; PyTorch {theirs:.2f}x its own: bricks loses no more ({ok})"
        lines.append(line)
    if len(lines) == 1:
        lines.append("  (needs --libs with bricks-step,bricks-1thread and torch,torch-1thread at --threads 2)")
    return "\n".join(lines) + "\n"


def report_all(blocks, libs, args, info, t_start, warn):
    gemm_libs = [lib for lib in ("bricks-step", "bricks-fit", "torch", "numpy") if lib in libs]
    print()
    print(report(blocks, libs, gemm_libs))
    print(loss_check(blocks))
    busy = max((b["others_cores"] or 0) for b in blocks) - args.busy
    if busy > BUSY:
        print(
            f"WARNING: other processes used up to {busy:.2f} of {os.cpu_count()} cores during "
            f"this run: its numbers (above all at 2 threads) are disturbed; re-run when the "
            f"machine is quiet.\n"
        )

    if args.busy:
        print(busy_verdicts(blocks))
    imp = import_time(args.import_runs)
    ib, inp, st = imp["bricks"], imp["numpy"], imp["interpreter_start"]
    ok = "ok" if ib["median"] - inp["median"] <= C.TARGET_IMPORT_OVER_NUMPY_S else "MISSED"
    print(
        f"import bricks: {ib['median'] * 1000:.0f} ms [{ib['min'] * 1000:.0f}-{ib['max'] * 1000:.0f}] "
        f"median of {args.import_runs} fresh interpreters (target <= import numpy + "
        f"{C.TARGET_IMPORT_OVER_NUMPY_S * 1000:.0f} ms: {ok}); import numpy alone {inp['median'] * 1000:.0f} ms; "
        f"interpreter start {st['median'] * 1000:.0f} ms (bench/import_time.py measures it more closely)"
    )
    print(f"(benchmark took {time.perf_counter() - t_start:.0f} s)")
    if warn:
        print("\n" + warn, file=sys.stderr)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "args": vars(args), "blocks": blocks, "import_time": imp}, f, indent=1)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
