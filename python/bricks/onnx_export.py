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
    Add             Sum (of its n inputs)
    Concat          Concat(axis=1)
    Identity        Identity
    LayerNorm       LayerNormalization(x, weight, bias, axis=-1, epsilon)
                    (opset >= 17; without elementwise_affine a scale of ones)
    BatchNorm       BatchNormalization(x, weight, bias, running_mean,
                    running_var, epsilon): inference, the running statistics
    LeakyReLU       LeakyRelu(alpha) (float64: Where(x > 0, x, slope x), as the
                    alpha attribute is a float32)
    ELU             Elu(alpha) (float64: Where(x > 0, x, alpha (Exp(min(x, 0)) - 1)))
    GELU            Gelu (opset >= 20, float32); else x (1 + Erf(x / sqrt 2)) / 2, or with
                    "tanh" x (1 + Tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2. ONNX
                    Runtime has no float64 Erf: a float64 exact GELU is its erf
                    series in Pow/MatMul (2/sqrt(pi) e^(-z^2) sum (2 z^2)^n z / (2n+1)!!,
                    120 terms, z clamped to +-6), within 1e-15 of erf
    Softplus        Where(beta x > threshold, x, (Relu(beta x) + Log(1 + Exp(-|beta x|))) / beta)
                    (ONNX's Softplus has neither beta nor threshold)
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


def _converters(opset=17):
    """The ONNX converter of each exportable block, keyed by its registered name
    (`bricks.block.registry`). A converter gets (onnx.helper, block, input names, output
    name, init): ``init(name)`` is the initializer of the block's parameter or buffer
    ``name``, ``init(name, const=array)`` a new constant."""

    def linear(h, blk, xs, y, init):
        ins = [xs[0], init("weight")]
        if "bias" in blk.params:
            ins.append(init("bias"))
        return [h.make_node("Gemm", ins, [y], transB=1)]

    def simple(op, **attrs):
        return lambda h, blk, xs, y, init: [h.make_node(op, xs, [y], **attrs)]

    def layer_norm(h, blk, xs, y, init):
        if opset < 17:
            raise ValueError(
                f"to_onnx: {blk.name} exports as LayerNormalization, which needs opset >= 17, got opset {opset}"
            )
        if "weight" in blk.params:
            ins = [xs[0], init("weight"), init("bias")]
        else:  # the scale is not optional in ONNX
            ins = [xs[0], init("scale", const=np.ones(blk.features))]
        return [h.make_node("LayerNormalization", ins, [y], axis=-1, epsilon=blk.config()["eps"])]

    def batch_norm(h, blk, xs, y, init):
        ins = [xs[0]] + [init(k) for k in ("weight", "bias", "running_mean", "running_var")]
        return [h.make_node("BatchNormalization", ins, [y], epsilon=blk.config()["eps"])]

    def f64(blk):
        return blk.dtype == np.float64

    def where_positive(h, x, y, init, negative):
        """y = x where x > 0, else the value `negative` (a list of nodes ending in it)."""
        *nodes, last = negative
        pos = init.fresh("positive")
        return [*nodes, last, h.make_node("Greater", [x, init.const(0.0, "zero")], [pos]),
                h.make_node("Where", [pos, x, last.output[0]], [y])]  # fmt: skip

    def leaky_relu(h, blk, xs, y, init):
        if not f64(blk):  # the attribute is a float32: exact only for float32 models
            return [h.make_node("LeakyRelu", xs, [y], alpha=float(blk.negative_slope))]
        neg = h.make_node("Mul", [xs[0], init.const(blk.negative_slope, "negative_slope")], [init.fresh("neg")])
        return where_positive(h, xs[0], y, init, [neg])

    def elu(h, blk, xs, y, init):
        if not f64(blk):
            return [h.make_node("Elu", xs, [y], alpha=float(blk.alpha))]
        # ONNX Runtime has no float64 Elu
        n = [init.fresh(s) for s in ("min", "exp", "expm1", "neg")]
        nodes = [
            h.make_node("Min", [xs[0], init.const(0.0, "zero")], [n[0]]),
            h.make_node("Exp", [n[0]], [n[1]]),
            h.make_node("Sub", [n[1], init.const(1.0, "one")], [n[2]]),
            h.make_node("Mul", [n[2], init.const(blk.alpha, "alpha")], [n[3]]),
        ]
        return where_positive(h, xs[0], y, init, nodes)

    def gelu(h, blk, xs, y, init):
        x, tanh = xs[0], blk.approximate == "tanh"
        if init.opset >= 20 and not f64(blk):  # ONNX Runtime's float64 Gelu errs by 6e-9
            return [h.make_node("Gelu", [x], [y], approximate=blk.approximate)]
        if tanh:  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
            n = [init.fresh(s) for s in ("x2", "x3", "kx3", "inner", "u", "tanh", "1+tanh", "half")]
            return [
                h.make_node("Mul", [x, x], [n[0]]),
                h.make_node("Mul", [n[0], x], [n[1]]),
                h.make_node("Mul", [n[1], init.const(0.044715, "kappa")], [n[2]]),
                h.make_node("Add", [x, n[2]], [n[3]]),
                h.make_node("Mul", [n[3], init.const(np.sqrt(2.0 / np.pi), "sqrt_2_over_pi")], [n[4]]),
                h.make_node("Tanh", [n[4]], [n[5]]),
                h.make_node("Add", [n[5], init.const(1.0, "one")], [n[6]]),
                h.make_node("Mul", [n[6], init.const(0.5, "half")], [n[7]]),
                h.make_node("Mul", [x, n[7]], [y]),
            ]
        n = [init.fresh(s) for s in ("z", "erf", "1+erf", "cdf")]
        nodes = [h.make_node("Mul", [x, init.const(np.sqrt(0.5), "sqrt_half")], [n[0]])]
        nodes += _erf_nodes(h, init, n[0], n[1]) if f64(blk) else [h.make_node("Erf", [n[0]], [n[1]])]
        return nodes + [
            h.make_node("Add", [n[1], init.const(1.0, "one")], [n[2]]),
            h.make_node("Mul", [n[2], init.const(0.5, "half")], [n[3]]),
            h.make_node("Mul", [x, n[3]], [y]),
        ]

    def softplus(h, blk, xs, y, init):
        x = xs[0]
        n = [init.fresh(s) for s in ("bx", "relu", "abs", "neg", "exp", "1+exp", "log", "sum", "soft", "linear")]
        return [
            h.make_node("Mul", [x, init.const(blk.beta, "beta")], [n[0]]),
            h.make_node("Relu", [n[0]], [n[1]]),
            h.make_node("Abs", [n[0]], [n[2]]),
            h.make_node("Neg", [n[2]], [n[3]]),
            h.make_node("Exp", [n[3]], [n[4]]),
            h.make_node("Add", [n[4], init.const(1.0, "one")], [n[5]]),
            h.make_node("Log", [n[5]], [n[6]]),
            h.make_node("Add", [n[1], n[6]], [n[7]]),
            h.make_node("Div", [n[7], init.const(blk.beta, "beta")], [n[8]]),
            h.make_node("Greater", [n[0], init.const(blk.threshold, "threshold")], [n[9]]),
            h.make_node("Where", [n[9], x, n[8]], [y]),
        ]

    table = {
        "Linear": linear,
        "ReLU": simple("Relu"),
        "Sigmoid": simple("Sigmoid"),
        "Tanh": simple("Tanh"),
        "Softmax": simple("Softmax", axis=1),
        "LogSoftmax": simple("LogSoftmax", axis=1),
        "Hadamard": simple("Mul"),
        "Dropout": simple("Identity"),
        "Add": simple("Sum"),  # one node for any number of inputs
        "Concat": simple("Concat", axis=1),
        "Identity": simple("Identity"),
        "LeakyReLU": leaky_relu,
        "ELU": elu,
        "GELU": gelu,
        "Softplus": softplus,
    }
    table["LayerNorm"] = layer_norm
    table["BatchNorm"] = batch_norm
    return table


_ERF_TERMS = 120  # enough for |z| <= 6: the last term is below 1e-16 of the sum


def _erf_nodes(h, init, z, out):
    """erf(z) in float64 from operators ONNX Runtime runs in float64 (it has no float64 Erf):
    erf(z) = 2/sqrt(pi) e^(-z^2) z sum_n (2 z^2)^n / (1 3 5 ... (2n+1)), all terms
    positive (no cancellation), with z clamped to [-6, 6] (erf(6) is 1 in float64).
    The powers are one Pow over a (..., 1) view and the sum one MatMul."""
    c = np.ones(_ERF_TERMS)
    for k in range(1, _ERF_TERMS):
        c[k] = c[k - 1] / (2 * k + 1)
    n = [init.fresh(s) for s in ("zc", "z2", "w", "w1", "powers", "series", "gauss", "e", "ze", "zs")]
    return [
        h.make_node("Clip", [z, init.const(-6.0, "lo"), init.const(6.0, "hi")], [n[0]]),
        h.make_node("Mul", [n[0], n[0]], [n[1]]),
        h.make_node("Mul", [n[1], init.const(2.0, "two")], [n[2]]),
        h.make_node("Unsqueeze", [n[2], init.const(np.array([-1], np.int64), "axis")], [n[3]]),
        h.make_node("Pow", [n[3], init.const(np.arange(_ERF_TERMS, dtype=np.float64), "exponents")], [n[4]]),
        h.make_node("MatMul", [n[4], init.const(c, "coefficients")], [n[5]]),
        h.make_node("Neg", [n[1]], [n[6]]),
        h.make_node("Exp", [n[6]], [n[7]]),
        h.make_node("Mul", [n[0], n[7]], [n[8]]),
        h.make_node("Mul", [n[8], n[5]], [n[9]]),
        h.make_node("Mul", [n[9], init.const(2.0 / np.sqrt(np.pi), "two_over_sqrt_pi")], [out]),
    ]


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
    table = _converters(int(opset))
    convs = [_converter_for(blk, table, name) for _, name, blk, _ in nodes]  # fail before building
    by_key = {k: (name, blk) for k, name, blk, _ in nodes}
    feats = {k: f for k, _, f in inputs}
    feats.update({n._uid: n.features for n in model.nodes})  # each node's width, as the graph inferred it

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

        def init(param, blk=blk, name=name, const=None):
            # one initializer per parameter or buffer, named "<first node>.<param>" like
            # Model.params; a block shared by several nodes (share_weights=True) reuses it
            if (id(blk), param) not in inits:
                src = const if const is not None else blk.params[param] if param in blk.params else blk.buffers[param]
                arr = np.array(src, dtype=dtype, order="C")  # a copy
                key = names.fresh(f"{name}.{param}")
                initializers.append(numpy_helper.from_array(arr, key))
                inits[(id(blk), param)] = key
            return inits[(id(blk), param)]

        def const(v, base, name=name):
            # a constant of the model's dtype (int64 arrays stay int64: axes), as an initializer
            arr = np.asarray(v)
            arr = arr if arr.dtype == np.int64 else arr.astype(dtype)
            key = names.fresh(f"{name}.{base}")
            initializers.append(numpy_helper.from_array(arr, key))
            return key

        init.const = const  # converters that decompose a block name their constants and values
        init.fresh = lambda base, name=name: names.fresh(f"{name}/{base}")
        init.opset = int(opset)
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
