"""Lego composition: chains (Sequential) and graphs (Input -> block calls -> Model).

Calling a block on nodes builds a directed acyclic graph; ``Model`` sorts it once
and hands it to the native executor, which runs a whole forward, backward or
training step in one call with the GIL released. Where a node feeds several blocks
its gradient is the sum of theirs (the multivariate chain rule).
"""

from __future__ import annotations

import itertools
import os
import sys
import warnings
from collections import Counter

import numpy as np

from . import _core, losses, optim
from . import distributed as _dist
from ._arrays import as_float_matrix, as_labels, check_out, onehot_to_labels
from ._compat import ParamDict
from .blocks import Sigmoid, Softmax
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, Loss
from .node import Input, Node
from .optim import check_optimizer


def _user_stacklevel() -> int:
    """The ``stacklevel`` of a warning that points at the first caller outside bricks
    (compile is reached from Sequential.compile and from fit too)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here + os.sep):
        frame, level = frame.f_back, level + 1
    return level


_calls = itertools.count()  # numbers the calls of models on nodes (the new nodes' names)


def _as_list(x, what):
    if x is None:
        return []
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    for n in items:
        if not isinstance(n, Node):
            raise TypeError(f"Model: {what} must be graph nodes, got {type(n).__name__}")
    return items


class Model:
    """A graph of blocks: ``Model(inputs=x, outputs=y, loss=L)``.

    Example (the lecture's gating network):
        >>> x = bk.Input(4)
        >>> h = bk.ReLU()(bk.Linear(4, 8)(x))
        >>> g = bk.Softmax()(bk.Linear(4, 8)(x))
        >>> y = bk.Linear(8, 1)(bk.Hadamard()(h, g))
        >>> model = bk.Model(inputs=x, outputs=y)

    ``loss`` takes loss nodes (e.g. ``bk.MSELoss()(y, t)`` with ``t`` an Input or any
    node: a learnable target gets its gradient). Their sum is the objective. A block
    instance may appear at one node only, unless ``share_weights=True`` (its weights
    are then shared by every node that uses it, and their gradients summed).

    A built model is itself called on nodes like a block (``y = head(enc(x))``): see
    ``__call__``.
    """

    _checked_opt = None  # the optimizer train_step last validated against this model
    metrics = ()  # compile(metrics=...): names or callables fit and evaluate log (bricks.metrics)

    def __init__(self, inputs, outputs, loss=None, *, share_weights: bool = False):
        self.inputs = _as_list(inputs, "inputs")
        self.outputs = _as_list(outputs, "outputs")
        self.losses = _as_list(loss, "loss")
        self.share_weights = bool(share_weights)
        self.optimizer, self._loss_block = None, None
        if self.losses:
            self._loss_block = self.losses[0].block
        if not self.outputs and not self.losses:
            raise ValueError("Model: needs at least one output or loss")
        for n in self.losses:
            if not n.is_loss:
                raise ValueError(f"Model: loss {n.name!r} is not the output of a loss block")
        self._build()

    # -- building ------------------------------------------------------------
    def _sorted_nodes(self):
        order, state = [], {}

        def visit(n, path):
            s = state.get(n._uid)
            if s == "done":
                return
            if s == "active":
                raise ValueError(f"Model: the graph has a cycle through node {n.name!r}")
            state[n._uid] = "active"
            for u in n.inputs:
                visit(u, path + [n])
            state[n._uid] = "done"
            order.append(n)

        for n in self.outputs + self.losses:
            visit(n, [])
        return order

    def _build(self):
        self._checked_opt = None
        order = self._sorted_nodes()
        in_ids = {n._uid for n in self.inputs}
        if len(in_ids) != len(self.inputs):
            raise ValueError("Model: an input is listed twice")
        for n in self.inputs:
            if n.block is not None:
                raise ValueError(f"Model: input {n.name!r} is not a bk.Input node")
        reached = {n._uid for n in order}
        for n in order:
            if n.block is None and n._uid not in in_ids:
                raise ValueError(
                    f"Model: node {n.name!r} is an input the graph depends on but it is not among the model's inputs"
                )
        for n in self.inputs:
            if n._uid not in reached:
                raise ValueError(f"Model: input {n.name!r} is dangling (no output or loss depends on it)")
        names = Counter(n.name for n in {m._uid: m for m in list(self.inputs) + order}.values())
        dup = sorted(k for k, c in names.items() if c > 1 and k)
        if dup:
            raise ValueError(f"Model: node names must be unique, {dup} name several nodes")
        dtypes = {n.dtype for n in order if not n.labels}
        if len(dtypes) > 1:
            raise TypeError(f"Model: all blocks must share one dtype, got {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        self._nodes = [n for n in order if n.block is not None]
        uses = Counter(id(n.block) for n in self._nodes)
        seen = set()
        g = _core.Graph(str(self.dtype))
        ids = {}
        for n in self.inputs:
            ids[n._uid] = g.add_input(n.features, n.labels)
        self._cores = []
        for n in self._nodes:
            core = n.block._native(len(n.inputs))
            if uses[id(n.block)] > 1:
                if not self.share_weights:
                    users = [m.name for m in self._nodes if m.block is n.block]
                    raise ValueError(
                        f"Model: block {n.block.name} is used at nodes {users}; "
                        f"pass share_weights=True to share its weights, or use "
                        f"separate blocks"
                    )
                if id(n.block) in seen:
                    core = core.clone_shared()
                seen.add(id(n.block))
            self._cores.append(core)
            ids[n._uid] = g.add_node(core, [ids[u._uid] for u in n.inputs])
            g.set_node_name(ids[n._uid], n.name)  # errors raised inside a block name the node
        g.set_outputs([ids[n._uid] for n in self.outputs])
        g.set_losses([ids[n._uid] for n in self.losses])
        self._graph, self._ids = g, ids
        # inputs the outputs need (forward may be given only these)
        needed = set()
        for n in reversed(order):
            if n in self.outputs or n._uid in needed:
                needed.update(u._uid for u in n.inputs)
                needed.add(n._uid)
        self._pred_inputs = [i for i, n in enumerate(self.inputs) if n._uid in needed]

    # -- a model as a block: called on nodes, it is inlined -------------------------------
    def __call__(self, *nodes, name: str | None = None):
        """Call the model on graph nodes, like a block: ``y = head(enc(x))``; on arrays
        (NumPy arrays, lists; one per input the outputs need) ``model(X)`` is
        ``model.predict(X)``, as in Keras.

        The model is inlined: its blocks (the nodes its outputs need; losses are left
        out) are called again on ``nodes``, so the new nodes run the *same* blocks and
        share their weights with this model. Training the outer model trains them; a
        block used twice in one model needs ``share_weights=True`` there, so calling
        a model twice in one outer model does too. ``nodes`` stand for the inputs the
        outputs need (`prediction_inputs`), in order, with their widths. Returns the
        output node, or a tuple of them for a model with several outputs. The new nodes
        are named ``"<name>.<inner node name>"``; ``name`` defaults to the model's
        class name and a number (``"sequential_3.0"``).
        """
        who = f"{type(self).__name__} (called on nodes)"
        if nodes and not any(isinstance(n, Node) for n in nodes):
            # on arrays (Keras habit): model(X) is model.predict(X)
            if name is not None:
                raise TypeError(f"{type(self).__name__}: name= names the nodes of a call on nodes; on arrays drop it")
            return self.predict(nodes[0] if len(nodes) == 1 else list(nodes))
        bad = [type(n).__name__ for n in nodes if not isinstance(n, Node)]
        if bad:
            raise TypeError(
                f"{who}: takes bk.Input/graph nodes or arrays (not both), got {', '.join(bad)} "
                "besides nodes; model(X) on arrays alone is model.predict(X)"
            )
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{who}: name must be a non-empty str, got {name!r}")
        if not self.built:
            self.build_for_node(nodes)
            if not self.built:
                raise TypeError(f"{who}: its input width is unknown; call it on a float node of shape (N, D)")
        inner = [self.inputs[i] for i in self._pred_inputs]
        if len(nodes) != len(inner):
            raise TypeError(
                f"{who}: takes {len(inner)} node(s) (its inputs {[n.name for n in inner]}), got {len(nodes)}"
            )
        for k, (got, want) in enumerate(zip(nodes, inner)):
            if got.is_loss:
                raise TypeError(f"{who}: node {got.name!r} is a loss, not a value to feed input {want.name!r}")
            if got.labels != want.labels or got.features != want.features:
                shape = lambda n: "labels (N,)" if n.labels else f"(N, {n.features})"  # noqa: E731
                raise ValueError(
                    f"{who}: input {k} ({want.name!r}) expects {shape(want)}, node {got.name!r} is {shape(got)}"
                )
            if not got.labels and got.dtype != self.dtype:
                raise TypeError(f"{who}: the model is {self.dtype}, node {got.name!r} is {got.dtype}")
        scope = name or f"{type(self).__name__.lower()}_{next(_calls)}"
        copy = {w._uid: g for w, g in zip(inner, nodes)}
        losses = {n._uid for n in self.losses}
        for n in self._nodes:  # topological order; only what the outputs need
            if n._uid in losses or not all(u._uid in copy for u in n.inputs):
                continue
            m = Node._from_block(n.block, [copy[u._uid] for u in n.inputs])
            m.name = f"{scope}.{n.name}"
            copy[n._uid] = m
        return self._one([copy[n._uid] for n in self.outputs])

    def build_for_node(self, nodes) -> None:
        """Make sure the graph exists before being called on these nodes (a Sequential
        without a Linear takes the first node's width)."""

    # -- the surface bricks' own modules use (training, io, interop, onnx_export, optim) --
    @property
    def built(self) -> bool:
        """Whether the graph exists (a Sequential without a Linear waits for data)."""
        return self._graph is not None

    @property
    def executor(self):
        """The native executor (``bricks._core.Graph``) the model runs on, or None before
        it is built."""
        return self._graph

    @property
    def nodes(self) -> list:
        """The block nodes (losses included), in the topological order they run in."""
        return list(self._nodes) if self.built else []

    @property
    def loss_block(self):
        """The loss block compile attached (or the first loss given), or None."""
        return self._loss_block

    @property
    def loss_blocks(self) -> list:
        """The blocks of the loss nodes, in order."""
        return [n.block for n in self.losses]

    @property
    def prediction_inputs(self) -> list:
        """Indices of the inputs the outputs need (predict takes only these)."""
        return list(self._pred_inputs)

    @property
    def native_blocks(self) -> list:
        """The native blocks, one per node (weight-shared nodes: twins sharing the
        buffers), for optimizers."""
        return list(self._cores)

    def label_classes(self, node):
        """How many classes a label input is scored against (its loss's prediction width)."""
        return next((n.inputs[0].features for n in self.losses if n.inputs[1] is node), None)

    def target_of(self, node):
        """The loss block that takes this input as its target, or None (data)."""
        return next((n.block for n in self.losses if n.inputs[1] is node), None)

    def build_for(self, arrays) -> None:
        """Make sure the graph exists for these input arrays (a Sequential without a
        Linear learns its width from the first data; a built model has nothing to do)."""

    def prepare(self, arrays, indices):
        """The arrays, converted to what input ``indices[k]`` takes (dtype, layout,
        labels); None for inputs not given. Arrays that already fit are not copied."""
        return self._prepare(arrays, indices)

    def select(self, arrays, allow_prediction_only: bool):
        """The input indices ``arrays`` stand for: all inputs, or (allowed) those the
        outputs need. A TypeError says what was expected otherwise."""
        return self._select(arrays, allow_prediction_only)

    # -- arrays ----------------------------------------------------------------
    def _prepare(self, arrays, indices):
        out = [None] * len(self.inputs)
        for i, a in zip(indices, arrays):
            node = self.inputs[i]
            if (
                type(a) is np.ndarray
                and a.dtype == (np.int64 if node.labels else self.dtype)
                and a.ndim == (1 if node.labels else 2)
                and a.flags.c_contiguous
            ):
                out[i] = a  # already fits: the hot path of train_step skips conversion
                continue
            who = f"{type(self).__name__} input {node.name!r}"
            if node.labels and np.ndim(a) == 2:  # one-hot rows, as fit and evaluate take them
                a = onehot_to_labels(a, who, self.label_classes(node))
            target = any(n.inputs[1] is node for n in self.losses)  # loss targets read bool as 0/1
            out[i] = (
                as_labels(a, who, "class labels")
                if node.labels
                else as_float_matrix(a, self.dtype, who, bool_ok=target)
            )
        return out

    def _select(self, xs, allow_pred_only):
        n = len(xs)
        if n == len(self.inputs):
            return list(range(n))
        if allow_pred_only and n == len(self._pred_inputs):
            return self._pred_inputs
        want = f"{len(self.inputs)}" + (f" (or {len(self._pred_inputs)} for the outputs)" if allow_pred_only else "")
        raise TypeError(f"Model: expected {want} input array(s), got {n}")

    @staticmethod
    def _one(xs):
        return xs[0] if len(xs) == 1 else tuple(xs)

    # -- the lecture's API -------------------------------------------------------
    def forward(self, *xs):
        """Outputs for input arrays (all model inputs, or those the outputs need)."""
        idx = self._select(xs, True)
        outs = self._graph.forward(self._prepare(xs, idx), False, True)
        self._fed, self._serial = idx, self._graph.forward_serial
        return self._one(outs)

    def compute_loss(self, *xs) -> float:
        """Forward through every node, losses included; returns the summed loss."""
        idx = self._select(xs, False)
        if not self.losses:
            raise ValueError("Model: no loss (pass loss= or compile(loss=...))")
        self._graph.forward(self._prepare(xs, idx), True, True)
        self._fed, self._serial = idx, self._graph.forward_serial
        return self._graph.loss

    def backward(self, *dys):
        """Backpropagate: from the loss (no argument, after compute_loss) or from
        gradients of the outputs (after forward). Parameter gradients accumulate.
        Returns the gradients w.r.t. the inputs that were fed (None for labels)."""
        if getattr(self, "_serial", None) is None:
            raise _core.StateError(
                "Model: backward called before forward: call forward(X) (or "
                "compute_loss(X, T)) first; predict, evaluate, fit and train_step "
                "keep nothing for backward"
            )
        if self._graph is not None and self._serial != self._graph.forward_serial:
            raise _core.StateError(
                "Model: predict/evaluate/fit/train_step ran a forward of their own since "
                "this model's forward; call forward (or compute_loss) again before backward"
            )
        if dys:
            if len(dys) != len(self.outputs):
                raise TypeError(f"Model: expected {len(self.outputs)} output gradient(s), got {len(dys)}")
            d = [as_float_matrix(g, self.dtype, "Model", "output gradient") for g in dys]
            grads = self._graph.backward(d, 0.0, True)
        else:
            grads = self._graph.backward([], 1.0, True)
        return self._one([grads[i] for i in self._fed])

    def train_step(self, *xs, optimizer=None, distributed=False) -> float:
        """One step in one native call: forward, loss, backward, optimizer update.
        Gradients are zeroed first. Returns the loss before the update.

        ``distributed=True`` (under ``mpiexec``; see ``bricks.distributed``): every rank
        passes its own batch, the gradients are summed over the ranks with one allreduce
        (each rank's mean weighted by its rows), and every rank makes the same update:
        the one a single process would make on all the ranks' rows. Returns the loss
        over all those rows."""
        opt = optimizer or self.optimizer
        if opt is None:
            raise ValueError("Model: train_step needs an optimizer (argument or compile)")
        if opt is not self._checked_opt:  # once per optimizer, not per step (tiny nets feel it)
            check_optimizer(opt, self, "train_step")
            self._checked_opt = opt
        if distributed:
            return self._distributed_step(xs, opt)
        loss = self._graph.train_step_if_fits(xs, opt._core)  # arrays that fit: no Python checks
        if loss is not None:
            return loss
        if len(xs) != len(self.inputs):
            self._select(xs, False)  # raises, naming what was expected
        return self._graph.train_step(self._prepare(xs, range(len(xs))), opt._core)

    def _distributed_step(self, xs, opt):

        if len(xs) != len(self.inputs):
            self._select(xs, False)  # raises, naming what was expected
        data = self._prepare(xs, range(len(xs)))
        n = self._graph.check_data(data)
        order = np.arange(n, dtype=np.int64)
        st = self._graph.train_batches(
            data,
            order,
            n,
            0,
            1,
            opt._core,
            _core.Accuracy.none,
            -1,
            0.0,
            _core.NonFinite.ignore,
            False,
            None,
            allreduce=_dist._reducer(),
        )
        return st.loss_sum / st.samples

    def compile(self, loss, optimizer=None, *, labels=None, metrics=None):
        """Attach a loss to the (single) output, Keras style: adds a target input.

        ``loss`` is a loss block or a name of ``bricks.losses.names()`` (Keras's
        ``"categorical_crossentropy"``, ``"sparse_categorical_crossentropy"``,
        ``"binary_crossentropy"``, ``"mse"``..., PyTorch-ish ``"cross_entropy"``,
        ``"bce"``, ``"bce_with_logits"``; see ``bricks.losses.from_name``: the
        cross-entropies take logits). ``optimizer`` is a bricks optimizer or a name of
        ``bricks.optim.names()`` (``"sgd"``, ``"adam"``, ``"adamw"``), built here on
        the model with Keras's defaults. ``labels`` (default: True for
        CrossEntropyLoss) makes the target int64 class labels (N,) (one-hot rows are
        taken too); otherwise it has the output's shape. ``metrics``: names of
        ``bricks.metrics.names()`` or callables ``f(y_true, y_pred)`` that fit (per
        epoch, and as ``val_<name>``) and evaluate log besides the loss.
        """
        spelled = loss if isinstance(loss, str) else None
        loss, optimizer = self._from_names(loss, optimizer)
        self._check_compile(loss, optimizer, metrics, spelled=spelled)
        if len(self.outputs) != 1:
            raise ValueError("compile: needs a model with exactly one output")
        if labels is None:
            labels = isinstance(loss, CrossEntropyLoss)
        out = self.outputs[0]
        # inputs that only fed the losses being replaced (a previous compile's target) go
        needed = set(self._pred_inputs)
        fed_losses = {u._uid for n in self.losses for u in n.inputs}
        kept = [n for i, n in enumerate(self.inputs) if i in needed or n._uid not in fed_losses]
        taken = {n.name for n in kept}
        name = next(f"target{k or ''}" for k in range(len(taken) + 1) if f"target{k or ''}" not in taken)
        target = Input(1 if labels else out.features, dtype=self.dtype, name=name, labels=labels)
        self.inputs = kept + [target]
        self.losses = [loss(out, target)]
        self._build()
        self.optimizer = optimizer
        self._loss_block = loss
        if metrics is not None:
            self.metrics = self._metric_list(metrics)
        return self

    def save(self, path) -> None:
        """Save architecture, weights, loss and optimizer state to one .npz file, atomically."""
        from .io import save

        save(self, path)

    def astype(self, dtype):
        """A copy of the model in ``dtype`` (np.float32 or np.float64), as NumPy's
        ``astype``: weights and buffers converted, the same loss, metrics and optimizer
        (its state converted too). ``model.astype(np.float64)`` is the one line before a
        float64 ``bk.gradcheck``; the model itself is left as it was."""
        from .io import astype

        return astype(self, dtype)

    def to_onnx(self, path, **kwargs):
        """Export the inference graph (outputs only) to ONNX; see bricks.onnx_export.to_onnx."""
        from .onnx_export import to_onnx

        return to_onnx(self, path, **kwargs)

    def state_dict(self):
        """Weights named and laid out as PyTorch's equivalent nn.Sequential names them."""
        from .interop import state_dict

        return state_dict(self)

    def load_state_dict(self, state_dict, strict: bool = True):
        """Load PyTorch-style weights (NumPy arrays or torch tensors); see bricks.interop."""
        from .interop import load_state_dict

        return load_state_dict(self, state_dict, strict)

    def plot(self, path, **kwargs):
        """Draw the graph into ``path`` (PNG, SVG or PDF by the suffix) with Graphviz's
        ``dot``; without Graphviz a RuntimeError says so (``to_dot()`` still gives the
        DOT text). See ``bricks.plot.model_graph``."""
        from .plot import model_graph

        return model_graph(self, path, **kwargs)

    def __reduce_ex__(self, protocol):
        """pickle and copy.deepcopy: what ``save`` writes (architecture, weights, loss,
        optimizer state), in memory; the copy predicts bit for bit the same."""
        from .io import _arrays, _unpickle_model

        return _unpickle_model, (_arrays(self),)

    # -- training (see training.py) --------------------------------------------------
    def fit(self, X, y=None, **kwargs):
        """Train: ``fit(X, y, loss=..., optimizer=..., epochs=1, batch_size=32, shuffle=True,
        seed=None, validation_data=None, validation_split=0.0, callbacks=(), verbose="auto",
        on_nonfinite="raise", sample_weight=None, class_weight=None, metrics=None)``.
        Returns a History. ``loss`` and ``optimizer`` may be names, as ``compile``
        takes them (``loss="cross_entropy", optimizer="adam"``). ``sample_weight`` (N,)
        and ``class_weight`` (a dict {class: weight} or an array (C,)) weigh each
        sample's loss (see the training guide);
        ``validation_data`` may carry sample weights third, ``(x, y, w)``. ``metrics``
        are logged besides compile's. verbose: "auto" shows a progress bar
        on a terminal and nothing otherwise; 1 the bar, or a line per epoch when not on a
        terminal; 2 a line per epoch; 0 nothing. Batches run natively; Python runs
        once per chunk of batches and once per epoch (callbacks, validation)."""
        from .training import fit

        return fit(self, X, y, **kwargs)

    def evaluate(self, X, y=None, *, batch_size=256, sample_weight=None, metrics=None) -> dict:
        """Mean loss (and accuracy for classifiers, and metrics) in eval mode; with
        ``sample_weight`` the loss is the weighted mean."""
        from .training import evaluate

        return evaluate(self, X, y, batch_size=batch_size, sample_weight=sample_weight, metrics=metrics)

    def predict(self, X, *, batch_size=256, out=None):
        """Outputs for X, batched, in eval mode. ``out``: an array to write the (one)
        output into, of its shape and the model's dtype, C-contiguous, writeable and
        not sharing memory with X; it is returned."""
        g = self._graph
        # One native call for a batch that already fits (one input, one output): what
        # serving one row at a time pays, beside the product itself.
        if (
            g is not None
            and type(X) is np.ndarray
            and X.dtype == self.dtype
            and X.ndim == 2
            and X.flags.c_contiguous
            and type(batch_size) is int
            and 0 < X.shape[0] <= batch_size
            and (out is None or type(out) is np.ndarray)
            and (fast := self._fast_widths) is not None
            and X.shape[1] == fast[0]
        ):
            if out is None:
                return g.forward([X], False, False, True)[0]
            check_out(out, [X], (X.shape[0], fast[1]), self.dtype, "predict")
            g.forward([X], False, False, True, [out])
            return out
        from .training import predict

        return predict(self, X, batch_size=batch_size, out=out)

    @property
    def _fast_widths(self):
        """(input width, output width) when predict can take its one-call path (one
        input, not labels, and one output), else None."""
        if len(self.inputs) != 1 or len(self.outputs) != 1 or self.inputs[0].labels:
            return None
        return self.inputs[0].features, self.outputs[0].features

    def predict_proba(self, X, *, batch_size=256):
        """Class probabilities for classifiers."""
        from .training import predict_proba

        return predict_proba(self, X, batch_size=batch_size)

    @staticmethod
    def _metric_list(metrics) -> tuple:
        """compile's metrics as a tuple (names are checked by fit and evaluate, in
        bricks.metrics: a layer above this one)."""
        if isinstance(metrics, str) or callable(metrics):
            metrics = [metrics]
        if not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile: metrics must be a list of names or callables, got {type(metrics).__name__}")
        for m in metrics:
            if not (isinstance(m, str) or callable(m)):
                raise TypeError(f"compile: each metric must be a name or a callable, got {type(m).__name__}")
        return tuple(metrics)

    def _last_block(self):
        """The block that makes the (first) output, or None."""
        return self.outputs[0].block if self.outputs else (self.blocks[-1] if self.blocks else None)

    def _from_names(self, loss, optimizer):
        """compile's names (Keras habit) made into a new loss block and a new optimizer
        over this model; anything else is returned as it came."""
        if isinstance(loss, str) and isinstance(optimizer, str):
            lo, op = loss.strip().lower(), optimizer.strip().lower()
            if lo in optim.names() and op in losses.names():
                raise TypeError(
                    f"compile: got loss={loss!r} and optimizer={optimizer!r}: the two are swapped; "
                    f"bricks' order is compile(loss, optimizer) (Keras's is optimizer first): "
                    f"write compile(loss={optimizer!r}, optimizer={loss!r})"
                )
        if isinstance(loss, str):
            loss = losses.from_name(
                loss, "compile", dtype=self.dtype, ends_in_sigmoid=isinstance(self._last_block(), Sigmoid)
            )
        if isinstance(optimizer, str):
            optimizer = optim.from_name(optimizer, self, "compile")
        return loss, optimizer

    def _check_compile(self, loss, optimizer, metrics=None, *, spelled=None):
        """Validate before changing anything: a failed compile leaves the model as it was."""
        if metrics is not None:
            self._metric_list(metrics)
        if not isinstance(loss, Loss):
            raise TypeError(
                f"compile: loss must be a bricks loss block (e.g. bk.CrossEntropyLoss()), got {type(loss).__name__}"
            )
        if loss.dtype != self.dtype and loss._adoptable():  # built without dtype=: the model's
            loss._adopt(self.dtype, "the model")
        if loss.dtype != self.dtype:
            raise TypeError(f"compile: {type(loss).__name__} is {loss.dtype} but the model is {self.dtype}")
        if optimizer is not None:
            check_optimizer(optimizer, self, "compile")
        last = self._last_block()
        for lossk, actk in ((CrossEntropyLoss, Softmax), (BCEWithLogitsLoss, Sigmoid)):
            if isinstance(loss, lossk) and isinstance(last, actk):
                named = f"loss {spelled!r} is bricks' {type(loss).__name__}, which" if spelled else type(loss).__name__
                warnings.warn(
                    f"compile: {named} takes logits but the model ends in "
                    f"{type(last).__name__}, so it is applied twice; drop the final "
                    f"{type(last).__name__} (predict_proba still gives probabilities)"
                    + (" or use BCELoss" if lossk is BCEWithLogitsLoss else ""),
                    UserWarning,
                    stacklevel=_user_stacklevel(),
                )

    # -- parameters and modes ------------------------------------------------------
    def named_blocks(self) -> list:
        """(node name, block) pairs, each block once, in the order they run."""
        seen, res = set(), []
        for n in self._nodes:
            if id(n.block) not in seen:
                seen.add(id(n.block))
                res.append((n.name, n.block))
        return res

    @property
    def params(self) -> dict:
        """Every parameter as a NumPy view of native memory, keyed `"node.name"`
        (a property, as on a block; the old call ``params()`` warns)."""
        items = [
            (f"{k}.{p}", v, getattr(b, "_core", None)) for k, b in self.named_blocks() for p, v in b.params.items()
        ]
        owned = [(v, c) for _, v, c in items if c is not None]  # a nested chain registers its own
        return ParamDict({k: v for k, v, _ in items}, "params", self, owned)

    def parameters(self) -> list:
        """The parameter arrays (views of native memory), as PyTorch's ``model.parameters()``
        lists them: ``bk.SGD(model.parameters(), lr=0.1)`` updates this model."""
        return list(self.params.values())

    @property
    def buffers(self) -> dict:
        """Every block's state that is not trained (BatchNorm's running statistics) as
        NumPy views of native memory, keyed `"node.name"` like ``params``."""
        return {f"{k}.{n}": v for k, b in self.named_blocks() for n, v in b.buffers.items()}

    @property
    def grads(self) -> dict:
        """Accumulated gradients, keyed like ``params`` (a property; ``grads()`` warns)."""
        return ParamDict({f"{k}.{p}": v for k, b in self.named_blocks() for p, v in b.grads.items()}, "grads")

    def zero_grad(self) -> None:
        self._graph.zero_grad()

    def train(self, mode: bool = True):
        self._graph.set_training(bool(mode))
        return self

    def eval(self):
        return self.train(False)

    @property
    def blocks(self) -> list:
        return [b for _, b in self.named_blocks()]

    def num_params(self) -> int:
        return sum(v.size for v in self.params.values())

    def _summary_table(self):
        """The rows of ``summary()``: ``(header, rows)``, every cell a str."""
        header = ("node", "block", "output", "params")
        rows = []
        for n in self.inputs:
            shape = "(None,)" if n.labels else str((None, n.features))  # labels are (N,) int64
            rows.append((n.name, "Input" + (" (labels)" if n.labels else ""), shape, "0"))
        counted = set()
        for n in self._nodes:
            k = 0 if id(n.block) in counted else n.block.num_params()
            counted.add(id(n.block))
            rows.append((n.name, n.block.name, str(n.shape), str(k)))
        return header, rows

    def summary(self) -> str:
        """A table of nodes, their blocks, output shapes and parameter counts."""
        header, rows = self._summary_table()
        rows = [header, *rows]
        w = [max(len(r[i]) for r in rows) for i in range(4)]
        line = lambda r: "  ".join(c.ljust(w[i]) if i < 3 else c.rjust(w[i]) for i, c in enumerate(r))
        sep = "-" * (sum(w) + 6)
        body = [line(rows[0]), sep] + [line(r) for r in rows[1:]] + [sep]
        body.append(f"total parameters: {self.num_params()}  ({self.dtype})")
        return "\n".join(body)

    # -- Jupyter (IPython calls these to show a model as a cell's value) ---------------
    def _repr_html_(self):
        """The summary as an HTML table (names escaped), for Jupyter; None when the
        model cannot say its shapes yet (IPython then shows ``repr``)."""
        try:
            header, rows = self._summary_table()
        except _core.StateError:
            return None
        from html import escape as e  # here, not at import: only Jupyter calls this

        head = "".join(f"<th>{e(c)}</th>" for c in header)
        body = "".join(
            "<tr>"
            + "".join(f'<td style="text-align:{"right" if i == 3 else "left"}">{e(c)}</td>' for i, c in enumerate(r))
            + "</tr>"
            for r in rows
        )
        return (
            f'<table class="bricks-summary"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f"<p>total parameters: {self.num_params()}  ({e(str(self.dtype))})</p>"
        )

    def _repr_svg_(self):
        """The graph drawn by Graphviz as SVG text, for Jupyter; None without Graphviz's
        ``dot`` (or when it fails): a picture is never an error. See ``bricks.plot.graph_svg``."""
        from .plot import graph_svg

        return graph_svg(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        """What Jupyter shows: ``text/plain`` (``repr``), ``text/html`` (the summary
        table, then the graph when Graphviz is installed) and ``image/svg+xml`` (the
        graph, only when Graphviz is installed). ``dot`` runs once per display."""
        bundle = {"text/plain": repr(self)}
        table = self._repr_html_()
        svg = self._repr_svg_()
        if svg is not None:
            bundle["image/svg+xml"] = svg
        if table is not None or svg is not None:
            inline = "" if svg is None else svg[max(svg.find("<svg"), 0) :]  # no XML prolog inside HTML
            bundle["text/html"] = (table or "") + (f'<div class="bricks-graph">{inline}</div>' if inline else "")
        return bundle

    def to_dot(self) -> str:
        """The graph in Graphviz DOT (blocks and shapes)."""

        def q(*parts):  # a DOT string: quotes and backslashes escaped, parts on lines
            esc = (str(p).replace("\\", "\\\\").replace('"', '\\"') for p in parts)
            return '"' + "\\n".join(esc) + '"'

        lines = ["digraph model {", "  rankdir=TB;", '  node [shape=box, fontname="Helvetica"];']
        for n in self.inputs:
            lines.append(f"  {q(n.name)} [label={q(n.name, f'Input {(None, n.features)}')}, shape=ellipse];")
        for n in self._nodes:
            lines.append(f"  {q(n.name)} [label={q(n.name, n.block.name, n.shape)}];")
            for u in n.inputs:
                lines.append(f"  {q(u.name)} -> {q(n.name)};")
        lines.append("}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Model(inputs={[n.name for n in self.inputs]}, "
            f"outputs={[n.name for n in self.outputs]}, losses={[n.name for n in self.losses]})"
        )
