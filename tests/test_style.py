"""The style the code follows, checked: ruff (lint and format, configured in
pyproject.toml) on the Python, clang-format (.clang-format) on the C++. The versions
are pinned in the test extras, since formatters change their output between releases."""

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PY = ["python", "tests", "bench"]


def _tracked(*patterns):
    r = subprocess.run(["git", "ls-files", *patterns], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        pytest.skip("not a git checkout")
    return r.stdout.split()


def _ruff(*args):
    return subprocess.run([sys.executable, "-m", "ruff", *args], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def ruff():
    pytest.importorskip("ruff", reason="ruff is a test extra: pip install '.[test]'")


def test_ruff_lint(ruff):
    r = _ruff("check", *PY)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_ruff_format(ruff):
    r = _ruff("format", "--check", "--diff", *PY)
    assert r.returncode == 0, "run `ruff format python tests bench`:\n" + r.stdout[-4000:] + r.stderr[-2000:]


def test_clang_format():
    exe = shutil.which("clang-format")
    if exe is None:
        pytest.skip("clang-format is a test extra: pip install '.[test]'")
    files = _tracked("cpp/*.cpp", "cpp/*.h")
    r = subprocess.run([exe, "--dry-run", "-Werror", *files], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, "run `clang-format -i` on these:\n" + r.stderr[-4000:]
