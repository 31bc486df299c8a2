"""Save and load models: one ``.npz`` file, readable by plain NumPy.

It holds every parameter (``param/<name>``), every buffer (state that is not trained,
such as BatchNorm's running statistics: ``buffer/<name>``), the optimizer's state
(``optim/<i>``) and the architecture as JSON (``__bricks__``). Saving is atomic: the file is written
beside the target (as ``.bricks-<pid>-<random>.<name>.tmp``), flushed to disk, then
renamed over it, so an interrupted save leaves the previous file intact; the next save
to the same path removes what a killed save left behind. A new file gets the mode NumPy
gives one (``0o666`` less the umask); a replaced file keeps its mode.

Loading never unpickles: no code runs from a file. It reads only regular files, and
it trusts nothing in one: the members' declared shapes, dtypes and sizes must be what
the architecture needs before any block is built or any array inflated, and every
value must be finite before the model is changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import secrets
import stat
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy

from . import optim
from ._arrays import resolve_dtype
from .block import _unpickle_block  # noqa: F401  (block pickles made before it moved to block.py name it here)
from .block import NONNEGATIVE_BUFFERS, from_spec, registry, user_blocks
from .graph import Model
from .node import Input, Node
from .sequential import Sequential

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

FORMAT, VERSION = "bricks-model", 1
ARCH = "__bricks__"
_MAX_ARCH_BYTES = 16 << 20  # the JSON (4 bytes a character): ~1 KB a block, room for ~15,000
_HEADER_BYTES = 10000  # NumPy's own bound on a .npy header (its refusal would suggest allow_pickle)


def _optimizer_spec(opt):
    if opt is None:
        return None
    sd = opt.state_dict()
    return {k: sd[k] for k in ("type", "defaults", "lr", "clip_norm", "steps")}


def _spec(block) -> dict:
    """block.spec(), plus the parameter shapes for a class of yours: the file is checked
    against them before anything is built, as _PARAMS does for bricks blocks."""
    spec = block.spec()
    if registry().get(spec["class"]) is not type(block):
        spec["params"] = {k: list(v.shape) for k, v in block.params.items()}
    return spec


def architecture(model) -> dict:
    """The model's architecture (and training set-up) as a JSON-able dict."""
    arch = {
        "format": FORMAT,
        "version": VERSION,
        "dtype": str(model.dtype),
        "optimizer": _optimizer_spec(model.optimizer),
    }
    if isinstance(model, Sequential):
        arch["kind"] = "Sequential"
        arch["blocks"] = [_layer_spec(b) for b in model]
        arch["input_features"] = model.input_width
        loss = model.compiled_loss
        arch["loss"] = None if loss is None else {**loss[0].spec(), "labels": loss[1]}
        return arch
    blocks, index = [], {}
    nodes = []
    for n in model.nodes:
        if id(n.block) not in index:
            index[id(n.block)] = len(blocks)
            blocks.append(_spec(n.block))
        nodes.append({"name": n.name, "block": index[id(n.block)], "inputs": [u.name for u in n.inputs]})
    arch.update(
        kind="Model",
        blocks=blocks,
        nodes=nodes,
        share_weights=model.share_weights,
        inputs=[{"name": n.name, "features": n.features, "labels": n.labels} for n in model.inputs],
        outputs=[n.name for n in model.outputs],
        losses=[n.name for n in model.losses],
    )
    return arch


def _layer_spec(b) -> dict:
    """A chain's item: a block's spec, or a nested Sequential's items."""
    if isinstance(b, Sequential):
        return {"class": "Sequential", "blocks": [_layer_spec(c) for c in b]}
    return _spec(b)


_MAX_NESTING = 32  # nested Sequentials in a file (a deeper file is refused, not recursed into)


def _chain_items(blocks, prefix="", depth=0) -> list:
    """(parameter name prefix, block spec) of a chain's blocks, nested Sequentials flattened."""
    if depth > _MAX_NESTING:
        raise ValueError(f"Sequentials nested deeper than {_MAX_NESTING}")
    if not isinstance(blocks, list) or not blocks:
        raise ValueError(f"a nested Sequential's 'blocks' must be a non-empty list, got {blocks!r:.200}")
    out = []
    for i, spec in enumerate(blocks):
        if isinstance(spec, dict) and spec.get("class") == "Sequential":
            if set(spec) != {"class", "blocks"}:
                raise ValueError(f"nested Sequential {prefix}{i} must be {{'class', 'blocks'}}, got {sorted(spec)}")
            out += _chain_items(spec["blocks"], f"{prefix}{i}.", depth + 1)
        else:
            out.append((f"{prefix}{i}", spec))
    return out


def _path(path, who):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{who}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fsdecode(path)


def _arrays(model) -> dict:
    """Everything a model file holds: parameters, buffers, optimizer state, the architecture."""
    arrays = {f"param/{k}": np.ascontiguousarray(v) for k, v in model.params.items()}
    arrays.update({f"buffer/{k}": np.array(v, order="C") for k, v in model.buffers.items()})  # 0-d stays 0-d
    if model.optimizer is not None:
        for i, s in enumerate(model.optimizer._core.get_state()):
            arrays[f"optim/{i}"] = s
    arrays[ARCH] = np.array(json.dumps(architecture(model)))
    return arrays


# -- save ---------------------------------------------------------------------------------------
def save(model, path) -> None:
    """Write ``model`` to ``path`` atomically (see the module docstring)."""
    path = _path(path, "save")
    arrays = _arrays(model)
    folder, name = os.path.split(os.path.abspath(path))
    tag = _temp_tag(name)
    _remove_leftovers(folder, tag)
    mode = _file_mode(path)
    fd, tmp = _create_temp(folder, tag)
    try:
        if fcntl is not None:  # tells a cleaner that can't see our pid (another host) we are alive
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pass
        _chmod(fd, tmp, mode)  # not os.open's mode: the umask would mask it, and a kept mode may need those bits
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _umask(status="/proc/self/status") -> int:
    """The process's umask. Linux reports it; setting and restoring it is the only other
    way, and a thread creating a file in between would get the wrong mode."""
    try:
        with open(status, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode(path) -> int:
    """What ``path`` should get: the mode of the regular file it replaces, else NumPy's
    (``0o666`` less the umask). Permission bits only: no set-id bits on a data file."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode) & 0o777
    except OSError:
        pass
    return 0o666 & ~_umask()


def _chmod(fd, tmp, mode):
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        else:  # pragma: no cover - Windows before Python 3.13
            os.chmod(tmp, mode)
    except OSError:  # a file system without modes (FAT, some network mounts)
        pass


def _temp_tag(name: str) -> str:
    """The target's name as its temporary files carry it (a digest when the name is too
    long to fit in a file name with the rest)."""
    if len(os.fsencode(name)) <= 160:
        return name
    return "~" + hashlib.sha256(os.fsencode(name)).hexdigest()[:32]


def _create_temp(folder, tag):
    """A new file ``.bricks-<pid>-<random>.<tag>.tmp`` in ``folder``: the pid says whether
    its writer still runs, the tag which target it is for."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".bricks-{os.getpid()}-{secrets.token_hex(4)}.{tag}.tmp")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"save: could not create a temporary file in {folder}")  # pragma: no cover


def _remove_leftovers(folder, tag) -> None:
    """Remove what saves to this target left behind when killed (SIGKILL, power loss).
    A file whose writer may still run is kept: it is a concurrent save in progress."""
    if os.name != "posix":  # os.kill(pid, 0) probes a process only on POSIX
        return
    pattern = re.compile(rf"\.bricks-(\d+)-[0-9a-f]{{8}}\.{re.escape(tag)}\.tmp\Z")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        m = pattern.match(e.name)
        try:
            if m and e.is_file(follow_symlinks=False) and _writer_is_dead(int(m.group(1)), e.path):
                os.unlink(e.path)
        except OSError:  # gone already (another cleaner), or not ours to remove
            pass


def _writer_is_dead(pid: int, path) -> bool:
    if pid <= 0 or pid == os.getpid():  # 0 would probe our process group; our pid: another thread
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        pass
    except (OSError, OverflowError):  # exists under another user, or not a pid at all
        return False
    else:
        return False
    if fcntl is None:
        return True
    # No such pid here; a writer on another host (shared disk) or in another pid namespace
    # still holds its lock. LOCK_SH: NFS emulates flock with locks a read-only fd can take.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # locks unsupported here: the pid is all there is to go by
        return True
    finally:
        os.close(fd)
    return True


# -- load: reading the file -----------------------------------------------------------------------
def load(path):
    """Rebuild a model saved with ``model.save(path)``: same architecture, dtype,
    weights (bit for bit), loss and optimizer state.

    ``path`` must be a regular file (a FIFO, directory or device is a ValueError). A file
    whose members are not what its architecture needs (names, shapes, dtypes, sizes), or
    that holds non-finite values, is a ValueError raised before anything is built."""
    path = _path(path, "load")
    arch, files = _read(path)
    return _restore(arch, files, path)


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path, mode) -> ValueError:
    what = next((w for test, w in _KINDS if test(mode)), f"a special file (type {stat.S_IFMT(mode):#o})")
    return ValueError(f"load: {path} is {what}, not a readable bricks model file: expected a regular file")


def _open_regular(path):
    """Open ``path`` for reading if it is a regular file. Opening a FIFO would wait for a
    writer, forever if none comes, so the type is checked first, and again on the open
    file (opened without waiting) in case the path changed in between."""
    st = os.stat(path)  # FileNotFoundError, PermissionError: as they are
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    nonblock = getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, os.O_RDONLY | nonblock | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode)
        if nonblock:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _unreadable(path, e) -> ValueError:
    return ValueError(f"load: {path} is not a readable bricks model file (truncated or corrupted?): {e}")


# what a damaged archive raises while zipfile and NumPy read it
_DAMAGE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    zlib.error,
)


def _some(names, n=8) -> str:
    names = sorted(names)
    shown = ", ".join(repr(k) for k in names[:n])
    return f"[{shown}{f', ... ({len(names)} in all)' if len(names) > n else ''}]"


def _read(path):
    """The architecture and the arrays of the bricks file ``path``, all checked (see
    `_members`, `_expect` and `_declared`) before any array is inflated."""
    with _open_regular(path) as f:
        if f.read(6) == b"\x93NUMPY":
            raise ValueError(
                f"load: {path} is not a readable bricks model file: it is a single .npy array, expected an .npz archive"
            )
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except _DAMAGE as e:
            raise _unreadable(path, e) from None
        with zf:
            infos = _members(zf, path)
            arch = _parse_arch(_read_arch(zf, infos.pop(ARCH), path), path)
            want = _expect(arch, path)
            _declared(zf, infos, want, path)
            files = {k: _read_array(zf, info, path) for k, info in infos.items()}
    return arch, files


def _members(zf, path) -> dict:
    """The archive's members by name (without ``.npy``), if it is a bricks file at all."""
    infos = zf.infolist()
    names = [i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos]
    if ARCH not in names:
        raise ValueError(
            f"load: {path} is a zip archive but not a bricks model file: expected the "
            f"members {ARCH!r} (the architecture), 'param/<name>', 'buffer/<name>' and 'optim/<i>', "
            f"found {_some(names)}"
        )
    out = {}
    for k, i in zip(names, infos):
        if k in out:
            raise _unreadable(path, f"member {k!r} appears twice")
        if not i.filename.endswith(".npy"):
            raise ValueError(
                f"load: {path} member {i.filename!r} is not a .npy array; a bricks model "
                f"file holds only {ARCH!r}, 'param/<name>', 'buffer/<name>' and 'optim/<i>' arrays"
            )
        if i.flag_bits & 0x1:
            raise _unreadable(path, f"member {k!r} is encrypted")
        # bzip2 and LZMA members inflate without a bound on each read: only what NumPy writes
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _unreadable(
                path,
                f"member {k!r} uses zip compression method {i.compress_type}; "
                f"expected stored (np.savez) or deflated (np.savez_compressed)",
            )
        out[k] = i
    return out


def _header(zf, info, path):
    """A member's dtype, shape and data offset, from its .npy header alone (read piece by
    piece: the header's length is checked before the header is read)."""
    try:
        with zf.open(info) as m:
            magic = m.read(npy.MAGIC_LEN)
            version = npy.read_magic(io.BytesIO(magic))
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f".npy format version {version}, expected 1.0 or 2.0")
            size = m.read(2 if version == (1, 0) else 4)
            length = int.from_bytes(size, "little")
            if length > _HEADER_BYTES:
                raise ValueError(f".npy header of {length} bytes, expected at most {_HEADER_BYTES}")
            head = io.BytesIO(magic + size + m.read(length))
        npy.read_magic(head)
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read(head)
    except _DAMAGE as e:
        raise _unreadable(path, f"member {info.filename[:-4]!r}: {e}") from None
    return dtype, tuple(shape), head.tell()


def _check_size(info, dtype, shape, offset, path):
    """The zip directory's size must be the .npy header's: NumPy allocates what the header
    says, the zip reader stops at the directory's size."""
    implied = offset + math.prod(shape) * dtype.itemsize
    if info.file_size != implied:
        raise _unreadable(
            path,
            f"member {info.filename[:-4]!r} declares {info.file_size} bytes in the zip "
            f"directory, but its .npy header ({_kind(dtype, shape)}) implies {implied}",
        )


def _read_arch(zf, info, path) -> str:
    if info.file_size > _MAX_ARCH_BYTES:
        raise ValueError(
            f"load: {path} declares a {info.file_size}-byte architecture ({ARCH!r}); "
            f"expected at most {_MAX_ARCH_BYTES} bytes"
        )
    dtype, shape, offset = _header(zf, info, path)
    if dtype.kind != "U" or shape != ():
        raise ValueError(
            f"load: {path} member {ARCH!r} is {_kind(dtype, shape)}, expected a text scalar (the architecture as JSON)"
        )
    _check_size(info, dtype, shape, offset, path)
    return str(_read_array(zf, info, path)[()])


def _declared(zf, infos, want, path) -> None:
    """Every member is one the architecture needs, declared with the shape and dtype it needs
    and a zip size to match: so what reading inflates is exactly what the model holds."""
    _same_members(want, infos, path)
    for k, info in infos.items():
        dtype, shape, offset = _header(zf, info, path)
        _check_kind(want[k], dtype, shape, path)
        _check_size(info, dtype, shape, offset, path)


def _same_members(want, have, path) -> None:
    missing, unexpected = want.keys() - have.keys(), have.keys() - want.keys()
    if missing or unexpected:
        found = [
            f"{what} {_some(names)}" for what, names in (("missing", missing), ("unexpected", unexpected)) if names
        ]
        raise ValueError(f"load: {path} does not hold the members its architecture needs: {', '.join(found)}")


def _read_array(zf, info, path):
    try:
        with zf.open(info) as m:
            a = npy.read_array(m, allow_pickle=False)
            m.read(1)  # at the end: zipfile checks the CRC
    except _DAMAGE as e:
        raise _unreadable(path, f"member {info.filename[:-4]!r}: {e}") from None
    return a


# -- load: what the architecture needs ------------------------------------------------------------
class _NonFinite(ValueError):
    pass


def _finite_float(s):
    v = float(s)
    if not math.isfinite(v):
        raise _NonFinite(f"the number {s} is out of range")
    return v


def _reject_constant(s):
    raise _NonFinite(f"it holds {s}")


def _parse_arch(text, path) -> dict:
    try:
        arch = json.loads(text, parse_float=_finite_float, parse_constant=_reject_constant)
    except _NonFinite as e:
        raise ValueError(f"load: {path} has an invalid architecture: {e}; expected finite numbers") from None
    except (ValueError, RecursionError) as e:
        raise ValueError(f"load: {path} has a corrupted architecture: {e}") from None
    if not isinstance(arch, dict) or arch.get("format") != FORMAT:
        got = arch.get("format") if isinstance(arch, dict) else type(arch).__name__
        raise ValueError(f"load: {path} is not a bricks model file (format {got!r}, expected {FORMAT!r})")
    if arch.get("version") != VERSION:
        raise ValueError(f"load: {path} has format version {arch.get('version')}, this bricks reads version {VERSION}")
    return arch


def _kind(dtype, shape) -> str:
    return f"{dtype} {tuple(shape)}"


class _Want:
    """A member the architecture needs: its dtype and shape, and what it is (for messages)."""

    def __init__(self, dtype, shape, what, nonnegative=False):
        self.dtype, self.shape, self.what, self.nonnegative = dtype, shape, what, nonnegative


def _check_kind(want, dtype, shape, path):
    if dtype != want.dtype or tuple(shape) != want.shape:
        raise ValueError(f"load: {path} {want.what} is {_kind(dtype, shape)}, expected {_kind(want.dtype, want.shape)}")


def _linear_params(cfg, where):
    sizes = []
    for k in ("in_features", "out_features"):
        v = cfg.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise ValueError(f"{where} (Linear): {k} must be an int > 0, got {v!r}")
        sizes.append(v)
    n_in, n_out = sizes
    ps = [("weight", (n_out, n_in), (n_out, n_in))]
    if cfg.get("bias", True):
        ps.append(("bias", (n_out,), (1, n_out)))  # the core keeps a bias as one row
    return ps


def _features(cfg, where, cls):
    v = cfg.get("features")
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"{where} ({cls}): features must be an int > 0, got {v!r}")
    return v


def _layer_norm_params(cfg, where):
    d = _features(cfg, where, "LayerNorm")
    return [(p, (d,), (1, d)) for p in ("weight", "bias")] if cfg.get("elementwise_affine", True) else []


def _batch_norm_params(cfg, where):
    d = _features(cfg, where, "BatchNorm")
    return [(p, (d,), (1, d)) for p in ("weight", "bias")]


# The parameters a block's config implies, without building it: (name, shape, shape in the
# core). Blocks not listed have none (tests/test_io_safety.py checks this against the blocks).
_PARAMS = {"Linear": _linear_params}
_PARAMS["LayerNorm"] = _layer_norm_params
_PARAMS["BatchNorm"] = _batch_norm_params

# The buffers (state that is not trained) a block's config implies: (name, shape, dtype or
# None for the model's). Blocks not listed have none (tests/test_io_safety.py checks this).
_BUFFERS = {
    "BatchNorm": lambda cfg, where: [
        ("running_mean", (_features(cfg, where, "BatchNorm"),), None),
        ("running_var", (_features(cfg, where, "BatchNorm"),), None),
        ("num_batches_tracked", (), np.dtype(np.int64)),
    ],
}

# The state buffers an optimizer keeps per parameter, in the core's order (optim.h):
# (what it is, whether its values are >= 0). SGD keeps a momentum buffer when momentum > 0.
_STATE = {
    "SGD": lambda d: [("momentum buffer", False)] if _positive(d.get("momentum", 0.0)) else [],
    "Adam": lambda d: [("first moment", False), ("second moment", True)],
    "AdamW": lambda d: [("first moment", False), ("second moment", True)],
}


def _positive(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def _block_params(spec, where):
    if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"{where} must be {{'class': ..., 'config': {{...}}}}, got {spec!r:.200}")
    cls = spec.get("class")
    if isinstance(cls, str) and cls not in registry() and cls in user_blocks():
        return _user_params(spec.get("params"), f"{where} ({cls})")
    if not isinstance(cls, str) or cls not in registry():
        raise ValueError(
            f"unknown block class {cls!r:.200} (a class of your own must be defined, "
            f"its module imported, before loading)"
        )
    make = _PARAMS.get(cls)
    return make(spec.get("config", {}), where) if make else []


def _block_buffers(spec, where):
    make = _BUFFERS.get(spec.get("class"))  # the spec was checked by _block_params
    return make(spec.get("config", {}), where) if make else []


def _user_params(params, where):
    """A class of yours: the parameter shapes its spec recorded (1-D or 2-D, positive)."""
    if not isinstance(params, dict):
        raise ValueError(f"{where}: 'params' must be a dict of parameter shapes, got {params!r:.200}")
    ps = []
    for name, shape in params.items():
        ok = isinstance(shape, list) and len(shape) in (1, 2)
        ok = ok and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        if not ok:
            raise ValueError(f"{where}: parameter {name!r:.80} shape must be 1 or 2 positive ints, got {shape!r:.200}")
        ps.append((name, tuple(shape), tuple(shape) if len(shape) == 2 else (1, shape[0])))
    return ps


def _expect(arch, path) -> dict:
    """The members the architecture needs, by name, from its JSON alone: what the file must
    declare before anything is built, and what the loaded arrays must be."""
    try:
        return _expect_members(arch)
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise ValueError(f"load: {path} has an invalid architecture: {e}") from None


def _expect_members(arch) -> dict:
    dtype = arch.get("dtype")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r:.200}")
    dtype = np.dtype(dtype)
    blocks, kind = arch.get("blocks"), arch.get("kind")
    if not isinstance(blocks, list) or not blocks:
        raise ValueError(f"'blocks' must be a non-empty list, got {type(blocks).__name__}")
    if kind == "Sequential":
        owners = [(name, spec, f"block {name}") for name, spec in _chain_items(blocks)]
        loss = arch.get("loss")
        if loss and _block_params(loss, "the loss"):
            raise ValueError(f"the loss must be a loss block, got {loss.get('class')!r}")
    elif kind == "Model":
        nodes = arch.get("nodes")
        if not isinstance(nodes, list):
            raise ValueError(f"'nodes' must be a list, got {type(nodes).__name__}")
        owners, seen = [], set()
        for n in nodes:  # a block's parameters are named after the first node that uses it
            b = n.get("block") if isinstance(n, dict) else None
            if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < len(blocks):
                raise ValueError(f"node {n!r:.200} must name a block 0..{len(blocks) - 1}")
            if b not in seen:
                seen.add(b)
                owners.append((str(n.get("name")), blocks[b], f"block {b}"))
        if len(seen) != len(blocks):  # an unused block would still be built
            raise ValueError(f"blocks {sorted(set(range(len(blocks))) - seen)[:8]} are used by no node")
    else:
        raise ValueError(f"unknown model kind {kind!r:.200}")
    want, order = {}, []
    for name, spec, where in owners:
        for p, shape, core_shape in _block_params(spec, where):
            want[f"param/{name}.{p}"] = _Want(dtype, shape, f"parameter {f'{name}.{p}'!r}")
            order.append((f"{name}.{p}", core_shape))
        for k, shape, kind in _block_buffers(spec, where):
            want[f"buffer/{name}.{k}"] = _Want(
                kind or dtype, shape, f"buffer {f'{name}.{k}'!r}", k in NONNEGATIVE_BUFFERS
            )
    spec = arch.get("optimizer")
    if spec:
        if not isinstance(spec, dict) or spec.get("type") not in _STATE:
            raise ValueError(f"unknown optimizer {spec.get('type') if isinstance(spec, dict) else spec!r:.200}")
        if not isinstance(spec.get("defaults"), dict):
            raise ValueError(f"optimizer defaults must be a dict, got {spec.get('defaults')!r:.200}")
        for k in ("lr", "clip_norm"):
            v = spec.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"optimizer {k} must be a finite number >= 0, got {v!r:.200}")
        steps = spec.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"optimizer steps must be an int >= 0, got {steps!r:.200}")
        kinds = _STATE[spec["type"]](spec["defaults"])
        state = [(p, core_shape, label, nonneg) for p, core_shape in order for label, nonneg in kinds]
        for i, (p, core_shape, label, nonneg) in enumerate(state):
            want[f"optim/{i}"] = _Want(
                dtype, core_shape, f"optimizer state 'optim/{i}' ({spec['type']} {label} of {p!r})", nonneg
            )
    return want


# -- load: building the model ---------------------------------------------------------------------
def _check_values(files, want, path) -> None:
    """Every array is what the architecture needs, with finite values (and second moments
    >= 0: Adam divides by their square root): checked before the model changes."""
    _same_members(want, files, path)
    for k, w in want.items():
        a = files[k]
        if not isinstance(a, np.ndarray):
            raise ValueError(f"load: {path} {w.what} is a {type(a).__name__}, expected an array")
        _check_kind(w, a.dtype, a.shape, path)
        if not np.isfinite(a).all():
            bad = a.size - np.count_nonzero(np.isfinite(a))
            raise ValueError(
                f"load: {path} {w.what} holds {bad} non-finite value(s) (NaN or infinite) "
                f"of {a.size}; expected finite numbers"
            )
        if w.nonnegative and (a < 0).any():
            raise ValueError(
                f"load: {path} {w.what} holds {np.count_nonzero(a < 0)} negative value(s); expected values >= 0"
            )


def _build(arch):

    dtype = np.dtype(arch["dtype"])

    def block(s):
        if s.get("class") == "Sequential":  # nested (its depth checked by _chain_items)
            return Sequential(*[block(c) for c in s["blocks"]])
        return from_spec({**s, "config": {**s["config"], "dtype": dtype}})

    if arch["kind"] == "Sequential":
        model = Sequential(*[block(s) for s in arch["blocks"]])
        if arch.get("loss"):
            loss = arch["loss"]
            model.compile(from_spec({**loss, "config": {**loss["config"], "dtype": dtype}}), labels=loss["labels"])
        if arch.get("input_features") is not None:
            model.build_for([np.empty((0, arch["input_features"]), dtype)])
    elif arch["kind"] == "Model":
        blocks = [from_spec({**s, "config": {**s["config"], "dtype": dtype}}) for s in arch["blocks"]]
        nodes = {
            i["name"]: Input(i["features"], dtype=dtype, name=i["name"], labels=i["labels"]) for i in arch["inputs"]
        }
        inputs = list(nodes.values())
        for n in arch["nodes"]:
            node = Node._from_block(blocks[n["block"]], [nodes[u] for u in n["inputs"]])
            node.name = n["name"]
            nodes[n["name"]] = node
        model = Model(
            inputs=inputs,
            outputs=[nodes[k] for k in arch["outputs"]],
            loss=[nodes[k] for k in arch["losses"]] or None,
            share_weights=arch.get("share_weights", False),
        )
    else:
        raise ValueError(f"load: unknown model kind {arch.get('kind')!r}")
    spec = arch.get("optimizer")
    if spec:
        cls = getattr(optim, spec["type"], None)
        if not (isinstance(cls, type) and issubclass(cls, optim.Optimizer)):
            raise ValueError(f"load: unknown optimizer {spec['type']!r}")
        d = dict(spec["defaults"])
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        model.optimizer = cls(model, **d)
    return model


def _restore(arch, files, path):
    want = _expect(arch, path)
    _check_values(files, want, path)
    try:
        model = _build(arch)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError, RecursionError) as e:
        raise ValueError(f"load: {path} has an invalid architecture: {e!r}") from None
    params, buffers = model.params, model.buffers
    built = {f"param/{k}": _kind(a.dtype, a.shape) for k, a in params.items()}
    built.update({f"buffer/{k}": _kind(a.dtype, a.shape) for k, a in buffers.items()})
    implied = {k: _kind(w.dtype, w.shape) for k, w in want.items() if not k.startswith("optim/")}
    if built != implied:  # e.g. nodes listed out of order, so named otherwise once built
        raise ValueError(
            f"load: {path} has an invalid architecture: it builds the parameters and buffers "
            f"{_some(built)}, its members are {_some(implied)}"
        )
    spec = arch.get("optimizer")
    state = [files[f"optim/{i}"] for i in range(len(want) - len(implied))]
    if spec:  # the core checks every array before it changes any
        try:
            model.optimizer.load_state_dict({**spec, "state": state})
        except (TypeError, ValueError) as e:
            raise ValueError(f"load: {path} has an invalid optimizer state: {e}") from None
    for k, a in params.items():
        a[...] = files[f"param/{k}"]
    for k, a in buffers.items():
        a[...] = files[f"buffer/{k}"]
    return model


# -- model.astype: the saved content, its floats converted, rebuilt in the other dtype ------------
def astype(model, dtype):
    """A copy of ``model`` in ``dtype`` (np.float32 or np.float64): the same architecture,
    loss, optimizer (its state converted too), metrics and training mode, with the
    weights and buffers converted. The model itself is left as it was."""
    if dtype is None:
        raise TypeError(f"astype: dtype must be float32 or float64, got None (the model is {model.dtype})")
    try:
        want = resolve_dtype(dtype)
    except TypeError as e:
        raise TypeError(f"astype: {e}") from None
    arrays = _arrays(model)
    arch = json.loads(str(arrays.pop(ARCH)))
    arch["dtype"] = str(want)
    old = np.dtype(model.dtype)
    with np.errstate(over="ignore"):  # a float64 value too big for float32 is refused below, by name
        files = {k: (a.astype(want) if a.dtype == old else a) for k, a in arrays.items()}
    try:
        new = _restore(arch, files, f"astype({want})")
    except ValueError as e:
        raise ValueError(f"astype: cannot convert the model to {want}: {e}") from None
    new.metrics = model.metrics
    new.train(all(c.training for c in model.native_blocks))
    return new


# -- pickle and copy.deepcopy: the same content as a file, in memory -------------------------------
def _unpickle_model(arrays):
    arrays = dict(arrays)
    arch = _parse_arch(str(arrays.pop(ARCH)), "pickle")
    return _restore(arch, arrays, "pickle")
