"""Running a script as a 2-rank MPI job from a test: the venv's own mpiexec (never a
system MPI), with a timeout so that no test can hang; each rank dumps a JSON."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MPIEXEC = Path(sys.executable).parent / "mpiexec"
QUIET = {**os.environ, "SKBUILD_EDITABLE_VERBOSE": "0", "OPENBLAS_NUM_THREADS": "1"}

# What every job starts with: its rank, the output prefix, dump() and weights().
COMMON = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import bricks as bk
    from bricks import distributed as dist

    bk.set_num_threads(1)
    R, K = dist.rank(), dist.size()
    OUT = sys.argv[1]

    def dump(**kw):
        with open(f"{OUT}.{R}.json", "w") as f:
            json.dump(kw, f)

    def weights(m):
        return {k: v.tolist() for k, v in m.params.items()}
    """
)


def need_mpi():
    """Skip the module without mpi4py, unless CI requires the MPI tests (then they fail)."""
    if os.environ.get("BRICKS_REQUIRE_MPI") != "1":
        pytest.importorskip("mpi4py", reason="the mpi extra is not installed: pip install 'bricks[mpi]'")


def _command(tmp_path, code, n, extra=()):
    script = tmp_path / "job.py"
    script.write_text(code)
    return [str(MPIEXEC), *extra, "-n", str(n), sys.executable, str(script), str(tmp_path / "out")]


def start(tmp_path, code, n=2):
    """Start `code` under mpiexec -n n and return the running process (pipes, text)."""
    cmd = _command(tmp_path, code, n)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=QUIET)


def run(tmp_path, code, n=2, timeout=120, check=True, extra=(), env=None):
    """Run `code` under mpiexec -n n; returns (process, the ranks' JSON dicts or None)."""
    cmd = _command(tmp_path, code, n, extra)
    out = tmp_path / "out"
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or QUIET)
    if check:
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    results = []
    for r in range(n):
        f = Path(f"{out}.{r}.json")
        results.append(json.loads(f.read_text()) if f.exists() else None)
    return p, results
