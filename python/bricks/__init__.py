"""bricks: neural-network blocks as lego pieces.

Each block has a forward and a backward written in C++; blocks snap together into
chains and graphs; networks learn by backpropagation and SGD. Arrays in and out are
NumPy arrays.

    >>> import bricks as bk
    >>> lin = bk.Linear(3, 2)
    >>> y = lin.forward(np.ones((4, 3), np.float32))
    >>> dx = lin.backward(np.ones_like(y))
"""

import os as _os
import platform as _platform
from typing import TYPE_CHECKING as _TYPE_CHECKING  # (NumPy imports typing anyway)

# Thread defaults that do not fight on small machines (measured on 2 cores: spinning
# OpenMP workers beside OpenBLAS's threads made a step 5-8x slower), set before OpenBLAS
# loads; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

# The extension finds libscipy_openblas.so by its run path (site-packages/scipy_openblas32/lib,
# next to bricks/). Only where that fails (a build tree elsewhere) is it loaded through the
# scipy_openblas32 package, whose import costs ~50 ms (importlib.metadata, email, zipfile...).
try:
    from . import _core  # noqa: E402
except ImportError as _e:  # pragma: no cover - depends on where the extension was built
    if "libscipy_openblas" not in str(_e):
        raise
    import scipy_openblas32 as _scipy_openblas32  # noqa: E402,F401  (loads libscipy_openblas.so)

    from . import _core  # noqa: E402
from . import _checks  # noqa: E402

# BRICKS_ISA=baseline|avx2|avx512 forces the kernels' instruction-set path (default:
# the best this CPU runs). A path the CPU lacks fails here, clearly, instead of dying
# later on an illegal instruction.
try:
    _core.set_isa(_os.environ.get("BRICKS_ISA", "auto").strip().lower() or "auto")
except ValueError as _e:
    raise ImportError(f"bricks: BRICKS_ISA={_os.environ.get('BRICKS_ISA')!r}: {_e}") from None

# At exit, native work still running in other threads (a daemon thread inside fit)
# is stopped and waited for, so that no thread takes the GIL back while the
# interpreter finalizes (that would abort the process).
import atexit as _atexit  # noqa: E402

_atexit.register(_core._at_exit, 30.0)
from ._core import NonFiniteError, StateError  # noqa: E402
from ._arrays import default_dtype, get_default_dtype, set_default_dtype  # noqa: E402
from .block import Block, manual_seed  # noqa: E402
from .blocks import (  # noqa: E402
    Add,
    Concat,
    Dropout,
    ELU,
    GELU,
    Hadamard,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .blocks import BatchNorm, LayerNorm  # noqa: E402
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Loss, MSELoss  # noqa: E402
from .optim import SGD, Adam, AdamW, Optimizer  # noqa: E402
from . import optim  # noqa: E402
from .node import Input, Node  # noqa: E402
from .graph import Model  # noqa: E402
from .sequential import Sequential  # noqa: E402
from ._version import __version__  # noqa: E402,F401

if _TYPE_CHECKING:  # the lazy names, for type checkers, editors and the API docs (which read
    # the source); at run time __getattr__ below imports them on first use
    from . import callbacks, check, datasets, interop, io, metrics, plot, training  # noqa: F401
    from .check import gradcheck, jacobian  # noqa: F401
    from .interop import from_state_dict, load_state_dict  # noqa: F401
    from .io import load  # noqa: F401
    from .training import History  # noqa: F401

# Loaded on first use (PEP 562), so that `import bricks` costs little more than NumPy's
# import: a public name -> (its submodule, the attribute there, None for the module).
# These submodules pull in what building and running a model does not need (csv, gzip,
# hashlib, urllib/ssl, subprocess, zipfile; matplotlib, tqdm, onnx only when called).
_LAZY = {
    "gradcheck": ("check", "gradcheck"),
    "jacobian": ("check", "jacobian"),
    "History": ("training", "History"),
    "load": ("io", "load"),
    "from_state_dict": ("interop", "from_state_dict"),
    "load_state_dict": ("interop", "load_state_dict"),
    "callbacks": ("callbacks", None),
    "datasets": ("datasets", None),
    "metrics": ("metrics", None),
    "plot": ("plot", None),
    # submodules that `import bricks` loaded before they became lazy: bk.io, bk.training, ...
    "check": ("check", None),
    "training": ("training", None),
    "io": ("io", None),
    "interop": ("interop", None),
}


def __getattr__(name: str):
    """Import a lazy public name's submodule on first access (``bk.load``, ``bk.plot``,
    ``from bricks import History``) and keep the value in the package's namespace."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    import importlib

    value = importlib.import_module(f"{__name__}.{module}")
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The package's names, the lazy ones included (``dir(bricks)``, tab completion)."""
    return sorted(set(globals()) | set(_LAZY))


def set_num_threads(n: int) -> None:
    """Set the number of threads used for matrix products (OpenBLAS)."""
    _core.set_num_threads(_checks.integer(n, "set_num_threads", "n"))


def get_num_threads() -> int:
    """The number of threads used for matrix products."""
    return _core.get_num_threads()


def set_threading(mode: str) -> None:
    """How matrix products use more than one thread (``set_num_threads``).

    A large product is cut into fixed panels of columns (or rows) of its result, and
    bricks' own threads take them one at a time, each panel a single-threaded OpenBLAS
    call: a thread slowed by another process just takes fewer panels.

    ``"pool"`` (the default): always that pool. ``"auto"``: per product shape, bricks
    times the pool and the calling thread alone doing the same panels, runs the faster,
    and tries the other again every 8th product of that shape (64th when one is 1.5
    times faster), to follow the load of the machine (measured no better than the pool;
    bench/README.md). ``"openblas"``: one OpenBLAS call with OpenBLAS's own threads (its
    static split, in which every thread waits for the slowest; measured far slower
    beside a busy neighbour). ``BRICKS_THREADING`` sets the mode before import.

    ``"auto"`` and ``"pool"`` compute the same panels, so they give the same bits, at
    every thread count above one.
    """
    _core.set_threading(_checks.choice(mode, "set_threading", "mode", ("auto", "pool", "openblas")))


def get_threading() -> str:
    """The threading mode of matrix products: ``"auto"``, ``"pool"`` or ``"openblas"``."""
    return _core.get_threading()


def blas_info() -> str:
    """The OpenBLAS kernel in use (e.g. 'SkylakeX')."""
    return _core.blas_corename()


def cpu_info() -> dict:
    """What runs the numbers: ``isa`` is the instruction-set path of bricks' own
    kernels (``baseline`` x86-64, ``avx2`` = x86-64-v3, ``avx512`` = x86-64-v4),
    ``isa_available`` the paths this CPU runs, ``blas`` the OpenBLAS kernel, and
    ``cpu`` the processor's name. Set ``BRICKS_ISA`` before import to force a path."""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return {
        "isa": _core.active_isa(),
        "isa_available": _core.available_isas(),
        "blas": _core.blas_corename(),
        "cpu": cpu or _platform.processor(),
    }


__all__ = [
    "Block",
    "Input",
    "Model",
    "Node",
    "Sequential",
    "Linear",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "LeakyReLU",
    "ELU",
    "GELU",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "Hadamard",
    "Dropout",
    "Add",
    "Concat",
    "Identity",
    "LayerNorm",
    "BatchNorm",
    "Loss",
    "MSELoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "SGD",
    "Adam",
    "AdamW",
    "Optimizer",
    "optim",
    "NonFiniteError",
    "gradcheck",
    "jacobian",
    "manual_seed",
    "set_default_dtype",
    "get_default_dtype",
    "default_dtype",
    "set_num_threads",
    "get_num_threads",
    "set_threading",
    "get_threading",
    "blas_info",
    "cpu_info",
    "StateError",
    "load",
    "from_state_dict",
    "load_state_dict",
    "callbacks",
    "datasets",
    "metrics",
    "plot",
    "History",
]
