"""Export a model's inference graph to ONNX (``onnx`` is an optional extra).

``to_onnx(model, path)`` writes the graph that computes the model's outputs:
losses and label inputs are training-only and left out, as is every input the
outputs do not depend on. Each block maps to standard ONNX operators:

    ==============  ==========================================================
    bricks          ONNX (opset >= 13)
    ==============  ==========================================================
    Linear          Gemm(x, W, b, transB=1), W stored (out, in) as in PyTorch;
                    without bias Gemm(x, W, transB=1)
    ReLU            Relu
    Sigmoid         Sigmoid
    Tanh            Tanh
    Softmax         Softmax(axis=1)
    LogSoftmax      LogSoftmax(axis=1)
    Hadamard        Mul
    Dropout         Identity (inference: dropout is the identity)
    ==============  ==========================================================

Every tensor is (N, features) with the batch dimension symbolic (``"N"``); the
element type and the initializers are in the model's dtype (float32 or float64).
Anything else (a loss on the output path, a block without an inference meaning) is
a ``ValueError``. The file is checked with ``onnx.checker.check_model`` and written
atomically: beside the target, flushed to disk, then renamed over it.

Example:
    >>> model = bk.Sequential(bk.Linear(64, 32), bk.ReLU(), bk.Linear(32, 10), bk.Softmax())
    >>> bk.onnx_export.to_onnx(model, "digits.onnx")
    >>> import onnxruntime as ort
    >>> sess = ort.InferenceSession("digits.onnx", providers=["CPUExecutionProvider"])
    >>> probs = sess.run(None, {"input": X.astype(np.float32)})[0]
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from ._version import __version__
from .block import registry
from .graph import Model
from .losses import Loss
from .sequential import Sequential

MIN_OPSET = 13  # Softmax/LogSoftmax take the axis as here (the whole row) from opset 13
BATCH = "N"

__all__ = ["to_onnx", "MIN_OPSET"]


class _Names:
    """Unique ONNX value names: reserved public names first, then generated ones."""

    def __init__(self):
        self.used = set()

    def reserve(self, name):
        self.used.add(name)
        return name

    def fresh(self, base):
        base = str(base) or "v"
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name


def _plan(model):
    """(inputs, nodes, outputs) of the inference graph.

    inputs: [(key, name, features)]; nodes: [(key, name, block, [input keys])] in
    topological order; outputs: [key]; keys identify values (graph nodes).
    """
    if not isinstance(model, Model):
        raise TypeError(f"to_onnx: expected a bricks Model or Sequential, got {type(model).__name__}")
    if not model.built:  # a Sequential without a Linear: the input width is not known yet
        raise ValueError(
            "to_onnx: this Sequential has no Linear block, so its input width is "
            "unknown; run forward (or predict) once on data first"
        )
    if not model.outputs:
        raise ValueError("to_onnx: the model has no outputs (only losses); nothing to export")
    needed, stack = set(), list(model.outputs)
    while stack:  # everything the outputs depend on (losses and their targets are left out)
        n = stack.pop()
        if n._uid not in needed:
            needed.add(n._uid)
            stack.extend(n.inputs)
    inputs = []
    for n in model.inputs:
        if n._uid in needed:
            if n.labels:
                raise ValueError(
                    f"to_onnx: the outputs depend on the class-label input {n.name!r}, which has no inference meaning"
                )
            inputs.append((n._uid, n.name, n.features))
    nodes = [
        (n._uid, n.name, n.block, [u._uid for u in n.inputs]) for n in model.nodes if n._uid in needed
    ]  # model.nodes is topologically sorted
    return inputs, nodes, [n._uid for n in model.outputs]


def _public_names(given, default, what, count):
    if given is None:
        names = list(default)
    else:
        if isinstance(given, str):
            given = [given]
        names = list(given)
        if len(names) != count:
            raise ValueError(
                f"to_onnx: {what} has {len(names)} name(s), the exported graph has {count}: {list(default)}"
            )
    for s in names:
        if not isinstance(s, str) or not s:
            raise ValueError(f"to_onnx: {what} must be non-empty strings, got {s!r}")
    return names


def _converters():
    """The ONNX converter of each exportable block, keyed by its registered name
    (`bricks.block.registry`)."""

    def linear(h, blk, xs, y, init):
        ins = [xs[0], init("weight")]
        if "bias" in blk.params:
            ins.append(init("bias"))
        return [h.make_node("Gemm", ins, [y], transB=1)]

    def simple(op, **attrs):
        return lambda h, blk, xs, y, init: [h.make_node(op, xs, [y], **attrs)]

    return {
        "Linear": linear,
        "ReLU": simple("Relu"),
        "Sigmoid": simple("Sigmoid"),
        "Tanh": simple("Tanh"),
        "Softmax": simple("Softmax", axis=1),
        "LogSoftmax": simple("LogSoftmax", axis=1),
        "Hadamard": simple("Mul"),
        "Dropout": simple("Identity"),
    }


def _converter_for(blk, table, node_name):
    hook = getattr(type(blk), "onnx_converter", None)
    if hook is not None:  # your own block's converter, same signature as the table's entries
        if not callable(hook):
            raise TypeError(f"to_onnx: {type(blk).__name__}.onnx_converter must be callable")
        return hook
    blocks = registry()
    for cls in type(blk).__mro__:  # a subclass of a registered block converts as that block
        if cls.__name__ in table and blocks.get(cls.__name__) is cls:
            return table[cls.__name__]

    why = (
        "a loss is training-only; export a model whose outputs are the predictions"
        if isinstance(blk, Loss)
        else "it has no ONNX export (a class of yours can define "
        "onnx_converter(h, blk, xs, y, init) returning ONNX nodes)"
    )
    raise ValueError(
        f"to_onnx: cannot export node {node_name!r} ({blk.name}, "
        f"{type(blk).__name__}): {why}. Exportable blocks: "
        f"{', '.join(sorted(table))}"
    )


def build_onnx(model, *, opset=17, input_names=None, output_names=None):
    """The model's inference graph as an ``onnx.ModelProto`` (checked; not written)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("to_onnx needs the onnx package: pip install 'bricks[onnx]'") from e

    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"to_onnx: opset must be an int, got {type(opset).__name__}")
    latest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= latest:
        raise ValueError(
            f"to_onnx: opset must be in [{MIN_OPSET}, {latest}] (this onnx supports up to {latest}), got {opset}"
        )
    dtype = np.dtype(model.dtype)
    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}.get(dtype)
    if elem is None:
        raise ValueError(f"to_onnx: unsupported model dtype {dtype}")

    inputs, nodes, outputs = _plan(model)
    table = _converters()
    convs = [_converter_for(blk, table, name) for _, name, blk, _ in nodes]  # fail before building
    by_key = {k: (name, blk) for k, name, blk, _ in nodes}
    feats = {k: f for k, _, f in inputs}
    for k, _, blk, srcs in nodes:  # the width each block gives its inputs' widths
        feats[k] = blk._core.infer_features([(feats[s], False) for s in srcs])

    if isinstance(model, Sequential):
        default_out = ["output"]
    else:
        in_name = {k: n for k, n, _ in inputs}
        default_out = [by_key[k][0] if k in by_key else f"{in_name[k]}_out" for k in outputs]
        for i, name in enumerate(default_out):  # one node listed twice as an output: number the copies
            if name in default_out[:i]:
                default_out[i] = f"{name}_{default_out[:i].count(name)}"
    in_names = _public_names(input_names, [n for _, n, _ in inputs], "input_names", len(inputs))
    out_names = _public_names(output_names, default_out, "output_names", len(outputs))
    dup = sorted({s for s in in_names + out_names if (in_names + out_names).count(s) > 1})
    if dup:
        raise ValueError(
            f"to_onnx: graph inputs and outputs need distinct names; {dup} repeat (pass input_names=/output_names=)"
        )

    names, node_names = _Names(), _Names()
    value = {}
    for (k, _, _), s in zip(inputs, in_names):
        value[k] = names.reserve(s)
    for s in out_names:
        names.reserve(s)
    # A block node that is an output (its first time) writes straight to the output name;
    # an input or a node listed twice as an output gets an Identity.
    identities = []
    for k, s in zip(outputs, out_names):
        if k in by_key and k not in value:
            value[k] = s
        else:
            identities.append((k, s))

    initializers, inits, onnx_nodes = [], {}, []
    for (k, name, blk, srcs), conv in zip(nodes, convs):
        if k not in value:
            value[k] = names.fresh(name)

        def init(param, blk=blk, name=name):
            # one initializer per parameter, named "<first node>.<param>" like Model.params;
            # a block shared by several nodes (share_weights=True) reuses it
            if (id(blk), param) not in inits:
                arr = np.array(blk.params[param], dtype=dtype, order="C")  # a copy
                key = names.fresh(f"{name}.{param}")
                initializers.append(numpy_helper.from_array(arr, key))
                inits[(id(blk), param)] = key
            return inits[(id(blk), param)]

        made = conv(helper, blk, [value[s] for s in srcs], value[k], init)
        for i, nd in enumerate(made):
            nd.name = node_names.fresh(f"{name}/{nd.op_type}" if len(made) == 1 else f"{name}/{nd.op_type}_{i}")
            nd.doc_string = f"bricks {blk.name}"
        onnx_nodes.extend(made)
    for k, s in identities:
        nd = helper.make_node("Identity", [value[k]], [s], name=node_names.fresh(f"{s}/Identity"))
        onnx_nodes.append(nd)

    def vi(name, f):
        return helper.make_tensor_value_info(name, elem, [BATCH, int(f)])

    graph = helper.make_graph(
        onnx_nodes,
        f"bricks_{type(model).__name__.lower()}",
        [vi(s, f) for (_, _, f), s in zip(inputs, in_names)],
        [vi(s, feats[k]) for k, s in zip(outputs, out_names)],
        initializer=initializers,
    )
    opsets = [helper.make_opsetid("", int(opset))]
    proto = helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="bricks",
        producer_version=_version(),
        doc_string=f"exported by bricks from {type(model).__name__} ({dtype})",
    )
    # The oldest IR version that carries this opset: older runtimes can load the file.
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:  # pragma: no cover - would be an exporter bug
        raise ValueError(f"to_onnx: the exported graph fails onnx.checker: {e}") from e
    return proto


def _version():
    return __version__


def to_onnx(model, path, *, opset=17, input_names=None, output_names=None):
    """Export ``model``'s inference graph to an ONNX file at ``path``; returns the ModelProto.

    Only the nodes the outputs need are exported (losses and label inputs are
    training-only). Inputs default to the model's Input names ("input" for a
    Sequential), outputs to their node names ("output" for a Sequential);
    ``input_names``/``output_names`` override them. The batch dimension is the
    symbol "N". The model is checked with ``onnx.checker`` before anything is
    written, and the file is replaced atomically (an error leaves an existing file
    intact). ``path=None`` returns the ModelProto without writing.
    """
    proto = build_onnx(model, opset=opset, input_names=input_names, output_names=output_names)
    if path is not None:
        _write_atomic(os.fspath(path), proto.SerializeToString())
    return proto


def _write_atomic(path, data: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".bricks-", suffix=".onnx.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
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
