"""The shared argument validators (bricks/_checks.py) and the public calls that use them:
NumPy ints and floats accepted everywhere, bool refused where a number is meant, and one
message form, "<who>: <name> must be <what>, got <value>"."""

import math

import numpy as np
import pytest

import bricks as bk
from bricks import _checks as C

INTS = [3, np.int64(3), np.int32(3), np.uint8(3)]
NOT_INTS = [3.0, np.float64(3.0), "3", None, [3], True, np.bool_(True)]
NUMBERS = [0.5, np.float32(0.5), np.float64(0.5)]
NOT_NUMBERS = ["0.5", None, [0.5], True, False, np.bool_(False), 1j]


# -- predicates -------------------------------------------------------------------------------
@pytest.mark.parametrize("v", INTS)
def test_is_int_takes_numpy_ints(v):
    assert C.is_int(v) and C.is_number(v)


@pytest.mark.parametrize("v", NOT_INTS)
def test_is_int_refuses_floats_strings_and_bools(v):
    assert not C.is_int(v)


@pytest.mark.parametrize("v", NOT_NUMBERS)
def test_is_number_refuses_bools_strings_and_complex(v):
    assert not C.is_number(v)


# -- ints -------------------------------------------------------------------------------------
@pytest.mark.parametrize("v", INTS)
def test_positive_int_accepts_numpy_and_returns_a_python_int(v):
    got = C.positive_int(v, "f", "n")
    assert got == 3 and type(got) is int


@pytest.mark.parametrize("v", NOT_INTS)
def test_positive_int_type_error_names_the_type(v):
    with pytest.raises(TypeError, match=rf"^f: n must be an int, got {type(v).__name__}$"):
        C.positive_int(v, "f", "n")


@pytest.mark.parametrize("v", [0, -1, np.int64(-5)])
def test_positive_int_value_error_shows_the_value(v):
    with pytest.raises(ValueError, match=rf"^f: n must be a positive int, got {int(v)}$"):
        C.positive_int(v, "f", "n")


def test_positive_int_maximum_and_why():
    assert C.positive_int(10, "f", "n", maximum=10) == 10
    with pytest.raises(ValueError, match=r"^f: n must be a positive int of at most 10 \(the cap\), got 11$"):
        C.positive_int(11, "f", "n", maximum=10, why="the cap")


def test_non_negative_int_and_integer_ranges():
    assert C.non_negative_int(np.int64(0), "f", "k") == 0
    with pytest.raises(ValueError, match=r"^f: k must be an int >= 0, got -1$"):
        C.non_negative_int(-1, "f", "k")
    with pytest.raises(TypeError, match=r"^f: k must be an int, got bool$"):
        C.non_negative_int(False, "f", "k")
    assert C.integer(2, "f", "k", low=2) == 2
    with pytest.raises(ValueError, match=r"^f: k must be an int >= 2, got 1$"):
        C.integer(1, "f", "k", low=2)
    with pytest.raises(ValueError, match=r"^f: k must be an int in \[0, 9\], got 10$"):
        C.integer(10, "f", "k", low=0, high=9)
    with pytest.raises(ValueError, match=r"^f: k must be an int <= 9, got 10$"):
        C.integer(10, "f", "k", high=9)


def test_seed():
    assert C.seed(np.uint64(2**64 - 1), "f") == 2**64 - 1
    assert C.seed(-3, "f") == -3
    assert C.seed(None, "f", none=True) is None
    with pytest.raises(TypeError, match=r"^f: seed must be an int, got NoneType$"):
        C.seed(None, "f")
    with pytest.raises(TypeError, match=r"^f: seed must be an int or None, got float$"):
        C.seed(1.0, "f", none=True)
    with pytest.raises(TypeError, match=r"^f: seed must be an int, got bool$"):
        C.seed(True, "f")
    with pytest.raises(ValueError, match=r"^f: seed must be a non-negative int or None, got -1$"):
        C.seed(-1, "f", none=True, negative=False)


# -- numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("v", NUMBERS + [np.int64(1), 2])
def test_numbers_accept_numpy_and_return_python_floats(v):
    for check in (C.number, C.positive_float, C.non_negative_float):
        got = check(v, "f", "x")
        assert got == float(v) and type(got) is float


@pytest.mark.parametrize("v", NOT_NUMBERS)
def test_numbers_refuse_bools_and_strings(v):
    for check in (C.number, C.positive_float, C.non_negative_float, C.probability):
        with pytest.raises(TypeError, match=rf"^f: x must be a number, got {type(v).__name__}$"):
            check(v, "f", "x")


def test_number_ranges():
    assert C.number(math.inf, "f", "x") == math.inf  # no range asked: any float
    with pytest.raises(ValueError, match=r"^f: x must be a finite number > 0, got 0.0$"):
        C.positive_float(0, "f", "x")
    for bad in (math.inf, math.nan):
        with pytest.raises(ValueError, match=r"^f: x must be a finite number > 0, got (inf|nan)$"):
            C.positive_float(bad, "f", "x")
    assert C.non_negative_float(0, "f", "x") == 0.0
    with pytest.raises(ValueError, match=r"^f: x must be a finite number >= 0, got -0.5$"):
        C.non_negative_float(-0.5, "f", "x")
    with pytest.raises(ValueError, match=r"^f: x must be a number in \(0, 1\), got 1.0$"):
        C.number(1, "f", "x", low=0, high=1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"^f: x must be a number <= 1, got 2.0$"):
        C.number(2, "f", "x", high=1)
    with pytest.raises(ValueError, match=r"^f: x must be a finite number, got nan$"):
        C.number(math.nan, "f", "x", finite=True)


def test_probability_is_zero_to_one_excluded():
    assert C.probability(0, "f", "p") == 0.0
    assert C.probability(np.float32(0.25), "f", "p") == 0.25
    for bad in (1, 1.0, -0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"^f: p must be a number in \[0, 1\), got "):
            C.probability(bad, "f", "p")


# -- the rest ---------------------------------------------------------------------------------
def test_choice():
    assert C.choice("min", "f", "mode", ("auto", "min", "max")) == "min"
    got = C.choice(np.str_("max"), "f", "mode", ("auto", "min", "max"))
    assert got == "max" and type(got) is str
    with pytest.raises(ValueError, match=r"^f: mode must be 'auto', 'min' or 'max', got 'mid'$"):
        C.choice("mid", "f", "mode", ("auto", "min", "max"))
    with pytest.raises(ValueError, match=r"^f: kind must be 'train', got None$"):
        C.choice(None, "f", "kind", ("train",))
    for odd in ([1], np.array(["min", "max"]), {"min": 1}):  # unhashable or elementwise: not an option
        with pytest.raises(ValueError, match="f: mode must be"):
            C.choice(odd, "f", "mode", ("min", "max"))
    assert C.choice(1, "f", "k", (0, 1)) == 1
    with pytest.raises(ValueError, match=r"got True"):  # True is not 1
        C.choice(True, "f", "k", (0, 1))


def test_boolean():
    assert C.boolean(True, "f", "b") is True
    assert C.boolean(np.bool_(False), "f", "b") is False
    for bad in (1, 0, "yes", None):
        with pytest.raises(TypeError, match=rf"^f: b must be True or False, got {type(bad).__name__}$"):
            C.boolean(bad, "f", "b")


# -- the public calls agree -------------------------------------------------------------------
def test_step_lr_accepts_numpy_ints_like_linear():
    n = np.int64(3)
    assert bk.Linear(n, n).in_features == 3
    assert bk.optim.StepLR(n).step_size == 3 and type(bk.optim.StepLR(n).step_size) is int
    assert bk.optim.StepLR(np.int32(2), gamma=0.5)(4, 1.0) == 0.25
    assert bk.optim.CosineAnnealingLR(np.int64(10)).T_max == 10
    for cls, name in ((bk.optim.StepLR, "step_size"), (bk.optim.CosineAnnealingLR, "T_max")):
        with pytest.raises(TypeError, match=rf"{cls.__name__}: {name} must be an int, got float"):
            cls(2.0)
        with pytest.raises(TypeError, match=rf"{cls.__name__}: {name} must be an int, got bool"):
            cls(True)
        with pytest.raises(ValueError, match=rf"{cls.__name__}: {name} must be a positive int, got 0"):
            cls(0)


def test_the_same_rule_everywhere_for_numpy_ints_and_bools():
    """np.int64 is an int and True is not, in every public call that takes an int."""
    X, y = bk.datasets.xor(np.int64(2), seed=np.int64(0))
    assert X.shape == (8, 2)
    bk.manual_seed(np.int64(1))
    drop = bk.Dropout(np.float32(0.25), seed=np.int64(4))
    drop.reseed(np.uint32(7))
    m = bk.Sequential(bk.Linear(2, 3, seed=np.int64(1)), bk.ReLU(), bk.Linear(3, 2))
    m.compile(bk.CrossEntropyLoss(), bk.SGD(m, lr=np.float32(0.1), momentum=np.float64(0.5)))
    h = m.fit(
        X, y, epochs=np.int64(2), batch_size=np.int32(4), seed=np.int64(0), verbose=0, validation_split=np.float64(0.25)
    )
    assert len(h.history["loss"]) == 2
    assert m.predict(X, batch_size=np.int64(3)).shape == (8, 2)
    es = bk.callbacks.EarlyStopping(patience=np.int64(2), mode=np.str_("min"))
    assert es.patience == 2 and es.mode == "min"
    for call in (
        lambda: bk.Linear(True, 2),
        lambda: bk.optim.StepLR(True),
        lambda: m.fit(X, y, epochs=True, verbose=0),
        lambda: bk.datasets.xor(True),
        lambda: bk.callbacks.EarlyStopping(patience=True),
        lambda: bk.manual_seed(True),
        lambda: bk.Dropout(True),
        lambda: bk.SGD(m, lr=True),
    ):
        with pytest.raises(TypeError, match="must be an int, got bool|must be a number, got bool"):
            call()


def test_messages_name_the_caller_and_the_argument():
    cases = [
        (lambda: bk.Dropout(1.0), ValueError, r"^Dropout: p must be a number in \[0, 1\), got 1.0$"),
        (lambda: bk.Dropout("0.5"), TypeError, r"^Dropout: p must be a number, got str$"),
        (
            lambda: bk.callbacks.EarlyStopping(mode="least"),
            ValueError,
            r"^EarlyStopping: mode must be 'auto', 'min' or 'max', got 'least'$",
        ),
        (
            lambda: bk.callbacks.ModelCheckpoint("m.npz", mode=None),
            ValueError,
            r"^ModelCheckpoint: mode must be 'auto', 'min' or 'max', got None$",
        ),
        (
            lambda: bk.callbacks.EarlyStopping(patience=-1),
            ValueError,
            r"^EarlyStopping: patience must be an int >= 0, got -1$",
        ),
        (
            lambda: bk.callbacks.EarlyStopping(patience=2.5),
            TypeError,
            r"^EarlyStopping: patience must be an int, got float$",
        ),
        (lambda: bk.MSELoss().backward("1"), TypeError, r"^MSELoss: dL must be a number, got str$"),
        (lambda: bk.set_num_threads(1.0), TypeError, r"^set_num_threads: n must be an int, got float$"),
        (
            lambda: bk.datasets.two_moons(noise=-1),
            ValueError,
            r"^two_moons: noise must be a finite number >= 0, got -1.0$",
        ),
        (lambda: bk.datasets.xor(0), ValueError, r"^xor: n_repeats must be an int >= 1, got 0$"),
    ]
    for call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call()
    assert bk.get_num_threads() >= 1
