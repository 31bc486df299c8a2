"""The block registry (bricks.block): every concrete block bricks defines joins it by being
defined, and everything that finds blocks by name reads it (docs/content/architecture.md)."""

import pickle

import numpy as np
import pytest

import bricks as bk
import bricks.block as B


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry for this test: classes defined in it do not outlive it."""
    monkeypatch.setattr(B, "_REGISTRY", dict(B._REGISTRY))
    return B._REGISTRY


def test_the_registry_is_every_exported_block():
    exported = {n: getattr(bk, n) for n in bk.__all__}
    blocks = {n: o for n, o in exported.items() if isinstance(o, type) and issubclass(o, bk.Block)}
    assert set(blocks) - set(B.registry()) == {"Block", "Loss"}  # the abstract bases only
    assert all(B.registry()[n] is blocks[n] for n in B.registry())
    assert list(B.registry())[:2] == ["Linear", "ReLU"]  # in definition order


def test_the_registry_is_read_only():
    with pytest.raises(TypeError):
        B.registry()["Linear"] = bk.Tanh
    with pytest.raises(TypeError):
        del B.registry()["Linear"]
    assert B.registry()["Linear"] is bk.Linear


def test_block_class_looks_up_by_name():
    assert B.block_class("CrossEntropyLoss") is bk.CrossEntropyLoss
    for unknown in ("Loss", "Block", "linear", "Conv2d", ""):
        with pytest.raises(
            B.UnknownBlockError,
            match=rf"^unknown block class {unknown!r}; the blocks are "
            rf"Linear, ReLU, .*CrossEntropyLoss($|; yours are )",
        ) as e:
            B.block_class(unknown)
        assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)
    with pytest.raises(TypeError, match="block_class: name must be a str, got NoneType"):
        B.block_class(None)


def test_a_block_defined_in_bricks_registers_itself(scratch_registry):
    class Softsign(bk.Tanh):  # as if defined in a bricks module
        __module__ = "bricks.blocks_extra"

    class _Base(bk.Block, abstract=True):
        __module__ = "bricks.blocks_extra"

    assert B.block_class("Softsign") is Softsign
    assert "_Base" not in B.registry()
    with pytest.raises(TypeError, match="two block classes are named 'Softsign'"):
        type("Softsign", (bk.Tanh,), {"__module__": "bricks.elsewhere"})
    assert B.block_class("Softsign") is Softsign
    with pytest.raises(TypeError, match="two block classes are named 'Linear'"):
        type("Linear", (bk.Block,), {"__module__": "bricks.elsewhere"})
    assert B.block_class("Linear") is bk.Linear


def test_blocks_defined_outside_bricks_are_not_registered(scratch_registry):
    class Linear(bk.Linear):  # a user's class that happens to share a bricks name
        pass

    class MyTanh(bk.Tanh):
        pass

    assert B.registry()["Linear"] is bk.Linear and "MyTanh" not in B.registry()
    assert set(B.registry()) == set(B._REGISTRY)


def test_a_registered_block_saves_loads_pickles_and_exports_with_no_other_change(scratch_registry, tmp_path):
    """Adding a block is defining its class: io, pickle and the ONNX export find it by name."""

    class Softsign(bk.Tanh):
        __module__ = "bricks.blocks_extra"

    m = bk.Sequential(bk.Linear(3, 2, seed=0), Softsign())
    X = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    m.save(tmp_path / "m.npz")
    back = bk.load(tmp_path / "m.npz")
    assert type(back[1]) is Softsign
    np.testing.assert_array_equal(back.predict(X), m.predict(X))
    assert type(pickle.loads(pickle.dumps(Softsign()))) is Softsign
    onnx_export = pytest.importorskip("bricks.onnx_export")
    pytest.importorskip("onnx")
    proto = onnx_export.to_onnx(m, None)  # converts as the registered block it derives from
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Tanh"]


def test_loading_a_name_that_is_no_registered_block_is_refused(tmp_path, scratch_registry):
    class Softsign(bk.Tanh):
        __module__ = "bricks.blocks_extra"

    bk.Sequential(bk.Linear(3, 2), Softsign()).save(tmp_path / "m.npz")
    del scratch_registry["Softsign"]  # a file from a bricks with a block this one lacks
    with pytest.raises(ValueError, match="unknown block class 'Softsign'"):
        bk.load(tmp_path / "m.npz")
