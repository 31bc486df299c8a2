"""Data sets for the lectures: toy generators, two small bundled real data sets, a
train/test splitter, and an MNIST (IDX format) reader.

Everything returns NumPy arrays: features ``X`` as a C-contiguous float32 matrix of
shape (N, D) and labels ``y`` as an int64 vector of shape (N,), ready for
``bk.Linear`` and ``bk.CrossEntropyLoss``.

Toy generators (seedable: ``seed=`` an int, a ``numpy.random.Generator`` or None;
``random_state=``, scikit-learn's name, is an alias of it; ``make_moons`` and
``make_blobs`` are scikit-learn's names for ``two_moons`` and ``blobs``)::

    X, y = bk.datasets.xor()                       # (4, 2), the XOR truth table
    X, y = bk.datasets.two_moons(200, noise=0.1, seed=0)
    X, y = bk.datasets.spirals(300, n_classes=3, seed=0)
    X, y = bk.datasets.blobs(300, centers=3, seed=0)

Bundled real data (shipped inside the package, no download; see ``data/README.md``)::

    X, y = bk.datasets.digits()                    # (1797, 64) in [0, 1], 10 classes
    X, y = bk.datasets.iris()                      # (150, 4), 3 classes

MNIST from the standard IDX files (plain or .gz)::

    X, y = bk.datasets.mnist("~/data/mnist", kind="train", download=True)

This module uses only NumPy and the standard library (it does not touch the
native core).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import numbers
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from . import _checks

__all__ = [
    "xor",
    "two_moons",
    "spirals",
    "blobs",
    "digits",
    "iris",
    "train_test_split",
    "make_moons",
    "make_blobs",
    "mnist",
    "read_idx",
    "IRIS_FEATURE_NAMES",
    "IRIS_TARGET_NAMES",
]

IRIS_FEATURE_NAMES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")
IRIS_TARGET_NAMES = ("setosa", "versicolor", "virginica")


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------
def _rng(who: str, seed) -> np.random.Generator:
    """numpy.random.default_rng(seed) for None, a non-negative int, or a Generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if not _checks.is_int(seed):
        raise TypeError(f"{who}: seed must be an int, a numpy.random.Generator or None, got {type(seed).__name__}")
    return np.random.default_rng(_checks.seed(seed, who, negative=False))


def _seed_or_random_state(who: str, seed, random_state):
    """``random_state=`` (scikit-learn's name) is an alias of ``seed=``; giving both is an error."""
    if random_state is None:
        return seed
    if seed is not None:
        raise TypeError(
            f"{who}: got both seed={seed!r} and random_state={random_state!r}; "
            "random_state is scikit-learn's name for seed: pass one of them"
        )
    return random_state


def _finish(X, y, rng: np.random.Generator | None = None):
    """float32 C-contiguous X, int64 y; shuffled together when rng is given."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if rng is not None:
        order = rng.permutation(len(y))
        X, y = X[order], y[order]
    return np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64)


def _split_evenly(n: int, k: int) -> list[int]:
    """n items into k groups whose sizes differ by at most one (larger groups first)."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


# ---------------------------------------------------------------------------
# toy generators
# ---------------------------------------------------------------------------
def xor(n_repeats: int = 1, noise: float = 0.0, seed=None, *, random_state=None):
    """The XOR problem: the four corners of the unit square, labelled x1 xor x2.

    Returns ``(X, y)``: X float32 of shape (4 * n_repeats, 2) with rows
    (0, 0), (0, 1), (1, 0), (1, 1) repeated ``n_repeats`` times in that order, and
    y int64 of shape (4 * n_repeats,) with values 0, 1, 1, 0 (repeated). When
    ``noise > 0`` Gaussian noise with that standard deviation is added to X (drawn
    from ``numpy.random.default_rng(seed)``); labels stay those of the corners.
    With the defaults the result is exactly the truth table. Classes are balanced.
    """
    who = "xor"
    n_repeats = _checks.integer(n_repeats, who, "n_repeats", low=1)
    noise = _checks.non_negative_float(noise, who, "noise")
    rng = _rng(who, _seed_or_random_state(who, seed, random_state))
    X = np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64), (n_repeats, 1))
    y = np.tile(np.array([0, 1, 1, 0], dtype=np.int64), n_repeats)
    if noise > 0:
        X = X + rng.normal(0.0, noise, size=X.shape)
    return _finish(X, y)


def two_moons(n_samples: int = 200, noise: float = 0.1, seed=None, *, random_state=None):
    """Two interleaving half circles (a classic non-linearly-separable problem).

    Class 0 is the upper half circle of radius 1 centred at (0, 0); class 1 the
    lower half circle centred at (1, 0.5). Points are evenly spaced in angle, then
    Gaussian noise of standard deviation ``noise`` is added to both coordinates and
    the rows are shuffled (``numpy.random.default_rng(seed)``).

    Returns ``(X, y)``: X float32 (n_samples, 2), y int64 (n_samples,) in {0, 1};
    class sizes are ``n_samples // 2`` and ``n_samples - n_samples // 2``.
    """
    who = "two_moons"
    n_samples = _checks.integer(n_samples, who, "n_samples", low=2)
    noise = _checks.non_negative_float(noise, who, "noise")
    rng = _rng(who, _seed_or_random_state(who, seed, random_state))
    n_upper, n_lower = n_samples // 2, n_samples - n_samples // 2
    t_up = np.linspace(0.0, np.pi, n_upper)
    t_lo = np.linspace(0.0, np.pi, n_lower)
    upper = np.column_stack([np.cos(t_up), np.sin(t_up)])
    lower = np.column_stack([1.0 - np.cos(t_lo), 0.5 - np.sin(t_lo)])
    X = np.vstack([upper, lower])
    y = np.concatenate([np.zeros(n_upper, np.int64), np.ones(n_lower, np.int64)])
    if noise > 0:
        X = X + rng.normal(0.0, noise, size=X.shape)
    return _finish(X, y, rng)


def spirals(n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, seed=None, *, random_state=None):
    """Interleaved spiral arms, one per class (the CS231n spiral data set).

    Arm k has points at radius r evenly spaced in [0, 1] and angle
    ``2*pi*k/n_classes + 4*r + noise * N(0, 1)`` (the noise is in radians, so it
    blurs the arms along the circle without blowing up the centre), at
    ``(r*sin(angle), r*cos(angle))``. Rows are shuffled; all randomness comes from
    ``numpy.random.default_rng(seed)``.

    Returns ``(X, y)``: X float32 (n_samples, 2) inside the unit disc, y int64
    (n_samples,) in ``0 .. n_classes-1``; class sizes differ by at most one.
    """
    who = "spirals"
    n_classes = _checks.integer(n_classes, who, "n_classes", low=2)
    n_samples = _checks.integer(n_samples, who, "n_samples", low=1)
    if n_samples < n_classes:
        raise ValueError(
            f"{who}: n_samples must be >= n_classes ({n_classes}) so every class has a point, got {n_samples}"
        )
    noise = _checks.non_negative_float(noise, who, "noise")
    rng = _rng(who, _seed_or_random_state(who, seed, random_state))
    Xs, ys = [], []
    for k, n in enumerate(_split_evenly(n_samples, n_classes)):
        r = np.linspace(0.0, 1.0, n)
        angle = 2.0 * np.pi * k / n_classes + 4.0 * r + noise * rng.standard_normal(n)
        Xs.append(np.column_stack([r * np.sin(angle), r * np.cos(angle)]))
        ys.append(np.full(n, k, dtype=np.int64))
    return _finish(np.vstack(Xs), np.concatenate(ys), rng)


def blobs(n_samples: int = 300, centers=3, n_features: int = 2, cluster_std=1.0, seed=None, *, random_state=None):
    """Isotropic Gaussian clusters.

    ``centers`` is either the number of clusters (their centres are then drawn
    uniformly from the box [-10, 10]^n_features) or an array of shape
    (n_centers, D) giving the centres (then D is taken from it and ``n_features``
    is ignored). ``cluster_std`` is one standard deviation for all clusters or a
    sequence with one per cluster. Points are split over the clusters as evenly as
    possible (sizes differ by at most one) and the rows are shuffled; all randomness
    comes from ``numpy.random.default_rng(seed)``.

    Returns ``(X, y)``: X float32 (n_samples, D), y int64 (n_samples,) holding the
    index of each point's cluster.
    """
    who = "blobs"
    n_samples = _checks.integer(n_samples, who, "n_samples", low=1)
    rng = _rng(who, _seed_or_random_state(who, seed, random_state))
    if _checks.is_int(centers):
        k = _checks.integer(centers, who, "centers", low=1)
        d = _checks.integer(n_features, who, "n_features", low=1)
        C = rng.uniform(-10.0, 10.0, size=(k, d))
    elif isinstance(centers, (bool, str, bytes)) or centers is None or isinstance(centers, numbers.Number):
        raise TypeError(
            f"{who}: centers must be an int or an array of shape (n_centers, n_features), got {type(centers).__name__}"
        )
    else:
        C = np.asarray(centers)
        if C.dtype.kind not in "fiu":
            raise TypeError(f"{who}: centers must be a real numeric array, got dtype {C.dtype}")
        C = C.astype(np.float64)
        if C.ndim != 2 or C.shape[0] < 1 or C.shape[1] < 1:
            raise ValueError(f"{who}: centers must have shape (n_centers, n_features), got shape {C.shape}")
        if not np.isfinite(C).all():
            raise ValueError(f"{who}: centers must be finite")
        k = C.shape[0]
    if _checks.is_number(cluster_std):
        stds = np.full(k, _checks.non_negative_float(cluster_std, who, "cluster_std"))
    else:
        if isinstance(cluster_std, (bool, str, bytes)) or cluster_std is None:
            raise TypeError(
                f"{who}: cluster_std must be a number or a sequence of numbers, got {type(cluster_std).__name__}"
            )
        stds = np.asarray(cluster_std)
        if stds.dtype.kind not in "fiu":
            raise TypeError(f"{who}: cluster_std must be real numbers, got dtype {stds.dtype}")
        stds = stds.astype(np.float64)
        if stds.shape != (k,):
            raise ValueError(
                f"{who}: cluster_std must be a number or have one entry per center ({k}), got shape {stds.shape}"
            )
        if not np.isfinite(stds).all() or (stds < 0).any():
            raise ValueError(f"{who}: cluster_std must be finite and >= 0, got {stds.tolist()}")
    Xs, ys = [], []
    for i, n in enumerate(_split_evenly(n_samples, k)):
        Xs.append(C[i] + stds[i] * rng.standard_normal((n, C.shape[1])))
        ys.append(np.full(n, i, dtype=np.int64))
    return _finish(np.vstack(Xs), np.concatenate(ys), rng)


# -- scikit-learn's names (sklearn.datasets.make_*), with scikit-learn's defaults --
def make_moons(n_samples: int = 100, *, noise=None, random_state=None):
    """scikit-learn's ``make_moons`` name for `two_moons`, with its defaults
    (``n_samples=100``, ``noise=None`` meaning none, ``random_state=``).

    The same two half circles as scikit-learn's (class 0 upper, centred at (0, 0);
    class 1 lower, centred at (1, 0.5)) and the same class sizes; the rows are
    shuffled, and for a given ``random_state`` the numbers differ from scikit-learn's
    (another random generator). Returns ``(X, y)`` as float32 and int64.
    """
    return two_moons(n_samples, 0.0 if noise is None else noise, random_state=random_state)


def make_blobs(n_samples: int = 100, n_features: int = 2, *, centers=None, cluster_std=1.0, random_state=None):
    """scikit-learn's ``make_blobs`` name for `blobs`, with its defaults
    (``n_samples=100``, ``centers=None`` meaning 3 centres drawn in [-10, 10]^D).

    Differences from scikit-learn: ``n_samples`` is an int only (no per-cluster
    list), ``center_box`` and ``return_centers`` are not taken, and for a given
    ``random_state`` the numbers differ (another random generator). Returns
    ``(X, y)`` as float32 and int64.
    """
    return blobs(n_samples, 3 if centers is None else centers, n_features, cluster_std, random_state=random_state)


# ---------------------------------------------------------------------------
# bundled data
# ---------------------------------------------------------------------------
def _data_bytes(name: str) -> bytes:
    """Bytes of a file in bricks/data (importlib.resources; works from wheels and zips)."""
    if __package__:
        from importlib.resources import files

        resource = files(__package__) / "data" / name
    else:  # loaded as a plain file, not as part of the package
        resource = Path(__file__).resolve().parent / "data" / name
    try:
        return resource.read_bytes()
    except FileNotFoundError as e:
        raise FileNotFoundError(
            f"bricks.datasets: bundled data file data/{name} is missing from the installed package"
        ) from e


def _load_npz(name: str) -> dict:
    with np.load(io.BytesIO(_data_bytes(name)), allow_pickle=False) as z:
        return {key: z[key] for key in z.files}


def digits(return_images: bool = False):
    """The UCI optical-recognition handwritten digits (the "8x8 digits"), bundled.

    1797 images of 8x8 pixels, each pixel a count 0..16 of set pixels in a 4x4
    block of the original 32x32 bitmap, 10 classes (digits 0..9, 174 to 183 per
    class). Source: UCI Machine Learning Repository, "Optical Recognition of
    Handwritten Digits" (Alpaydin & Kaynak, 1998; CC BY 4.0), the test-set copy
    shipped with scikit-learn (BSD-3). See ``bricks/data/README.md``.

    Returns ``(X, y)``: X float32 of shape (1797, 64) (row-major 8x8 pixels), or
    (1797, 8, 8) when ``return_images=True``, scaled to [0, 1] by dividing by 16;
    y int64 of shape (1797,) with values 0..9. Fresh arrays on every call.
    """
    return_images = _checks.boolean(return_images, "digits", "return_images")
    z = _load_npz("digits.npz")
    images, labels = z["images"], z["labels"]
    if images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise RuntimeError(f"bricks.datasets: bundled digits.npz is damaged (shapes {images.shape}, {labels.shape})")
    X = images.astype(np.float32) / np.float32(16.0)
    if not return_images:
        X = X.reshape(len(X), 64)
    return np.ascontiguousarray(X), labels.astype(np.int64)


def iris():
    """Fisher's iris flowers, bundled.

    150 samples, 4 features in cm (``IRIS_FEATURE_NAMES``: sepal length, sepal
    width, petal length, petal width), 3 classes of 50 (``IRIS_TARGET_NAMES``:
    0 setosa, 1 versicolor, 2 virginica), in the original order (sorted by class).
    Source: UCI Machine Learning Repository "Iris" (Fisher, 1936; CC BY 4.0), the
    copy shipped with scikit-learn (BSD-3). See ``bricks/data/README.md``.

    Returns ``(X, y)``: X float32 of shape (150, 4) (raw measurements, not
    scaled), y int64 of shape (150,) with values 0..2. Fresh arrays on every call.
    """
    z = _load_npz("iris.npz")
    X, y = z["data"], z["target"]
    if X.shape != (150, 4) or y.shape != (150,):
        raise RuntimeError(f"bricks.datasets: bundled iris.npz is damaged (shapes {X.shape}, {y.shape})")
    return np.ascontiguousarray(X, dtype=np.float32), y.astype(np.int64)


# ---------------------------------------------------------------------------
# train/test split
# ---------------------------------------------------------------------------
def train_test_split(X, y, test_size=0.2, seed=None, stratify: bool = False, *, random_state=None):
    """Split ``X`` and ``y`` into random train and test parts.

    ``test_size`` is a fraction in (0, 1) (the test part gets
    ``ceil(test_size * N)`` rows) or an int count in [1, N-1]; both parts are
    always non-empty. With ``stratify=True`` every class of ``y`` is split in the
    same proportion (counts per class are rounded so the total is exact, by
    largest remainder). Rows are drawn with ``numpy.random.default_rng(seed)``, so
    a fixed seed gives the same split every time.

    Returns ``X_train, X_test, y_train, y_test``: new arrays (copies) with the
    dtypes of ``X`` and ``y``, rows in random order, ``len(X_train) + len(X_test)
    == N``. X may have any number of dimensions; rows are along the first axis.
    """
    who = "train_test_split"
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 1:
        raise ValueError(f"{who}: X must have at least one dimension (rows), got a scalar")
    if y.ndim != 1:
        raise ValueError(f"{who}: y must be 1-D (one label per row), got shape {y.shape}")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"{who}: X and y have different numbers of rows ({n} and {y.shape[0]})")
    if n < 2:
        raise ValueError(f"{who}: need at least 2 rows to split, got {n}")
    if not _checks.is_number(test_size):
        raise TypeError(f"{who}: test_size must be a float in (0, 1) or an int, got {type(test_size).__name__}")
    if _checks.is_int(test_size):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(f"{who}: test_size as a count must be in [1, {n - 1}] for {n} rows, got {n_test}")
    else:
        frac = float(test_size)
        if not 0.0 < frac < 1.0:
            raise ValueError(f"{who}: test_size as a fraction must be in (0, 1), got {frac}")
        n_test = math.ceil(frac * n)
        if n_test >= n:
            raise ValueError(f"{who}: test_size={frac} leaves no training rows out of {n}; use a smaller test_size")
    stratify = _checks.boolean(stratify, who, "stratify")
    rng = _rng(who, _seed_or_random_state(who, seed, random_state))
    if not stratify:
        order = rng.permutation(n)
        test_idx, train_idx = order[:n_test], order[n_test:]
    else:
        classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        ideal = counts * (n_test / n)
        per_class = np.floor(ideal).astype(np.int64)
        short = n_test - int(per_class.sum())
        if short > 0:
            # largest remainder first; ties broken at random (but reproducibly)
            rank = np.lexsort((rng.random(len(classes)), -(ideal - per_class)))
            per_class[rank[:short]] += 1
        tests, trains = [], []
        for c in range(len(classes)):
            members = rng.permutation(np.flatnonzero(inverse == c))
            tests.append(members[: per_class[c]])
            trains.append(members[per_class[c] :])
        test_idx = rng.permutation(np.concatenate(tests))
        train_idx = rng.permutation(np.concatenate(trains))
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


# ---------------------------------------------------------------------------
# IDX files and MNIST
# ---------------------------------------------------------------------------
# IDX type code -> (big-endian dtype in the file, name)
_IDX_TYPES = {
    0x08: (np.dtype(">u1"), "unsigned byte"),
    0x09: (np.dtype(">i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "short (int16)"),
    0x0C: (np.dtype(">i4"), "int (int32)"),
    0x0D: (np.dtype(">f4"), "float (float32)"),
    0x0E: (np.dtype(">f8"), "double (float64)"),
}
_CHUNK = 1 << 24


def _open_maybe_gzip(path: str):
    """Open for reading bytes, decompressing when the file starts with the gzip magic."""
    f = open(path, "rb")
    try:
        head = f.read(2)
        f.seek(0)
    except BaseException:
        f.close()
        raise
    if head == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb"), f
    return f, None


def _read_exact(f, n: int) -> bytes | bytearray:
    """Up to n bytes (fewer only at end of file), in chunks so a bogus header that
    promises terabytes fails on the size check instead of on allocation."""
    if n <= _CHUNK:
        return f.read(n)
    buf = bytearray()
    while len(buf) < n:
        chunk = f.read(min(_CHUNK, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _read_idx(path, who: str, expect_magic: int | None = None, what: str = "IDX"):
    """(array, magic) from an IDX file, plain or gzip; every mismatch is a ValueError."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: path must be a str or os.PathLike, got {type(path).__name__}")
    name = os.fspath(path)
    raw, outer = _open_maybe_gzip(name)
    try:
        try:
            header = raw.read(4)
            if len(header) < 4:
                raise ValueError(
                    f"{who}: {name}: file too short for an IDX header (expected 4 magic bytes, found {len(header)})"
                )
            magic = int.from_bytes(header, "big")
            if expect_magic is not None and magic != expect_magic:
                raise ValueError(
                    f"{who}: {name}: bad magic number 0x{magic:08X}, expected 0x{expect_magic:08X} for {what}"
                )
            if header[0] != 0 or header[1] != 0 or header[2] not in _IDX_TYPES:
                raise ValueError(
                    f"{who}: {name}: not an IDX file (magic number 0x{magic:08X}; expected 0x0000TTNN with "
                    f"type TT in 08, 09, 0B, 0C, 0D, 0E)"
                )
            dtype, type_name = _IDX_TYPES[header[2]]
            ndim = header[3]
            if ndim < 1:
                raise ValueError(f"{who}: {name}: IDX header declares 0 dimensions")
            dims_raw = raw.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise ValueError(
                    f"{who}: {name}: truncated header: expected {4 * ndim} bytes of dimension sizes "
                    f"for {ndim} dimensions, found {len(dims_raw)}"
                )
            shape = tuple(int.from_bytes(dims_raw[4 * i : 4 * i + 4], "big") for i in range(ndim))
            expected = math.prod(shape) * dtype.itemsize
            data = _read_exact(raw, expected)
            if len(data) < expected:
                raise ValueError(
                    f"{who}: {name}: truncated: header declares shape {shape} of {type_name} = "
                    f"{expected} data bytes, found only {len(data)}"
                )
            extra = raw.read(_CHUNK)
            if extra:
                n_extra = len(extra)
                while True:
                    more = raw.read(_CHUNK)
                    if not more:
                        break
                    n_extra += len(more)
                raise ValueError(
                    f"{who}: {name}: oversized: header declares shape {shape} of {type_name} = "
                    f"{expected} data bytes, found {expected + n_extra} ({n_extra} extra)"
                )
        except (EOFError, zlib.error, gzip.BadGzipFile) as e:
            raise ValueError(f"{who}: {name}: damaged gzip stream ({e})") from e
    finally:
        raw.close()
        if outer is not None:
            outer.close()
    if not isinstance(data, bytearray):
        data = bytearray(data)  # writable result without a second copy below
    arr = np.frombuffer(data, dtype=dtype).reshape(shape)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr, magic


def read_idx(path):
    """Read any IDX file (the MNIST format), plain or gzip-compressed.

    The header is a big-endian magic number ``0x0000TTNN`` (TT the element type:
    0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64;
    NN the number of dimensions) followed by NN big-endian uint32 sizes; then the
    elements in row-major order, big-endian. Gzip is detected from the file's
    content, not its name.

    Returns a writable ndarray with the declared shape and the matching NumPy
    dtype in native byte order. Raises FileNotFoundError for a missing file and
    ValueError (naming the file, and the expected vs found sizes) for a bad magic
    number, a truncated header, a data section shorter or longer than the header
    declares, or a damaged gzip stream.
    """
    return _read_idx(path, "read_idx")[0]


_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# md5 of the UNCOMPRESSED canonical files (Y. LeCun's originals).
_MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
# Mirrors of the canonical gzip files, tried in order (the original yann.lecun.com
# site now refuses most downloads).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_MAGIC_IMAGES = 0x00000803
_MAGIC_LABELS = 0x00000801


def _find(directory: Path, base: str) -> Path | None:
    for candidate in (directory / base, directory / (base + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _gunzip_md5(path: str) -> str:
    h = hashlib.md5()
    with gzip.open(path, "rb") as g:
        while True:
            chunk = g.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform (e.g. Windows); the replace is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _download(base: str, directory: Path, timeout: float = 60.0) -> Path:
    """Fetch ``base + '.gz'`` into ``directory`` from the first mirror that serves a file
    whose uncompressed md5 is the canonical one. Written to a temporary file in the
    same directory, fsynced, then renamed into place (so a crash never leaves a
    half-written file under the real name). Raises OSError when every mirror fails."""
    target = directory / (base + ".gz")
    want = _MNIST_MD5[base]
    failures = []
    for mirror in MNIST_MIRRORS:
        url = mirror + base + ".gz"
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".part", dir=directory)
        try:
            with os.fdopen(fd, "wb") as out:
                request = urllib.request.Request(url, headers={"User-Agent": "bricks-datasets"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    while True:
                        chunk = response.read(1 << 20)
                        if not chunk:
                            break
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            try:
                got = _gunzip_md5(tmp)
            except (OSError, EOFError, zlib.error) as e:
                failures.append(f"{url}: not a valid gzip file ({e})")
                continue
            if got != want:
                failures.append(f"{url}: md5 of uncompressed content is {got}, expected {want}")
                continue
            os.replace(tmp, target)
            tmp = None
            _fsync_dir(directory)
            return target
        except (OSError, ValueError) as e:  # URLError, HTTPError, timeouts, disk errors
            failures.append(f"{url}: {e}")
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.remove(tmp)
    raise OSError(f"mnist: could not download {base}.gz into {directory}: " + "; ".join(failures))


def mnist(path, kind: str = "train", download: bool = False, normalize: bool = True):
    """MNIST handwritten digits from the standard IDX files in directory ``path``.

    ``kind="train"`` reads ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
    (60000 images), ``kind="test"`` reads ``t10k-images-idx3-ubyte`` and
    ``t10k-labels-idx1-ubyte`` (10000 images); each may be plain or ``.gz`` (the
    plain file is used when both exist). Source: Y. LeCun, C. Cortes and
    C. J. C. Burges, "The MNIST database of handwritten digits".

    Checks: the magic numbers (0x00000803 images, 0x00000801 labels), 28x28 images,
    that each file holds exactly as many bytes as its header declares, that image
    and label counts agree, and that labels are 0..9; any failure is a ValueError
    naming the file. A missing file is a FileNotFoundError unless
    ``download=True``, which fetches only the missing files as ``.gz`` from
    ``MNIST_MIRRORS`` into ``path`` (created if needed), atomically, and checks the
    md5 of the uncompressed content against the canonical value (a mismatch
    deletes the download and, when no mirror serves the right file, raises
    OSError). Files that are already present are never downloaded again.

    Returns ``(X, y)``: X of shape (N, 784) (row-major 28x28 pixels), float32
    scaled to [0, 1] (divided by 255) when ``normalize=True``, else the raw uint8
    0..255; y int64 of shape (N,) with values 0..9.
    """
    who = "mnist"
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: path must be a directory as str or os.PathLike, got {type(path).__name__}")
    if not isinstance(kind, str) or kind not in _MNIST_FILES:
        raise ValueError(f"{who}: kind must be 'train' or 'test', got {kind!r}")
    download = _checks.boolean(download, who, "download")
    normalize = _checks.boolean(normalize, who, "normalize")
    directory = Path(os.path.expanduser(os.fspath(path)))
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"{who}: path must be a directory holding the MNIST files, got file {directory}")

    found = {base: _find(directory, base) for base in _MNIST_FILES[kind]}
    missing = [base for base, p in found.items() if p is None]
    if missing and not download:
        listing = ", ".join(f"{directory / b} (or {b}.gz)" for b in missing)
        raise FileNotFoundError(
            f"{who}: missing MNIST file(s): {listing}; pass download=True to fetch them into {directory}"
        )
    if missing:
        directory.mkdir(parents=True, exist_ok=True)
        for base in missing:
            found[base] = _download(base, directory)

    images_path, labels_path = (found[b] for b in _MNIST_FILES[kind])
    images, _ = _read_idx(images_path, who, _MAGIC_IMAGES, "MNIST images (unsigned byte, 3 dimensions)")
    labels, _ = _read_idx(labels_path, who, _MAGIC_LABELS, "MNIST labels (unsigned byte, 1 dimension)")
    if images.shape[1:] != (28, 28):
        raise ValueError(
            f"{who}: {images_path}: expected 28x28 images, header declares {images.shape[1]}x{images.shape[2]}"
        )
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"{who}: image and label counts disagree: {images_path} has {images.shape[0]} images, "
            f"{labels_path} has {labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{who}: {labels_path}: labels must be 0..9, found {int(labels.max())}")
    X = images.reshape(images.shape[0], 28 * 28)
    if normalize:
        X = X.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(X), labels.astype(np.int64)
