"""Data-parallel training over MPI (bricks.distributed): 2-rank jobs run through the
venv's own mpiexec, each with a timeout, so no test can hang.

The equivalence promise tested here: K ranks with global batch B reproduce one
process with batch B (same seed and data) within float32 rounding after an epoch
(|difference| <= 1e-5 + 1e-4 |w|; float64: 1e-12), and the ranks' replicas are
bitwise identical."""

import json
import re
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import bricks as bk

from mpi_jobs import COMMON, MPIEXEC, QUIET, need_mpi, start
from mpi_jobs import run as run_job

need_mpi()

# A job's common start: the data every rank loads alike, and the nets.
PRELUDE = COMMON + textwrap.dedent(
    """
    def data(n=1000, d=6, c=3, dtype=np.float32):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, d)).astype(dtype)
        y = (X[:, :c].argmax(1) + (X[:, c] > 1)) % c
        return X, y.astype(np.int64)

    def net(dtype=np.float32, opt="adam", bn=False):
        blocks = [bk.Linear(6, 16, dtype=dtype, seed=1)]
        if bn:
            blocks.append(bk.BatchNorm(16, dtype=dtype))
        blocks += [bk.Tanh(dtype=dtype), bk.Linear(16, 3, dtype=dtype, seed=2)]
        m = bk.Sequential(*blocks)
        o = bk.Adam(m, lr=0.01) if opt == "adam" else bk.SGD(m, lr=0.1, momentum=0.9)
        m.compile(bk.CrossEntropyLoss(dtype=dtype), o)
        return m
    """
)


def run(tmp_path, body, **kw):
    """Run PRELUDE + body as an MPI job (2 ranks unless n=)."""
    return run_job(tmp_path, PRELUDE + textwrap.dedent(body), **kw)


def here():
    """PRELUDE's functions in this process, without MPI (and without its thread setting)."""
    ns = {}
    code = PRELUDE.replace("R, K = dist.rank(), dist.size()", "R, K = 0, 1").replace("sys.argv[1]", "''")
    exec(code.replace("bk.set_num_threads(1)", ""), ns)
    return ns


def single(dtype=np.float32, opt="adam", epochs=1, batch=64, **fit):
    """The same training in this process, without MPI."""
    ns = here()
    X, y = ns["data"](dtype=dtype)
    m = ns["net"](dtype, opt)
    h = m.fit(X, y, epochs=epochs, batch_size=batch, seed=7, verbose=0, **fit)
    return m, h


def close(a, b, dtype):
    a, b = np.asarray(a), np.asarray(b)
    tol = (1e-5, 1e-4) if dtype == np.float32 else (1e-12, 1e-10)
    return np.abs(a - b).max() <= tol[0] + tol[1] * np.abs(b).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_ranks_equal_one_process_and_each_other(tmp_path, dtype):
    # 1000 rows in batches of 64: a last batch of 40, and the permutation from the seed
    name = np.dtype(dtype).name
    _, res = run(
        tmp_path,
        f"""
        X, y = data(dtype=np.{name})
        m = net(np.{name})
        h = m.fit(X, y, epochs=1, batch_size=64, seed=7, verbose=0, distributed=True, validation_split=0.2)
        dump(w=weights(m), h=h.history, steps=m.optimizer._core.steps, check=dist.checksum(m))
        """,
    )
    assert res[0]["check"] == res[1]["check"]
    for k in res[0]["w"]:  # replicas bitwise identical
        assert np.array_equal(np.asarray(res[0]["w"][k], dtype), np.asarray(res[1]["w"][k], dtype)), k
    assert res[0]["h"] == res[1]["h"]  # every rank sees the same History
    m1, h1 = single(dtype, validation_split=0.2)
    assert res[0]["steps"] == m1.optimizer._core.steps == 13  # ceil(800 / 64)
    for k, w in m1.params.items():
        assert close(res[0]["w"][k], w, dtype), k
    for k in h1.history:
        assert close(res[0]["h"][k], h1.history[k], dtype), k


def test_remainder_rule_batch_not_divisible_and_smaller_than_ranks(tmp_path):
    # batch 5 over 2 ranks (shares 2 and 3), and 1001 rows: a last batch of one row,
    # so rank 0 trains on nothing there; the update still equals one process's
    _, res = run(
        tmp_path,
        """
        X, y = data(n=1001)
        m = net(np.float64, opt="sgd")
        X = X.astype(np.float64)
        m.fit(X, y, epochs=1, batch_size=5, seed=7, verbose=0, distributed=True)
        dump(w=weights(m))
        """,
    )
    ns = here()
    X, y = ns["data"](n=1001)
    m1 = ns["net"](np.float64, "sgd")
    m1.fit(X.astype(np.float64), y, epochs=1, batch_size=5, seed=7, verbose=0)
    for k, w in m1.params.items():
        assert close(res[0]["w"][k], w, np.float64), k
        assert res[0]["w"][k] == res[1]["w"][k]


def test_metrics_callbacks_and_output_on_rank_0_only(tmp_path):
    p, res = run(
        tmp_path,
        """
        X, y = data()
        m = net()
        seen = []
        cbs = [
            bk.callbacks.LambdaCallback(lambda epoch, logs: seen.append(epoch)),
            bk.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0),
            bk.callbacks.EarlyStopping(monitor="loss", patience=1, min_delta=10.0),
            bk.callbacks.ModelCheckpoint(OUT + ".ckpt.npz", monitor="loss", save_best_only=False),
            bk.callbacks.TensorBoard(OUT + ".tb", update_freq="batch"),  # one batch per native call
        ]
        h = m.fit(X, y, epochs=10, batch_size=50, seed=1, verbose=2, distributed=True, callbacks=cbs,
                  validation_split=0.25, metrics=["top_k_accuracy"])
        dump(h=h.history, seen=seen, lr=m.optimizer.lr, check=dist.checksum(m))
        """,
    )
    assert res[0]["h"] == res[1]["h"] and res[0]["check"] == res[1]["check"]
    h = res[0]["h"]
    # no epoch improves loss by 10: after the second epoch lr halves and training
    # stops, rank 0's decisions, which rank 1 (running no callbacks) follows
    assert len(h["loss"]) == 2 and h["lr"] == [0.01, 0.01]
    assert res[0]["lr"] == res[1]["lr"] == 0.005
    assert set(h) >= {"loss", "accuracy", "top_k_accuracy", "val_loss", "val_accuracy", "val_top_k_accuracy"}
    assert res[0]["seen"] == [0, 1] and res[1]["seen"] == []  # callbacks run on rank 0
    assert p.stderr.count("epoch 1/10") == 1 and p.stderr.count("epoch 2/10") == 1  # rank 0 prints
    assert Path(f"{tmp_path}/out.ckpt.npz").exists() and Path(f"{tmp_path}/out.tb/train").is_dir()


def test_validation_metrics_are_the_whole_sets(tmp_path):
    # each rank evaluates half of the validation rows; the reduced result is the
    # whole set's, as evaluate on the final weights gives it
    _, res = run(
        tmp_path,
        """
        X, y = data()
        m = net()
        h = m.fit(X[:800], y[:800], epochs=2, batch_size=32, seed=3, verbose=0, distributed=True,
                  validation_data=(X[800:], y[800:]), metrics=["top_k_accuracy"])
        ev = m.evaluate(X[800:], y[800:], metrics=["top_k_accuracy"])
        dump(h=h.history, ev=ev)
        """,
    )
    for r in res:
        for k in ("loss", "accuracy", "top_k_accuracy"):
            assert r["h"]["val_" + k][-1] == pytest.approx(r["ev"][k], rel=1e-6, abs=1e-7), k


def test_batchnorm_buffers_stay_identical(tmp_path):
    _, res = run(
        tmp_path,
        """
        X, y = data()
        m = net(bn=True)
        m.fit(X, y, epochs=2, batch_size=64, seed=7, verbose=0, distributed=True)
        dump(b={k: v.tolist() for k, v in m.buffers.items()}, check=dist.checksum(m))
        """,
    )
    assert res[0]["b"] == res[1]["b"] and res[0]["check"] == res[1]["check"]


def test_lower_level_pieces(tmp_path):
    _, res = run(
        tmp_path,
        """
        a = np.arange(4, dtype=np.float64) * (R + 1)
        dist.allreduce_(a)                      # mean over ranks
        s = np.full(2, R + 1, dtype=np.int64)
        dist.allreduce_(s, op="sum")
        m = net(np.float64, opt="sgd")
        if R == 1:                              # different weights: broadcast_ makes them rank 0's
            for v in m.params.values():
                v += 1.0
        dist.broadcast_(m)
        dist.check_replicas(m)
        X, y = data(dtype=np.float64)
        lo, hi = R * 1000 // K, (R + 1) * 1000 // K
        losses = [m.train_step(X[lo:hi], y[lo:hi], distributed=True) for _ in range(3)]
        if R == 1:
            m.params["0.weight"][0, 0] += 1e-3
        try:
            dist.check_replicas(m)
            diverged = None
        except dist.DistributedError as e:
            diverged = str(e)
        errors = []
        for bad in (np.zeros(3, np.float32)[::2], (1, 2), np.zeros(2, np.int64)):
            try:
                dist.allreduce_(bad)
            except (TypeError, ValueError) as e:
                errors.append(str(e))
        dump(a=a.tolist(), s=s.tolist(), losses=losses, w=weights(m), diverged=diverged, errors=errors)
        """,
    )
    assert res[0]["a"] == res[1]["a"] == [0.0, 1.5, 3.0, 4.5]
    assert res[0]["s"] == [3, 3]
    ns = here()
    X, y = ns["data"](dtype=np.float64)
    m1 = ns["net"](np.float64, "sgd")
    losses = [m1.train_step(X, y) for _ in range(3)]
    assert res[0]["losses"] == res[1]["losses"]
    np.testing.assert_allclose(res[0]["losses"], losses, rtol=1e-12)
    np.testing.assert_allclose(res[0]["w"]["0.weight"], m1.params["0.weight"], rtol=1e-10, atol=1e-12)
    for r in res:
        assert "replicas differ" in r["diverged"]
        assert len(r["errors"]) == 3 and "C-contiguous" in r["errors"][0] and "NumPy array" in r["errors"][1]


def test_bad_data_on_one_rank_stops_every_rank_with_its_cause(tmp_path):
    _, res = run(
        tmp_path,
        """
        X, y = data()
        if R == 1:
            y[5] = 7                            # a label out of range on rank 1 only
        m = net()
        try:
            m.fit(X, y, epochs=1, distributed=True, verbose=0)
            err = None
        except dist.DistributedError as e:
            err = str(e)
        dump(err=err)
        """,
    )
    for r in res:
        assert "rank 1 of 2" in r["err"] and "label" in r["err"] and "rank 0 of" not in r["err"]


def test_ranks_with_different_data_are_refused(tmp_path):
    _, res = run(
        tmp_path,
        """
        X, y = data(n=1000 + R)
        try:
            net().fit(X, y, epochs=1, distributed=True, verbose=0)
            err = None
        except dist.DistributedError as e:
            err = str(e)
        dump(err=err)
        """,
    )
    for r in res:
        assert "rank 1 of 2" in r["err"] and "same data" in r["err"]


RAISER = """
X, y = data(n=4000)
m = net()
class Boom(bk.Block):
    calls = 0
    def forward(self, x):
        Boom.calls += 1
        if R == 1 and Boom.calls == 30:
            {action}
        return x
    def backward(self, dy):
        return dy
x = bk.Input(6)
out = bk.Sequential(bk.Linear(6, 16, seed=1), bk.Tanh(), bk.Linear(16, 3, seed=2))(Boom()(x))
m = bk.Model(x, out)
m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=0.1))
m.fit(X, y, epochs=1000, batch_size=20, distributed=True, verbose=0,
      callbacks=[bk.callbacks.ModelCheckpoint(OUT + ".ckpt.npz", monitor="loss", save_best_only=False)])
"""


def test_a_rank_that_raises_stops_the_job_naming_rank_and_cause(tmp_path):
    t0 = time.monotonic()
    p, _ = run(tmp_path, RAISER.format(action='raise RuntimeError("bad batch on this rank")'), check=False)
    assert p.returncode != 0
    assert time.monotonic() - t0 < 60
    assert "rank 1 of 2 failed in fit: RuntimeError: bad batch on this rank" in p.stderr


def test_ctrl_c_stops_every_rank(tmp_path):
    p = start(tmp_path, PRELUDE + RAISER.format(action="print('READY', flush=True)"))
    from children import wait_ready

    wait_ready(p)
    time.sleep(0.5)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode != 0 and time.monotonic() - t0 < 60
    assert re.search(r"rank [01] of 2 failed in fit: KeyboardInterrupt; stopping every rank", err), err[-2000:]


def test_kill_9_of_a_rank_stops_the_job_and_the_checkpoint_resumes_with_another_count(tmp_path):
    # rank 0 checkpoints every epoch; rank 1 is killed (kill -9) once a checkpoint
    # exists: the job ends within bounded time (the launcher names the signal), the
    # last checkpoint loads, and training resumes from it on 1 rank and on 2 alike
    ckpt = tmp_path / "out.ckpt.npz"
    p = start(
        tmp_path,
        PRELUDE
        + textwrap.dedent(
            """
            open(f"{OUT}.pid.{R}", "w").write(str(os.getpid()))
            X, y = data(n=400)
            m = net()
            m.fit(X, y, epochs=100000, batch_size=20, seed=1, distributed=True, verbose=0,
                  callbacks=[bk.callbacks.ModelCheckpoint(OUT + ".ckpt.npz", monitor="loss", save_best_only=False)])
            """
        ),
    )
    try:
        deadline = time.monotonic() + 90
        while not (ckpt.exists() and (tmp_path / "out.pid.1").exists()) and time.monotonic() < deadline:
            assert p.poll() is None, p.communicate()[1][-2000:]
            time.sleep(0.05)
        time.sleep(0.3)  # a few more epochs, checkpoints being written meanwhile
        os.kill(int((tmp_path / "out.pid.1").read_text()), signal.SIGKILL)
        t0 = time.monotonic()
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode != 0 and time.monotonic() - t0 < 60
    assert "Killed (signal 9)" in out + err, (out + err)[-2000:]
    m = bk.load(ckpt)  # saving is atomic: whatever the moment of the kill, a whole file
    steps = m.optimizer._core.steps
    assert steps > 0 and steps % 20 == 0  # whole epochs of 400 / 20 batches
    body = f"""
        X, y = data()
        m = bk.load({str(ckpt)!r})
        h = m.fit(X, y, epochs=2, batch_size=40, seed=5, verbose=0, distributed=True)
        dump(w=weights(m), steps=m.optimizer._core.steps)
        """
    _, one = run(tmp_path, body, n=1)
    _, two = run(tmp_path, body, n=2)
    assert one[0]["steps"] == two[0]["steps"] == steps + 50
    for k in one[0]["w"]:
        assert close(two[0]["w"][k], one[0]["w"][k], np.float32), k
        assert two[0]["w"][k] == two[1]["w"][k]


def test_cli_distributed_prints_one_report(tmp_path):
    env = {**QUIET, "COLUMNS": "100"}
    p = subprocess.run(
        [str(MPIEXEC), "-n", "2", sys.executable, "-m", "bricks", "train", "--distributed", "--data", "digits"]
        + ["--epochs", "2", "--hidden", "32", "--verbose", "2", "--out", str(tmp_path / "m.npz")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stderr.count("epoch 2/2") == 1 and p.stdout.count("test accuracy") == 1
    one = subprocess.run(
        [sys.executable, "-m", "bricks", "train", "--data", "digits", "--epochs", "2", "--hidden", "32"]
        + ["--verbose", "2", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    acc = [line.rsplit("test accuracy", 1)[1] for line in (p.stdout + one.stdout).splitlines() if "test acc" in line]
    assert len(acc) == 2 and acc[0] == acc[1]  # the same accuracy as one process
    assert bk.load(tmp_path / "m.npz") is not None
    help_text = subprocess.run(
        [sys.executable, "-m", "bricks", "train", "--help"], capture_output=True, text=True, env=env
    ).stdout
    assert "mpiexec -f hostfile" in help_text and "srun" in help_text


def test_without_mpi4py_the_error_says_how_to_install(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        sys.modules["mpi4py"] = None            # as if the extra were not installed
        import numpy as np, bricks as bk
        assert "mpi4py" not in [m for m in sys.modules if sys.modules[m] is not None]
        m = bk.Sequential(bk.Linear(2, 2), bk.ReLU())
        m.compile(bk.MSELoss(), bk.SGD(m, lr=0.1))
        for call in (lambda: m.fit(np.zeros((4, 2), np.float32), np.zeros((4, 2), np.float32), distributed=True),
                     lambda: bk.distributed.rank()):
            try:
                call()
            except ImportError as e:
                print(e)
        print(bk.distributed.is_available())
        """
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=QUIET)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[-1] == "False"
    assert sum('pip install "bricks[mpi]"' in line for line in lines) == 2


def test_import_bricks_never_imports_mpi():
    code = "import sys, bricks; print('mpi4py' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=QUIET)
    assert p.stdout.strip() == "False", p.stderr


def _netns_ok():
    """Why two network namespaces cannot be made here (None: they can)."""
    import shutil

    if shutil.which("ip") is None:
        return "no `ip` command"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"bricks-probe-{os.getpid()}"
    p = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if p.returncode:
        return f"ip netns add failed: {p.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


LAUNCHER = """#!/bin/sh
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


def _tx_bytes(ns, dev):
    p = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", dev], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)[0]["stats64"]["tx"]["bytes"]


def test_two_machines_joined_by_a_veth_pair(tmp_path):
    # one rank in each of two network namespaces ("machines"), joined by a veth pair;
    # MPICH is told to use TCP even though both see the same hostname, and the veth's
    # byte counters prove the gradients crossed the link
    why = _netns_ok()
    if why:
        pytest.skip(f"two-namespace test: {why}")
    tag = os.getpid() % 100000
    na, nb, da, db = f"bkA{tag}", f"bkB{tag}", f"vbkA{tag}", f"vbkB{tag}"
    net = 10 + tag % 200
    a, b = f"10.213.{net}.1", f"10.213.{net}.2"
    made = []

    def ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)

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
        launch = tmp_path / "launch.sh"
        launch.write_text(LAUNCHER.format(a=a, b=b, na=na, nb=nb))
        launch.chmod(0o755)
        hosts = tmp_path / "hosts"
        hosts.write_text(f"{a}:1\n{b}:1\n")
        script = tmp_path / "job.py"
        script.write_text(
            PRELUDE
            + textwrap.dedent(
                """
                X, y = data(n=512, d=6)
                m = net()
                h = m.fit(X, y, epochs=2, batch_size=32, seed=3, verbose=0, distributed=True)
                dump(h=h.history, steps=m.optimizer._core.steps, check=dist.checksum(m),
                     floats=sum(v.size for v in m.params.values()))
                """
            )
        )
        before = _tx_bytes(na, da), _tx_bytes(nb, db)
        cmd = ["ip", "netns", "exec", na, str(MPIEXEC), "-launcher", "ssh", "-launcher-exec", str(launch)]
        cmd += ["-localhost", a, "-f", str(hosts), "-n", "2"]
        cmd += [
            "-genv",
            "MPIR_CVAR_NOLOCAL",
            "1",
            "-genv",
            "MPIR_CVAR_CH4_NETMOD",
            "ofi",
            "-genv",
            "FI_PROVIDER",
            "tcp",
        ]
        p = subprocess.run(
            cmd + [sys.executable, str(script), str(tmp_path / "out")],
            capture_output=True,
            text=True,
            timeout=120,
            env=QUIET,
        )
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
        sent = _tx_bytes(na, da) - before[0], _tx_bytes(nb, db) - before[1]
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    res = [json.loads((tmp_path / f"out.{r}.json").read_text()) for r in range(2)]
    assert res[0]["h"] == res[1]["h"] and res[0]["check"] == res[1]["check"]
    grads = res[0]["steps"] * res[0]["floats"] * 4  # one float32 gradient buffer per step
    assert res[0]["steps"] == 32
    for s in sent:  # an allreduce of 2 ranks sends each rank's half, then gets the other half
        assert s >= 0.5 * grads, (sent, grads)
