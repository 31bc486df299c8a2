"""Builds from the project's CMakeLists.txt for the tests that need a build of their
own (the ctest suite, the sanitized extension)."""

import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run(cmd, **kw) -> subprocess.CompletedProcess:
    """Run a command; a failure is an assertion that shows the end of its output."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r


def build(name: str, *options: str, target: str | None = None) -> pathlib.Path:
    """Configure build/<name> with `options` (Ninja when there is one) and build it, or
    just `target`; returns the build folder."""
    folder = ROOT / "build" / name
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    run(["cmake", "-S", str(ROOT), "-B", str(folder), *gen, f"-DPython_EXECUTABLE={sys.executable}", *options])
    run(["cmake", "--build", str(folder), "-j2", *(["--target", target] if target else [])])
    return folder
