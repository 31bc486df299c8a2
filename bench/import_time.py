#!/usr/bin/env python
"""Start-up: how long `import bricks` takes beside `import numpy` alone.

Each measurement is a fresh interpreter that times its one import statement with
time.perf_counter() (the interpreter's own start-up is not counted). The two kinds
run interleaved, `--runs` rounds of one each, the first of each round alternating, so
that a disturbance of the shared machine hits both alike. Byte code is cached the way
an installed package has it: the children write and read their .pyc files in a
temporary PYTHONPYCACHEPREFIX (nothing is written beside the sources), warmed by one
untimed run of each first; `--cold` times imports that compile from source instead.

A third kind, `numpy+env`, imports NumPy with the two variables `import bricks` sets
before any BLAS loads (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4). With them
NumPy's own OpenBLAS worker threads, started when it loads, go to sleep at once instead
of spinning on the cores the importing thread needs; on a 2-core machine that makes
`import bricks` (which loads NumPy under those settings) faster than `import numpy`
alone. bricks - numpy+env is what bricks' own modules and extension cost.

Target (issue 14): `import bricks` <= `import numpy` + 30 ms, judged on the median of
the per-round differences (each round's two imports ran next to each other).

    python bench/import_time.py              # ~15 rounds, a few seconds
    python bench/import_time.py --runs 31 --modules   # + what bricks loads beyond numpy
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

TARGET_MS = 30.0  # issue 14: bricks may add at most this to numpy's import
KINDS = ("numpy", "numpy+env", "bricks")
BRICKS_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}  # as bricks/__init__.py sets them

CHILD = (
    "import time, sys\n"
    "t = time.perf_counter()\n"
    "import {module}\n"
    "dt = time.perf_counter() - t\n"
    "print(dt * 1e3, len(sys.modules))\n"
)


def time_import(kind: str, env: dict) -> tuple[float, int]:
    """(milliseconds, modules loaded) of `import numpy` / `import bricks` in a fresh interpreter."""
    module = kind.split("+")[0]
    if kind.endswith("+env"):
        env = {**BRICKS_ENV, **env}  # a user's own setting wins, as in bricks
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(module=module)], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise SystemExit(f"import {module} failed:\n{out.stderr}")
    ms, n = out.stdout.split()
    return float(ms), int(n)


def loaded_beyond_numpy(env: dict) -> list[str]:
    """The modules `import bricks` leaves in sys.modules that `import numpy` does not."""
    code = "import {m}, sys; print('\\n'.join(sorted(sys.modules)))"
    mods = {}
    for m in ("numpy", "bricks"):
        out = subprocess.run([sys.executable, "-c", code.format(m=m)], env=env, capture_output=True, text=True)
        mods[m] = set(out.stdout.split())
    return sorted(mods["bricks"] - mods["numpy"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=15, help="rounds (one import of each kind each)")
    p.add_argument("--cold", action="store_true", help="no byte-code cache: every import compiles its modules")
    p.add_argument("--modules", action="store_true", help="also list the modules bricks loads beyond numpy")
    p.add_argument("--json", metavar="PATH", help="write every time to this JSON file")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bricks-pyc-") as cache:
        env = dict(os.environ)
        if args.cold:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env.pop("PYTHONPYCACHEPREFIX", None)
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache
            for m in ("numpy", "bricks"):  # compile once, untimed
                time_import(m, env)
        times = {k: [] for k in KINDS}
        counts = {}
        for r in range(args.runs):
            for k in KINDS[r % 3 :] + KINDS[: r % 3]:  # each kind first in turn
                ms, counts[k] = time_import(k, env)
                times[k].append(ms)
        extra = loaded_beyond_numpy(env) if args.modules else None

    diffs = [b - n for b, n in zip(times["bricks"], times["numpy"])]
    own = [b - n for b, n in zip(times["bricks"], times["numpy+env"])]
    med = {m: statistics.median(v) for m, v in times.items()}
    low = {m: min(v) for m, v in times.items()}
    print(
        f"import time, {args.runs} fresh interpreters each, interleaved "
        f"({'no byte-code cache' if args.cold else 'byte code cached'}); Python {sys.version.split()[0]}\n"
    )
    print(f"{'import':<10} {'min ms':>8} {'median ms':>10} {'max ms':>8} {'modules':>8}")
    for k in KINDS:
        print(f"{k:<10} {low[k]:8.1f} {med[k]:10.1f} {max(times[k]):8.1f} {counts[k]:8d}")
    d_med = statistics.median(diffs)
    print(
        f"\nbricks - numpy: median of the per-round differences {d_med:+.1f} ms "
        f"(min-min {low['bricks'] - low['numpy']:+.1f} ms, median-median {med['bricks'] - med['numpy']:+.1f} ms)"
    )
    print(
        f"bricks - numpy+env (bricks' own modules and extension): median of the per-round "
        f"differences {statistics.median(own):+.1f} ms (min-min {low['bricks'] - low['numpy+env']:+.1f} ms)"
    )
    ok = d_med <= TARGET_MS
    print(f"target: import bricks <= import numpy + {TARGET_MS:g} ms: {'ok' if ok else 'MISSED'}")
    if extra is not None:
        print(f"\nmodules bricks loads beyond numpy ({len(extra)}):\n  " + " ".join(extra))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"cold": args.cold, "times_ms": times, "diffs_ms": diffs, "own_ms": own, "modules": extra}, f, indent=1
            )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
