"""PyTorch weight interop: names and layouts of torch.nn.Sequential, without importing torch.

The conversion tests below run without torch; the last tests, which compare
predictions with a real torch.nn.Sequential, skip only when torch is absent.
"""

from collections import OrderedDict

import numpy as np
import pytest

import bricks as bk
from bricks.interop import chain_blocks, from_state_dict, load_state_dict, state_dict

F32, F64 = np.float32, np.float64


def mlp(dtype=F32, seed=0, bias_last=True):
    bk.manual_seed(seed)
    return bk.Sequential(
        bk.Linear(4, 8, dtype=dtype),
        bk.ReLU(dtype=dtype),
        bk.Dropout(0.1, dtype=dtype),
        bk.Linear(8, 6, dtype=dtype),
        bk.Tanh(dtype=dtype),
        bk.Linear(6, 3, bias=bias_last, dtype=dtype),
        bk.Softmax(dtype=dtype),
    )


KEYS = ["0.weight", "0.bias", "3.weight", "3.bias", "5.weight", "5.bias"]
SHAPES = [(8, 4), (8,), (6, 8), (6,), (3, 6), (3,)]


class FakeTensor:
    """Quacks like a torch tensor: .detach().cpu().numpy() (records that it was used)."""

    def __init__(self, a):
        self._a, self.converted = np.array(a), False

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        self.converted = True
        return self._a


# -- names, layouts, round trip (no torch) --------------------------------------------------------
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_names_shapes_and_values(dtype):
    m = mlp(dtype)
    sd = state_dict(m)
    assert isinstance(sd, OrderedDict)
    assert list(sd) == KEYS  # every block counts: ReLU is 1, Dropout 2, Tanh 4
    assert [v.shape for v in sd.values()] == SHAPES
    assert all(v.dtype == dtype for v in sd.values())
    np.testing.assert_array_equal(sd["3.weight"], m[3].params["weight"])
    np.testing.assert_array_equal(sd["5.bias"], m[5].params["bias"])
    sd["0.weight"][...] = 0.0  # a copy: the model does not change
    assert np.abs(m[0].params["weight"]).sum() > 0
    assert list(state_dict(mlp(bias_last=False))) == KEYS[:5]


def test_round_trip_both_ways_is_bit_for_bit(rng):
    a, b = mlp(F32, seed=1), mlp(F32, seed=2)
    X = rng.normal(size=(9, 4)).astype(F32)
    assert not np.allclose(a.predict(X), b.predict(X))
    sd = state_dict(a)
    assert from_state_dict(b, sd) is b
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    for k, v in state_dict(b).items():
        np.testing.assert_array_equal(v, sd[k])
        assert v.dtype == sd[k].dtype


def test_functional_chain_uses_the_same_names(rng):
    x = bk.Input(4, dtype=F64, name="x")
    l1, l2 = bk.Linear(4, 8, dtype=F64, seed=0), bk.Linear(8, 2, dtype=F64, seed=1)
    y = l2(bk.Dropout(0.5, dtype=F64)(bk.Sigmoid(dtype=F64)(l1(x))))
    model = bk.Model(inputs=x, outputs=y).compile(bk.MSELoss(dtype=F64))  # loss nodes are not in the chain
    assert [type(b) for b in chain_blocks(model)] == [bk.Linear, bk.Sigmoid, bk.Dropout, bk.Linear]
    sd = state_dict(model)
    assert list(sd) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    seq = bk.Sequential(
        bk.Linear(4, 8, dtype=F64), bk.Sigmoid(dtype=F64), bk.Dropout(0.5, dtype=F64), bk.Linear(8, 2, dtype=F64)
    )
    from_state_dict(seq, sd)
    X = rng.normal(size=(5, 4))
    np.testing.assert_array_equal(seq.predict(X), model.predict(X))
    from_state_dict(model, {k: v * 2 for k, v in sd.items()})
    np.testing.assert_array_equal(l2.params["bias"], 2 * sd["3.bias"])


def test_sequential_starting_with_an_activation_has_names():
    m = bk.Sequential(bk.ReLU(), bk.Linear(3, 2, seed=0))
    sd = state_dict(m)
    assert list(sd) == ["1.weight", "1.bias"] and sd["1.weight"].shape == (2, 3)


def test_non_chains_are_rejected():
    x = bk.Input(4)
    h = bk.ReLU()(bk.Linear(4, 3)(x))
    g = bk.Softmax()(bk.Linear(4, 3)(x))
    with pytest.raises(ValueError, match="takes 2 inputs"):
        state_dict(bk.Model(inputs=x, outputs=bk.Hadamard()(h, g)))
    with pytest.raises(ValueError, match="2 outputs"):
        state_dict(bk.Model(inputs=x, outputs=[h, g]))
    # a learnable target: the loss depends on a Linear that is off the input -> output path
    t = bk.Linear(4, 3)(x)
    with pytest.raises(ValueError, match="off the path"):
        state_dict(bk.Model(inputs=x, outputs=h, loss=bk.MSELoss()(h, t)))
    with pytest.raises(TypeError, match="Model or Sequential"):
        state_dict(bk.Linear(2, 2))


def test_shared_block_twice_in_a_chain():
    x = bk.Input(3)
    lin = bk.Linear(3, 3, seed=0)
    model = bk.Model(inputs=x, outputs=lin(bk.Tanh()(lin(x))), share_weights=True)
    sd = state_dict(model)
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as torch lists a reused module
    np.testing.assert_array_equal(sd["0.weight"], sd["2.weight"])
    load_state_dict(model, {k: v + 1 for k, v in sd.items()})
    np.testing.assert_array_equal(lin.params["weight"], sd["0.weight"] + 1)
    bad = dict(sd, **{"2.weight": sd["2.weight"] + 1})
    with pytest.raises(ValueError, match="same shared parameter"):
        load_state_dict(model, bad)


# -- loading: conversion and errors ---------------------------------------------------------------
def test_tensor_like_values_are_converted_and_cast():
    src, dst = mlp(F64, seed=3), mlp(F32, seed=4)
    fakes = {k: FakeTensor(v) for k, v in state_dict(src).items()}  # float64 into a float32 model
    from_state_dict(dst, fakes)
    assert all(f.converted for f in fakes.values())
    for k, v in state_dict(dst).items():
        assert v.dtype == F32
        np.testing.assert_array_equal(v, state_dict(src)[k].astype(F32))
    # float16 and lists are accepted too (cast to the model's dtype)
    sd = {k: v.astype(np.float16) for k, v in state_dict(src).items()}
    sd["0.bias"] = sd["0.bias"].tolist()
    from_state_dict(dst, sd)
    np.testing.assert_array_equal(dst[0].params["bias"], np.asarray(sd["0.bias"], F32))


def snapshot(m):
    return {k: v.copy() for k, v in state_dict(m).items()}


def assert_unchanged(m, before):
    for k, v in state_dict(m).items():
        np.testing.assert_array_equal(v, before[k])


def test_key_errors_name_the_keys():
    m = mlp()
    before = snapshot(m)
    sd = state_dict(mlp(seed=9))
    missing = {k: v for k, v in sd.items() if k != "3.bias"}
    with pytest.raises(ValueError, match=r"missing \['3.bias'\], unexpected \[\]"):
        from_state_dict(m, missing)
    with pytest.raises(ValueError, match=r"missing \[\], unexpected \['6.weight'\]"):
        load_state_dict(m, dict(sd, **{"6.weight": np.zeros((3, 3), F32)}))
    with pytest.raises(ValueError, match="module."):
        load_state_dict(m, {f"module.{k}": v for k, v in sd.items()})
    assert_unchanged(m, before)  # nothing copied on error


def test_non_strict_loads_what_matches_and_reports_the_rest():
    m = mlp()
    sd = state_dict(mlp(seed=9))
    partial = {"0.weight": sd["0.weight"], "0.bias": sd["0.bias"], "extra.weight": np.ones(2, F32)}
    res = load_state_dict(m, partial, strict=False)
    assert res.missing_keys == KEYS[2:] and res.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(m[0].params["weight"], sd["0.weight"])
    assert not np.array_equal(m[3].params["weight"], sd["3.weight"])
    assert load_state_dict(m, sd) == ([], [])


def test_shape_dtype_and_value_errors():
    m = mlp()
    before = snapshot(m)
    sd = state_dict(mlp(seed=9))
    with pytest.raises(ValueError, match=r"shape mismatch for '3.weight': got \(8, 6\), the model has \(6, 8\)"):
        from_state_dict(m, dict(sd, **{"3.weight": sd["3.weight"].T}))  # (in, out) instead of (out, in)
    with pytest.raises(ValueError, match="shape mismatch for '5.bias'"):
        from_state_dict(m, dict(sd, **{"5.bias": sd["5.bias"][None, :]}))
    with pytest.raises(TypeError, match="'0.bias' has dtype int64"):
        from_state_dict(m, dict(sd, **{"0.bias": np.arange(8)}))
    with pytest.raises(TypeError, match="'0.bias' has dtype complex"):
        from_state_dict(m, dict(sd, **{"0.bias": sd["0.bias"] + 0j}))
    nan = sd["5.weight"].copy()
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="'5.weight' contains NaN"):
        from_state_dict(m, dict(sd, **{"5.weight": nan}))
    with pytest.raises(TypeError, match="mapping"):
        from_state_dict(m, list(sd.values()))
    assert_unchanged(m, before)


# -- against real PyTorch -----------------------------------------------------------------------------
def torch_twin(model, torch):
    """The torch.nn.Sequential equivalent of a bricks chain (fresh torch weights)."""
    nn = torch.nn
    make = {
        bk.ReLU: nn.ReLU,
        bk.Sigmoid: nn.Sigmoid,
        bk.Tanh: nn.Tanh,
        bk.Softmax: lambda: nn.Softmax(dim=1),
        bk.LogSoftmax: lambda: nn.LogSoftmax(dim=1),
    }
    configured = {  # activations with arguments: built from the bricks block's own
        bk.LeakyReLU: lambda b: nn.LeakyReLU(b.negative_slope),
        bk.ELU: lambda b: nn.ELU(b.alpha),
        bk.GELU: lambda b: nn.GELU(approximate=b.approximate),
        bk.Softplus: lambda b: nn.Softplus(b.beta, b.threshold),
    }
    layers = []
    for b in chain_blocks(model):
        if type(b) in configured:
            layers.append(configured[type(b)](b))
        elif isinstance(b, bk.Linear):
            layers.append(nn.Linear(b.in_features, b.out_features, bias="bias" in b.params))
        elif isinstance(b, bk.Dropout):
            layers.append(nn.Dropout(b.p))
        else:
            layers.append(make[type(b)]())
    tdtype = torch.float64 if model.dtype == F64 else torch.float32
    return nn.Sequential(*layers).to(tdtype).eval()


def chains(dtype):
    bk.manual_seed(11)
    d = dict(dtype=dtype)
    return [
        mlp(dtype, seed=5),
        bk.Sequential(
            bk.Linear(4, 10, init="torch", **d),
            bk.Sigmoid(**d),
            bk.Linear(10, 10, **d),
            bk.Dropout(0.5, **d),
            bk.ReLU(**d),
            bk.Linear(10, 5, bias=False, **d),
            bk.LogSoftmax(**d),
        ),
        bk.Sequential(
            bk.Linear(4, 12, max_norm=1.5, **d),
            bk.LeakyReLU(0.2, **d),
            bk.Linear(12, 12, **d),
            bk.ELU(0.5, **d),
            bk.Dropout(0.3, **d),
            bk.Linear(12, 12, **d),
            bk.GELU(**d),
            bk.Linear(12, 12, **d),
            bk.GELU("tanh", **d),
            bk.Linear(12, 3, **d),
            bk.Softplus(2.0, 3.0, **d),
        ),
    ]


@pytest.mark.parametrize("dtype,tol", [(F64, 1e-12), (F32, 1e-6)], ids=["f64", "f32"])
def test_identical_predictions_both_ways_with_torch(rng, dtype, tol):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    for model in chains(dtype):
        X = rng.normal(0, 2, size=(33, 4)).astype(dtype)
        # bricks -> torch
        twin = torch_twin(model, torch)
        assert list(twin.state_dict()) == list(state_dict(model))
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict(model).items()}, strict=True)
        with torch.no_grad():
            y_torch = twin(torch.from_numpy(X)).numpy()
        y_bk = model.predict(X)
        assert y_torch.dtype == y_bk.dtype == dtype
        np.testing.assert_allclose(y_torch, y_bk, rtol=0, atol=tol)
        # torch -> bricks: fresh torch weights into the bricks model, tensors passed as they are
        fresh = torch_twin(model, torch)
        assert not np.allclose(fresh.state_dict()["0.weight"].numpy(), state_dict(model)["0.weight"])
        from_state_dict(model, fresh.state_dict())
        for k, v in fresh.state_dict().items():
            np.testing.assert_array_equal(state_dict(model)[k], v.numpy())  # unchanged, bit for bit
        with torch.no_grad():
            y_torch = fresh(torch.from_numpy(X)).numpy()
        np.testing.assert_allclose(model.predict(X), y_torch, rtol=0, atol=tol)


def test_torch_float32_weights_into_float64_model(rng):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    model = mlp(F64)
    twin = torch_twin(model, torch).to(torch.float32)
    from_state_dict(model, twin.state_dict())  # cast up exactly
    twin = twin.to(torch.float64)
    X = rng.normal(size=(7, 4))
    with torch.no_grad():
        np.testing.assert_allclose(model.predict(X), twin(torch.from_numpy(X)).numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="shape mismatch for '0.weight'"):
        from_state_dict(model, {**twin.state_dict(), "0.weight": torch.zeros(4, 8, dtype=torch.float64)})


def test_activation_chain_names_are_torch_sequential_indices():
    m = bk.Sequential(bk.Linear(3, 4), bk.GELU(), bk.Linear(4, 4), bk.Softplus(), bk.LeakyReLU(), bk.Linear(4, 2))
    assert list(state_dict(m)) == ["0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias"]
    assert [type(b) for b in chain_blocks(m)][1::2] == [bk.GELU, bk.Softplus, bk.Linear]
