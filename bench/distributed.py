#!/usr/bin/env python
"""Data-parallel training speed: bricks over MPI against PyTorch DDP (gloo), 1 and 2 ranks.

For each config of train_speed.py (tiny, small, medium, large; see _common.py) the global
batch is the config's batch, each rank trains on its share, SGD(momentum 0.9), float32,
one thread per rank. bricks runs ``model.fit(..., distributed=True)`` under the venv's
``mpiexec -n 1`` and ``-n 2``; PyTorch runs ``DistributedDataParallel`` over gloo
(``init_method="tcp://127.0.0.1:PORT"``) in one and two processes. The four kinds of job
are launched in rounds, the first kind rotating each round, so that the noise of a
shared machine hits them alike; every number is the median over the rounds, min-max in
brackets. bricks' step time is split into communication (the time spent in the
per-step ``Allreduce``, timed by wrapping ``bricks.distributed._Reducer``, plus fit's
replica checks every 32 steps; both include waiting for the slower rank) and compute
(the rest). Then ``Allreduce`` alone is timed
over shared memory, over loopback TCP (MPICH's ofi/tcp netmod on ``lo``) and (as root)
between two network namespaces joined by a veth pair, and an alpha-beta model is
fitted for docs/content/cluster.md (written to bench/distributed_model.json).

    env -u OPENBLAS_CORETYPE python bench/distributed.py            # full run, ~4 min
    env -u OPENBLAS_CORETYPE python bench/distributed.py --quick    # smoke run, < 1 min

See bench/README.md ("Data-parallel training") for what each number means.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import _common as C

HERE = Path(__file__).resolve().parent
MPIEXEC = Path(sys.executable).parent / "mpiexec"
MODEL_JSON = HERE / "distributed_model.json"
# MPICH over TCP on the loopback interface instead of shared memory
TCP_ENV = {"MPIR_CVAR_NOLOCAL": "1", "MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "tcp", "FI_TCP_IFACE": "lo"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# the targets of issue 13: 2-rank samples/s over 1-rank's (scaling), and over DDP's
TARGET_SCALING = {"medium": 1.5, "large": 1.8}
TARGET_DDP = 1.0
ACCUM = 8  # the larger global batch tried where the small nets are latency-bound
LOCAL_K = 32  # local SGD: steps between two averagings of the weights
MAX_X_BYTES = 16e6  # the dataset a job trains over (epochs repeat it)


# -- helpers of the workers ----------------------------------------------------------------
def dataset(cfg, batch, steps):
    """(X, y, batches per epoch, epochs) for `steps` steps of `batch` rows, the dataset cut
    to at most MAX_X_BYTES (epochs go over it again)."""
    per = batch * cfg["layers"][0] * 4
    nb = max(1, min(steps, 512, int(MAX_X_BYTES // per)))
    X, y = C.make_batch(cfg, nb * batch, seed=1)
    return X, y, nb, math.ceil(steps / nb)


def calibrate(run, target, agree):
    """Steps for a ~target-second run, from the marginal cost of a step: the step count
    doubles until a run takes target/4 and twice the steps take >= 1.5x the time (so a
    fixed cost per run, such as fit's start, does not pass for the steps' cost); `agree`
    makes every rank use rank 0's number. The last run at full size is the warm-up."""
    steps, prev = 1, None
    while True:
        t = run(steps)
        if steps >= 10**7 or (prev is not None and t >= target / 4 and t >= 1.5 * prev):
            break
        prev, steps = t, agree(steps * 2)
    per_step = max((t - prev) / (steps / 2), t / steps / 4)
    steps = agree(max(2, round(target / per_step)))
    run(steps)
    return steps


# -- bricks worker: mpiexec -n K python distributed.py --worker bricks ... ---------------------
def bricks_worker(args):
    import bricks as bk
    from bricks import distributed as dist

    bk.set_num_threads(1)
    MPI = dist._mpi()
    comm = MPI.COMM_WORLD
    R, K = comm.Get_rank(), comm.Get_size()

    class TimedReducer(dist._Reducer):
        """fit's per-step allreduce, timed: the seconds spent in Allreduce and the calls."""

        seconds, calls = 0.0, 0

        def __call__(self, flat):
            t0 = time.perf_counter()
            self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)
            TimedReducer.seconds += time.perf_counter() - t0
            TimedReducer.calls += 1

    dist._Reducer = TimedReducer  # fit builds its reducer from this name
    check_replicas = dist.check_replicas

    def timed_check(model, where=""):
        """fit's replica check (an allgather of checksums every CHECK_EVERY steps), timed."""
        t0 = time.perf_counter()
        check_replicas(model, where)
        TimedReducer.check_seconds += time.perf_counter() - t0

    TimedReducer.check_seconds = 0.0
    dist.check_replicas = timed_check  # fit calls it through the module

    def agree(n):
        return comm.bcast(n, root=0)

    def timed(f):
        comm.Barrier()
        t0 = time.perf_counter()
        f()
        comm.Barrier()
        return comm.bcast(time.perf_counter() - t0, root=0)  # rank 0's clock for all

    def fit_run(cfg, batch, distributed):
        model = C.bricks_model(cfg)
        if distributed:
            dist.broadcast_(model)
        state = {}

        def run(steps):
            X, y, nb, epochs = state.get(steps) or state.setdefault(steps, dataset(cfg, batch, steps))
            TimedReducer.seconds, TimedReducer.calls, TimedReducer.check_seconds = 0.0, 0, 0.0

            def go():
                model.fit(X, y, epochs=epochs, batch_size=batch, shuffle=False, verbose=0, distributed=distributed)

            t = timed(go)
            spent = comm.allreduce(TimedReducer.seconds + TimedReducer.check_seconds, op=MPI.SUM) / K  # mean
            run.last = (nb * epochs, t, spent)
            return t

        return run

    out = {"ranks": K, "configs": {}}
    for name in args.configs.split(","):
        cfg = C.CONFIGS[name]
        B = cfg["batch"]
        res = {}
        kinds = [("fit", B, True)]
        if K == 1:
            kinds.append(("fit-plain", B, False))  # fit without MPI: the honest 1-rank number
        if name in args.extras.split(","):
            kinds.append((f"fit-batch{ACCUM}", B * ACCUM, True))
        for kind, batch, distributed in kinds:
            run = fit_run(cfg, batch, distributed)
            steps = calibrate(run, args.time, agree)
            rates, step_s, comm_s = [], [], []
            for _ in range(args.repeats):
                run(steps)
                s, t, c = run.last
                rates.append(s * batch / t)
                step_s.append(t / s)
                comm_s.append(c / s)
            res[kind] = {"rate": rates, "step_s": step_s, "comm_s": comm_s, "batch": batch}
        if name in args.extras.split(",") and K > 1:
            res[f"local-sgd-k{LOCAL_K}"] = local_sgd(bk, dist, comm, cfg, B, agree, timed, args)
        out["configs"][name] = res
    if R == 0:
        print("RESULT " + json.dumps(out), flush=True)


def local_sgd(bk, dist, comm, cfg, B, agree, timed, args):
    """Local SGD: each rank steps on its share of every global batch with a plain
    train_step and the weights are averaged (one allreduce of one flat buffer) every
    LOCAL_K steps. The momentum buffers stay each rank's own."""
    R, K = comm.Get_rank(), comm.Get_size()
    model = C.bricks_model(cfg)
    dist.broadcast_(model)
    lo, hi = R * B // K, (R + 1) * B // K
    X, y, nb, _ = dataset(cfg, B, 512)
    batches = [(X[b * B + lo : b * B + hi], y[b * B + lo : b * B + hi]) for b in range(nb)]
    params = list(model.params.values())
    flat = np.empty(sum(p.size for p in params), np.float32)

    def average():
        i = 0
        for p in params:
            flat[i : i + p.size] = p.ravel()
            i += p.size
        dist.allreduce_(flat)  # the mean over the ranks
        i = 0
        for p in params:
            p[...] = flat[i : i + p.size].reshape(p.shape)
            i += p.size

    def run(steps):
        def go():
            step = model.train_step
            for i in range(steps):
                step(*batches[i % nb])
                if (i + 1) % LOCAL_K == 0:
                    average()

        return timed(go)

    steps = calibrate(run, args.time, agree)
    steps = max(LOCAL_K, steps // LOCAL_K * LOCAL_K)
    rates = [steps * B / run(steps) for _ in range(args.repeats)]
    return {"rate": rates, "batch": B, "k": LOCAL_K}


# -- DDP worker: one process per rank ---------------------------------------------------------
def ddp_worker(args):
    import torch
    import torch.distributed as tdist
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    R, K = args.rank, args.world
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=R, world_size=K)

    def agree(n):
        t = torch.tensor([n], dtype=torch.int64)
        tdist.broadcast(t, 0)
        return int(t.item())

    def timed(f):
        tdist.barrier()
        t0 = time.perf_counter()
        f()
        tdist.barrier()
        t = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
        tdist.broadcast(t, 0)
        return float(t.item())

    out = {"ranks": K, "configs": {}}
    for name in args.configs.split(","):
        cfg = C.CONFIGS[name]
        B = cfg["batch"]
        lo, hi = R * B // K, (R + 1) * B // K
        torch.manual_seed(0)
        model, loss_fn, _ = C.torch_model(cfg)
        ddp = DDP(model)  # broadcasts rank 0's weights
        opt = torch.optim.SGD(ddp.parameters(), lr=C.LR, momentum=C.MOMENTUM)
        state = {}

        def run(steps, cfg=cfg, B=B, lo=lo, hi=hi, ddp=ddp, loss_fn=loss_fn, opt=opt, state=state):
            if steps not in state:
                X, y, nb, _ = dataset(cfg, B, steps)
                state[steps] = (torch.from_numpy(X), torch.from_numpy(y), nb)
            X, y, nb = state[steps]

            def go():
                for i in range(steps):
                    b = (i % nb) * B
                    C.torch_step(ddp, loss_fn, opt, X[b + lo : b + hi], y[b + lo : b + hi])

            return timed(go)

        steps = calibrate(run, args.time, agree)
        rates = [steps * B / run(steps) for _ in range(args.repeats)]
        out["configs"][name] = {"ddp": {"rate": rates, "batch": B}}
    tdist.destroy_process_group()
    if R == 0:
        print("RESULT " + json.dumps(out), flush=True)


# -- allreduce alone --------------------------------------------------------------------------
def allreduce_worker(args):
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    res = {}
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        a = np.ones(n, np.float32)
        reps = max(5, min(2000, int(2e7 // max(n, 1))))
        for _ in range(max(2, reps // 10)):  # warm-up
            comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
        times = []
        for _ in range(args.repeats + 2):
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(reps):
                comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
            times.append(comm.allreduce(time.perf_counter() - t0, op=MPI.MAX) / reps)
        res[n] = times
    if comm.Get_rank() == 0:
        print("RESULT " + json.dumps({"ranks": comm.Get_size(), "sizes": res}), flush=True)


def fit_alpha_beta(sizes, times, ranks=2):
    """alpha (s) and beta (s/byte) of the ring model t = 2(K-1)/K n beta + 2(K-1) alpha,
    n in bytes, by least squares on the relative error (each size weighs alike)."""
    n = np.asarray(sizes, float) * 4
    t = np.asarray(times, float)
    A = np.stack([np.full_like(n, 2 * (ranks - 1)), 2 * (ranks - 1) / ranks * n], 1) / t[:, None]
    (alpha, beta), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    return float(alpha), float(beta)


def ring_time(K, nbytes, alpha, beta):
    """The alpha-beta model of one ring allreduce of nbytes over K ranks (0 for K = 1)."""
    return 2 * (K - 1) / K * nbytes * beta + 2 * (K - 1) * alpha


def model_rows(compute_s, nbytes, batch, alpha, beta, ks=(1, 2, 4, 8, 16, 32, 64, 128, 256)):
    """Predicted (K, strong step s, strong samples/s, strong efficiency, weak step s, weak
    samples/s, weak efficiency): strong = fixed global batch (compute / K), weak = fixed
    per-rank batch (compute stays)."""
    rows = []
    for K in ks:
        ar = ring_time(K, nbytes, alpha, beta)
        strong, weak = compute_s / K + ar, compute_s + ar
        rows.append((K, strong, batch / strong, compute_s / K / strong, weak, K * batch / weak, compute_s / weak))
    return rows


def markdown(model):
    """The alpha-beta parameters and the model tables of docs/content/cluster.md, as
    Markdown, from the contents of distributed_model.json."""
    out = ["| transport | alpha (latency) | beta (per byte) | bandwidth 1/beta | fitted on |", "|---|---|---|---|---|"]
    names = {
        "shm": "shared memory (MPICH's default within a machine)",
        "tcp": "loopback TCP (ofi/tcp on lo)",
        "veth": "TCP over a veth pair between two network namespaces",
    }
    for label, a in model["allreduce"].items():
        out.append(
            f"| {names.get(label, label)} | {a['alpha_s'] * 1e6:.2f} µs | {a['beta_s_per_byte'] * 1e9:.3f} ns/B "
            f"| {1 / a['beta_s_per_byte'] / 1e9:.2f} GB/s | {len(a['sizes'])} sizes, 2 ranks |"
        )
    params = "\n".join(out)
    tr = model_transport(model)
    a, b = model["allreduce"][tr]["alpha_s"], model["allreduce"][tr]["beta_s_per_byte"]
    tables = []
    for name in ("medium", "large"):
        m = model["nets"][name]
        layers = "-".join(str(w) for w in m["layers"])
        tables.append(
            f"**{name}** ({layers}, batch {m['batch']}, {m['params']:,} parameters = {m['grad_bytes'] / 1e6:.2f} MB "
            f"of gradients; compute {m['compute_s_1r'] * 1e3:.3f} ms per step on one rank, measured; "
            f"allreduce: {names.get(tr, tr)}):"
        )
        rows = ["| K | strong: ms/step | samples/s | efficiency | weak: ms/step | samples/s | efficiency |"]
        rows.append("|---|---|---|---|---|---|---|")
        for K, st, sr, se, w, wr, we in model_rows(m["compute_s_1r"], m["grad_bytes"], m["batch"], a, b):
            rows.append(
                f"| {K} | {st * 1e3:.3f} | {C.fmt_rate(sr)} | {se:.0%} | {w * 1e3:.3f} | {C.fmt_rate(wr)} | {we:.0%} |"
            )
        tables.append("\n".join(rows))
    return params, "\n\n".join(tables)


# -- the driver ---------------------------------------------------------------------------------
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse(p, what):
    if p.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{what} printed no RESULT line:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")


def worker_args(args):
    return [
        "--configs",
        args.configs,
        "--time",
        str(args.time),
        "--repeats",
        str(args.repeats),
        "--extras",
        args.extras,
    ]


def launch_bricks(args, n, env_extra=None):
    env = {**os.environ, **ONE_THREAD, **(env_extra or {})}
    cmd = [str(MPIEXEC), "-n", str(n), sys.executable, __file__, "--worker", "bricks", *worker_args(args)]
    return parse(subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900), f"bricks -n {n}")


def launch_ddp(args, n):
    env = {**os.environ, **ONE_THREAD}
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", "ddp", "--rank", str(r), "--world", str(n), "--port", str(port)]
            + worker_args(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for r in range(n)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    done = subprocess.CompletedProcess([], max(p.returncode for p in procs), outs[0][0], "".join(e for _, e in outs))
    return parse(done, f"DDP world {n}")


def launch_allreduce(args, env_extra):
    env = {**os.environ, **ONE_THREAD, **env_extra}
    cmd = [str(MPIEXEC), "-n", "2", sys.executable, __file__, "--worker", "allreduce", "--sizes", args.sizes]
    cmd += ["--repeats", str(args.repeats)]
    return parse(subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600), "allreduce")


VETH_LAUNCHER = """#!/bin/sh
# hydra's ssh launcher, replaced: `launch [-x] HOST CMD...` runs CMD in HOST's namespace
[ "$1" = "-x" ] && shift
host=$1; shift
case "$host" in
  {a}) ns={na} ;;
  {b}) ns={nb} ;;
  *) echo "launch: unknown host $host" >&2; exit 1 ;;
esac
exec ip netns exec "$ns" sh -c "$*"
"""


def launch_allreduce_veth(args):
    """The allreduce between two network namespaces ("machines") joined by a veth pair,
    one rank in each, MPICH over TCP (as tests/test_distributed.py's two-namespace test
    sets it up; needs root and `ip`). Returns the sizes' times, or a reason it cannot run."""
    import shutil
    import tempfile

    if shutil.which("ip") is None:
        return "no `ip` command"
    if os.geteuid() != 0:
        return "network namespaces need root"
    tag = os.getpid() % 100000
    na, nb, da, db = f"bkdA{tag}", f"bkdB{tag}", f"vbkdA{tag}", f"vbkdB{tag}"
    net = 10 + tag % 200
    a, b = f"10.214.{net}.1", f"10.214.{net}.2"
    made = []

    def ip(*cmd):
        subprocess.run(["ip", *cmd], check=True, capture_output=True, text=True)

    with tempfile.TemporaryDirectory() as tmp:
        try:
            for ns in (na, nb):
                ip("netns", "add", ns)
                made.append(ns)
            ip("link", "add", da, "type", "veth", "peer", "name", db)
            ip("link", "set", da, "netns", na)
            ip("link", "set", db, "netns", nb)
            ip("-n", na, "addr", "add", f"{a}/24", "dev", da)
            ip("-n", nb, "addr", "add", f"{b}/24", "dev", db)
            for ns, dev in ((na, da), (nb, db)):
                ip("-n", ns, "link", "set", "lo", "up")
                ip("-n", ns, "link", "set", dev, "up")
            launch, hosts = Path(tmp) / "launch.sh", Path(tmp) / "hosts"
            launch.write_text(VETH_LAUNCHER.format(a=a, b=b, na=na, nb=nb))
            launch.chmod(0o755)
            hosts.write_text(f"{a}:1\n{b}:1\n")
            cmd = ["ip", "netns", "exec", na, str(MPIEXEC), "-launcher", "ssh", "-launcher-exec", str(launch)]
            cmd += ["-localhost", a, "-f", str(hosts), "-n", "2"]
            for k in ("MPIR_CVAR_NOLOCAL", "MPIR_CVAR_CH4_NETMOD", "FI_PROVIDER"):
                cmd += ["-genv", k, TCP_ENV[k]]
            cmd += [
                sys.executable,
                __file__,
                "--worker",
                "allreduce",
                "--sizes",
                args.sizes,
                "--repeats",
                str(args.repeats),
            ]
            env = {**os.environ, **ONE_THREAD}
            return parse(subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600), "allreduce veth")
        except (subprocess.CalledProcessError, RuntimeError) as e:
            return f"{e} {getattr(e, 'stderr', '') or ''}"[:500]
        finally:
            for ns in made:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def measure_allreduce(args):
    """Allreduce alone over shared memory, loopback TCP and (root only) a veth pair."""
    ar = {}
    for label, env in (("shm", {}), ("tcp", TCP_ENV), ("veth", None)):
        if label == "veth" and args.no_veth:
            continue
        t0 = time.perf_counter()
        try:
            res = launch_allreduce(args, env) if env is not None else launch_allreduce_veth(args)
        except RuntimeError as e:
            res = str(e)[:500]
        if isinstance(res, str):
            print(f"  allreduce over {label} not measured: {res}")
        else:
            ar[label] = res["sizes"]
        print(f"  allreduce {label} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return ar


def fit_transports(ar):
    """{transport: sizes, seconds, alpha_s, beta_s_per_byte}, printed as a table."""
    out = {}
    if not ar:
        return out
    rows = [["transport", *[f"{int(n):.0e} floats" for n in ar[next(iter(ar))]], "alpha", "beta", "GB/s"]]
    for label, sizes in ar.items():
        ns = [int(n) for n in sizes]
        ts = [med(v) for v in sizes.values()]
        alpha, beta = fit_alpha_beta(ns, ts)
        out[label] = {"sizes": ns, "seconds": ts, "alpha_s": alpha, "beta_s_per_byte": beta}
        rows.append(
            [label, *[f"{t * 1e6:.1f} µs" for t in ts], f"{alpha * 1e6:.2f} µs", f"{beta * 1e9:.3f} ns/B"]
            + [f"{1 / beta / 1e9:.2f}"]
        )
    print("\nallreduce alone, 2 ranks, float32 (median per call); ring model t = n·beta + 2·alpha at K = 2")
    print(C.table(rows, right=tuple(range(1, len(rows[0])))))
    return out


def model_transport(model):
    """The transport the cluster model uses: the veth pair when measured, else loopback TCP."""
    return "veth" if "veth" in model["allreduce"] else "tcp"


def med(xs):
    return statistics.median(xs)


def span(xs, f=C.fmt_rate):
    return f"{f(med(xs))} [{f(min(xs))}–{f(max(xs))}]"


def gather(results, kind, name, key="rate", agg=med):
    """One value per round (the median of that job's repeats) for a kind of run."""
    return [agg(r["configs"][name][kind][key]) for r in results if kind in r["configs"].get(name, {})]


def n_params(cfg):
    w = cfg["layers"]
    return sum(a * b + b for a, b in zip(w[:-1], w[1:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="tiny,small,medium,large")
    ap.add_argument("--rounds", type=int, default=3, help="launches of each kind of job, interleaved")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats inside each launch")
    ap.add_argument("--time", type=float, default=0.3, help="seconds per timed repeat")
    ap.add_argument("--extras", default="tiny,small", help="configs that also try a larger batch and local SGD")
    ap.add_argument("--sizes", default="1e2,1e3,1e4,1e5,1e6", help="allreduce sizes (float32 elements)")
    ap.add_argument("--no-ddp", action="store_true", help="skip PyTorch DDP")
    ap.add_argument("--no-veth", action="store_true", help="skip the allreduce over a veth pair (root only)")
    ap.add_argument(
        "--allreduce-only",
        action="store_true",
        help=f"measure the allreduce alone and refit {MODEL_JSON.name}'s alpha-beta, keeping its compute times",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, short repeats (< 1 min)")
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--no-model-json", action="store_true", help=f"do not write {MODEL_JSON.name}")
    ap.add_argument("--worker", choices=("bricks", "ddp", "allreduce"), help=argparse.SUPPRESS)
    ap.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--world", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument(
        "--markdown",
        action="store_true",
        help=f"print the model tables of docs/content/cluster.md from {MODEL_JSON.name}",
    )
    args = ap.parse_args()
    if args.markdown:
        print("\n\n".join(markdown(json.loads(MODEL_JSON.read_text()))))
        return None
    if args.worker == "bricks":
        return bricks_worker(args)
    if args.worker == "ddp":
        return ddp_worker(args)
    if args.worker == "allreduce":
        return allreduce_worker(args)
    if args.quick:
        args.rounds, args.repeats, args.time, args.sizes = 1, 1, 0.05, "1e3,1e5,1e6"
    if args.allreduce_only:
        model = json.loads(MODEL_JSON.read_text())
        model["allreduce"] = fit_transports(measure_allreduce(args))
        model["model_transport"] = model_transport(model)
        model["allreduce_date"] = C.machine_info()["date"]
        if not args.quick:
            MODEL_JSON.write_text(json.dumps(model, indent=1) + "\n")
            print(f"wrote {MODEL_JSON.relative_to(HERE.parent)} (the model uses {model['model_transport']})")
        return None
    warn = C.coretype_warning()
    if warn:
        print(warn)
    if not MPIEXEC.exists():
        sys.exit(f"no mpiexec next to {sys.executable}: pip install 'bricks[mpi]'")
    have_torch = not args.no_ddp
    if have_torch:
        try:
            import importlib.util

            have_torch = importlib.util.find_spec("torch") is not None
        except ImportError:
            have_torch = False
        if not have_torch:
            print("PyTorch is not installed: the DDP columns are skipped (pip install torch)")

    kinds = [("bricks", 1), ("bricks", 2)] + ([("ddp", 1), ("ddp", 2)] if have_torch else [])
    results = {k: [] for k in kinds}
    load = C.OtherLoad()
    t_start = time.perf_counter()
    for rnd in range(args.rounds):
        k0 = rnd % len(kinds)
        for kind in kinds[k0:] + kinds[:k0]:
            t0 = time.perf_counter()
            res = launch_bricks(args, kind[1]) if kind[0] == "bricks" else launch_ddp(args, kind[1])
            results[kind].append(res)
            print(
                f"  round {rnd + 1}/{args.rounds}: {kind[0]} x{kind[1]} ({time.perf_counter() - t0:.1f} s)", flush=True
            )
    others = load.cores()
    ar = measure_allreduce(args)

    info = C.machine_info()
    print(
        f"\n{info['cpu']}, {info['cores']} cores, {info['date']}; others {None if others is None else round(others, 2)}"
        f" cores busy on average during the training jobs ({time.perf_counter() - t_start:.0f} s in all)"
    )
    print(
        f"global batch = the config's; 1 thread per rank; medians over {args.rounds} rounds (each the median of "
        f"{args.repeats} repeats of ~{args.time} s), [min–max over rounds]\n"
    )
    names = args.configs.split(",")
    B1, B2 = results[("bricks", 1)], results[("bricks", 2)]
    D1, D2 = results.get(("ddp", 1), []), results.get(("ddp", 2), [])
    rows = [
        [
            "config",
            "bricks 1r",
            "bricks 2r",
            "scaling",
            "eff.",
            "DDP 1r",
            "DDP 2r",
            "bricks/DDP 2r",
            "comm / step (2r)",
            "scaling target",
            "vs DDP",
        ]
    ]
    summary = {}
    for name in names:
        one = [max(a, b) for a, b in zip(gather(B1, "fit", name), gather(B1, "fit-plain", name))]
        two = gather(B2, "fit", name)
        scal = [b / a for a, b in zip(one, two)]
        step = gather(B2, "fit", name, "step_s")
        comm = gather(B2, "fit", name, "comm_s")
        frac = [c / s for c, s in zip(comm, step)]
        d1, d2 = gather(D1, "ddp", name), gather(D2, "ddp", name)
        vs = [b / d for b, d in zip(two, d2)] if d2 else []
        tgt = TARGET_SCALING.get(name)
        v_scal = "–" if tgt is None else f"≥{tgt}x {'PASS' if med(scal) >= tgt else 'MISS'}"
        v_ddp = (
            "–"
            if not d2
            else " ".join(
                f"{w} {'PASS' if med([b / d for b, d in zip(x, y)]) >= TARGET_DDP else 'MISS'}"
                for w, x, y in (("1r", one, d1), ("2r", two, d2))
            )
        )
        rows.append(
            [
                name,
                span(one),
                span(two),
                span(scal, lambda x: f"{x:.2f}x"),
                f"{med(scal) / 2:.0%}",
                span(d1) if d1 else "–",
                span(d2) if d2 else "–",
                span(vs, lambda x: f"{x:.2f}") if vs else "–",
                f"{med(comm) * 1e6:.1f} µs of {med(step) * 1e6:.1f} ({med(frac):.0%})",
                v_scal,
                v_ddp,
            ]
        )
        summary[name] = {
            "bricks_1r": one,
            "bricks_2r": two,
            "scaling": scal,
            "ddp_1r": d1,
            "ddp_2r": d2,
            "step_s_2r": step,
            "comm_s_2r": comm,
            "step_s_1r": gather(B1, "fit", name, "step_s"),
            "comm_s_1r": gather(B1, "fit", name, "comm_s"),
            "fit_plain_1r": gather(B1, "fit-plain", name),
        }
    print("samples/s (global)")
    print(C.table(rows, right=(1, 2, 3, 4, 5, 6, 7)))

    extras = [n for n in args.extras.split(",") if n in names]
    if extras:
        rows = [["config", "1r fit", "2r fit", f"2r local SGD k={LOCAL_K}", f"1r batch x{ACCUM}", f"2r batch x{ACCUM}"]]
        for name in extras:
            one = summary[name]["bricks_1r"]
            cells = [name, span(one), span(summary[name]["bricks_2r"])]
            for res, kind in ((B2, f"local-sgd-k{LOCAL_K}"), (B1, f"fit-batch{ACCUM}"), (B2, f"fit-batch{ACCUM}")):
                v = gather(res, kind, name)
                cells.append(f"{span(v)} = {med(v) / med(one):.2f}x" if v else "–")
                summary[name][kind + ("_2r" if res is B2 else "_1r")] = v
            rows.append(cells)
        print(
            "\nlatency-bound configs: what a step of a few rows does with one allreduce per step, "
            "and the remedies (ratios to 1r fit at the config's batch)"
        )
        print(C.table(rows, right=(1, 2, 3, 4, 5)))

    model = {"machine": info, "allreduce": fit_transports(ar), "nets": {}}
    for name in names:
        cfg = C.CONFIGS[name]
        s1 = summary[name]
        compute = med([s - c for s, c in zip(s1["step_s_1r"], s1["comm_s_1r"])])
        model["nets"][name] = {
            "layers": cfg["layers"],
            "batch": cfg["batch"],
            "params": n_params(cfg),
            "grad_bytes": 4 * n_params(cfg),
            "compute_s_1r": compute,
            "step_s_2r": med(s1["step_s_2r"]),
            "comm_s_2r": med(s1["comm_s_2r"]),
        }
    if model["allreduce"]:
        tr = model["model_transport"] = model_transport(model)
        a, b = model["allreduce"][tr]["alpha_s"], model["allreduce"][tr]["beta_s_per_byte"]
        for name in [n for n in ("medium", "large") if n in model["nets"]]:
            m = model["nets"][name]
            print(
                f"\nMODEL (not a measurement), {name}: compute {m['compute_s_1r'] * 1e3:.3f} ms/step at 1 rank, "
                f"{m['grad_bytes'] / 1e6:.2f} MB of gradients, alpha-beta of {tr}"
            )
            t = [["K", "strong: step ms", "samples/s", "eff.", "weak: step ms", "samples/s", "eff."]]
            for K, s, sr, se, w, wr, we in model_rows(m["compute_s_1r"], m["grad_bytes"], m["batch"], a, b):
                t.append(
                    [K, f"{s * 1e3:.3f}", C.fmt_rate(sr), f"{se:.0%}", f"{w * 1e3:.3f}", C.fmt_rate(wr), f"{we:.0%}"]
                )
            print(C.table(t, right=tuple(range(7))))
    if not args.no_model_json and not args.quick:
        MODEL_JSON.write_text(json.dumps(model, indent=1) + "\n")
        print(f"\nwrote {MODEL_JSON.relative_to(HERE.parent)}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": info,
                    "others": others,
                    "summary": summary,
                    "raw": {f"{k}{n}": v for (k, n), v in results.items()},
                    "allreduce": ar,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
