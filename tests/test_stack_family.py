"""One family of tests for every layer-stack kind: `Stacked`, `BlockSeq`, a `Pattern` stack and a
`Pipeline`. Each property is checked against the unrolled loop over `unstacked()` layers, with
per-layer keys `jax.random.split(key, L)`. A new stack kind gets every test by joining `KINDS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType

import namedax as nx
from namedax import nn
from tests.helpers import assert_named_close, tree_allclose

Layers, Batch, Embed = nx.Axis("layers", 4), nx.Axis("batch", 4), nx.Axis("embed", 4)
KEY = jax.random.key(0)


class Block(eqx.Module):
    """A residual tanh layer with dropout; `swap` returns its carry in the other axis order."""

    lin: nn.Linear
    drop: nn.Dropout
    swap: bool = eqx.field(static=True, default=False)

    @staticmethod
    def init(Embed: nx.Axis, *, swap: bool = False, key: Any) -> Block:
        return Block(nn.Linear.init(Embed, Embed, key=key), nn.Dropout(0.5), swap)

    def __call__(self, x: nx.NamedArray, *, key: Any = None) -> nx.NamedArray:
        y = self.drop(x + nx.tanh(self.lin(x)), key=key, inference=key is None)
        return y.rearrange(tuple(reversed(y.axis_names))) if self.swap else y


class Other(Block):
    """A second kind of block for the pattern (same parameters, another function)."""

    @staticmethod
    def init(Embed: nx.Axis, *, swap: bool = False, key: Any) -> Other:
        return Other(nn.Linear.init(Embed, Embed, key=key), nn.Dropout(0.5), swap)

    def __call__(self, x: nx.NamedArray, *, key: Any = None) -> nx.NamedArray:
        return super().__call__(x * 0.5, key=key)


class ScanBlock(eqx.Module):
    """A block for `scan`: returns `(carry, per-layer output)`."""

    inner: Block

    @staticmethod
    def init(Embed: nx.Axis, *, swap: bool = False, key: Any) -> ScanBlock:
        return ScanBlock(Block.init(Embed, swap=swap, key=key))

    def __call__(self, x: nx.NamedArray, *, key: Any = None) -> tuple[Any, Any]:
        y = self.inner(x, key=key)
        return y, y.sum("embed")


@dataclasses.dataclass(frozen=True)
class Kind:
    """How one stack kind is built and run; `fold`/`scan` default to the stack's own."""

    name: str
    build: Callable[..., Any]
    run: Callable[..., Any] = lambda model, method, x, **kw: getattr(model, method)(x, **kw)


def _pipeline_run(model: Any, method: str, x: Any, **kw: Any) -> Any:
    pipe = nn.Pipeline(mesh_axis="stage", microbatches=1, batch="batch", mesh=_mesh())
    return getattr(pipe, method)(model, x, **kw)


def _mesh() -> Any:
    return jax.make_mesh((2, 4), ("stage", "data"), axis_types=(AxisType.Auto,) * 2)


def _pipeline_build(block: Any, **options: Any) -> Any:
    stack = _stacked_build(block, **options)
    with jax.set_mesh(_mesh()):
        return nx.shard(stack, {"layers": "stage"})


def _builder(init: Callable[..., Any], pattern: bool = False) -> Callable[..., Any]:
    """`build(block, remat=..., shared=..., **block_kwargs)` for one kind."""

    def build(block: Any, *, remat: Any = False, shared: Any = None, **kw: Any) -> Any:
        unit = nn.Pattern(block, _other(block)) if pattern else block
        make = init(Layers, unit, gradient_checkpointing=remat, shared=shared)
        return make(Embed, key=KEY, **kw)

    return build


_stacked_build = _builder(nn.Stacked.init)

KINDS = [
    Kind("Stacked", _stacked_build),
    Kind("BlockSeq", _builder(nn.BlockSeq.init)),
    Kind("Pattern", _builder(nn.Stacked.init, pattern=True)),
    Kind("Pipeline", _pipeline_build, _pipeline_run),
]


def _other(block: Any) -> Any:
    return Other if block is Block else block


@pytest.fixture(params=KINDS, ids=[k.name for k in KINDS])
def kind(request) -> Kind:
    return request.param


def _x() -> nx.NamedArray:
    values = jax.random.normal(jax.random.key(1), (Batch.size, Embed.size))
    return nx.named(values, (Batch, Embed))


def _unrolled(model: Any, x: Any, key: Any = None) -> Any:
    keys = [None] * Layers.size if key is None else list(jax.random.split(key, Layers.size))
    for layer, k in zip(model.unstacked(), keys, strict=True):
        x = layer(x, key=k)
    return x


def test_fold_matches_the_unrolled_loop(kind):
    model = kind.build(Block)
    got = kind.run(model, "fold", _x())
    assert got.axes == _x().axes
    assert tree_allclose(got, _unrolled(model, _x()), atol=1e-5)


def test_fold_under_jit_matches(kind):
    model = kind.build(Block)
    got = jax.jit(lambda m, x: kind.run(m, "fold", x))(model, _x())
    assert tree_allclose(got, _unrolled(model, _x()), atol=1e-5)


def test_scan_stacks_per_layer_outputs_in_layer_order(kind):
    model = kind.build(ScanBlock)
    carry, ys = kind.run(model, "scan", _x())
    want, x = [], _x()
    for layer in model.unstacked():
        x, y = layer(x)
        want.append(y.array)
    assert tree_allclose(carry, x, atol=1e-5)
    assert_named_close(ys, np.stack(want), ("layers", "batch"), atol=1e-5)


def test_vmap_applies_every_layer_to_the_same_input(kind):
    model = kind.build(Block)
    got = model.vmap(_x())
    want = np.stack(
        [layer(_x()).rearrange(("batch", "embed")).array for layer in model.unstacked()]
    )
    assert_named_close(got, want, ("layers", "batch", "embed"), atol=1e-5)


def test_get_layer_and_unstacked_agree(kind):
    model = kind.build(Block)
    layers = model.unstacked()
    assert len(layers) == Layers.size
    for i, layer in enumerate(layers):
        assert tree_allclose(model.get_layer(i), layer)
    # a pattern stack alternates its kinds
    if kind.name == "Pattern":
        assert [type(b).__name__ for b in layers] == ["Block", "Other", "Block", "Other"]


def test_one_key_is_split_per_layer_as_the_unrolled_loop_splits_it(kind):
    model = kind.build(Block)
    got = kind.run(model, "fold", _x(), key=KEY)
    assert tree_allclose(got, _unrolled(model, _x(), KEY), atol=1e-5)
    # and not every layer draws the same mask: another split gives another result
    assert not tree_allclose(got, kind.run(model, "fold", _x(), key=jax.random.key(7)), atol=1e-5)


def test_a_block_may_return_its_carry_in_another_axis_order(kind):
    model = kind.build(Block, swap=True)
    got = kind.run(model, "fold", _x())
    assert got.axes == _x().axes  # restored by name
    assert_named_close(got, _unrolled(model, _x()).rearrange(("batch", "embed")).array)
    carry, _ = kind.run(kind.build(ScanBlock, swap=True), "scan", _x())
    assert carry.axes == _x().axes


def test_a_changed_carry_is_refused_with_the_same_rule(kind):
    model = kind.build(Block)
    bad = lambda block, x: x.sum("embed")
    with pytest.raises(ValueError, match=r"must return the next carry.*initial carry"):
        if kind.name == "Pipeline":
            nn.Pipeline(microbatches=1, mesh=_mesh()).fold_via(model, bad)(_x())
        else:
            model.fold_via(bad)(_x())


def _loss(kind: Kind, model: Any, **kw: Any) -> Any:
    return (kind.run(model, "fold", _x(), **kw).array ** 2).sum()


def test_gradients_match_the_unrolled_loop(kind):
    model = kind.build(Block)
    grads = eqx.filter_grad(lambda m: _loss(kind, m))(model)
    want = eqx.filter_grad(lambda m: (_unrolled(m, _x()).array ** 2).sum())(model)
    assert tree_allclose(grads, want, atol=1e-4)


@pytest.mark.parametrize("remat", [True, "full", "offload"])
def test_remat_per_call_or_stored_keeps_values_gradients_and_the_treedef(kind, remat):
    model = kind.build(Block)
    loss = lambda m, r: _loss(kind, m, remat=r)
    plain = eqx.filter_value_and_grad(lambda m: loss(m, None))(model)
    per_call = eqx.filter_value_and_grad(lambda m: loss(m, remat))(model)
    assert tree_allclose(per_call, plain, atol=1e-4)
    # the policy is applied: the backward pass is a rematerialised one
    jaxpr = str(jax.make_jaxpr(lambda m: eqx.filter_grad(lambda m: loss(m, remat))(m))(model))
    assert "checkpoint" in jaxpr or "remat" in jaxpr
    # a per-call choice leaves the module (and optimizer state built from it) as it was
    assert jax.tree_util.tree_structure(model) == jax.tree_util.tree_structure(kind.build(Block))
    stored = kind.build(Block, remat=remat)
    value, grads = eqx.filter_value_and_grad(lambda m: loss(m, None))(stored)
    assert np.allclose(value, plain[0], atol=1e-5)
    assert tree_allclose(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(plain[1]))


def test_state_dict_round_trip(kind):
    model = kind.build(Block)
    state = nx.to_state_dict(model, prefix="h")
    assert sorted({k.split(".")[1] for k in state}) == [str(i) for i in range(Layers.size)]
    zeros = jax.tree_util.tree_map(
        lambda x: jnp.zeros_like(x) if eqx.is_inexact_array(x) else x, model
    )
    loaded = nx.from_state_dict(zeros, state, prefix="h")
    assert tree_allclose(loaded, model)
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(model)


def test_state_dict_of_a_deeper_checkpoint_is_refused(kind):
    deeper = nn.BlockSeq.init(Layers.resize(6), Block)(Embed, key=KEY)
    state = nx.to_state_dict(deeper, prefix="h")
    with pytest.raises(ValueError, match=r"layers 4, 5 under 'h'.*4 layers.*6 layers"):
        nx.from_state_dict(kind.build(Block), state, prefix="h")


def test_every_kind_gives_the_same_keys_for_the_same_layers():
    keysets = {k.name: sorted(nx.to_state_dict(k.build(Block))) for k in KINDS[:2]}
    assert keysets["Stacked"] == keysets["BlockSeq"]


def _shardings(tree: Any) -> list[Any]:
    leaves = jax.tree_util.tree_leaves(tree)
    return [leaf.sharding for leaf in leaves if isinstance(leaf, jax.Array)]


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
def test_a_load_puts_every_leaf_on_the_template_sharding(kind, fmt, tmp_path):
    mesh = _mesh()
    with jax.set_mesh(mesh):  # per-layer weights, and biases shared by every layer
        model = nx.shard(kind.build(Block, shared="lin.bias"), {"embed": "data", "layers": "stage"})
    assert any(not s.is_fully_replicated for s in _shardings(model))
    path = str(tmp_path / f"model.{fmt}")
    if fmt == "npz":
        nx.serialization.save_state_dict(nx.to_state_dict(model), path)
        loaded = nx.from_state_dict(model, nx.serialization.load_state_dict(path))
    else:
        nx.serialization.save_safetensors(model, path)
        loaded = nx.serialization.load_safetensors(path, model)
    assert tree_allclose(loaded, model)
    for got, want in zip(_shardings(loaded), _shardings(model), strict=True):
        assert got.is_equivalent_to(want, 3) or got == want, (got, want)
