"""Instruction-set paths: the kernels' tests run once per path this CPU has, each in a
fresh process with BRICKS_ISA forcing it (and OpenBLAS forced to a kernel of the same
level), so the AVX2 and baseline paths are tested on AVX-512 machines too. A path the
CPU lacks skips with the reason; asking for it at import is a clear ImportError."""

import os
import pathlib
import subprocess
import sys

import pytest

import bricks as bk

HERE = pathlib.Path(__file__).resolve().parent
PATHS = ("baseline", "avx2", "avx512")
# OpenBLAS kernels of the same level (names from its DYNAMIC_ARCH list)
BLAS_CORE = {"baseline": "Katmai", "avx2": "Haswell", "avx512": "SkylakeX"}
# The tests whose numbers depend on the path: the kernels, every block's parity and
# finite differences, the training guard, and the small-M product (test_inference).
PER_PATH = ["test_kernels.py", "test_blocks.py", "test_inference.py"]


def _env(**kw):
    env = {k: v for k, v in os.environ.items() if k not in ("BRICKS_ISA", "OPENBLAS_CORETYPE")}
    env.update(kw)
    return env


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(**env), timeout=300)


def test_cpu_info_reports_the_path():
    info = bk.cpu_info()
    assert set(info) >= {"isa", "isa_available", "blas", "cpu"}
    assert info["isa_available"][0] == "baseline"
    assert set(info["isa_available"]) <= set(PATHS)
    assert info["isa"] in info["isa_available"]
    if "BRICKS_ISA" not in os.environ:  # the default is the best path
        assert info["isa"] == info["isa_available"][-1]


@pytest.mark.parametrize("path", PATHS)
def test_kernels_on_every_path(path):
    if path not in bk.cpu_info()["isa_available"]:
        pytest.skip(f"this CPU has no {path} path (it has {bk.cpu_info()['isa_available']})")
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *[str(HERE / f) for f in PER_PATH]],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        timeout=600,
        env=_env(BRICKS_ISA=path, OPENBLAS_CORETYPE=BLAS_CORE[path]),
    )
    assert r.returncode == 0, f"BRICKS_ISA={path}:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    assert " passed" in r.stdout and "failed" not in r.stdout.splitlines()[-1]
    # and the child really ran that path
    r = _python("import bricks; print(bricks.cpu_info()['isa'])", BRICKS_ISA=path)
    assert r.returncode == 0 and r.stdout.split()[-1] == path, r.stderr


@pytest.mark.parametrize("path", PATHS)
def test_missing_path_is_a_clear_import_error(path):
    if path in bk.cpu_info()["isa_available"]:
        pytest.skip(f"this CPU has the {path} path")
    r = _python("import bricks", BRICKS_ISA=path)
    assert r.returncode == 1, (r.returncode, r.stderr)  # an exception, not SIGILL
    assert "ImportError" in r.stderr and f"'{path}' is not available on this CPU" in r.stderr


def test_refusal_on_a_cpu_without_the_path():
    # what an AVX2-only (or baseline-only) CPU says, on any machine
    code = (
        "import bricks, sys; c = bricks._core; c._cap_isa(sys.argv[1]); c.set_isa('auto');"
        "print(c.available_isas(), c.active_isa());"
        "\ntry: c.set_isa('avx512')\nexcept ValueError as e: print('refused:', e)"
    )
    for cap, have in (("avx2", "baseline, avx2"), ("baseline", "baseline")):
        r = subprocess.run([sys.executable, "-c", code, cap], capture_output=True, text=True, env=_env())
        assert r.returncode == 0, r.stderr
        assert f"refused: instruction-set path 'avx512' is not available on this CPU (it has: {have})" in r.stdout
        assert r.stdout.splitlines()[-2].endswith(" " + cap)  # auto picks the best remaining


def test_unknown_path_is_refused():
    r = _python("import bricks", BRICKS_ISA="avx1024")
    assert r.returncode == 1 and "ImportError" in r.stderr
    assert "must be auto, baseline, avx2 or avx512, got 'avx1024'" in r.stderr


def test_auto_and_case_are_accepted():
    r = _python("import bricks; print(bricks.cpu_info()['isa'])", BRICKS_ISA=" AUTO ")
    assert r.returncode == 0 and r.stdout.split()[-1] == bk.cpu_info()["isa_available"][-1]
