"""The lecture's examples run and do what the lecture says."""

import numpy as np

from bricks.examples import gating, learn_targets, linear_regression, logistic_regression, softmax_regression, xor


def test_linear_regression_recovers_weights():
    r = linear_regression.run(verbose=False)
    assert r["max_error"] < 1e-3


def test_logistic_regression_separates():
    r = logistic_regression.run(verbose=False)
    assert r["accuracy"] == 1.0
    assert r["loss"][-1] < r["loss"][0] / 10


def test_softmax_regression_on_digits():
    r = softmax_regression.run(verbose=False)
    assert r["test_accuracy"] >= 0.93
    np.testing.assert_allclose(r["probabilities"].sum(1), 1.0, rtol=1e-5)


def test_xor_needs_a_hidden_layer():
    r = xor.run(verbose=False)
    assert r["linear_accuracy"] <= 0.75
    assert r["hidden_accuracy"] == 1.0
    np.testing.assert_array_equal(r["slide_preactivation"], [[-4, -4], [-3, -5], [-5, -3], [-4, -4]])
    H = r["slide_hidden"]
    np.testing.assert_array_equal(H[0], H[3])  # both XOR-false inputs land on one point
    assert r["slide_head_accuracy"] == 1.0


def test_gating_learns_the_conditional():
    r = gating.run(verbose=False)
    assert r["gated_mse"] < 0.01
    assert r["linear_mse"] > 0.2


def test_targets_learn_through_the_quadratic_loss():
    r = learn_targets.run(verbose=False)
    assert r["by_hand"]["max_gap"] < 1e-6 and r["by_hand"]["final_loss"] < 1e-10
    assert r["graph"]["max_gap"] < 0.05


def test_main_job_cli(tmp_path, capsys):
    from bricks.__main__ import main

    out = tmp_path / "digits.npz"
    assert main(["train", "--epochs", "5", "--verbose", "0", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    acc = float(text.split("test accuracy ")[1].split("%")[0])
    assert acc > 90.0
    assert main(["evaluate", str(out)]) == 0
    assert f"test accuracy {acc:.2f}%" in capsys.readouterr().out


def test_console_script_is_the_module():
    """The installed `bricks` script and `python -m bricks` are one entry point (the README's
    commands use both; tests/test_docs.py runs each as written and checks its result)."""
    import subprocess
    import sys
    from pathlib import Path

    outs = []
    for cmd in ([sys.executable, "-m", "bricks", "info"], [str(Path(sys.executable).with_name("bricks")), "info"]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        outs.append(r.stdout)
    assert outs[0] == outs[1] and outs[0].splitlines()[-1].startswith("bricks ")
