"""The open lego set, all at once: one model mixing a block written in Python, Add,
Concat, LayerNorm, BatchNorm and a nested Sequential is gradchecked in float64, trained
by fit, saved and loaded with bit-identical predictions, and its chain of PyTorch-twinned
blocks round-trips through a PyTorch state_dict."""

import numpy as np
import pytest

import bricks as bk
from test_python_blocks import PyScale  # the docs' Scale: y = x ⊙ gamma + beta


def mixed_model(dt, classes=3):
    """x -> nested Sequential -> LayerNorm -> residual (Add) -> Python block -> BatchNorm,
    concatenated with the normalised features -> Linear."""
    x = bk.Input(6, dtype=dt)
    enc = bk.Sequential(bk.Sequential(bk.Linear(6, 8, dtype=dt, seed=1), bk.Tanh(dtype=dt)))
    h = bk.LayerNorm(8, dtype=dt)(enc(x))
    r = bk.Linear(8, 8, dtype=dt, seed=2)(bk.Tanh(dtype=dt)(h)) + h
    s = PyScale(8, dtype=dt)(r)
    b = bk.BatchNorm(8, dtype=dt)(s)
    y = bk.Linear(16, classes, dtype=dt, seed=3)(bk.Concat(dtype=dt)(b, h))
    return bk.Model(x, y)


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (X[:, :3].argmax(1)).astype(np.int64)
    return X, y


def test_the_mixed_model_has_every_kind_of_piece():
    kinds = {type(n.block).__name__ for n in mixed_model(np.float64).nodes}
    assert {"PyScale", "Add", "Concat", "LayerNorm", "BatchNorm", "Linear", "Tanh"} <= kinds


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_in_float64(mode):
    model = mixed_model(np.float64)
    X, _ = data(10)
    model.forward(X + 1.0)  # running statistics away from their start (0 and 1)
    getattr(model, mode)()
    assert bk.gradcheck(model, X)


def test_fit_learns_and_every_parameter_moves():
    model = mixed_model(np.float32)
    model.compile(bk.CrossEntropyLoss(), bk.Adam(model, lr=0.01))
    X, y = data(256)
    before = {k: v.copy() for k, v in model.params.items()}
    hist = model.fit(X.astype(np.float32), y, epochs=30, batch_size=32, seed=0, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    moved = {k for k, v in model.params.items() if not np.array_equal(v, before[k])}
    assert moved == set(before)  # the Python block's gamma and beta included
    assert model.buffers  # BatchNorm's running statistics were tracked
    nbt = [v for k, v in model.buffers.items() if k.endswith("num_batches_tracked")]
    assert nbt and int(nbt[0]) == 30 * 8


def test_save_and_load_give_bit_identical_predictions(tmp_path):
    model = mixed_model(np.float32)
    model.compile(bk.CrossEntropyLoss(), bk.SGD(model, lr=0.05, momentum=0.9))
    X, y = data(128)
    X = X.astype(np.float32)
    model.fit(X, y, epochs=3, batch_size=16, seed=1, verbose=0)
    path = tmp_path / "lego.bricks"
    model.save(path)
    again = bk.load(path)
    assert np.array_equal(model.predict(X), again.predict(X))
    assert sorted(again.params) == sorted(model.params)
    for k, v in model.buffers.items():
        assert np.array_equal(v, again.buffers[k]), k
    # training goes on the same way in both
    model.fit(X, y, epochs=1, batch_size=16, seed=2, verbose=0)
    again.fit(X, y, epochs=1, batch_size=16, seed=2, verbose=0)
    assert np.array_equal(model.predict(X), again.predict(X))


def twin_chain(dt):
    return bk.Sequential(
        bk.Sequential(bk.Linear(6, 8, dtype=dt, seed=4), bk.Tanh(dtype=dt)),
        bk.LayerNorm(8, dtype=dt),
        bk.Linear(8, 8, dtype=dt, seed=5),
        bk.BatchNorm(8, dtype=dt),
        bk.GELU(dtype=dt),
        bk.Linear(8, 3, dtype=dt, seed=6),
    )


def test_the_chain_round_trips_through_a_pytorch_state_dict():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    model = twin_chain(np.float64)
    X, y = data(64)
    model.compile(bk.CrossEntropyLoss(dtype=np.float64), bk.SGD(model, lr=0.05))
    model.fit(X, y, epochs=2, batch_size=16, seed=0, verbose=0)
    twin = nn.Sequential(
        nn.Sequential(nn.Linear(6, 8), nn.Tanh()),
        nn.LayerNorm(8),
        nn.Linear(8, 8),
        nn.BatchNorm1d(8),
        nn.GELU(),
        nn.Linear(8, 3),
    ).double()
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    twin.eval()
    with torch.no_grad():
        ours_in_torch = twin(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(ours_in_torch, model.predict(X), rtol=1e-12, atol=1e-12)
    # and back: torch trains a step in train mode, bricks takes its weights and statistics
    twin.train()
    opt = torch.optim.SGD(twin.parameters(), lr=0.1)
    opt.zero_grad()
    nn.functional.cross_entropy(twin(torch.from_numpy(X)), torch.from_numpy(y)).backward()
    opt.step()
    twin.eval()
    back = twin_chain(np.float64)
    bk.from_state_dict(back, twin.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(back.predict(X), twin(torch.from_numpy(X)).numpy(), rtol=1e-12, atol=1e-12)
    assert int(back.state_dict()["3.num_batches_tracked"]) == 2 * 4 + 1
