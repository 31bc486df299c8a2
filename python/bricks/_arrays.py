"""Turning what users pass into the arrays the core takes (no copy when it fits)."""

from __future__ import annotations

import numpy as np

DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}
_INT64_MAX = np.iinfo(np.int64).max


# The dtype of blocks and Inputs built without dtype= (set_default_dtype / default_dtype).
_DEFAULT = [np.dtype(np.float32)]


def _check_dtype(dtype, who: str = "dtype") -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{who} must be float32 or float64, got {dtype!r}") from e
    if dt not in DTYPES:
        raise TypeError(f"{who} must be float32 or float64, got {dt}")
    return dt


def resolve_dtype(dtype) -> np.dtype:
    """np.float32 or np.float64; None is the default dtype (float32 unless
    ``bk.set_default_dtype`` / ``bk.default_dtype`` changed it); anything else is a TypeError."""
    if dtype is None:
        return _DEFAULT[0]
    return _check_dtype(dtype)


def get_default_dtype() -> np.dtype:
    """The dtype that blocks, Inputs and losses built without ``dtype=`` get: float32
    unless ``set_default_dtype`` or a ``with default_dtype(...)`` block changed it."""
    return _DEFAULT[0]


def set_default_dtype(dtype) -> None:
    """Make every block, Input and loss built afterwards without ``dtype=`` use ``dtype``
    (np.float32 or np.float64), as PyTorch's ``torch.set_default_dtype`` and Keras'
    ``set_floatx``. Blocks already built keep their dtype (``model.astype`` converts one)."""
    _DEFAULT[0] = _check_dtype(dtype, "set_default_dtype: dtype")


class default_dtype:
    """``with bk.default_dtype(np.float64): ...``: the default dtype inside the block,
    the previous one restored on leaving it (on an exception too); contexts nest."""

    def __init__(self, dtype):
        self.dtype = _check_dtype(dtype, "default_dtype: dtype")
        self._saved = []

    def __enter__(self):
        self._saved.append(_DEFAULT[0])
        _DEFAULT[0] = self.dtype
        return self.dtype

    def __exit__(self, *exc):
        _DEFAULT[0] = self._saved.pop()
        return False


def _kind_error(who: str, what: str, a: np.ndarray) -> TypeError:
    return TypeError(f"{who}: {what} must be a real numeric array, got dtype {a.dtype}")


def _length(x):
    """len(x) for a nested row (list, tuple, array), None for a scalar or a string."""
    if isinstance(x, (str, bytes)) or (isinstance(x, np.ndarray) and x.ndim == 0):
        return None
    try:
        return len(x)
    except TypeError:
        return None


def _ragged(x, at=()):
    """(index of the first row whose length differs from its first sibling's, its length,
    the sibling's length) in nested sequences, or None."""
    if _length(x) is None:
        return None
    rows = list(x)
    lens = [_length(r) for r in rows]
    for i, n in enumerate(lens):
        if n != lens[0]:
            return at + (i,), n, lens[0]
    for i, r in enumerate(rows):  # equal lengths here: the rows inside may differ
        found = _ragged(r, at + (i,))
        if found:
            return found
    return None


def _where(ix) -> str:
    return f"row {ix[0]}" if len(ix) == 1 else "element " + "".join(f"[{i}]" for i in ix)


def as_array(x, who: str, what: str = "input") -> np.ndarray:
    """np.asarray(x), with a message naming the rows when nested lists are ragged
    (NumPy's own error names neither the rows nor their lengths)."""
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except ValueError:
        try:
            found = _ragged(x)
        except Exception:  # an odd container: NumPy's message is the better one then
            found = None
        if found is None:
            raise
        at, n, n0 = found
        size = lambda k: "a single number" if k is None else f"{k} value{'s' * (k != 1)}"
        raise ValueError(
            f"{who}: {what} rows have different lengths: {_where(at)} has {size(n)} "
            f"but {_where(at[:-1] + (0,))} has {size(n0)} (an array needs rows of "
            f"equal length)"
        ) from None


def as_float_matrix(x, dtype: np.dtype, who: str, what: str = "input", *, bool_ok: bool = False) -> np.ndarray:
    """A C-contiguous (N, D) array of `dtype`. Integer and other float arrays are
    converted (a copy); arrays that already fit are passed through without a copy.
    ``bool_ok``: bool arrays read as 0/1 (for targets; data stays numeric only)."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{who}: {what} must be a 2-D array, got {type(x).__name__}")
    a = as_array(x, who, what)
    if a.dtype.kind not in ("fiub" if bool_ok else "fiu"):
        raise _kind_error(who, what, a)
    if a.ndim != 2:
        hint = (
            ("; for one sample of D features use x.reshape(1, -1), for N samples of one feature x.reshape(-1, 1)")
            if a.ndim == 1
            else ""
        )
        raise ValueError(f"{who}: {what} must be a 2-D array (batch, features), got shape {a.shape}{hint}")
    return np.ascontiguousarray(a, dtype=dtype)


def as_labels(y, who: str, what: str = "labels", n_classes: int | None = None) -> np.ndarray:
    """A C-contiguous int64 vector of class labels (integers only; ranges are checked
    natively, except uint64 values int64 cannot hold)."""
    a = as_array(y, who, what)
    if a.dtype.kind not in "iu":
        hint = (
            (" (True/False as classes 1/0: y.astype(int); binary targets of one column are taken by BCEWithLogitsLoss)")
            if a.dtype.kind == "b"
            else ""
        )
        raise TypeError(f"{who}: {what} must be integers, got dtype {a.dtype}{hint}")
    if a.ndim != 1:
        raise ValueError(f"{who}: {what} must be a 1-D array, got shape {a.shape}")
    if a.dtype.kind == "u" and a.size and a.max() > _INT64_MAX:
        row = int(np.argmax(a > _INT64_MAX))
        allowed = f"[0, {n_classes})" if n_classes else f"[0, {_INT64_MAX}] (int64)"
        raise ValueError(f"{who}: class label {a[row]} at row {row} is out of range {allowed}")
    return np.ascontiguousarray(a, dtype=np.int64)


def check_binary_targets(a: np.ndarray, who: str, loss: str, what: str = "targets") -> None:
    """Integer targets of a binary cross-entropy must be 0/1: other integers are class
    labels of more than two classes, which CrossEntropyLoss takes."""
    if a.dtype.kind not in "iu" or a.size == 0:
        return
    bad = np.flatnonzero(((a < 0) | (a > 1)).ravel())
    if not bad.size:
        return
    at = ", ".join(f"{n} {i}" for n, i in zip(("row", "column"), np.unravel_index(bad[0], a.shape)))
    first = f"{a.ravel()[bad[0]]}" + (f" at {at}" if at else "")
    values = np.unique(a)
    shown = ", ".join(map(str, values[:6])) + (", ..." if values.size > 6 else "")
    hint = (
        "for -1/1 labels pass (y > 0)"
        if set(values.tolist()) == {-1, 1}
        else "for more than two classes use CrossEntropyLoss (one output column per class, integer labels 0..C-1)"
    )
    raise ValueError(
        f"{who}: {loss} takes targets in [0, 1] (0/1 labels for two classes), got "
        f"integer {what} with values {shown} ({first}); {hint}"
    )


def onehot_to_labels(y, who, n_classes=None):
    """One-hot rows are accepted where class labels are expected."""
    a = np.asarray(y)
    if a.ndim != 2:
        return a
    if n_classes is not None and a.shape[1] != n_classes:
        raise ValueError(
            f"{who}: expected class labels of shape (N,) (1-D) or one-hot rows of "
            f"{n_classes} columns (one per class), got shape {a.shape}"
            + ("; for a column of labels use y.ravel()" if a.shape[1] == 1 else "")
        )
    if not (np.isin(a, (0, 1)).all() and (a.sum(1) == 1).all()):
        raise ValueError(
            f"{who}: expected class labels (N,) or one-hot rows; these rows are not "
            f"one-hot (for probability targets compile with labels=False)"
        )
    return a.argmax(1)


def check_out(out, inputs, shape, dtype, who):
    """Checks an ``out=`` array: an ndarray of `shape` and `dtype`, C-contiguous,
    writeable and sharing no memory with the input arrays (written while they are read)."""
    if type(out) is not np.ndarray:
        raise TypeError(f"{who}: out= must be a NumPy array, got {type(out).__name__}")
    shape = tuple(int(d) for d in shape)
    if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable:
        got = [f"{out.dtype} array of shape {out.shape}"]
        if not out.flags.c_contiguous:
            got.append("not C-contiguous")
        if not out.flags.writeable:
            got.append("read-only")
        raise ValueError(
            f"{who}: out= must be a writeable C-contiguous {np.dtype(dtype)} array of shape {shape}, got "
            + ", ".join(got)
        )
    if any(np.may_share_memory(out, x) for x in inputs):
        raise ValueError(f"{who}: out= shares memory with the input X; pass a separate array")
