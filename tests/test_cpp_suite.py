"""Builds the C++ unit tests from the same CMakeLists.txt and runs them through ctest:
once as released (Release) and once under AddressSanitizer + UndefinedBehaviorSanitizer,
each once per instruction-set path of the kernels."""

import os
import shutil

import pytest
from cmake_build import ROOT, run

import cmake_build


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is a test extra: pip install '.[test]'")
@pytest.mark.parametrize("variant", ["release", "sanitized"])
def test_ctest_suite(variant):
    if not (ROOT / "cpp" / "tests").is_dir():
        pytest.skip("not a source checkout")
    opts = (
        ["-DCMAKE_BUILD_TYPE=Release"] if variant == "release" else ["-DCMAKE_BUILD_TYPE=Debug", "-DBRICKS_SANITIZE=ON"]
    )
    build = cmake_build.build(f"ctest-{variant}", "-DBRICKS_TESTS=ON", "-DBRICKS_PYTHON=OFF", *opts)
    env = {
        **os.environ,
        "OPENBLAS_NUM_THREADS": "1",
        "ASAN_OPTIONS": "abort_on_error=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    }
    out = run(["ctest", "--test-dir", str(build), "--output-on-failure"], env=env).stdout
    assert "100% tests passed" in out, out
    # once per instruction-set path: the ones this CPU has pass, the others skip
    import bricks

    have = bricks.cpu_info()["isa_available"]
    for path in ("baseline", "avx2", "avx512"):
        line = next(ln for ln in out.splitlines() if f"bricks_tests_{path} " in ln)
        assert ("Passed" if path in have else "Skipped") in line, out
    # the executable reports its cases: make sure they ran and none failed
    cases = run([str(build / "bricks_tests")], env=env).stdout
    assert " 0 failed checks" in cases and cases.count("ok  ") >= 10, cases
