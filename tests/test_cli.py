"""The command line (python -m bricks, the `bricks` script): every flag explains itself and
shows its default, bad values are argparse errors that say what was expected and what
came, errors are one line without a traceback, and the defaults train well."""

import argparse
import os
import re
import subprocess
import sys

import pytest

import bricks as bk
from bricks import __main__ as cli


def _subparsers(parser):
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def _accuracy(text):
    return float(re.search(r"test accuracy ([0-9.]+)%", text).group(1))


# -- help ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["train", "evaluate", "info"])
def test_every_flag_has_help_and_shows_its_default(command, capsys):
    sub = _subparsers(cli.build_parser())[command]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and len(action.help) > 10, f"{command} {action.dest}: no help text"
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    # one entry per option: from its "  --flag" line to the next one
    entries = re.split(r"\n(?=  -)", text.split("options:", 1)[1])
    flags = [e for e in entries if e.strip() and not e.strip().startswith("-h, --help")]
    assert len(flags) == sum(1 for a in sub._actions if a.option_strings) - 1
    for entry in flags:
        assert "(default: " in " ".join(entry.split()), f"bricks {command} --help: no default in\n{entry}"


def test_help_shows_the_values_of_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in (
        "(default: digits)",
        "(default: 128)",
        "(default: relu)",
        "(default: he_uniform)",
        "(default: 0.05)",
        "(default: 20)",
        "(default: 32)",
        "(default: off)",
        "(default: not saved)",
        "(default: no clipping)",
    ):
        assert shown in text


# -- bad values are argparse errors -------------------------------------------------------------
@pytest.mark.parametrize(
    "text, what",
    [
        ("64,,32", "width 2 is empty"),
        ("64,", "width 2 is empty"),
        (",64", "width 1 is empty"),
        ("0", "width 1 is '0'"),
        ("64,-3", "width 2 is '-3'"),
        ("1.5", "width 1 is '1.5'"),
        ("wide", "width 1 is 'wide'"),
        ("64;32", "width 1 is '64;32'"),
    ],
)
def test_hidden_rejects_empty_zero_negative_and_non_integer_widths(text, what, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--hidden", text])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --hidden: expected comma-separated positive integers" in err
    assert f"got {text!r}: {what}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, widths", [("256,128", [256, 128]), (" 64 , 32 ", [64, 32]), ("7", [7]), ("", [])])
def test_hidden_accepts_widths(text, widths):
    assert cli._widths(text) == widths


def test_no_hidden_layer_is_softmax_regression(capsys):
    assert cli.main(["train", "--hidden", "", "--epochs", "3", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "total parameters: 650 " in out  # 64 * 10 + 10: one Linear
    assert _accuracy(out) > 90


@pytest.mark.parametrize(
    "flag, value, low",
    [
        ("--epochs", "0", 1),
        ("--epochs", "-2", 1),
        ("--epochs", "1.5", 1),
        ("--batch-size", "0", 1),
        ("--threads", "-1", 0),
        ("--early-stopping", "-1", 0),
    ],
)
def test_counts_reject_values_below_their_minimum(flag, value, low, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", flag, value])
    assert info.value.code == 2
    assert f"argument {flag}: expected an integer >= {low}, got {value!r}" in capsys.readouterr().err


# -- MNIST: the CLI says --download, the Python API download=True ---------------------------------
def test_missing_mnist_tells_cli_users_to_add_download(tmp_path, capsys):
    assert cli.main(["train", "--data", "mnist", "--data-path", str(tmp_path), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bricks: error: mnist: missing MNIST file(s): ")
    assert str(tmp_path / "train-images-idx3-ubyte") in err
    assert f"add --download to fetch them into {tmp_path}" in err
    assert "download=True" not in err and "Traceback" not in err
    # the Python API keeps its own wording
    with pytest.raises(FileNotFoundError, match="pass download=True"):
        bk.datasets.mnist(tmp_path)


def test_mnist_without_a_folder_names_the_flags(capsys):
    assert cli.main(["train", "--data", "mnist", "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "bricks: error: --data mnist needs --data-path DIR (the four IDX files, "
        "gzipped or not); add --download to fetch them there"
    )


# -- errors: one line, no traceback ---------------------------------------------------------------
def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bricks", *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def _our_stderr(text):
    """stderr without the editable install's rebuild chatter (cmake and ninja lines)."""
    noise = ("Running cmake", "[0/", "[1/", "[2/", "ninja:", "-- ")
    return "\n".join(line for line in text.splitlines() if not line.startswith(noise)).strip()


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "no-such-model.npz"], "bricks: error: [Errno 2] No such file or directory: 'no-such-model.npz'"),
        (["train", "--data", "mnist", "--data-path", "empty"], "add --download to fetch them into empty"),
        (["train", "--lr", "-1", "--verbose", "0"], "bricks: error: SGD: lr must be a finite number >= 0, got -1"),
        (["train", "--out", "no-such-folder/m.npz"], "bricks: error: --out no-such-folder/m.npz: no writable folder"),
    ],
)
def test_errors_are_one_line_without_traceback(args, message, tmp_path):
    (tmp_path / "empty").mkdir()
    r = _run(*args, cwd=tmp_path)
    err = _our_stderr(r.stderr)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert len(err.splitlines()) == 1 and message in err, err


def test_argparse_errors_have_no_traceback(tmp_path):
    r = _run("train", "--hidden", "64,,32", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert _our_stderr(r.stderr).splitlines()[-1].startswith("bricks train: error: argument --hidden:")


def test_out_of_memory_and_ctrl_c_are_one_line(monkeypatch, capsys):
    def too_big(*a, **k):
        raise MemoryError("std::bad_alloc")

    monkeypatch.setattr(cli, "build_mlp", too_big)
    assert cli.main(["train", "--verbose", "0"]) == 2
    assert capsys.readouterr().err == (
        "bricks: error: out of memory (std::bad_alloc): the network or the data is too large\n"
    )

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_mlp", interrupted)
    assert cli.main(["train", "--verbose", "0"]) == 130
    assert capsys.readouterr().err == "bricks: interrupted\n"


# -- the defaults train well ------------------------------------------------------------------------
def test_tanh_on_spirals_leaves_the_linear_plateau(capsys):
    """The audit's command reached 53.7 %: Glorot's scale, sqrt(6 / (2 + 128)) = 0.21 for
    2 inputs and 128 units, keeps tanh in its linear range, so 20 epochs of SGD end near a
    linear classifier. The CLI's hidden layers now start from he_uniform (fan-in only)."""
    argv = [
        "train",
        "--data",
        "spirals",
        "--activation",
        "tanh",
        "--dtype",
        "float64",
        "--schedule",
        "cosine",
        "--verbose",
        "0",
    ]
    assert cli.main(argv) == 0
    assert _accuracy(capsys.readouterr().out) > 90
    assert cli.main(argv + ["--init", "glorot_uniform"]) == 0  # the cause, for the record
    assert _accuracy(capsys.readouterr().out) < 70


@pytest.mark.parametrize("init", cli.INITS)
def test_init_reaches_the_hidden_layers(init, monkeypatch):
    built, real = [], cli.build_mlp

    def build(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(cli, "build_mlp", build)
    assert cli.main(["train", "--hidden", "16,8", "--init", init, "--epochs", "1", "--verbose", "0"]) == 0
    linears = [b for b in built[0].blocks if isinstance(b, bk.Linear)]
    assert [b.config()["init"] for b in linears] == [init, init, "glorot_uniform"]


def test_train_reports_threads_and_instruction_set_path(capsys):
    assert cli.main(["train", "--epochs", "1", "--threads", "1", "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert f"1 thread(s), kernels {bk.cpu_info()['isa']}" in out
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"kernels {bk.cpu_info()['isa']}" in out and "BRICKS_ISA" in out


def test_evaluate_gives_the_accuracy_train_reported(tmp_path, capsys):
    path = tmp_path / "spirals.npz"
    assert (
        cli.main(["train", "--data", "spirals", "--seed", "4", "--epochs", "5", "--verbose", "0", "--out", str(path)])
        == 0
    )
    acc = _accuracy(capsys.readouterr().out)
    assert cli.main(["evaluate", str(path), "--data", "spirals", "--seed", "4"]) == 0
    assert _accuracy(capsys.readouterr().out) == acc
    assert os.path.getsize(path) > 0
