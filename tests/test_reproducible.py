"""The reproducibility promise (README, docs/content/training.md): on one machine, the same
seed, the same number of BLAS threads and the same instruction-set path give the same bits.
Each run is a fresh process, so nothing carries over from the first run to the second but
what the promise names."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

# MNIST's shapes (784-256-256-10, batch 128) on synthetic data: at these shapes OpenBLAS
# splits some sums differently on two threads than on one (on the development machine the
# weights differ in the last bits), so the two-thread case exercises a threaded split.
TRAIN = textwrap.dedent("""
    import sys
    import numpy as np
    import bricks as bk

    threads, out = int(sys.argv[1]), sys.argv[2]
    bk.set_num_threads(threads)
    bk.manual_seed(11)
    rng = np.random.default_rng(11)
    X = rng.random((2048, 784), dtype=np.float32)
    y = np.argmax(X[:, :10] + 0.5 * X[:, 10:20] ** 2, axis=1)
    model = bk.Sequential(bk.Linear(784, 256), bk.ReLU(), bk.Dropout(0.2),
                          bk.Linear(256, 256), bk.Tanh(), bk.Linear(256, 10))
    history = model.fit(X, y, loss=bk.CrossEntropyLoss(), optimizer=bk.SGD(model, lr=0.05, momentum=0.9),
                        epochs=2, batch_size=128, seed=11, validation_split=0.1, verbose=0)
    np.savez(out, predict=model.predict(X[:256]), loss=np.array(history.history["loss"]),
             **model.state_dict())
    print(bk.get_num_threads(), bk.cpu_info()["isa"], bk.blas_info())
""")


def _env():
    # the thread count comes from set_num_threads alone; the path and BLAS kernel are the
    # environment's (the same for both runs)
    return {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}


def _bits(path):
    with np.load(path) as f:
        return {k: f[k].tobytes() for k in f.files}


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_threads_and_path_give_the_same_bits(threads, tmp_path):
    runs = []
    for name in ("first", "second"):
        out = tmp_path / f"{name}.npz"
        r = subprocess.run(
            [sys.executable, "-c", TRAIN, str(threads), str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            env=_env(),
        )
        assert r.returncode == 0, r.stderr[-3000:]
        runs.append((r.stdout.split()[-3:], _bits(out)))
    (setup1, first), (setup2, second) = runs
    assert setup1 == setup2 and setup1[0] == str(threads), f"the runs differ in setup: {setup1} vs {setup2}"
    assert first.keys() == second.keys() and len(first) == 8  # 3 Linear x (weight, bias), predict, loss
    differ = [k for k in first if first[k] != second[k]]
    assert not differ, f"{threads} thread(s), path {setup1[1]}: not bit-identical: {differ}"


@pytest.mark.parametrize("threads", [1, 2])
def test_the_command_line_is_reproducible_too(threads, tmp_path):
    """`bricks train --seed S --threads N` twice: the saved weights are the same bits."""
    files = []
    for name in ("first", "second"):
        out = tmp_path / f"{name}.npz"
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "bricks",
                "train",
                "--hidden",
                "256,256",
                "--dropout",
                "0.1",
                "--batch-size",
                "128",
                "--epochs",
                "2",
                "--seed",
                "5",
                "--threads",
                str(threads),
                "--verbose",
                "0",
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env=_env(),
        )
        assert r.returncode == 0, r.stderr[-3000:]
        assert f"{threads} thread(s)" in r.stdout
        files.append(_bits(out))  # weights, optimizer state and the architecture
    assert sum(k.startswith("param/") for k in files[0]) == 6 and files[0] == files[1]
