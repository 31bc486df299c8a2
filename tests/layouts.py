"""Odd but legal array layouts, shared by the bad-input suites: the same values as a
strided view into a larger buffer, and as a read-only copy."""

import numpy as np


def strided(a):
    big = np.zeros((2 * a.shape[0],) + tuple(3 * s for s in a.shape[1:]), a.dtype)
    view = big[::2, ::3] if a.ndim == 2 else big[::2]
    view[...] = a
    return view


def read_only(a):
    a = np.array(a)
    a.flags.writeable = False
    return a
