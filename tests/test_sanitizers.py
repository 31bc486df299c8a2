"""The Python-reachable paths under the sanitizers: the extension is built with
AddressSanitizer + UndefinedBehaviorSanitizer (and, for the thread stress, with
ThreadSanitizer), the sanitizer runtime is preloaded into the interpreter, and a fast
subset of this suite runs against it. Only ctest ran sanitized before; a use after
free reachable only from Python (a model reading freed input arrays) needs this."""

import os
import shutil
import subprocess
import sys

import pytest
from cmake_build import ROOT, run

import cmake_build

HERE = ROOT / "tests"
# the lifetimes, threads and exit cases; the kernels on every length; bad input of every kind
SUBSET = [
    "test_lifetimes.py",
    "test_kernels.py",
    "test_bad_input.py",
    "test_block_errors.py",
    "test_python_blocks.py",
    "test_inference.py",
    "test_data_parallel_core.py",
    "test_gemm_pool.py",
]

pytestmark = [
    pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is a test extra: pip install '.[test]'"),
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or shutil.which("gcc") is None,
        reason="the sanitizer runtimes are preloaded from GCC on Linux",
    ),
]


def _runtime(name):
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.exists(path):
        pytest.skip(f"{name} not found (gcc's sanitizer runtime)")
    return path


def _package(tmp, flag):
    """A copy of the package whose extension is built with `flag` (BRICKS_SANITIZE / BRICKS_TSAN)."""
    if not (ROOT / "cpp").is_dir():
        pytest.skip("not a source checkout")
    import pybind11

    build = cmake_build.build(
        f"pysan-{flag.lower()}",
        "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
        f"-D{flag}=ON",
        f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
        target="_core",
    )
    so = next(build.glob("_core*.so"))
    pkg = tmp / "bricks"
    shutil.copytree(ROOT / "python" / "bricks", pkg, ignore=shutil.ignore_patterns("_core*.so", "__pycache__"))
    shutil.copy2(so, pkg / so.name)
    return tmp


# Runs a command with the sanitized copy of bricks first on the path (an editable
# install's import hook is dropped so that it cannot win).
BOOT = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'bricks' not in repr(f).lower()"
    " and 'ScikitBuild' not in type(f).__name__]; sys.path.insert(0, sys.argv.pop(1)); "
)


def _env(preload, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("BRICKS_ISA",)}
    env.update(LD_PRELOAD=preload, OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", **kw)
    return env


def test_pytest_subset_under_asan_ubsan(tmp_path):
    where = _package(tmp_path, "BRICKS_SANITIZE")
    env = _env(
        f"{_runtime('libasan.so')}:{_runtime('libubsan.so')}",
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1",
    )
    # the children the tests start inherit the preload and the path
    env["PYTHONPATH"] = f"{where}{os.pathsep}{HERE}"
    check = run([sys.executable, "-c", BOOT + "import bricks; print(bricks.__file__)", str(where)], env=env)
    assert str(where) in check.stdout, check.stdout
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            BOOT + "import pytest; sys.exit(pytest.main(sys.argv[1:]))",
            str(where),
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            *[str(HERE / f) for f in SUBSET],
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1500,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "ERROR: AddressSanitizer" not in out and "runtime error:" not in out, out[-6000:]


STRESS = """
import threading
import numpy as np
import bricks as bk
rng = np.random.default_rng(0)
lin = bk.Linear(32, 32, seed=0)
m = bk.Sequential(lin, bk.Tanh(), bk.Linear(32, 4, seed=1))
m.compile(bk.CrossEntropyLoss(), bk.Adam(m, lr=1e-3))
twin = bk.Sequential(lin, bk.ReLU(), bk.Linear(32, 4, seed=2))  # shares lin
X = rng.normal(size=(512, 32)).astype(np.float32); y = rng.integers(0, 4, 512)
def fit():
    for _ in range(3):
        m.fit(X, y, epochs=1, batch_size=16, verbose=0)
def step():
    for i in range(60):
        m.train_step(X[:16], y[:16])
def direct():
    for _ in range(100):
        out = lin.forward(X[:8])
        try:
            lin.backward(np.ones_like(out))
        except bk.StateError:
            pass
        lin.zero_grad()
def predict():
    for _ in range(60):
        m.predict(X[:64]); twin.predict(X[:64]); m.evaluate(X[:64], y[:64])
class PyScale(bk.Block):  # a block written in Python: its node takes the GIL inside native calls
    def __init__(self, n):
        super().__init__()
        self.add_param("gamma", np.ones(n)); self.add_param("beta", np.zeros(n))
    def forward(self, x):
        self.x = x
        return x * self.params["gamma"] + self.params["beta"]
    def backward(self, dy):
        self.grads["gamma"] += (dy * self.x).sum(0); self.grads["beta"] += dy.sum(0)
        return dy * self.params["gamma"]
pm = bk.Sequential(bk.Linear(32, 32, seed=3), PyScale(32), bk.Tanh(), bk.Linear(32, 4, seed=4))
pm.compile(bk.CrossEntropyLoss(), bk.SGD(pm, lr=1e-2))
def py_fit():
    for _ in range(2):
        pm.fit(X, y, epochs=1, batch_size=16, verbose=0)
def py_predict():
    for _ in range(40):
        pm.predict(X[:64]); pm[1].forward(X[:4])
from bricks import _core
bar, parts = threading.Barrier(2), [None, None]
def rank(r):  # data parallel: two threads as ranks, an allreduce called back with the GIL
    dm = bk.Sequential(bk.Linear(32, 16, seed=5), bk.ReLU(), bk.Linear(16, 4, seed=6))
    dm.compile(bk.CrossEntropyLoss(), bk.SGD(dm, lr=1e-2, momentum=0.9))
    dm.build_for([X]); dm.executor.check_data([X, y])
    def reduce(flat):
        parts[r] = flat.copy(); bar.wait(); total = parts[0] + parts[1]; bar.wait(); flat[...] = total
    for _ in range(3):
        dm.executor.train_batches([X, y], np.arange(512), 16, 0, 32, dm.optimizer._core, _core.Accuracy.argmax,
                                  1, 0.0, _core.NonFinite.__members__["raise"], False, None,
                                  allreduce=reduce, rank=r, ranks=2)
ranks = [lambda: rank(0), lambda: rank(1)]
bk.set_num_threads(2)  # the small-M product's pool (above its work threshold), two callers at once
big = bk.Sequential(bk.Linear(600, 300, seed=5), bk.ReLU(), bk.Linear(300, 4, seed=6))
XB = rng.normal(size=(4, 600)).astype(np.float32)
def pool_predict():
    for _ in range(150):
        big.predict(XB[:1]); big.predict(XB, out=np.empty((4, 4), np.float32))
bigl = bk.Linear(512, 512, seed=5)  # products large enough for the GEMM pool
Xb = rng.normal(size=(128, 512)).astype(np.float32)
def pooled():
    for i in range(8):
        bk.set_num_threads(2 + i % 2)
        bigl.forward(Xb); bigl.backward(np.ones((128, 512), np.float32))
        bk._core._gemm(False, True, Xb, Xb, np.zeros((128, 128), np.float32), 1.0, 0.0)
def pooled_raw():
    for _ in range(8):
        bk._core._gemm(True, False, Xb, Xb, np.zeros((512, 512), np.float32), 1.0, 0.0)
fns = (fit, step, direct, predict, direct, py_fit, py_predict, *ranks, pooled, pooled_raw, pooled_raw)
ts = [threading.Thread(target=f) for f in fns]
ts.append(threading.Thread(target=pool_predict))
ts.append(threading.Thread(target=lambda: [bk.Sequential(big[0], big[1]).predict(XB[:2]) for _ in range(150)]))
for t in ts: t.start()
for t in ts: t.join()
print("STRESS OK")
"""


def test_thread_stress_under_tsan(tmp_path):
    where = _package(tmp_path, "BRICKS_TSAN")
    env = _env(_runtime("libtsan.so"), TSAN_OPTIONS="halt_on_error=1:report_signal_unsafe=0")
    r = subprocess.run(
        [sys.executable, "-c", BOOT + STRESS, str(where)], capture_output=True, text=True, env=env, timeout=900
    )
    out = r.stdout + r.stderr
    if "unexpected memory mapping" in out or "failed to allocate" in out.lower():
        pytest.skip("ThreadSanitizer cannot map its shadow memory on this kernel (ASLR): " + out[-300:])
    assert "WARNING: ThreadSanitizer" not in out, out[-8000:]
    assert r.returncode == 0 and "STRESS OK" in r.stdout, out[-6000:]
