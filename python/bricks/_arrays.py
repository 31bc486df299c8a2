"""Turning what users pass into the arrays the core takes (no copy when it fits)."""
from __future__ import annotations

import numpy as np

DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


def resolve_dtype(dtype) -> np.dtype:
    """np.float32 (default) or np.float64; anything else is a TypeError."""
    try:
        dt = np.dtype(np.float32 if dtype is None else dtype)
    except TypeError as e:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from e
    if dt not in DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _kind_error(who: str, what: str, a: np.ndarray) -> TypeError:
    return TypeError(f"{who}: {what} must be a real numeric array, got dtype {a.dtype}")


def as_float_matrix(x, dtype: np.dtype, who: str, what: str = "input") -> np.ndarray:
    """A C-contiguous (N, D) array of `dtype`. Integer and other float arrays are
    converted (a copy); arrays that already fit are passed through without a copy."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{who}: {what} must be a 2-D array, got {type(x).__name__}")
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise _kind_error(who, what, a)
    if a.ndim != 2:
        hint = ("; for one sample of D features use x.reshape(1, -1), for N samples of one "
                "feature x.reshape(-1, 1)") if a.ndim == 1 else ""
        raise ValueError(f"{who}: {what} must be a 2-D array (batch, features), got shape {a.shape}{hint}")
    return np.ascontiguousarray(a, dtype=dtype)


def as_labels(y, who: str, what: str = "labels") -> np.ndarray:
    """A C-contiguous int64 vector of class labels (integers only; ranges are checked natively)."""
    a = np.asarray(y)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{who}: {what} must be integers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{who}: {what} must be a 1-D array, got shape {a.shape}")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{who}: {what} out of range")
    return np.ascontiguousarray(a, dtype=np.int64)
