"""Data-parallel training over MPI, through mpi4py: ``mpiexec -n K python train.py``.

    import bricks as bk
    model.fit(X, y, epochs=10, batch_size=256, distributed=True)  # under mpiexec -n K

Every process (rank) builds the same model and calls ``fit`` with the same data; at
the start the weights, buffers and optimizer state are broadcast from rank 0, every
epoch's sample order comes from the shared seed, and each rank trains on its share of
every global batch of ``batch_size`` rows: rank r of K takes rows
``[r*M//K, (r+1)*M//K)`` of a batch of M rows, so shares differ by at most one row
(and a last batch smaller than K leaves some ranks idle for that step). The gradients,
each rank's mean weighted by its rows, are summed by one allreduce of a flat buffer
per step, so every rank makes the update one process would make on the whole batch
(up to float rounding) and the replicas stay bitwise identical. A checksum of the
weights, buffers and optimizer state is compared every ``CHECK_EVERY`` steps and at
the end: replicas that differ raise :class:`DistributedError`.

Lower-level pieces for your own loops: :func:`rank`, :func:`size`,
:func:`allreduce_`, :func:`broadcast_`, :func:`check_replicas`, and
``model.train_step(X, T, distributed=True)`` (each rank passes its own batch; the
update uses the gradient over all ranks' rows).

Needs the ``mpi`` extra: ``pip install "bricks[mpi]"`` (mpi4py and the MPICH wheel,
with its own ``mpiexec``). ``import bricks`` never imports MPI; a script started
without ``mpiexec`` is one rank of one.
"""

from __future__ import annotations

import sys
import zlib

import numpy as np

__all__ = [
    "CHECK_EVERY",
    "DistributedError",
    "allreduce_",
    "barrier",
    "broadcast_",
    "check_replicas",
    "checksum",
    "is_available",
    "local_size",
    "rank",
    "size",
]

INSTALL = 'pip install "bricks[mpi]"'
# steps between two replica checks (also the native chunk of fit's loop)
CHECK_EVERY = 32


class DistributedError(RuntimeError):
    """A failure seen by every rank: one rank's bad input, replicas that differ."""


def is_available() -> bool:
    """True when mpi4py can be imported (the ``mpi`` extra is installed)."""
    try:
        _mpi()
    except ImportError:
        return False
    return True


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            f"bricks.distributed needs mpi4py and an MPI library: {INSTALL}, "
            "then run your script as mpiexec -n K python script.py"
        ) from e
    return MPI


def _comm():
    return _mpi().COMM_WORLD


def rank() -> int:
    """This process's rank in ``mpiexec``'s job (0 without mpiexec)."""
    return _comm().Get_rank()


def size() -> int:
    """The number of processes in the job (1 without mpiexec)."""
    return _comm().Get_size()


def local_size() -> int:
    """The number of processes of the job on this machine (sharing its cores)."""
    MPI = _mpi()
    local = MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        return local.Get_size()
    finally:
        local.Free()


def barrier() -> None:
    """Wait until every rank gets here."""
    _comm().Barrier()


def _writable_array(a, who):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{who}: expected a NumPy array, got {type(a).__name__}")
    if not (a.flags.c_contiguous and a.flags.writeable):
        raise ValueError(f"{who}: the array must be C-contiguous and writeable (it is updated in place)")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{who}: expected a numeric array, got dtype {a.dtype}")
    return a


def allreduce_(array, op="mean"):
    """Replace ``array`` by its sum (``op="sum"``) or mean (``"mean"``, floats only)
    over the ranks, in place, and return it. Every rank must call it with an array of
    the same shape and dtype."""
    a = _writable_array(array, "allreduce_")
    if op not in ("sum", "mean"):
        raise ValueError(f"allreduce_: op must be 'sum' or 'mean', got {op!r}")
    if op == "mean" and a.dtype.kind != "f":
        raise TypeError(f"allreduce_: op='mean' needs a float array, got dtype {a.dtype}")
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
    if op == "mean" and comm.Get_size() > 1:
        a /= comm.Get_size()
    return a


def _model_arrays(model):
    """The arrays every replica must agree on, as NumPy views (parameters, buffers)."""
    return list(model.params.values()) + list(model.buffers.values())


def broadcast_(obj, root=0):
    """Make every rank's ``obj`` equal to rank ``root``'s, in place: a NumPy array,
    or a model (its parameters, buffers, and its optimizer's state, step count, lr
    and clip_norm). Returns ``obj``."""
    comm = _comm()
    if isinstance(obj, np.ndarray):
        comm.Bcast(_writable_array(obj, "broadcast_"), root=root)
        return obj
    if not hasattr(obj, "params") or not hasattr(obj, "buffers"):
        raise TypeError(f"broadcast_: expected a model or a NumPy array, got {type(obj).__name__}")
    arrays = _model_arrays(obj)
    shapes = comm.bcast([(a.shape, a.dtype.str) for a in arrays], root=root)
    mine = [(a.shape, a.dtype.str) for a in arrays]
    _agree(None if shapes == mine else ValueError(f"the model's arrays {mine} differ from rank {root}'s {shapes}"))
    for a in arrays:
        comm.Bcast(a, root=root)
    opt = getattr(obj, "optimizer", None)
    if opt is not None:
        state = opt._core.get_state()
        meta = comm.bcast((opt.lr, opt.clip_norm, opt._core.steps, [(s.shape, s.dtype.str) for s in state]), root=root)
        lr, clip, steps, shapes = meta
        if comm.Get_rank() != root:
            state = [np.empty(s, dtype=d) for s, d in shapes]
        for s in state:
            comm.Bcast(s, root=root)
        if comm.Get_rank() != root:
            opt._core.set_state(state)
            opt._core.steps = int(steps)
            opt.lr, opt.clip_norm = lr, clip
    return obj


def checksum(model) -> int:
    """A CRC-32 of the model's parameters, buffers and optimizer state (bytes)."""
    c = 0
    for a in _model_arrays(model):
        c = zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"), c)
    opt = getattr(model, "optimizer", None)
    if opt is not None:
        for s in opt._core.get_state():
            c = zlib.crc32(memoryview(np.ascontiguousarray(s)).cast("B"), c)
        c = zlib.crc32(np.int64(opt._core.steps).tobytes(), c)
    return c


def check_replicas(model, where="") -> None:
    """Raise :class:`DistributedError` on every rank unless all ranks hold the same
    weights, buffers and optimizer state (compared by :func:`checksum`)."""
    sums = _comm().allgather(checksum(model))
    if len(set(sums)) > 1:
        raise DistributedError(
            f"the replicas differ{' ' + where if where else ''}: checksums by rank {[hex(s) for s in sums]} "
            "(did a rank change its weights outside training?)"
        )


def _agree(error, who="") -> None:
    """Collective: if any rank passes an exception, every rank raises DistributedError
    naming the ranks that failed and why (the failing rank chains its own)."""
    comm = _comm()
    mine = None if error is None else f"{type(error).__name__}: {error}"
    errors = comm.allgather(mine)
    bad = [(r, e) for r, e in enumerate(errors) if e is not None]
    if bad:
        text = "; ".join(f"rank {r} of {len(errors)}: {e}" for r, e in bad)
        raise DistributedError(f"{who + ': ' if who else ''}{text}") from error


def _abort(error, where) -> None:
    """A rank that cannot go on while the others may wait in a collective: say who and
    why on stderr, then end the whole job (MPI_Abort), so no rank waits forever."""
    comm = _comm()
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    print(
        f"bricks.distributed: rank {comm.Get_rank()} of {comm.Get_size()} failed {where}: {text}; stopping every rank",
        file=sys.stderr,
        flush=True,
    )
    comm.Abort(1)


class _Reducer:
    """What fit and train_step hand the native trainer: sums its flat buffer over the
    ranks with one allreduce per step (mpi4py releases the GIL while MPI works)."""

    def __init__(self):
        self.MPI = _mpi()
        self.comm = self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def __call__(self, flat):
        self.comm.Allreduce(self.MPI.IN_PLACE, flat, op=self.MPI.SUM)

    def sum(self, values):
        """Sums over the ranks of a few numbers (float64)."""
        a = np.asarray(values, dtype=np.float64).copy()
        self.comm.Allreduce(self.MPI.IN_PLACE, a, op=self.MPI.SUM)
        return a

    def gather_rows(self, a):
        """The ranks' row blocks stacked in rank order, on every rank."""
        return np.concatenate([b for b in self.comm.allgather(a) if b is not None and len(b)])

    def share(self, n):
        """This rank's rows [lo, hi) of n."""
        return self.rank * n // self.size, (self.rank + 1) * n // self.size

    def bcast(self, obj):
        return self.comm.bcast(obj, root=0)


_REDUCER = []


def _reducer():
    """One _Reducer per process (train_step calls this every step)."""
    if not _REDUCER:
        _REDUCER.append(_Reducer())
    return _REDUCER[0]
