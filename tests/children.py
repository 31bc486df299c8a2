"""Helpers for tests that drive a child Python process."""


def wait_ready(p):
    """Read the child's lines up to READY (an editable install may print its rebuild
    first); a child that died ends the loop and the assertion shows its stderr."""
    line = None
    while line != "READY" and (line is None or line or p.poll() is None):
        line = p.stdout.readline().strip()
    assert line == "READY", p.communicate(timeout=60)[1][-2000:]
