"""Builds the C++ unit tests from the same CMakeLists.txt and runs them through ctest:
once as released (Release) and once under AddressSanitizer + UndefinedBehaviorSanitizer,
each once per instruction-set path of the kernels."""

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
@pytest.mark.parametrize("variant", ["release", "sanitized"])
def test_ctest_suite(variant):
    if not (ROOT / "cpp" / "tests").is_dir():
        pytest.skip("not a source checkout")
    build = ROOT / "build" / f"ctest-{variant}"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    opts = (
        ["-DCMAKE_BUILD_TYPE=Release"] if variant == "release" else ["-DCMAKE_BUILD_TYPE=Debug", "-DBRICKS_SANITIZE=ON"]
    )
    _run(
        [
            "cmake",
            "-S",
            str(ROOT),
            "-B",
            str(build),
            *gen,
            "-DBRICKS_TESTS=ON",
            "-DBRICKS_PYTHON=OFF",
            f"-DPython_EXECUTABLE={sys.executable}",
            *opts,
        ]
    )
    _run(["cmake", "--build", str(build), "-j2"])
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "ASAN_OPTIONS": "abort_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }
    out = _run(["ctest", "--test-dir", str(build), "--output-on-failure"], env=env)
    assert "100% tests passed" in out, out
    # once per instruction-set path: the ones this CPU has pass, the others skip
    import bricks

    have = bricks.cpu_info()["isa_available"]
    for path in ("baseline", "avx2", "avx512"):
        line = next(ln for ln in out.splitlines() if f"bricks_tests_{path} " in ln)
        assert ("Passed" if path in have else "Skipped") in line, out
    # the executable reports its cases: make sure they ran and none failed
    cases = _run([str(build / "bricks_tests")], env=env)
    assert " 0 failed checks" in cases and cases.count("ok  ") >= 10, cases
