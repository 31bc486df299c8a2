"""Builds the C++ unit tests from the same CMakeLists.txt and runs them through ctest."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is a test extra: pip install '.[test]'")
def test_ctest_suite(tmp_path_factory):
    if not (ROOT / "cpp" / "tests").is_dir():
        pytest.skip("not a source checkout")
    build = ROOT / "build" / "ctest"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    _run(["cmake", "-S", str(ROOT), "-B", str(build), *gen, "-DBRICKS_TESTS=ON",
          "-DBRICKS_PYTHON=OFF", f"-DPython_EXECUTABLE={sys.executable}"])
    _run(["cmake", "--build", str(build), "-j2"])
    out = _run(["ctest", "--test-dir", str(build), "--output-on-failure"],
               env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert "100% tests passed" in out, out
    # the executable itself reports its case count: make sure cases ran
    cases = _run([str(build / "bricks_tests")])
    assert " 0 failed checks" in cases and "ok  " in cases, cases
