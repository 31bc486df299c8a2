"""bricks.datasets: toy generators, bundled digits/iris, train_test_split, IDX/MNIST.

Nothing here touches the network: an autouse fixture replaces urllib's urlopen with
one that fails the test, and the download tests serve synthetic files from memory.
The MNIST tests write their own tiny IDX files into tmp_path.
"""

import gzip
import hashlib
import io
import os
import urllib.error
import urllib.request

import numpy as np
import pytest

from bricks import datasets


class NetworkUsed(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise NetworkUsed(f"test tried to download: {args!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return calls


def check_xy(X, y, n, d):
    assert isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
    assert X.dtype == np.float32 and X.shape == (n, d) and X.flags.c_contiguous
    assert y.dtype == np.int64 and y.shape == (n,) and y.flags.c_contiguous
    assert np.isfinite(X).all()


# ---------------------------------------------------------------------------
# toy generators
# ---------------------------------------------------------------------------
def test_xor_is_the_truth_table():
    X, y = datasets.xor()
    check_xy(X, y, 4, 2)
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    np.testing.assert_array_equal(y, X[:, 0].astype(int) ^ X[:, 1].astype(int))


def test_xor_repeats_and_noise():
    X, y = datasets.xor(n_repeats=50, noise=0.1, seed=3)
    check_xy(X, y, 200, 2)
    corners = np.tile([[0, 0], [0, 1], [1, 0], [1, 1]], (50, 1))
    np.testing.assert_array_equal(y, np.tile([0, 1, 1, 0], 50))
    dev = X - corners
    assert 0.07 < dev.std() < 0.13 and np.abs(dev).max() < 0.7
    X2, y2 = datasets.xor(n_repeats=50, noise=0.1, seed=3)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, datasets.xor(n_repeats=50, noise=0.1, seed=4)[0])
    np.testing.assert_array_equal(datasets.xor(n_repeats=3)[0], corners[:12])


GENERATORS = {
    "two_moons": (datasets.two_moons, dict(n_samples=120, noise=0.1), 2),
    "spirals": (datasets.spirals, dict(n_samples=150, n_classes=3, noise=0.2), 2),
    "blobs": (datasets.blobs, dict(n_samples=90, centers=3, n_features=4), 4),
}


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_shapes_and_determinism(name):
    fn, kw, d = GENERATORS[name]
    n = kw["n_samples"]
    X, y = fn(**kw, seed=7)
    check_xy(X, y, n, d)
    X2, y2 = fn(**kw, seed=7)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, y3 = fn(**kw, seed=8)
    assert not np.array_equal(X, X3)
    Xg, yg = fn(**kw, seed=np.random.default_rng(7))  # a Generator is accepted too
    check_xy(Xg, yg, n, d)
    Xn, yn = fn(**kw)  # seed=None: fresh entropy
    check_xy(Xn, yn, n, d)
    # rows are shuffled: labels are not sorted in blocks
    assert (np.diff(y) != 0).sum() > 10


def test_two_moons_geometry_and_balance():
    X, y = datasets.two_moons(n_samples=201, noise=0.0, seed=0)
    check_xy(X, y, 201, 2)
    assert np.bincount(y).tolist() == [100, 101]
    up, lo = X[y == 0].astype(np.float64), X[y == 1].astype(np.float64)
    np.testing.assert_allclose(np.hypot(up[:, 0], up[:, 1]), 1.0, atol=1e-6)
    assert (up[:, 1] >= -1e-6).all()
    np.testing.assert_allclose(np.hypot(lo[:, 0] - 1.0, lo[:, 1] - 0.5), 1.0, atol=1e-6)
    assert (lo[:, 1] <= 0.5 + 1e-6).all()
    # noise moves points off the circles by about `noise`
    Xn, yn = datasets.two_moons(n_samples=2000, noise=0.1, seed=1)
    r = np.hypot(Xn[yn == 0, 0], Xn[yn == 0, 1])
    assert 0.05 < np.abs(r - 1).mean() < 0.15
    assert np.bincount(yn).tolist() == [1000, 1000]


def test_spirals_geometry_and_balance():
    X, y = datasets.spirals(n_samples=301, n_classes=3, noise=0.0, seed=0)
    check_xy(X, y, 301, 2)
    assert np.bincount(y).tolist() == [101, 100, 100]
    assert (np.hypot(X[:, 0], X[:, 1]) <= 1.0 + 1e-6).all()
    # without noise each arm is exactly angle = 2*pi*k/K + 4*r
    for k in range(3):
        P = X[y == k].astype(np.float64)
        r = np.hypot(P[:, 0], P[:, 1])
        far = r > 0.05
        angle = np.arctan2(P[far, 0], P[far, 1])
        want = 2 * np.pi * k / 3 + 4 * r[far]
        np.testing.assert_allclose(np.angle(np.exp(1j * (angle - want))), 0.0, atol=1e-4)
    X5, y5 = datasets.spirals(n_samples=50, n_classes=5, seed=1)
    check_xy(X5, y5, 50, 2)
    assert np.bincount(y5).tolist() == [10] * 5


def test_blobs_balance_centres_and_stds():
    X, y = datasets.blobs(n_samples=301, centers=3, n_features=2, seed=0)
    check_xy(X, y, 301, 2)
    assert np.bincount(y).tolist() == [101, 100, 100]
    assert (np.abs(X) < 10 + 6).all()

    C = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 0.0, -10.0]])
    X, y = datasets.blobs(n_samples=3000, centers=C, cluster_std=[0.5, 1.0, 2.0], seed=1)
    check_xy(X, y, 3000, 3)
    for k, s in enumerate([0.5, 1.0, 2.0]):
        P = X[y == k]
        np.testing.assert_allclose(P.mean(0), C[k], atol=0.25)
        assert abs((P - C[k]).std() - s) < 0.1 * s

    X0, y0 = datasets.blobs(n_samples=6, centers=[[1, 2], [3, 4]], cluster_std=0, seed=2)
    np.testing.assert_array_equal(X0, np.array([[1, 2], [3, 4]], np.float32)[y0])

    # far, tight clusters: every point is nearest to its own centre
    X, y = datasets.blobs(n_samples=200, centers=C, cluster_std=0.3, seed=3)
    nearest = np.argmin(((X[:, None, :] - C[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, y)


BAD_ARGS = [
    (datasets.xor, dict(n_repeats=0), ValueError, "xor.*n_repeats"),
    (datasets.xor, dict(noise=-0.5), ValueError, "xor.*noise"),
    (datasets.two_moons, dict(n_samples=0), ValueError, "two_moons.*n_samples"),
    (datasets.two_moons, dict(n_samples=10.0), TypeError, "two_moons.*n_samples"),
    (datasets.two_moons, dict(n_samples=True), TypeError, "two_moons.*n_samples"),
    (datasets.two_moons, dict(noise=-0.1), ValueError, "two_moons.*noise"),
    (datasets.two_moons, dict(noise=float("nan")), ValueError, "two_moons.*noise"),
    (datasets.two_moons, dict(noise="0.1"), TypeError, "two_moons.*noise"),
    (datasets.two_moons, dict(seed=-1), ValueError, "two_moons.*seed"),
    (datasets.two_moons, dict(seed=1.5), TypeError, "two_moons.*seed"),
    (datasets.spirals, dict(n_samples=0), ValueError, "spirals.*n_samples"),
    (datasets.spirals, dict(n_classes=1), ValueError, "spirals.*n_classes"),
    (datasets.spirals, dict(n_samples=2, n_classes=3), ValueError, "spirals.*n_samples"),
    (datasets.spirals, dict(noise=-1), ValueError, "spirals.*noise"),
    (datasets.blobs, dict(n_samples=-3), ValueError, "blobs.*n_samples"),
    (datasets.blobs, dict(centers=0), ValueError, "blobs.*centers"),
    (datasets.blobs, dict(centers="three"), TypeError, "blobs.*centers"),
    (datasets.blobs, dict(centers=[1.0, 2.0]), ValueError, "blobs.*centers"),
    (datasets.blobs, dict(n_features=0), ValueError, "blobs.*n_features"),
    (datasets.blobs, dict(cluster_std=-1.0), ValueError, "blobs.*cluster_std"),
    (datasets.blobs, dict(centers=3, cluster_std=[1.0, 2.0]), ValueError, "blobs.*cluster_std"),
    (datasets.blobs, dict(cluster_std=None), TypeError, "blobs.*cluster_std"),
]


@pytest.mark.parametrize("fn,kwargs,exc,match", BAD_ARGS, ids=[f"{f.__name__}-{k}" for f, k, *_ in BAD_ARGS])
def test_generators_reject_bad_arguments(fn, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(**kwargs)


# ---------------------------------------------------------------------------
# bundled data
# ---------------------------------------------------------------------------
def test_bundled_files_are_small_and_present():
    data_dir = os.path.join(os.path.dirname(datasets.__file__), "data")
    for name in ("digits.npz", "iris.npz", "README.md"):
        assert os.path.isfile(os.path.join(data_dir, name)), name
    assert os.path.getsize(os.path.join(data_dir, "digits.npz")) < 100_000
    assert os.path.getsize(os.path.join(data_dir, "iris.npz")) < 10_000


def test_digits():
    X, y = datasets.digits()
    check_xy(X, y, 1797, 64)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X * 16, np.round(X * 16))  # counts 0..16 divided by 16
    assert sorted(set(y.tolist())) == list(range(10))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]
    np.testing.assert_array_equal(X[0, :16] * 16, first)
    assert y[:10].tolist() == list(range(10)) and y[-1] == 8
    assert int(round(float((X.astype(np.float64) * 16).sum()))) == 561718

    images, y2 = datasets.digits(return_images=True)
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32 and images.flags.c_contiguous
    np.testing.assert_array_equal(images.reshape(1797, 64), X)
    np.testing.assert_array_equal(y2, y)

    X[:] = -1  # every call gives fresh arrays
    assert datasets.digits()[0].min() == 0.0
    with pytest.raises(TypeError, match="digits.*return_images"):
        datasets.digits(return_images="yes")


def test_iris():
    X, y = datasets.iris()
    check_xy(X, y, 150, 4)
    assert np.bincount(y).tolist() == [50, 50, 50]
    np.testing.assert_array_equal(y, np.repeat([0, 1, 2], 50))
    np.testing.assert_array_equal(X[0], np.array([5.1, 3.5, 1.4, 0.2], np.float32))
    np.testing.assert_array_equal(X[-1], np.array([5.9, 3.0, 5.1, 1.8], np.float32))
    np.testing.assert_allclose(X.astype(np.float64).sum(0), [876.5, 458.6, 563.7, 179.9], atol=1e-3)
    np.testing.assert_allclose(X.min(0), [4.3, 2.0, 1.0, 0.1], rtol=1e-6)
    np.testing.assert_allclose(X.max(0), [7.9, 4.4, 6.9, 2.5], rtol=1e-6)
    # setosa is separable by petal length alone
    assert X[y == 0, 2].max() < X[y != 0, 2].min()
    assert len(datasets.IRIS_FEATURE_NAMES) == 4 and datasets.IRIS_TARGET_NAMES[0] == "setosa"


# ---------------------------------------------------------------------------
# train_test_split
# ---------------------------------------------------------------------------
def _indexed(n):
    X = np.stack([np.arange(n), -np.arange(n)], axis=1).astype(np.float32)
    y = np.arange(n, dtype=np.int64)
    return X, y


@pytest.mark.parametrize("n,test_size,n_test", [(100, 0.2, 20), (10, 0.25, 3), (10, 7, 7), (2, 0.5, 1), (5, 0.01, 1)])
def test_split_sizes_and_pairing(n, test_size, n_test):
    X, y = _indexed(n)
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, test_size=test_size, seed=0)
    assert Xte.shape == (n_test, 2) and Xtr.shape == (n - n_test, 2)
    assert ytr.shape == (n - n_test,) and yte.shape == (n_test,)
    assert Xtr.dtype == np.float32 and ytr.dtype == np.int64
    np.testing.assert_array_equal(Xtr[:, 0], ytr)  # rows stay with their labels
    np.testing.assert_array_equal(Xte[:, 1], -yte)
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(n))  # a partition


def test_split_deterministic_given_seed():
    X, y = _indexed(50)
    a = datasets.train_test_split(X, y, seed=5)
    b = datasets.train_test_split(X, y, seed=5)
    c = datasets.train_test_split(X, y, seed=6)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])
    # shuffled, not a contiguous slice
    assert not np.array_equal(np.sort(a[3]), np.arange(a[3].min(), a[3].min() + 10))
    s1 = datasets.train_test_split(X, y, seed=5, stratify=True)
    s2 = datasets.train_test_split(X, y, seed=5, stratify=True)
    for u, v in zip(s1, s2):
        np.testing.assert_array_equal(u, v)


def test_split_stratified():
    X, y = datasets.iris()
    Xtr, Xte, ytr, yte = datasets.train_test_split(X, y, test_size=0.2, seed=1, stratify=True)
    assert np.bincount(yte).tolist() == [10, 10, 10]
    assert np.bincount(ytr).tolist() == [40, 40, 40]
    assert len(np.unique(np.vstack([Xtr, Xte]), axis=0)) == len(np.unique(X, axis=0))

    y = np.array([0] * 90 + [1] * 10)
    X = np.arange(100, dtype=np.float64)[:, None]
    for seed in range(5):
        _, Xte, _, yte = datasets.train_test_split(X, y, test_size=0.2, seed=seed, stratify=True)
        assert np.bincount(yte, minlength=2).tolist() == [18, 2]
        np.testing.assert_array_equal(y[Xte[:, 0].astype(int)], yte)

    # proportions that do not divide evenly: totals stay exact, each class within one of ideal
    y = np.repeat([3, 7, 9], 7)
    X = np.arange(21)[:, None]
    _, _, ytr, yte = datasets.train_test_split(X, y, test_size=0.5, seed=2, stratify=True)
    assert len(yte) == 11 and len(ytr) == 10
    counts = [int((yte == c).sum()) for c in (3, 7, 9)]
    assert sorted(counts) == [3, 4, 4]
    # non-stratified splits of imbalanced data are not forced to the proportions
    y = np.array([0] * 90 + [1] * 10)
    ones = {int(datasets.train_test_split(np.zeros((100, 1)), y, seed=s)[3].sum()) for s in range(20)}
    assert len(ones) > 1


def test_split_keeps_extra_dimensions():
    images, y = datasets.digits(return_images=True)
    Xtr, Xte, ytr, yte = datasets.train_test_split(images, y, test_size=0.1, seed=0, stratify=True)
    assert Xtr.shape[1:] == (8, 8) and len(Xte) == 180 and len(Xtr) == 1617
    assert set(yte.tolist()) == set(range(10))


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(test_size=0.0), ValueError, "test_size"),
        (dict(test_size=1.0), ValueError, "test_size"),
        (dict(test_size=1.5), ValueError, "test_size"),
        (dict(test_size=0), ValueError, "test_size"),
        (dict(test_size=10), ValueError, "test_size"),
        (dict(test_size=-2), ValueError, "test_size"),
        (dict(test_size=True), TypeError, "test_size"),
        (dict(test_size="0.2"), TypeError, "test_size"),
        (dict(test_size=0.999), ValueError, "test_size"),
        (dict(stratify="yes"), TypeError, "stratify"),
        (dict(seed="a"), TypeError, "seed"),
    ],
)
def test_split_rejects_bad_arguments(kwargs, exc, match):
    X, y = _indexed(10)
    with pytest.raises(exc, match="train_test_split.*" + match):
        datasets.train_test_split(X, y, **kwargs)


def test_split_rejects_bad_shapes():
    X, y = _indexed(10)
    with pytest.raises(ValueError, match="train_test_split.*rows"):
        datasets.train_test_split(X, y[:9])
    with pytest.raises(ValueError, match="train_test_split.*y must be 1-D"):
        datasets.train_test_split(X, y[:, None])
    with pytest.raises(ValueError, match="train_test_split.*at least 2"):
        datasets.train_test_split(X[:1], y[:1])


# ---------------------------------------------------------------------------
# IDX reader
# ---------------------------------------------------------------------------
IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr, code=None, magic=None, extra=b"", cut=0):
    """The IDX encoding of arr (big-endian), optionally with a forced magic, extra
    trailing bytes, or the last `cut` bytes removed."""
    arr = np.asarray(arr)
    if code is None:
        code = IDX_CODES[arr.dtype.type]
    if magic is None:
        magic = (code << 8) | arr.ndim
    head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    body = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    out = head + body + extra
    return out[: len(out) - cut] if cut else out


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_read_idx_known_bytes(tmp_path):
    # header: int32, 1 dimension of size 2; then big-endian 1 and -2
    raw = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFE])
    a = datasets.read_idx(write(tmp_path / "x.idx", raw))
    assert a.dtype == np.int32 and a.shape == (2,)
    assert a.tolist() == [1, -2]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("dtype", list(IDX_CODES), ids=lambda t: t.__name__)
def test_read_idx_roundtrip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    for shape in [(7,), (3, 5), (2, 3, 4), (2, 1, 2, 3)]:
        if info is not None:
            a = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
        else:
            a = rng.standard_normal(shape).astype(dtype) * 1e3
        p = write(tmp_path / f"a{len(shape)}.idx{'.gz' if gz else ''}", idx_bytes(a), gz)
        b = datasets.read_idx(p)
        assert b.dtype == np.dtype(dtype) and b.dtype.isnative and b.shape == shape
        assert b.flags.writeable and b.flags.c_contiguous
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, datasets.read_idx(str(p)))


def test_read_idx_detects_gzip_by_content(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    p = write(tmp_path / "no-suffix-but-gzip", idx_bytes(a), gz=True)
    np.testing.assert_array_equal(datasets.read_idx(p), a)
    empty = write(tmp_path / "empty.idx", idx_bytes(np.zeros((0, 4), np.uint8)))
    assert datasets.read_idx(empty).shape == (0, 4)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_read_idx_errors(tmp_path, gz):
    a = np.arange(24, dtype=np.int16).reshape(4, 6)  # 48 data bytes

    def bad(name, data):
        return write(tmp_path / name, data, gz)

    p = bad("trunc.idx", idx_bytes(a, cut=4))
    with pytest.raises(ValueError, match=r"trunc\.idx.*truncated.*\(4, 6\).*48 data bytes.*found only 44"):
        datasets.read_idx(p)
    p = bad("over.idx", idx_bytes(a, extra=b"\0\1\2"))
    with pytest.raises(ValueError, match=r"over\.idx.*oversized.*48 data bytes.*found 51"):
        datasets.read_idx(p)
    p = bad("magic.idx", idx_bytes(a, magic=0x01000B02))
    with pytest.raises(ValueError, match=r"magic\.idx.*not an IDX file.*0x01000B02"):
        datasets.read_idx(p)
    p = bad("type.idx", idx_bytes(a, magic=0x00000A02))
    with pytest.raises(ValueError, match=r"type\.idx.*0x00000A02"):
        datasets.read_idx(p)
    p = bad("header.idx", idx_bytes(a)[:10])
    with pytest.raises(ValueError, match=r"header\.idx.*truncated header.*expected 8.*found 6"):
        datasets.read_idx(p)
    p = bad("tiny.idx", b"\0\0")
    with pytest.raises(ValueError, match=r"tiny\.idx.*too short"):
        datasets.read_idx(p)
    p = bad("huge.idx", (0x0803).to_bytes(4, "big") + (2**31).to_bytes(4, "big") * 3 + b"\0" * 10)
    with pytest.raises(ValueError, match=r"huge\.idx.*truncated.*found only 10"):
        datasets.read_idx(p)


def test_read_idx_damaged_gzip_and_missing(tmp_path):
    a = np.arange(3000, dtype=np.int32)
    blob = gzip.compress(idx_bytes(a))
    p = tmp_path / "cut.gz"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz.*gzip"):
        datasets.read_idx(p)
    with pytest.raises(FileNotFoundError):
        datasets.read_idx(tmp_path / "nope.idx")
    with pytest.raises(TypeError, match="read_idx.*path"):
        datasets.read_idx(123)


# ---------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------
NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def fake_mnist(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def write_mnist(directory, kind, n, seed=0, gz=(False, False)):
    images, labels = fake_mnist(n, seed)
    img_name, lab_name = NAMES[kind]
    write(directory / (img_name + (".gz" if gz[0] else "")), idx_bytes(images), gz[0])
    write(directory / (lab_name + (".gz" if gz[1] else "")), idx_bytes(labels), gz[1])
    return images, labels


@pytest.mark.parametrize("gz", [(False, False), (True, True), (True, False)], ids=["plain", "gzip", "mixed"])
def test_mnist_reads_synthetic_files(tmp_path, gz, no_network):
    tr_images, tr_labels = write_mnist(tmp_path, "train", 12, seed=1, gz=gz)
    te_images, te_labels = write_mnist(tmp_path, "test", 5, seed=2, gz=gz)
    X, y = datasets.mnist(tmp_path)
    check_xy(X, y, 12, 784)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X, tr_images.reshape(12, 784).astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(y, tr_labels)
    Xr, yr = datasets.mnist(str(tmp_path), kind="test", normalize=False)
    assert Xr.dtype == np.uint8 and Xr.shape == (5, 784) and Xr.flags.c_contiguous
    np.testing.assert_array_equal(Xr, te_images.reshape(5, 784))
    assert yr.dtype == np.int64 and yr.tolist() == [0, 1, 2, 3, 4]
    assert no_network == []


def test_mnist_never_downloads_when_files_exist(tmp_path, no_network):
    write_mnist(tmp_path, "train", 4, gz=(True, True))
    X, y = datasets.mnist(tmp_path, kind="train", download=True)
    assert X.shape == (4, 784)
    assert no_network == []
    assert sorted(os.listdir(tmp_path)) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_mnist_missing_files(tmp_path, no_network):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*download=True"):
        datasets.mnist(tmp_path)
    write_mnist(tmp_path, "train", 3)
    os.remove(tmp_path / NAMES["train"][1])
    with pytest.raises(FileNotFoundError) as info:
        datasets.mnist(tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "train-labels-idx1-ubyte") in msg and "download=True" in msg
    assert "train-images" not in msg
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        datasets.mnist(tmp_path, kind="test")
    with pytest.raises(FileNotFoundError):
        datasets.mnist(tmp_path / "does-not-exist")
    assert no_network == []


def test_mnist_validates_files(tmp_path):
    images, labels = fake_mnist(6, 0)
    img, lab = NAMES["train"]

    def setup(img_data, lab_data):
        write(tmp_path / img, img_data)
        write(tmp_path / lab, lab_data)

    setup(idx_bytes(labels), idx_bytes(labels))  # labels where images belong
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*0x00000801.*expected 0x00000803"):
        datasets.mnist(tmp_path)
    setup(idx_bytes(images), idx_bytes(images))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*0x00000803.*expected 0x00000801"):
        datasets.mnist(tmp_path)
    setup(idx_bytes(images.astype(np.int32)), idx_bytes(labels))  # right rank, wrong type
    with pytest.raises(ValueError, match=r"0x00000C03.*expected 0x00000803"):
        datasets.mnist(tmp_path)
    setup(idx_bytes(images, cut=100), idx_bytes(labels))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte.*truncated.*4704 data bytes.*found only 4604"):
        datasets.mnist(tmp_path)
    setup(idx_bytes(images), idx_bytes(labels, extra=b"\x01"))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*oversized.*6 data bytes.*found 7"):
        datasets.mnist(tmp_path)
    setup(idx_bytes(images), idx_bytes(labels[:5]))
    with pytest.raises(ValueError, match=r"counts disagree.*6 images.*5 labels"):
        datasets.mnist(tmp_path)
    setup(idx_bytes(images[:, :27, :]), idx_bytes(labels))
    with pytest.raises(ValueError, match=r"28x28.*27x28"):
        datasets.mnist(tmp_path)
    setup(idx_bytes(images), idx_bytes(labels + 5))
    with pytest.raises(ValueError, match=r"labels must be 0\.\.9"):
        datasets.mnist(tmp_path)
    # a truncated .gz file is caught the same way
    os.remove(tmp_path / img)
    write(tmp_path / (img + ".gz"), idx_bytes(images, cut=1), gz=True)
    write(tmp_path / lab, idx_bytes(labels))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz.*truncated.*found only 4703"):
        datasets.mnist(tmp_path)


def test_mnist_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="mnist.*kind"):
        datasets.mnist(tmp_path, kind="validation")
    with pytest.raises(TypeError, match="mnist.*path"):
        datasets.mnist(None)
    with pytest.raises(TypeError, match="mnist.*download"):
        datasets.mnist(tmp_path, download="yes")
    with pytest.raises(TypeError, match="mnist.*normalize"):
        datasets.mnist(tmp_path, normalize=1)
    f = tmp_path / "file"
    f.write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="mnist"):
        datasets.mnist(f)


# -- download, served from memory ------------------------------------------------
class FakeServer:
    """Stands in for urllib.request.urlopen: serves `files` (URL -> bytes); any other
    URL fails like an unreachable host. Records every URL asked for."""

    def __init__(self, files):
        self.files = files
        self.requested = []

    def __call__(self, request, timeout=None):
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        self.requested.append(url)
        assert timeout is not None and timeout > 0
        if url not in self.files:
            raise urllib.error.URLError(f"unreachable: {url}")
        return io.BytesIO(self.files[url])


def synthetic_contents():
    contents = {}
    for kind, n, seed in (("train", 7, 1), ("test", 3, 2)):
        images, labels = fake_mnist(n, seed)
        contents[NAMES[kind][0]] = idx_bytes(images)
        contents[NAMES[kind][1]] = idx_bytes(labels)
    return contents


@pytest.fixture
def synthetic_canon(monkeypatch):
    """Synthetic MNIST files, with the md5 table patched to match them (the real sums
    are those of the real files, which tests never fetch)."""
    contents = synthetic_contents()
    md5 = {name: hashlib.md5(data).hexdigest() for name, data in contents.items()}
    monkeypatch.setattr(datasets, "_MNIST_MD5", md5)
    return contents


def test_canonical_md5_table():
    assert datasets._MNIST_MD5 == {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
    assert datasets.MNIST_MIRRORS[0].startswith("https://") and len(datasets.MNIST_MIRRORS) >= 2


def test_download_fetches_verifies_and_places_files(tmp_path, monkeypatch, synthetic_canon):
    m0, m1 = datasets.MNIST_MIRRORS[:2]
    served = {m1 + name + ".gz": gzip.compress(data) for name, data in synthetic_canon.items()}
    server = FakeServer(served)  # first mirror is down: falls back to the second
    monkeypatch.setattr(urllib.request, "urlopen", server)
    target = tmp_path / "new" / "mnist"
    X, y = datasets.mnist(target, kind="train", download=True)
    check_xy(X, y, 7, 784)
    assert server.requested == [
        m0 + "train-images-idx3-ubyte.gz",
        m1 + "train-images-idx3-ubyte.gz",
        m0 + "train-labels-idx1-ubyte.gz",
        m1 + "train-labels-idx1-ubyte.gz",
    ]
    assert sorted(os.listdir(target)) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert (
        gzip.decompress((target / "train-images-idx3-ubyte.gz").read_bytes())
        == synthetic_canon["train-images-idx3-ubyte"]
    )
    # second call: nothing is fetched again
    server.requested.clear()
    X2, _ = datasets.mnist(target, kind="train", download=True)
    np.testing.assert_array_equal(X, X2)
    assert server.requested == []


def test_download_only_missing_files(tmp_path, monkeypatch, synthetic_canon):
    m0 = datasets.MNIST_MIRRORS[0]
    write(tmp_path / "t10k-images-idx3-ubyte", synthetic_canon["t10k-images-idx3-ubyte"])
    server = FakeServer({m0 + "t10k-labels-idx1-ubyte.gz": gzip.compress(synthetic_canon["t10k-labels-idx1-ubyte"])})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    X, y = datasets.mnist(tmp_path, kind="test", download=True)
    check_xy(X, y, 3, 784)
    assert server.requested == [m0 + "t10k-labels-idx1-ubyte.gz"]


def test_download_md5_mismatch_deletes_and_raises(tmp_path, monkeypatch, synthetic_canon):
    bad = bytearray(synthetic_canon["train-images-idx3-ubyte"])
    bad[-1] ^= 0xFF  # one flipped pixel: still a valid IDX file, wrong checksum
    server = FakeServer({m + "train-images-idx3-ubyte.gz": gzip.compress(bytes(bad)) for m in datasets.MNIST_MIRRORS})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    with pytest.raises(
        OSError, match=r"train-images-idx3-ubyte.*md5.*expected " + datasets._MNIST_MD5["train-images-idx3-ubyte"]
    ):
        datasets.mnist(tmp_path, download=True)
    assert os.listdir(tmp_path) == []  # neither the file nor a temporary is left behind
    assert len(server.requested) == len(datasets.MNIST_MIRRORS)


def test_download_real_checksums_reject_other_content(tmp_path, monkeypatch):
    contents = synthetic_contents()  # the real md5 table is in force here
    monkeypatch.setattr(
        urllib.request,
        "urlopen",
        FakeServer(
            {
                m + "t10k-labels-idx1-ubyte.gz": gzip.compress(contents["t10k-labels-idx1-ubyte"])
                for m in datasets.MNIST_MIRRORS
            }
        ),
    )
    write(tmp_path / "t10k-images-idx3-ubyte", contents["t10k-images-idx3-ubyte"])
    with pytest.raises(OSError, match="27ae3e4e09519cfbb04c329615203637"):
        datasets.mnist(tmp_path, kind="test", download=True)
    assert os.listdir(tmp_path) == ["t10k-images-idx3-ubyte"]


def test_download_rejects_non_gzip_and_unreachable(tmp_path, monkeypatch, synthetic_canon):
    m0 = datasets.MNIST_MIRRORS[0]
    server = FakeServer({m0 + "train-images-idx3-ubyte.gz": b"<html>not found</html>"})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    with pytest.raises(OSError, match=r"not a valid gzip.*unreachable"):
        datasets.mnist(tmp_path, download=True)
    assert os.listdir(tmp_path) == []
