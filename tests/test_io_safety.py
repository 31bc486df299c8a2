"""Saving and loading model files that cannot be trusted, and saves that go wrong.

Loading refuses what is not a regular file (a FIFO would block forever), checks every
member against the architecture from the zip directory and the .npy headers alone before
building or inflating anything, and refuses non-finite state. Saving gives the file the
mode NumPy would (or the replaced file's), and cleans up after saves that were killed.
Cases that could hang or allocate gigabytes run in a subprocess with a timeout.
"""

import io
import json
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest

import bricks as bk
import bricks.io as bio
from bricks.block import registry

F32 = np.float32
LINUX = sys.platform.startswith("linux")


# -- helpers ----------------------------------------------------------------------------------------
def model(optimizer="sgd"):
    """Linear(4, 8) - ReLU - Linear(8, 2), trained a few steps so its optimizer state is not zero."""
    bk.manual_seed(0)
    m = bk.Sequential(bk.Linear(4, 8), bk.ReLU(), bk.Linear(8, 2))
    opt = bk.SGD(m, lr=0.1, momentum=0.9) if optimizer == "sgd" else bk.Adam(m, lr=0.01)
    m.compile(bk.MSELoss(), opt)
    X = np.random.default_rng(0).normal(size=(16, 4))
    for _ in range(3):
        m.train_step(X, X[:, :2])
    return m


def members(path):
    """name (without .npy) -> the member's raw .npy bytes."""
    with zipfile.ZipFile(path) as z:
        return {i.filename[:-4]: z.read(i) for i in z.infolist()}


def npy(a):
    b = io.BytesIO()
    np.lib.format.write_array(b, np.asanyarray(a), allow_pickle=False)
    return b.getvalue()


def npy_header(shape, dtype=F32):
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        b, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    )
    return b.getvalue()


def arch_of(files):
    return json.loads(str(np.load(io.BytesIO(files["__bricks__"]))))


def with_arch(files, arch):
    return {**files, "__bricks__": npy(np.array(json.dumps(arch)))}


def entry(name, raw, *, deflate=False, usize=None, crc=None):
    """A zip entry (name, stored data, method, crc, declared uncompressed size); the size and
    CRC default to the truth, and can lie."""
    if deflate:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = c.compress(raw) + c.flush()
    else:
        data = raw
    return (
        name + ".npy",
        data,
        8 if deflate else 0,
        zlib.crc32(raw) if crc is None else crc,
        len(raw) if usize is None else usize,
    )


def zeros_entry(name, header, n_mib, *, usize=None, crc=None):
    """A deflated member: ``header`` then n_mib MiB of zeros (about 1 KB compressed per MiB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(1 << 20)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)  # no history: it can be repeated
    data = head + block * n_mib + c.flush()
    true_crc = zlib.crc32(header)
    for _ in range(n_mib):
        true_crc = zlib.crc32(zeros, true_crc)
    return (
        name + ".npy",
        data,
        8,
        true_crc if crc is None else crc,
        len(header) + (n_mib << 20) if usize is None else usize,
    )


def write_zip(path, entries):
    """A zip archive written by hand, so that sizes and CRCs can be made to lie."""
    out, central = bytearray(), bytearray()
    for name, data, method, crc, usize in entries:
        n = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), usize, len(n), 0)
        out += n + data
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                usize,
                len(n),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + n
        )
    start = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), start, 0)
    path.write_bytes(bytes(out))
    return path


def write_members(path, files, **special):
    """An archive of ``files`` (name -> .npy bytes), some entries replaced by ``special``."""
    return write_zip(
        path,
        [special.get(k) or entry(k, v) for k, v in files.items()] + [e for k, e in special.items() if k not in files],
    )


def saved(tmp_path, optimizer="sgd"):
    m = model(optimizer)
    m.save(tmp_path / "m.npz")
    return m, members(tmp_path / "m.npz")


LOAD_MEASURED = """
import json, resource, sys
import bricks as bk
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    bk.load(sys.argv[1])
    error = None
except ValueError as e:
    error = str(e)
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"error": error, "grew_mb": grew}))
"""


def load_measured(path):
    """bk.load(path) in a fresh process: its error (None if it loaded) and how much its peak
    memory grew, in MB."""
    r = subprocess.run([sys.executable, "-c", LOAD_MEASURED, str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_python(script, *args, timeout=60):
    return subprocess.run(
        [sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


# -- 1. only regular files ------------------------------------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_load_refuses_a_fifo_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    r = run_python(
        "import sys, bricks as bk\ntry:\n    bk.load(sys.argv[1])\nexcept ValueError as e:\n    print(e)", fifo
    )  # a hang is a TimeoutExpired
    assert r.returncode == 0, r.stderr
    assert str(fifo) in r.stdout and "FIFO" in r.stdout and "regular file" in r.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_load_checks_the_open_file_too(tmp_path):
    """A path that turns into a FIFO between the check and the open is refused, not waited on."""
    fifo, good = tmp_path / "swap.npz", tmp_path / "m.npz"
    os.mkfifo(fifo)
    model().save(good)
    script = """
import os, sys, bricks as bk
real = os.stat
os.stat = lambda p, *a, **k: real(sys.argv[2] if os.fspath(p) == sys.argv[1] else p, *a, **k)
try:
    bk.load(sys.argv[1])
except ValueError as e:
    print(e)
"""
    r = run_python(script, fifo, good)
    assert r.returncode == 0, r.stderr
    assert "FIFO" in r.stdout and str(fifo) in r.stdout


def test_load_refuses_directories_devices_and_sockets(tmp_path):
    with pytest.raises(ValueError, match=r"is a directory, not a readable bricks model file.*regular file") as e:
        bk.load(tmp_path)
    assert str(tmp_path) in str(e.value)
    if os.path.exists("/dev/null"):
        with pytest.raises(ValueError, match=r"/dev/null is a character device"):
            bk.load("/dev/null")
    sock_path = tmp_path / "s.npz"
    if hasattr(socket, "AF_UNIX") and len(str(sock_path)) < 100:  # AF_UNIX paths are short
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(str(sock_path))
            with pytest.raises(ValueError, match=r"s\.npz is a socket"):
                bk.load(sock_path)


def test_load_still_follows_symlinks_to_files(tmp_path):
    m = model()
    m.save(tmp_path / "m.npz")
    (tmp_path / "link.npz").symlink_to(tmp_path / "m.npz")
    np.testing.assert_array_equal(bk.load(tmp_path / "link.npz").predict(np.ones((2, 4))), m.predict(np.ones((2, 4))))


# -- 2. state is validated before it is trusted -------------------------------------------------
def nan_state(files):
    a = np.load(io.BytesIO(files["optim/0"]))
    a[0, 0] = np.nan
    return {**files, "optim/0": npy(a)}


def inf_weight(files):
    a = np.load(io.BytesIO(files["param/2.bias"]))
    a[-1] = -np.inf
    return {**files, "param/2.bias": npy(a)}


def negative_second_moment(files):
    a = np.load(io.BytesIO(files["optim/1"]))
    a[...] = -1e-3
    return {**files, "optim/1": npy(a)}


def float64_state(files):
    return {**files, "optim/0": npy(np.load(io.BytesIO(files["optim/0"])).astype(np.float64))}


def transposed_state(files):
    return {**files, "optim/0": npy(np.load(io.BytesIO(files["optim/0"])).T.copy())}


def arch_edit(edit):
    def run(files):
        a = arch_of(files)
        edit(a)
        return with_arch(files, a)

    return run


def text_edit(old, new):  # json.loads reads NaN, Infinity and 1e999 (as inf) unless told otherwise
    def run(files):
        text = json.dumps(arch_of(files))
        assert old in text
        return {**files, "__bricks__": npy(np.array(text.replace(old, new, 1)))}

    return run


BAD_STATE = [
    (
        "NaN momentum",
        "sgd",
        nan_state,
        [
            r"optimizer state 'optim/0'",
            r"SGD momentum buffer of '0\.weight'",
            r"1 non-finite value",
            r"expected finite",
        ],
    ),
    ("infinite bias", "sgd", inf_weight, [r"parameter '2\.bias'", r"non-finite", r"expected finite"]),
    (
        "negative Adam v",
        "adam",
        negative_second_moment,
        [r"'optim/1'", r"Adam second moment of '0\.weight'", r"negative", r"expected values >= 0"],
    ),
    ("float64 state", "sgd", float64_state, [r"'optim/0'", r"is float64 \(8, 4\), expected float32 \(8, 4\)"]),
    ("transposed state", "sgd", transposed_state, [r"'optim/0'", r"\(4, 8\), expected float32 \(8, 4\)"]),
    ("NaN lr", "sgd", text_edit('"lr": 0.1', '"lr": NaN'), [r"invalid architecture", r"NaN", r"expected finite"]),
    (
        "lr 1e999",
        "sgd",
        text_edit('"lr": 0.1', '"lr": 1e999'),
        [r"invalid architecture", r"1e999 is out of range", r"expected finite"],
    ),
    (
        "momentum -Infinity",
        "sgd",
        text_edit('"momentum": 0.9', '"momentum": -Infinity'),
        [r"invalid architecture", r"-Infinity", r"expected finite"],
    ),
    (
        "negative steps",
        "sgd",
        arch_edit(lambda a: a["optimizer"].update(steps=-1)),
        [r"steps must be an int >= 0, got -1"],
    ),
    (
        "negative clip_norm",
        "adam",
        arch_edit(lambda a: a["optimizer"].update(clip_norm=-2.0)),
        [r"clip_norm must be a finite number >= 0, got -2\.0"],
    ),
]


@pytest.mark.parametrize(
    "edit, optimizer, patterns", [(c[2], c[1], c[3]) for c in BAD_STATE], ids=[c[0] for c in BAD_STATE]
)
def test_bad_state_is_refused_before_anything_is_built(tmp_path, monkeypatch, edit, optimizer, patterns):
    _, files = saved(tmp_path, optimizer)
    path = write_members(tmp_path / "bad.npz", edit(files))

    def no_build(arch):
        raise AssertionError("a model was built from a file that fails validation")

    monkeypatch.setattr(bio, "_build", no_build)
    with pytest.raises(ValueError) as e:
        bk.load(path)
    assert str(path) in str(e.value)
    for p in patterns:
        assert re.search(p, str(e.value)), (p, str(e.value))


def test_pickle_copies_are_validated_too():
    m = model()
    arrays = bio._arrays(m)
    arrays["optim/0"] = np.full_like(arrays["optim/0"], np.inf)
    with pytest.raises(ValueError, match=r"pickle optimizer state 'optim/0'.*non-finite"):
        bio._unpickle_model(arrays)


def test_round_trips_keep_working(tmp_path):
    """Shared weights, SGD without state, Adam: the architecture's expected members match the built model."""
    x = bk.Input(3, name="x")
    lin = bk.Linear(3, 3, seed=1)
    h = bk.Tanh()(lin(x))
    y = bk.Linear(3, 2, bias=False, seed=2)(lin(h))
    m = bk.Model(inputs=x, outputs=y, share_weights=True)
    X, T = np.random.default_rng(1).normal(size=(10, 3)), np.random.default_rng(2).normal(size=(10, 2))
    for opt in (bk.SGD(m, lr=0.05), bk.Adam(m, lr=0.01), bk.AdamW(m, lr=0.01), bk.SGD(m, lr=0.01, momentum=0.5)):
        m.fit(X, T, loss=bk.MSELoss(), optimizer=opt, epochs=2, verbose=0)
        m.save(tmp_path / "g.npz")
        back = bk.load(tmp_path / "g.npz")
        np.testing.assert_array_equal(back.predict(X), m.predict(X))
        for a, b in zip(back.optimizer._core.get_state(), m.optimizer._core.get_state()):
            np.testing.assert_array_equal(a, b)


# -- what io.py knows of blocks and optimizers without building them --------------------------------
def test_params_table_matches_every_block():
    """io._PARAMS must list every block with parameters, with the shapes it gets."""
    for name, cls in registry().items():
        configs = {
            "Linear": [{"in_features": 3, "out_features": 2, "bias": b} for b in (True, False)],
            "LayerNorm": [{"features": 3, "elementwise_affine": b} for b in (True, False)],
            "BatchNorm": [{"features": 3}],
        }.get(name, [{}])
        for cfg in configs:
            block = cls(**cfg)
            expected = bio._block_params({"class": name, "config": cfg}, name)
            assert [(p, s) for p, s, _ in expected] == [(p, a.shape) for p, a in block.params.items()], name
            if block.params:  # the core's own shapes: those of the optimizer state
                state = bk.SGD([block], lr=0.1, momentum=0.5)._core.get_state()
                assert [c for _, _, c in expected] == [s.shape for s in state], name


def test_buffer_table_matches_every_block():
    """io._BUFFERS must list every block with buffers, with their shapes and dtypes."""
    from bricks.block import registry

    configs = {
        "Linear": {"in_features": 3, "out_features": 2},
        "LayerNorm": {"features": 3},
        "BatchNorm": {"features": 3},
    }
    for name, cls in registry().items():
        cfg = configs.get(name, {})
        block = cls(**cfg, dtype=np.float64)
        want = [
            (k, s, np.float64 if dt is None else dt)
            for k, s, dt in bio._block_buffers({"class": name, "config": cfg}, "")
        ]
        assert want == [(k, a.shape, a.dtype) for k, a in block.buffers.items()], name


@pytest.mark.parametrize(
    "make",
    [
        lambda m: bk.SGD(m, lr=0.1),
        lambda m: bk.SGD(m, lr=0.1, momentum=0.9),
        lambda m: bk.Adam(m),
        lambda m: bk.AdamW(m),
    ],
    ids=["SGD", "SGD momentum", "Adam", "AdamW"],
)
def test_state_table_matches_every_optimizer(make):
    from bricks import optim

    kinds = {
        c.__name__
        for c in vars(optim).values()
        if isinstance(c, type) and issubclass(c, optim.Optimizer) and c is not optim.Optimizer
    }
    assert kinds == set(bio._STATE)
    x = bk.Input(4, name="x")
    shared = bk.Linear(4, 4)
    y = bk.Linear(4, 2, bias=False)(bk.ReLU()(shared(bk.ReLU()(shared(x)))))
    for m in (
        bk.Sequential(bk.Linear(4, 3), bk.ReLU(), bk.Linear(3, 2, bias=False)),
        bk.Model(inputs=x, outputs=y, share_weights=True),
    ):
        m.optimizer = make(m)
        want = bio._expect(bio.architecture(m), "m")
        state = m.optimizer._core.get_state()
        assert [k for k in want if k.startswith("optim/")] == [f"optim/{i}" for i in range(len(state))]
        assert [want[f"optim/{i}"].shape for i in range(len(state))] == [s.shape for s in state]
        assert {k[6:]: want[k].shape for k in want if k.startswith("param/")} == {
            k: a.shape for k, a in m.params.items()
        }


# -- 3. file modes --------------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002], ids=oct)
def test_new_files_get_the_mode_numpy_gives_them(tmp_path, umask):
    m = model()
    old = os.umask(umask)
    try:
        np.save(tmp_path / "numpy.npy", np.zeros(2))
        m.save(tmp_path / "m.npz")
        assert bio._umask() == umask
        assert bio._umask(status=str(tmp_path / "no-such-status")) == umask  # without /proc
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "m.npz").st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE(os.stat(tmp_path / "numpy.npy").st_mode)


@pytest.mark.parametrize(
    "mode, umask", [(0o644, 0o077), (0o600, 0o022), (0o640, 0o002), (0o604, 0o022)], ids=lambda v: oct(v)
)
def test_overwriting_keeps_the_mode(tmp_path, mode, umask):
    m = model()
    path = tmp_path / "m.npz"
    m.save(path)
    os.chmod(path, mode)
    old = os.umask(umask)
    try:
        m.save(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


# -- 4. sizes from the file are not trusted ---------------------------------------------------------
def claims_huge_linear(files):
    a = arch_of(files)
    a["blocks"][0]["config"].update(in_features=12000, out_features=12000)
    a["input_features"] = 12000
    return with_arch(files, a)


@pytest.mark.skipif(not LINUX, reason="ru_maxrss in KB is Linux's")
def test_architecture_larger_than_its_members(tmp_path):
    """A 7 KB file claiming Linear(12000, 12000) with an (8, 4) weight used to allocate 2.2 GB."""
    _, files = saved(tmp_path)
    path = write_members(tmp_path / "claims.npz", claims_huge_linear(files))
    assert path.stat().st_size < 20_000
    r = load_measured(path)
    assert r["error"] and str(path) in r["error"]
    assert "parameter '0.weight' is float32 (8, 4), expected float32 (12000, 12000)" in r["error"]
    assert r["grew_mb"] < 200, r


@pytest.mark.skipif(not LINUX, reason="ru_maxrss in KB is Linux's")
def test_npy_header_larger_than_the_zip_size(tmp_path):
    """An .npy header claiming (12000, 12000) in a member whose zip size is a few hundred bytes."""
    _, files = saved(tmp_path)
    files = claims_huge_linear(files)
    files["param/0.weight"] = npy_header((12000, 12000)) + bytes(128)  # NumPy would allocate 576 MB
    path = write_members(tmp_path / "header.npz", files)
    r = load_measured(path)
    assert r["error"] and "member 'param/0.weight' declares" in r["error"]
    assert f"implies {len(npy_header((12000, 12000))) + 12000 * 12000 * 4}" in r["error"]
    assert r["grew_mb"] < 200, r


@pytest.mark.skipif(not LINUX, reason="ru_maxrss in KB is Linux's")
def test_member_that_inflates_past_its_declared_size(tmp_path):
    """A 1 MB deflated member that inflates to 1 GiB, its zip entry claiming the 256 bytes the
    architecture needs: reading stops at the declared size."""
    m, files = saved(tmp_path)
    header = npy_header((8, 4))
    small = len(header) + 8 * 4 * 4
    bomb = zeros_entry("param/0.weight", header, 1024, usize=small)
    path = write_members(tmp_path / "bomb.npz", files, **{"param/0.weight": bomb})
    assert path.stat().st_size < 2_000_000
    r = load_measured(path)
    assert r["error"] and "truncated or corrupted" in r["error"] and "'param/0.weight'" in r["error"]
    assert r["grew_mb"] < 200, r
    # even with a CRC that matches what is read, only the declared bytes are inflated
    crc = zlib.crc32(bytes(8 * 4 * 4), zlib.crc32(header))
    bomb = zeros_entry("param/0.weight", header, 1024, usize=small, crc=crc)
    path = write_members(tmp_path / "bomb2.npz", files, **{"param/0.weight": bomb})
    r = load_measured(path)
    assert r["error"] is None and r["grew_mb"] < 200, r


@pytest.mark.skipif(not LINUX, reason="ru_maxrss in KB is Linux's")
def test_huge_members_are_refused_before_they_are_inflated(tmp_path):
    """Members honestly declaring 1 GiB (about 1 MB on disk) that the architecture does not need:
    in place of a weight, or as an extra member. All members used to be inflated first."""
    _, files = saved(tmp_path)
    header = npy_header((1 << 28,))
    for name, special in [
        ("param/0.weight", {"param/0.weight": zeros_entry("param/0.weight", header, 1024)}),
        ("param/junk", {"param/junk": zeros_entry("param/junk", header, 1024)}),
    ]:
        path = write_members(tmp_path / "huge.npz", files, **special)
        r = load_measured(path)
        assert r["error"] and str(path) in r["error"], r
        if name == "param/junk":
            assert r["error"].endswith("does not hold the members its architecture needs: unexpected ['param/junk']")
        else:
            assert "parameter '0.weight' is float32 (268435456,), expected float32 (8, 4)" in r["error"]
        assert r["grew_mb"] < 200, r


def test_zip_size_and_npy_header_must_agree(tmp_path):
    _, files = saved(tmp_path)
    weight = files["param/0.weight"]
    for usize in (len(weight) - 4, len(weight) + 4):
        crc = zlib.crc32(weight[:usize])  # what a reader stopping at the declared size sees
        path = write_members(
            tmp_path / "size.npz", files, **{"param/0.weight": entry("param/0.weight", weight, usize=usize, crc=crc)}
        )
        with pytest.raises(
            ValueError,
            match=rf"'param/0.weight' declares {usize} bytes in the zip directory, "
            rf"but its .npy header \(float32 \(8, 4\)\) implies {len(weight)}",
        ):
            bk.load(path)


def test_npy_header_length_is_bounded(tmp_path):
    """A 2.0 header claiming 2 GB is refused from its length field, before it is read."""
    _, files = saved(tmp_path)
    files["param/0.weight"] = b"\x93NUMPY\x02\x00" + (1 << 31).to_bytes(4, "little") + b"{" * 64
    with pytest.raises(
        ValueError,
        match=r"'param/0.weight': .npy header of 2147483648 bytes, "
        r"expected at most 10000",
    ) as e:
        bk.load(write_members(tmp_path / "header.npz", files))
    assert "allow_pickle" not in str(e.value)


def test_architecture_text_is_bounded(tmp_path, monkeypatch):
    _, files = saved(tmp_path)
    text = json.dumps(arch_of(files)) + " " * 1000
    files["__bricks__"] = npy(np.array([text]))
    with pytest.raises(ValueError, match=r"'__bricks__' is <U\d+ \(1,\), expected a text scalar"):
        bk.load(write_members(tmp_path / "vector.npz", files))
    files["__bricks__"] = npy(np.array(text))
    path = write_members(tmp_path / "long.npz", files)
    bk.load(path)
    monkeypatch.setattr(bio, "_MAX_ARCH_BYTES", 4000)
    with pytest.raises(
        ValueError,
        match=rf"declares a {len(files['__bricks__'])}-byte architecture "
        rf"\('__bricks__'\); expected at most 4000 bytes",
    ):
        bk.load(path)


def test_model_blocks_no_node_uses_are_refused(tmp_path):
    """An unused block would be built (and its weights allocated) though nothing needs it."""
    x = bk.Input(4, name="x")
    m = bk.Model(inputs=x, outputs=bk.Linear(4, 2)(x))
    m.save(tmp_path / "g.npz")
    files = members(tmp_path / "g.npz")
    a = arch_of(files)
    a["blocks"].append({"class": "Linear", "config": {"in_features": 50000, "out_features": 50000}})
    with pytest.raises(ValueError, match=r"invalid architecture: blocks \[1\] are used by no node"):
        bk.load(write_members(tmp_path / "unused.npz", with_arch(files, a)))


def test_sequential_loss_must_be_a_loss(tmp_path):
    _, files = saved(tmp_path)
    a = arch_of(files)
    a["loss"] = {"class": "Linear", "config": {"in_features": 50000, "out_features": 50000}, "labels": False}
    with pytest.raises(ValueError, match=r"invalid architecture: the loss must be a loss block, got 'Linear'"):
        bk.load(write_members(tmp_path / "loss.npz", with_arch(files, a)))


def test_compression_methods_numpy_does_not_write_are_refused(tmp_path):
    """bzip2 and LZMA members inflate without a bound per read."""
    m = model()
    m.save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "bz.npz", "w", compression=zipfile.ZIP_BZIP2) as z:
        for k, v in members(tmp_path / "m.npz").items():
            z.writestr(k + ".npy", v)
    with pytest.raises(ValueError, match=r"compression method 12; expected stored \(np.savez\) or deflated"):
        bk.load(tmp_path / "bz.npz")
    files = members(tmp_path / "m.npz")  # np.savez_compressed files still load
    np.savez_compressed(tmp_path / "c.npz", **{k: np.load(io.BytesIO(v)) for k, v in files.items()})
    np.testing.assert_array_equal(bk.load(tmp_path / "c.npz").predict(np.ones((3, 4))), m.predict(np.ones((3, 4))))


# -- 5. leftovers of killed saves -----------------------------------------------------------------------
def leftovers(folder):
    return sorted(p for p in os.listdir(folder) if p.startswith(".bricks-"))


def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


KILLED_MID_SAVE = """
import sys, time, numpy as np, bricks as bk
bk.manual_seed(0)
m = bk.Sequential(bk.Linear(1000, 1000), bk.ReLU(), bk.Linear(1000, 10))
m.compile(bk.MSELoss(), bk.Adam(m))
real = np.savez
def stuck(f, **arrays):
    real(f, **arrays)
    f.flush()
    print("written", flush=True)
    time.sleep(120)
np.savez = stuck
m.save(sys.argv[1])
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pids are POSIX")
def test_the_next_save_removes_what_a_killed_save_left(tmp_path):
    path = tmp_path / "m.npz"
    m = model()
    m.save(path)
    p = subprocess.Popen([sys.executable, "-c", KILLED_MID_SAVE, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert any(line.strip() == "written" for line in p.stdout)  # (an editable install may print first)
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
    left = leftovers(tmp_path)
    assert len(left) == 1 and re.fullmatch(rf"\.bricks-{p.pid}-[0-9a-f]{{8}}\.m\.npz\.tmp", left[0]), left
    assert os.path.getsize(tmp_path / left[0]) > 10_000_000  # Adam on 1M weights: 12 MB
    assert stat.S_IMODE(os.stat(tmp_path / left[0]).st_mode) == 0o666 & ~bio._umask()  # chmod came first
    np.testing.assert_array_equal(bk.load(path).predict(np.ones((2, 4))), m.predict(np.ones((2, 4))))
    m.save(path)
    assert leftovers(tmp_path) == []
    np.testing.assert_array_equal(bk.load(path).predict(np.ones((2, 4))), m.predict(np.ones((2, 4))))


@pytest.mark.skipif(os.name != "posix", reason="pids are POSIX")
def test_leftovers_of_live_writers_and_of_other_targets_are_kept(tmp_path):
    import fcntl

    dead = dead_pid()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead, this target": f".bricks-{dead}-0123abcd.m.npz.tmp",
            "live writer": f".bricks-{sleeper.pid}-0123abcd.m.npz.tmp",
            "this process (another thread)": f".bricks-{os.getpid()}-0123abcd.m.npz.tmp",
            "other target": f".bricks-{dead}-0123abcd.other.npz.tmp",
            "other target, same ending": f".bricks-{dead}-0123abcd.xm.npz.tmp",
            "locked (a writer on another host)": f".bricks-{dead}-4567cdef.m.npz.tmp",
            "not ours": ".bricks-m.npz.tmp",
        }
        for n in names.values():
            (tmp_path / n).write_bytes(b"partial")
        fd = os.open(tmp_path / names["locked (a writer on another host)"], os.O_WRONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            model().save(tmp_path / "m.npz")
        finally:
            os.close(fd)
        assert leftovers(tmp_path) == sorted(n for k, n in names.items() if k != "dead, this target")
    finally:
        sleeper.kill()
        sleeper.wait()


def test_long_names_get_a_temporary_file_too(tmp_path):
    name = "m" * 200 + ".npz"
    dead = dead_pid()
    tag = bio._temp_tag(name)
    assert len(tag) < 40 and tag == bio._temp_tag(name)
    (tmp_path / f".bricks-{dead}-0123abcd.{tag}.tmp").write_bytes(b"partial")
    m = model()
    m.save(tmp_path / name)
    assert leftovers(tmp_path) == []
    np.testing.assert_array_equal(bk.load(tmp_path / name).predict(np.ones((2, 4))), m.predict(np.ones((2, 4))))


# -- 6. files that are not bricks models -------------------------------------------------------------------
def test_foreign_npz_is_named_as_such_without_pickle_advice(tmp_path):
    np.savez(tmp_path / "f.npz", a=np.zeros(3), b=np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(ValueError) as e:
        bk.load(tmp_path / "f.npz")
    msg = str(e.value)
    assert "not a bricks model file" in msg and "allow_pickle" not in msg and "pickle" not in msg
    assert "'__bricks__'" in msg and "'param/<name>'" in msg and "found ['a', 'b']" in msg
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match=r"is a zip archive but not a bricks model file.*found \['readme.txt'\]"):
        bk.load(tmp_path / "z.npz")


def test_object_array_in_a_bricks_file_is_a_plain_mismatch(tmp_path):
    _, files = saved(tmp_path)
    b = io.BytesIO()
    np.lib.format.write_array(b, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    files["param/0.weight"] = b.getvalue()
    with pytest.raises(ValueError, match=r"parameter '0.weight' is object \(1,\), expected float32 \(8, 4\)") as e:
        bk.load(write_members(tmp_path / "obj.npz", files))
    assert "allow_pickle" not in str(e.value)


def test_block_pickles_are_validated():
    from bricks.io import _unpickle_block

    lin = bk.Linear(3, 2, seed=0)
    fn, (spec, params) = lin.__reduce_ex__(2)
    assert np.array_equal(fn(spec, params).params["weight"], lin.params["weight"])
    bad = dict(params, weight=np.full((2, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="parameter 'weight' contains NaN"):
        _unpickle_block(spec, bad)
    with pytest.raises(ValueError, match=r"parameter 'weight' is float32 \(3, 2\), expected float32 \(2, 3\)"):
        _unpickle_block(spec, dict(params, weight=np.zeros((3, 2), np.float32)))
    with pytest.raises(ValueError, match=r"expected parameters \['bias', 'weight'\], got \['weight'\]"):
        _unpickle_block(spec, {"weight": params["weight"]})
