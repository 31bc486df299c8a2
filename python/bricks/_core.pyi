"""
bricks native core (private; use the bricks package)
"""

from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing

__all__: list[str] = [
    "Accuracy",
    "Adam",
    "Add",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm",
    "Block",
    "Concat",
    "CrossEntropyLoss",
    "Dropout",
    "ELU",
    "GELU",
    "Graph",
    "Hadamard",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "Loss",
    "MSELoss",
    "NonFinite",
    "NonFiniteError",
    "Optimizer",
    "ReLU",
    "Runner",
    "SGD",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "StateError",
    "Tanh",
    "TrainStats",
    "active_isa",
    "available_isas",
    "blas_corename",
    "get_num_threads",
    "manual_seed",
    "next_seed",
    "set_isa",
    "set_num_threads",
]

class StateError(ValueError, RuntimeError):
    """
    A call out of order, e.g. backward before forward (a ValueError and a RuntimeError).
    """

class NonFiniteError(ValueError):
    """
    Training met a NaN or infinite loss or gradient.
    """

class Block:
    training: bool
    def accepts_labels(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> bool: ...
    def buffer(self, arg0: str) -> numpy.ndarray: ...
    def buffer_names(self) -> list[str]: ...
    def clone_shared(self) -> Block: ...
    def grad(self, arg0: str) -> numpy.ndarray: ...
    def infer_features(
        self, arg0: collections.abc.Sequence[tuple[typing.SupportsInt | typing.SupportsIndex, bool]]
    ) -> int: ...
    def invalidate(self) -> None: ...
    def param(self, arg0: str) -> numpy.ndarray: ...
    def param_names(self) -> list[str]: ...
    def zero_grad(self) -> None: ...
    @property
    def dtype(self) -> str: ...
    @property
    def has_forward(self) -> bool: ...
    @property
    def is_loss(self) -> bool: ...
    @property
    def name(self) -> str: ...
    @property
    def num_inputs(self) -> int: ...

class Linear(Block):
    def __init__(
        self,
        in_features: typing.SupportsInt | typing.SupportsIndex,
        out_features: typing.SupportsInt | typing.SupportsIndex,
        bias: bool,
        dtype: str,
        init: str,
        seed: typing.SupportsInt | typing.SupportsIndex,
        max_norm: typing.SupportsFloat | typing.SupportsIndex = 0.0,
    ) -> None: ...
    @property
    def in_features(self) -> int: ...
    @property
    def max_norm(self) -> float: ...
    @property
    def out_features(self) -> int: ...

class ReLU(Block):
    def __init__(self, dtype: str) -> None: ...

class Sigmoid(Block):
    def __init__(self, dtype: str) -> None: ...

class Tanh(Block):
    def __init__(self, dtype: str) -> None: ...

class Softmax(Block):
    def __init__(self, dtype: str) -> None: ...

class LogSoftmax(Block):
    def __init__(self, dtype: str) -> None: ...

class Hadamard(Block):
    def __init__(self, dtype: str) -> None: ...

class Loss(Block):
    def set_sample_weight(self, sample_weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None) -> None:
        """
        Per-sample weights for the next forwards (None: unweighted).
        """
    @property
    def has_sample_weight(self) -> bool: ...
    @property
    def supports_sample_weight(self) -> bool: ...

class MSELoss(Loss):
    def __init__(self, dtype: str) -> None: ...

class BCELoss(Loss):
    def __init__(self, dtype: str) -> None: ...

class BCEWithLogitsLoss(Loss):
    def __init__(self, dtype: str) -> None: ...

class CrossEntropyLoss(Loss):
    def __init__(
        self, dtype: str, weight: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex] = []
    ) -> None: ...
    @property
    def weight(self) -> list[float]: ...

class Identity(Block):
    def __init__(self, dtype: str) -> None: ...

class Add(Block):
    def __init__(self, n: typing.SupportsInt | typing.SupportsIndex, dtype: str) -> None: ...

class Concat(Block):
    def __init__(self, n: typing.SupportsInt | typing.SupportsIndex, dtype: str) -> None: ...

class Dropout(Block):
    def __init__(
        self,
        p: typing.SupportsFloat | typing.SupportsIndex,
        dtype: str,
        seed: typing.SupportsInt | typing.SupportsIndex,
    ) -> None: ...
    def reseed(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    @property
    def p(self) -> float: ...

class LayerNorm(Block):
    def __init__(
        self,
        features: typing.SupportsInt | typing.SupportsIndex,
        eps: typing.SupportsFloat | typing.SupportsIndex,
        elementwise_affine: bool,
        dtype: str,
    ) -> None: ...
    @property
    def features(self) -> int: ...

class BatchNorm(Block):
    def __init__(
        self,
        features: typing.SupportsInt | typing.SupportsIndex,
        eps: typing.SupportsFloat | typing.SupportsIndex,
        momentum: typing.SupportsFloat | typing.SupportsIndex,
        dtype: str,
    ) -> None: ...
    @property
    def features(self) -> int: ...

class LeakyReLU(Block):
    def __init__(self, negative_slope: typing.SupportsFloat | typing.SupportsIndex, dtype: str) -> None: ...
    @property
    def negative_slope(self) -> float: ...

class ELU(Block):
    def __init__(self, alpha: typing.SupportsFloat | typing.SupportsIndex, dtype: str) -> None: ...
    @property
    def alpha(self) -> float: ...

class GELU(Block):
    def __init__(self, approximate: str, dtype: str) -> None: ...
    @property
    def approximate(self) -> str: ...

class Softplus(Block):
    def __init__(
        self,
        beta: typing.SupportsFloat | typing.SupportsIndex,
        threshold: typing.SupportsFloat | typing.SupportsIndex,
        dtype: str,
    ) -> None: ...
    @property
    def beta(self) -> float: ...
    @property
    def threshold(self) -> float: ...

class PyBlock(Block):
    def __init__(
        self, owner: typing.Any, dtype: str, n_inputs: typing.SupportsInt | typing.SupportsIndex, name: str
    ) -> None: ...
    def add_param(self, name: str, value: numpy.ndarray) -> None: ...

class Runner:
    def __init__(self, arg0: Block) -> None: ...
    def backward(self, arg0: numpy.ndarray) -> list: ...
    def forward(self, arg0: list) -> numpy.ndarray: ...
    @property
    def loss_value(self) -> float: ...

class Optimizer:
    def get_state(self) -> list: ...
    def grad_norm(self) -> float: ...
    def set_state(self, arg0: collections.abc.Sequence[numpy.ndarray]) -> None: ...
    def step(self) -> None: ...
    def zero_grad(self) -> None: ...
    @property
    def clip_norm(self) -> float: ...
    @clip_norm.setter
    def clip_norm(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def lr(self) -> float: ...
    @lr.setter
    def lr(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None: ...
    @property
    def steps(self) -> int: ...
    @steps.setter
    def steps(self, arg1: typing.SupportsInt | typing.SupportsIndex) -> None: ...

class SGD(Optimizer):
    def __init__(
        self,
        blocks: collections.abc.Sequence[Block],
        lr: typing.SupportsFloat | typing.SupportsIndex,
        momentum: typing.SupportsFloat | typing.SupportsIndex,
        dampening: typing.SupportsFloat | typing.SupportsIndex,
        weight_decay: typing.SupportsFloat | typing.SupportsIndex,
        nesterov: bool,
    ) -> None: ...

class Adam(Optimizer):
    def __init__(
        self,
        blocks: collections.abc.Sequence[Block],
        lr: typing.SupportsFloat | typing.SupportsIndex,
        beta1: typing.SupportsFloat | typing.SupportsIndex,
        beta2: typing.SupportsFloat | typing.SupportsIndex,
        eps: typing.SupportsFloat | typing.SupportsIndex,
        weight_decay: typing.SupportsFloat | typing.SupportsIndex,
        decoupled: bool,
    ) -> None: ...

class Accuracy:
    """
    Accuracy counted while training.
    """

    __members__: typing.ClassVar[dict[str, Accuracy]]
    argmax: typing.ClassVar[Accuracy]
    none: typing.ClassVar[Accuracy]
    threshold: typing.ClassVar[Accuracy]
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __index__(self) -> int: ...
    def __int__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class NonFinite:
    """
    What training does on a NaN/inf loss, gradient or weight.
    """

    # members: ignore, raise, skip (a keyword: NonFinite.__members__["raise"])
    __members__: typing.ClassVar[dict[str, NonFinite]]
    ignore: typing.ClassVar[NonFinite]
    skip: typing.ClassVar[NonFinite]
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None: ...
    def __index__(self) -> int: ...
    def __int__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class TrainStats:
    """
    Sums over the batches of train_batches calls.
    """
    def __init__(self) -> None: ...
    def __add__(self, arg0: TrainStats) -> TrainStats: ...
    @property
    def batches(self) -> int: ...
    @property
    def correct(self) -> int: ...
    @property
    def loss_sum(self) -> float:
        """
        sum over samples of the per-batch mean loss
        """
    @property
    def samples(self) -> int: ...
    @property
    def skipped(self) -> int: ...

class Graph:
    def __init__(self, arg0: str) -> None: ...
    def add_input(self, features: typing.SupportsInt | typing.SupportsIndex, labels: bool) -> int: ...
    def add_node(
        self, block: Block, inputs: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]
    ) -> int: ...
    def backward(self, arg0: list, arg1: typing.SupportsFloat | typing.SupportsIndex, arg2: bool) -> list: ...
    def check_data(self, arg0: list) -> int: ...
    def features(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> int: ...
    def forward(self, arg0: list, arg1: bool, arg2: bool) -> list: ...
    def set_losses(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None: ...
    def set_node_name(self, node: typing.SupportsInt | typing.SupportsIndex, name: str) -> None: ...
    def set_outputs(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None: ...
    def set_training(self, arg0: bool) -> None: ...
    def train_batches(
        self,
        data: list,
        order: typing.Annotated[numpy.typing.ArrayLike, numpy.int64],
        batch_size: typing.SupportsInt | typing.SupportsIndex,
        first: typing.SupportsInt | typing.SupportsIndex,
        count: typing.SupportsInt | typing.SupportsIndex,
        optimizer: Optimizer,
        accuracy: Accuracy,
        labels_input: typing.SupportsInt | typing.SupportsIndex,
        threshold: typing.SupportsFloat | typing.SupportsIndex,
        guard: NonFinite,
        interruptible: bool,
        sample_weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None,
        allreduce: object = None,
        rank: typing.SupportsInt | typing.SupportsIndex = 0,
        ranks: typing.SupportsInt | typing.SupportsIndex = 1,
    ) -> TrainStats: ...
    def set_sample_weight(self, sample_weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None) -> None:
        """
        Per-sample weights for every loss of the following forwards (None: unweighted).
        """
    def train_step(self, arg0: list, arg1: Optimizer) -> float: ...
    def value(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> numpy.ndarray: ...
    def zero_grad(self) -> None: ...
    @property
    def loss(self) -> float: ...
    @property
    def num_nodes(self) -> int: ...

def _at_exit(seconds: float) -> None: ...
def _cap_isa(name: str) -> None: ...
def active_isa() -> str: ...
def available_isas() -> list[str]: ...
def set_isa(name: str) -> str: ...
def blas_corename() -> str: ...
def get_num_threads() -> int: ...
def manual_seed(seed: typing.SupportsInt | typing.SupportsIndex) -> None: ...
def next_seed() -> int: ...
def set_num_threads(n: typing.SupportsInt | typing.SupportsIndex) -> None: ...
