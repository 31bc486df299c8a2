"""Argument validators shared by every public function: one spelling of each rule.

Every validator takes ``(value, who, name)`` and returns the value converted to a
plain Python type, or raises with the message ``"<who>: <name> must be <what>, got
<value>"``: a ``TypeError`` naming the type when the value is of the wrong kind, a
``ValueError`` showing the value when it is of the right kind but out of range.

The rules are the same everywhere: NumPy integers count as ints and NumPy floats
as numbers (``np.int64(3)`` is as good as ``3``); ``bool`` (and ``np.bool_``) is
never a number, although Python makes ``True`` an int; an int is never taken for a
float it happens to equal the other way round (``3.0`` is not an int).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

_BOOLS = (bool, np.bool_)


# -- predicates ------------------------------------------------------------------------------
def is_int(value) -> bool:
    """An int or a NumPy integer, not a bool."""
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, _BOOLS)


def is_number(value) -> bool:
    """A real number (int, float, NumPy integer or float), not a bool."""
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(value, _BOOLS)


def _fail(who, name, what, got, exc=ValueError):
    return exc(f"{who}: {name} must be {what}, got {got}")


def _interval(low, high, low_open, high_open) -> str:
    return f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"


# -- ints ------------------------------------------------------------------------------------
def integer(value, who: str, name: str, *, low=None, high=None, what: str | None = None) -> int:
    """An int in ``[low, high]`` (either bound may be None). ``what`` replaces the
    default description of the range (``"an int >= 1"``, ``"an int in [0, 9]"``)."""
    if not is_int(value):
        raise _fail(who, name, "an int", type(value).__name__, TypeError)
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        if what is None:
            what = (
                f"an int in [{low}, {high}]"
                if low is not None and high is not None
                else f"an int >= {low}"
                if low is not None
                else f"an int <= {high}"
            )
        raise _fail(who, name, what, v)
    return v


def positive_int(value, who: str, name: str, *, maximum: int | None = None, why: str = "") -> int:
    """An int >= 1 (and <= ``maximum``; ``why`` says where the maximum comes from)."""
    what = "a positive int"
    if maximum is not None:
        what += f" of at most {maximum}" + (f" ({why})" if why else "")
    return integer(value, who, name, low=1, high=maximum, what=what)


def non_negative_int(value, who: str, name: str) -> int:
    """An int >= 0."""
    return integer(value, who, name, low=0)


def seed(value, who: str, name: str = "seed", *, none: bool = False, negative: bool = True):
    """A seed: an int (``negative=False``: >= 0), or None when ``none`` is true.
    Returns the int, or None."""
    if none and value is None:
        return None
    or_none = " or None" if none else ""
    if not is_int(value):
        raise _fail(who, name, f"an int{or_none}", type(value).__name__, TypeError)
    v = int(value)
    if not negative and v < 0:
        raise _fail(who, name, f"a non-negative int{or_none}", v)
    return v


# -- numbers ---------------------------------------------------------------------------------
def number(
    value,
    who: str,
    name: str,
    *,
    low=None,
    high=None,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = False,
) -> float:
    """A real number as a float, in the interval given by ``low``/``high`` (either may be
    None; ``*_open`` excludes the bound), finite if ``finite``. NaN is in no interval."""
    if not is_number(value):
        raise _fail(who, name, "a number", type(value).__name__, TypeError)
    v = float(value)
    ok = (
        (low is None or (v > low if low_open else v >= low))
        and (high is None or (v < high if high_open else v <= high))
        and (not finite or math.isfinite(v))
    )
    if not ok:
        if low is not None and high is not None:
            what = f"a number in {_interval(low, high, low_open, high_open)}"
        elif low is not None or high is not None:
            op, bound = (">" if low_open else ">=", low) if low is not None else ("<" if high_open else "<=", high)
            what = f"a {'finite ' if finite else ''}number {op} {bound}"
        else:
            what = "a finite number"
        raise _fail(who, name, what, v)
    return v


def positive_float(value, who: str, name: str) -> float:
    """A finite number > 0."""
    return number(value, who, name, low=0, low_open=True, finite=True)


def non_negative_float(value, who: str, name: str) -> float:
    """A finite number >= 0."""
    return number(value, who, name, low=0, finite=True)


def probability(value, who: str, name: str) -> float:
    """A number in [0, 1): a drop rate, a held-out fraction."""
    return number(value, who, name, low=0, high=1, high_open=True)


# -- the rest --------------------------------------------------------------------------------
def choice(value, who: str, name: str, options):
    """One of ``options`` (compared by equality, type-strict for bools); returns the
    option itself (so ``np.str_("min")`` gives ``"min"``)."""
    options = tuple(options)
    for o in options:
        if isinstance(value, _BOOLS) != isinstance(o, _BOOLS):
            continue  # True is not 1
        try:
            if isinstance(value, type(o)) and bool(value == o):
                return o
        except (TypeError, ValueError):  # an array compares elementwise: not an option
            pass
    shown = [repr(o) for o in options]
    what = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
    raise _fail(who, name, what, repr(value))


def boolean(value, who: str, name: str) -> bool:
    """True or False (``np.bool_`` too); not 0/1, not a string."""
    if not isinstance(value, _BOOLS):
        raise _fail(who, name, "True or False", type(value).__name__, TypeError)
    return bool(value)


def weights(value, who: str, name: str, *, n: int | None = None, all_zero_ok: bool = False) -> np.ndarray:
    """Weights (sample or class weights): a 1-D array of ``n`` (if given) finite numbers
    >= 0, not all 0 (unless ``all_zero_ok``), as a new contiguous float64 array."""
    if isinstance(value, (str, bytes, dict)) or value is None:
        raise _fail(who, name, "a 1-D array of numbers", type(value).__name__, TypeError)
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise _fail(who, name, "a 1-D array of numbers", f"{type(value).__name__} ({e})", TypeError) from None
    if a.dtype.kind not in "iuf" or a.dtype == np.bool_:
        raise _fail(who, name, "a 1-D array of numbers", f"dtype {a.dtype}", TypeError)
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        raise _fail(who, name, f"of shape ({n if n is not None else 'N'},)", f"shape {a.shape}")
    a = np.array(a, dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(a) & (a >= 0)))
    if bad.size:
        raise _fail(who, name, "finite and >= 0", f"{a[bad[0]]} at index {bad[0]}")
    if not all_zero_ok and a.size and not a.any():
        raise ValueError(f"{who}: {name} must have a weight above 0, got only zeros")
    return a
