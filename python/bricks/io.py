"""Save and load models: one ``.npz`` file, readable by plain NumPy.

It holds every parameter (``param/<name>``), the optimizer's state (``optim/<i>``)
and the architecture as JSON (``__bricks__``). Saving is atomic: the file is written
beside the target, flushed to disk, then renamed over it, so an interrupted save
leaves the previous file intact. Loading never unpickles: no code runs from a file.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT, VERSION = "bricks-model", 1


def _blocks_by_name():
    from . import blocks, losses

    return {c.__name__: c for m in (blocks, losses) for c in vars(m).values()
            if isinstance(c, type) and hasattr(c, "config") and not c.__name__.startswith("_")}


def _block_spec(b):
    return {"class": type(b).__name__, "config": b.config()}


def _make_block(spec):
    cls = _blocks_by_name().get(spec.get("class"))
    if cls is None:
        raise ValueError(f"load: unknown block class {spec.get('class')!r}")
    cfg = dict(spec.get("config", {}))
    return cls(**cfg)


def _optimizer_spec(opt):
    if opt is None:
        return None
    sd = opt.state_dict()
    return {k: sd[k] for k in ("type", "defaults", "lr", "clip_norm", "steps")}


def architecture(model) -> dict:
    """The model's architecture (and training set-up) as a JSON-able dict."""
    from .graph import Sequential

    arch = {"format": FORMAT, "version": VERSION, "dtype": str(model.dtype),
            "optimizer": _optimizer_spec(model.optimizer)}
    if isinstance(model, Sequential):
        arch["kind"] = "Sequential"
        arch["blocks"] = [_block_spec(b) for b in model._blocks]
        arch["input_features"] = model.inputs[0].features if model._graph is not None else None
        arch["loss"] = None if model._loss is None else {**_block_spec(model._loss[0]), "labels": model._loss[1]}
        return arch
    blocks, index = [], {}
    nodes = []
    for n in model._nodes:
        if id(n.block) not in index:
            index[id(n.block)] = len(blocks)
            blocks.append(_block_spec(n.block))
        nodes.append({"name": n.name, "block": index[id(n.block)], "inputs": [u.name for u in n.inputs]})
    arch.update(kind="Model", blocks=blocks, nodes=nodes, share_weights=model.share_weights,
                inputs=[{"name": n.name, "features": n.features, "labels": n.labels} for n in model.inputs],
                outputs=[n.name for n in model.outputs], losses=[n.name for n in model.losses])
    return arch


def _path(path, who):
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{who}: path must be a str or os.PathLike, got {type(path).__name__}")
    return os.fspath(path)


def _arrays(model) -> dict:
    """Everything a model file holds: parameters, optimizer state, the architecture."""
    arrays = {f"param/{k}": np.ascontiguousarray(v) for k, v in model.params().items()}
    if model.optimizer is not None:
        for i, s in enumerate(model.optimizer._core.get_state()):
            arrays[f"optim/{i}"] = s
    arrays["__bricks__"] = np.array(json.dumps(architecture(model)))
    return arrays


def save(model, path) -> None:
    """Write ``model`` to ``path`` atomically (see the module docstring)."""
    path = _path(path, "save")
    arrays = _arrays(model)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".bricks-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _read(path):
    try:
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            with z:
                files = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as e:
        raise ValueError(f"load: {path} is not a readable bricks model file "
                         f"(truncated or corrupted?): {e}") from None
    if "__bricks__" not in files:
        raise ValueError(f"load: {path} is an .npz file but not a bricks model (no architecture)")
    try:
        arch = json.loads(str(files.pop("__bricks__")))
    except json.JSONDecodeError as e:
        raise ValueError(f"load: {path} has a corrupted architecture: {e}") from None
    if not isinstance(arch, dict) or arch.get("format") != FORMAT:
        raise ValueError(f"load: {path} is not a bricks model file")
    if arch.get("version") != VERSION:
        raise ValueError(f"load: {path} has format version {arch.get('version')}, "
                         f"this bricks reads version {VERSION}")
    return arch, files


def _build(arch):
    from . import optim
    from .graph import Input, Model, Node, Sequential

    dtype = np.dtype(arch["dtype"])
    specs = [{**s, "config": {**s["config"], "dtype": dtype}} for s in arch["blocks"]]
    if arch["kind"] == "Sequential":
        model = Sequential(*[_make_block(s) for s in specs])
        if arch.get("loss"):
            loss = arch["loss"]
            model.compile(_make_block({**loss, "config": {**loss["config"], "dtype": dtype}}),
                          labels=loss["labels"])
        if arch.get("input_features") is not None and model._graph is None:
            model._chain(arch["input_features"])
    elif arch["kind"] == "Model":
        blocks = [_make_block(s) for s in specs]
        nodes = {i["name"]: Input(i["features"], dtype=dtype, name=i["name"], labels=i["labels"])
                 for i in arch["inputs"]}
        inputs = list(nodes.values())
        for n in arch["nodes"]:
            node = Node._from_block(blocks[n["block"]], [nodes[u] for u in n["inputs"]])
            node.name = n["name"]
            nodes[n["name"]] = node
        model = Model(inputs=inputs, outputs=[nodes[k] for k in arch["outputs"]],
                      loss=[nodes[k] for k in arch["losses"]] or None,
                      share_weights=arch.get("share_weights", False))
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


def load(path):
    """Rebuild a model saved with ``model.save(path)``: same architecture, dtype,
    weights (bit for bit), loss and optimizer state."""
    path = _path(path, "load")
    arch, files = _read(path)
    return _restore(arch, files, path)


def _restore(arch, files, path):
    try:
        model = _build(arch)
    except (KeyError, TypeError, IndexError, ValueError) as e:
        raise ValueError(f"load: {path} has an invalid architecture: {e!r}") from None
    params = model.params()
    want = {f"param/{k}" for k in params}
    have = {k for k in files if k.startswith("param/")}
    if want != have:
        raise ValueError(f"load: {path} parameters do not match its architecture: "
                         f"missing {sorted(want - have)}, unexpected {sorted(have - want)}")
    for k, a in params.items():
        src = files[f"param/{k}"]
        if src.shape != a.shape or src.dtype != a.dtype:
            raise ValueError(f"load: {path} parameter {k!r} is {src.dtype}{src.shape}, "
                             f"expected {a.dtype}{a.shape}")
        if not np.isfinite(src).all():
            raise ValueError(f"load: {path} parameter {k!r} holds NaN or infinite values")
    for k, a in params.items():
        a[...] = files[f"param/{k}"]
    spec = arch.get("optimizer")
    if spec:
        state = [files[k] for k in sorted((k for k in files if k.startswith("optim/")),
                                          key=lambda s: int(s.split("/")[1]))]
        try:
            model.optimizer.load_state_dict({**spec, "state": state})
        except (TypeError, ValueError) as e:
            raise ValueError(f"load: {path} has an invalid optimizer state: {e}") from None
    return model


# -- pickle and copy.deepcopy: the same content as a file, in memory -------------------------------
def _unpickle_model(arrays):
    arrays = dict(arrays)
    arch = json.loads(str(arrays.pop("__bricks__")))
    return _restore(arch, arrays, "pickle")


def _unpickle_block(spec, params):
    block = _make_block(spec)
    for k, a in block.params.items():
        a[...] = params[k]
    return block
